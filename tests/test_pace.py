"""inference_server/pace.py with a fake clock: what counts as waiting on a client, and when it is too slow."""

from inference_server.pace import Pace


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_client_sending_one_small_tile_now_and_then_runs_out_of_time():
    clock = Clock()
    pace = Pace(min_rate=1000, allowance=10, clock=clock)
    for _ in range(2):  # one 16x16 tile every 4 s
        clock.now += 4
        pace.arrived(256)
        pace.answered()
    assert abs(pace.seconds_left() - (10 + 0.512 - 8)) < 1e-9
    clock.now += 4
    assert pace.seconds_left() < 0
    assert "sent 512 pixels while the server waited 12.0 s" in pace.explain()


def test_time_the_server_spends_working_never_counts():
    clock = Clock()
    pace = Pace(min_rate=1000, allowance=1, clock=clock)
    pace.arrived(100)
    clock.now += 100  # the server is slow: the client waits for its result, not the other way round
    assert pace.seconds_left() == 1 + 0.1
    pace.answered()
    clock.now += 1
    assert abs(pace.seconds_left() - 0.1) < 1e-9


def test_a_stream_the_client_has_ended_waits_no_more():
    clock = Clock()
    pace = Pace(min_rate=1000, allowance=1, clock=clock)
    pace.arrived(5000)
    pace.finished()
    pace.answered()
    clock.now += 1000
    assert pace.seconds_left() == 1 + 5
