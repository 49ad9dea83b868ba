"""Entry point: `python -m inference_server --registry DIR --port N` (console script tessera-server)."""

from __future__ import annotations

import logging

from inference_server.config import parse_config
from inference_server.server import StartError, serve
from tessera.settings import fail


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_config(argv)
    try:
        serve(config)
    except StartError as exc:
        fail("tessera-server", str(exc))


if __name__ == "__main__":
    main()
