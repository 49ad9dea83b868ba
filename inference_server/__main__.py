"""Entry point: `python -m inference_server --registry DIR --port N` (console script tessera-server)."""

from __future__ import annotations

import logging

from inference_server.config import parse_config
from inference_server.server import serve


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(parse_config(argv))


if __name__ == "__main__":
    main()
