"""bff.pixel_budget.PixelBudget: decoded pixels across every job of the process stay within the budget;
jobs beyond it wait, and an image larger than the whole budget runs alone."""

from __future__ import annotations

import threading
import time

import pytest

from bff.pixel_budget import PixelBudget


def hold_in_thread(budget: PixelBudget, pixels: int, release: threading.Event, entered: list) -> threading.Thread:
    def run():
        with budget.hold(pixels):
            entered.append(pixels)
            release.wait(5)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def settle() -> None:
    time.sleep(0.2)


def test_holders_beyond_the_budget_wait_until_pixels_are_released():
    budget, release, entered = PixelBudget(100), threading.Event(), []
    first = hold_in_thread(budget, 60, release, entered)
    settle()
    second = hold_in_thread(budget, 60, threading.Event(), entered)
    settle()
    assert entered == [60] and budget.in_use == 60  # 60 + 60 > 100: the second waits
    release.set()
    first.join(5)
    settle()
    assert entered == [60, 60] and budget.in_use == 60
    second.join(6)
    assert budget.in_use == 0


def test_small_holders_share_the_budget():
    budget, release, entered = PixelBudget(100), threading.Event(), []
    threads = [hold_in_thread(budget, 30, release, entered) for _ in range(3)]
    settle()
    assert budget.in_use == 90 and len(entered) == 3
    release.set()
    for thread in threads:
        thread.join(5)
    assert budget.in_use == 0


def test_an_image_larger_than_the_budget_runs_alone():
    budget, release, entered = PixelBudget(100), threading.Event(), []
    small = hold_in_thread(budget, 10, release, entered)
    settle()
    huge = hold_in_thread(budget, 1_000, threading.Event(), entered)
    settle()
    assert entered == [10]  # waits for the whole budget to be free
    release.set()
    small.join(5)
    settle()
    assert entered == [10, 1_000] and budget.in_use == 100
    huge.join(6)
    assert budget.in_use == 0


def test_pixels_come_back_when_the_holder_fails():
    budget = PixelBudget(100)
    with pytest.raises(RuntimeError), budget.hold(80):
        raise RuntimeError("decode failed")
    assert budget.in_use == 0


def test_a_budget_must_be_positive():
    with pytest.raises(ValueError):
        PixelBudget(0)
