"""POST /api/stylize whose HTTP client hangs up stops its work: the gateway notices the closed
connection (waitress keeps reading the socket), cancels its gRPC streams, and the inference server's
tile counter stops growing long before the image would have been done. Real waitress, real server."""

from __future__ import annotations

import http.client
import time

from bff import close_app
from scripts.local_stack import server_process
from tests.bff.live import make_app, multipart, serving
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE
from tests.support.metrics import counter_total

TILE = 64
WIDTH, HEIGHT = 2048, 1536  # 768 tiles of 64 px: several seconds of work for the tiny model


def tiles_done(log) -> float:
    return counter_total(log, "tessera_tiles_total", style=TINY_STYLE)


def wait_for(condition, limit_s: float) -> bool:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_stylize_call_whose_client_hangs_up_stops_on_the_server(tiny_registry):
    total = (WIDTH // TILE) * (HEIGHT // TILE)
    body, content_type = multipart({"style": TINY_STYLE}, {"image": ("big.png", encoded(gradient(WIDTH, HEIGHT)))})
    with server_process(tiny_registry, metrics_port=0, default_tile_size=TILE) as (_, address, log):
        app = make_app(servers=(address,))
        try:
            with serving(app) as url:
                host, port = url.removeprefix("http://").split(":")
                connection = http.client.HTTPConnection(host, int(port), timeout=30)
                connection.request("POST", "/api/stylize", body=body, headers={"Content-Type": content_type})
                assert wait_for(lambda: tiles_done(log) > 0, 30), "the work never started"
                connection.close()  # the client hangs up mid-image
                hung_up = tiles_done(log)
                time.sleep(2.0)  # room for tiles already inside the server to finish
                settled = tiles_done(log)
                time.sleep(2.0)
                assert tiles_done(log) == settled, "the server kept working for a client that had gone"
                assert settled - hung_up < total / 4 and settled < total / 2, (hung_up, settled, total)
        finally:
            close_app(app)
