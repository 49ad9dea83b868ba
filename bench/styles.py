"""Every shipped style through the real server on a 2048x1536 photo: the student-quality issue's
budget (each shipped student at 2 MP/s or more; the two teachers are listed as the reference), with
the machine's matmul ceiling beside it.

The photo (scikit-image's astronaut, resized) goes through a server started here on loopback on the
registry's newest versions and the client's tiled streaming path, as in production
(`scripts.style_speed.measure`: one warm-up, then the median of `rounds` runs). The fp32 matmul
rate of the same minutes says how fast the machine was: a style's MP/s moves with it from one
machine to the next, so `per 100 GFLOP/s` divides it out for comparisons across days.

`python -m bench --only styles [--tiny] [--rounds N] [--styles ID ...]`; the JSON goes to
bench/results/styles.json (styles-tiny.json for `--tiny`, a 256x192 photo and one style).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from bench.ceiling import matmul_gflops
from scripts.local_stack import local_server
from scripts.style_speed import measure, speed_image
from scripts.train_defaults import RECIPES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "styles.json"
REGISTRY = ROOT / "model_registry"
THREADS = 0  # the ceiling on every core; the server with its defaults (one runner thread per core)
SIZE, TINY_SIZE = "2048x1536", "256x192"
BUDGET_MP_PER_S = 2.0  # the student-quality issue's floor for every shipped style
TINY_STYLE = "blue-ink"
# The shipped students: the collection (`make train-defaults`) and any-painting, whose default version is
# its fast student (`python -m scripts.train_anystyle`, issue 13's 2 MP/s).
COLLECTION = tuple(recipe.id for recipe in RECIPES) + ("any-painting",)
# The shipped teachers: Magenta's own networks, served as the reference the students are measured against
# (docs/styles.md, "Any painting"). They are measured and listed, but the budget is the students': a
# teacher is what its students are made to be faster than.
TEACHERS = ("teacher-26", "any-painting-best")
TEACHER_VERDICT = "teacher (reference)"


def run(tiny: bool = False, rounds: int | None = None, styles: tuple[str, ...] = (),
        results: Path | None = None, registry: Path = REGISTRY) -> list[dict]:
    """Rows {"style", "version", "MP", "seconds", "MP/s", ">= 2 MP/s", "per 100 GFLOP/s"}, one per
    style (``styles``, default the shipped collection, then the teachers, whose verdict is
    TEACHER_VERDICT; ``tiny``: one style on a small photo), plus a last row with the matmul ceiling
    (GFLOP/s, 2 threads) measured before and after them.

    Also saved as JSON to ``results`` (default bench/results/styles.json or styles-tiny.json).
    """
    image = speed_image(0, TINY_SIZE if tiny else SIZE)
    repeats = rounds or (1 if tiny else 3)
    matmul_seconds = 0.5 if tiny else 2.0
    ceiling_before = matmul_gflops(THREADS, seconds=matmul_seconds)
    measured = []
    with local_server(registry, THREADS) as address:
        chosen = styles or ((TINY_STYLE,) if tiny else COLLECTION + TEACHERS)
        for style in chosen:
            measured.append(measure(address, style, image, repeats))
    ceiling = (ceiling_before + matmul_gflops(THREADS, seconds=matmul_seconds)) / 2
    rows = [_row(m, ceiling) for m in measured]
    rows.append({"style": "matmul ceiling (mean of before and after)", "GFLOP/s": ceiling})
    _save(rows, tiny, results or (RESULTS.with_name("styles-tiny.json") if tiny else RESULTS))
    return rows


def _row(measured: dict, ceiling: float) -> dict:
    rate = measured["mp_per_s"]
    verdict = TEACHER_VERDICT if measured["style"] in TEACHERS else "yes" if rate >= BUDGET_MP_PER_S else "no"
    return {"style": measured["style"], "version": measured["version"], "MP": measured["megapixels"],
            "seconds": measured["seconds"], "MP/s": rate, ">= 2 MP/s": verdict,
            "per 100 GFLOP/s": 100 * rate / ceiling}


def _save(rows: list[dict], tiny: bool, path: Path) -> None:
    command = "python -m bench --only styles" + (" --tiny" if tiny else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"command": command, "date": datetime.date.today().isoformat(), "rows": rows},
                               indent=2) + "\n")
