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
        FirstStopSignal()
        print(f"Tessera gateway on http://{server.effective_host}:{server.effective_port}/ "
              f"(inference servers: {', '.join(config.servers)})", flush=True)
        server.run()
    except (KeyboardInterrupt, SystemExit):  # KeyboardInterrupt: a Ctrl-C before the handlers were in
        pass
    finally:
        ignore_stop_signals()
        server.close()
        close_app(app)
        log.info("gateway stopped")
    return 0


class FirstStopSignal:
    """SIGTERM (docker stop, make run's shutdown) and SIGINT (Ctrl-C) leave waitress's loop by raising
    SystemExit(0) on the main thread, once. Every later one is ignored, so a burst (make run sends
    SIGTERM right after the Ctrl-C that reached the gateway too; an impatient supervisor repeats
    itself) cannot raise again inside the clean-up the first one started.

    Python runs a handler between two bytecodes of the main thread, and a second signal can run its
    handler at the very start of the first one's: the flag is set before the raise, so of two nested
    calls only one raises, and the other's frame unwinds with it. Install on the main thread."""

    def __init__(self) -> None:
        self.stopping = False
        for number in (signal.SIGINT, signal.SIGTERM):
            # A gateway started in the background by a non-interactive shell inherits SIGINT ignored,
            # as Python then leaves it: a Ctrl-C meant for the shell's foreground must not stop it.
            if signal.getsignal(number) is not signal.SIG_IGN:
                signal.signal(number, self)

    def __call__(self, _signum: int, _frame: object) -> None:
        if self.stopping:
            return
        self.stopping = True
        raise SystemExit(0)


def ignore_stop_signals() -> None:
    """From here on, SIGINT and SIGTERM are ignored by the kernel (no handler runs at all): the
    clean-up runs to its end whatever follows."""
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)


if __name__ == "__main__":
    sys.exit(main())
