"""The sentence every client gets for a style or preset id the server does not hold."""

import time

import pytest

from inference_server.unknown_ids import unknown_id_message

STYLES = ["blue-ink", "blue-swirls", "umber-oil"]


def test_a_typo_gets_the_near_id_and_the_list():
    assert unknown_id_message("style", "blu-ink", STYLES, "this server serves") == (
        "unknown style 'blu-ink' (did you mean 'blue-ink'?); this server serves blue-ink, blue-swirls, umber-oil")
    assert unknown_id_message("preset", "Mosaic", ["ribbons", "mosaic"], "this style has") == (
        "unknown preset 'Mosaic' (did you mean 'mosaic'?); this style has ribbons, mosaic")


def test_a_number_without_its_leading_zero_finds_its_id():
    presets = [f"style-{i:02d}" for i in range(26)]
    assert unknown_id_message("preset", "Style-7", presets, "this style has").startswith(
        "unknown preset 'Style-7' (did you mean 'style-07'?)")  # difflib alone says 'style-17'


def test_no_near_id_lists_them_all_and_a_long_list_is_cut():
    assert unknown_id_message("style", "zzz", STYLES, "this server serves") == (
        "unknown style 'zzz'; this server serves blue-ink, blue-swirls, umber-oil")
    many = [f"style-{i:02d}" for i in range(20)]
    assert unknown_id_message("style", "q", many, "this server serves", shown=3) == (
        "unknown style 'q'; this server serves style-00, style-01, style-02 and 17 more")


@pytest.mark.serial  # serial pass of `make test`: a huge id answered within 0.5 s
def test_nothing_held_and_a_long_id_are_said_plainly():
    assert unknown_id_message("style", "x", [], "this server serves") == "unknown style 'x': this server serves none"
    long = unknown_id_message("preset", "a" * 5000, STYLES, "this style has")
    assert len(long) < 200 and "a" * 64 + "…" in long
    started = time.perf_counter()  # a huge ask is cut, not matched character by character
    assert "did you mean" not in unknown_id_message("style", "blue-ink" * 500_000, STYLES, "this server serves")
    assert time.perf_counter() - started < 0.5
