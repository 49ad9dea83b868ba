"""`python -m bff` / `tessera-gateway`: the gateway under waitress, a production WSGI server."""

from __future__ import annotations

import logging
import signal
import sys

from bff import FORM_OVERHEAD_BYTES, close_app, create_app
from bff.config import parse_args, start_process
from bff.waitress_settings import gateway_server

log = logging.getLogger("bff")


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = parse_args(argv)
    start_process(config, log)

    try:
        app = create_app(config)
    except (ValueError, OSError) as err:  # e.g. a server name that does not resolve
        log.error("cannot start the gateway: %s", err)
        return 2
    try:
        server = gateway_server(
            app, config, host=config.host, port=config.port, threads=config.threads,
            # Flask enforces the upload limits with a JSON 413. Waitress buffers a whole body before the
            # app sees it, so its own cap stays, as a backstop at four times the larger limit (one
            # photo, or a batch): only bodies beyond that get its plain-text 413.
            max_request_body_size=4 * (max(config.max_upload_bytes, config.max_batch_bytes) + FORM_OVERHEAD_BYTES),
            ident="tessera-gateway",
        )
    except OSError as err:  # the port is taken, or the address is not this machine's
        log.error("cannot listen on %s:%d: %s", config.host, config.port, err)
        close_app(app)
        return 2
    try:
        signal.signal(signal.SIGTERM, _stop_serving)
        print(f"Tessera gateway on http://{server.effective_host}:{server.effective_port}/ "
              f"(inference servers: {', '.join(config.servers)})", flush=True)
        server.run()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        # Once stopping, a further Ctrl-C or SIGTERM (make run sends SIGTERM right after the Ctrl-C
        # that reached the gateway too) must not cut the clean-up short.
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.SIG_IGN)
        server.close()
        close_app(app)
        log.info("gateway stopped")
    return 0


def _stop_serving(*_: object) -> None:
    """SIGTERM (docker stop, make run's shutdown) leaves waitress's loop like Ctrl-C does. Only the
    first: a second one must not cut short the clean-up that the first one started."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise SystemExit(0)


if __name__ == "__main__":
    sys.exit(main())
