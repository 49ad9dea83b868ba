"""`make bench`'s styles section in its tiny version: a real server on loopback restyles a small photo
and the row names the version served, a positive rate and the budget verdict that follows from it."""

import json

import pytest

from bench import styles


@pytest.mark.serial  # serial pass of `make test`: a benchmark
def test_tiny_styles_bench_measures_one_style_through_the_server(tmp_path):
    results = tmp_path / "styles.json"
    rows = styles.run(tiny=True, results=results)
    row, ceiling = rows
    assert row["style"] == styles.TINY_STYLE and row["version"] >= 1
    assert row["MP"] == round(256 * 192 / 1e6, 2) and row["seconds"] > 0 and row["MP/s"] > 0
    assert row[">= 2 MP/s"] == ("yes" if row["MP/s"] >= styles.BUDGET_MP_PER_S else "no")
    assert ceiling["GFLOP/s"] > 1  # fp32 matmul: any working CPU does far more than 1
    assert abs(row["per 100 GFLOP/s"] - 100 * row["MP/s"] / ceiling["GFLOP/s"]) < 1e-9
    saved = json.loads(results.read_text())
    assert saved["command"] == "python -m bench --only styles --tiny" and saved["rows"] == rows


def test_the_collection_is_the_trained_styles():
    assert set(styles.COLLECTION) == {"blue-swirls", "umber-oil", "blue-ink", "vermilion", "wesnoth-painting",
                                      "any-painting"}


def test_the_teachers_are_measured_as_the_reference_not_against_the_budget():
    assert set(styles.TEACHERS) == {"teacher-26", "any-painting-best"}
    assert not set(styles.TEACHERS) & set(styles.COLLECTION)
    slow = {"style": "teacher-26", "version": 2, "megapixels": 3.15, "seconds": 3.0, "mp_per_s": 1.05}
    assert styles._row(slow, 150.0)[">= 2 MP/s"] == styles.TEACHER_VERDICT
    assert styles._row({**slow, "style": "blue-ink"}, 150.0)[">= 2 MP/s"] == "no"
