"""Reproduce the any-painting student (`python -m scripts.train_anystyle`): train, export, measure.

Three stages, each a command of the project's own tools, printed before it runs; each resumes:

1. ``python -m trainer cin-code-distill --config runs/anycin/config.json`` (or ``--resume``): the
   multistyle26-shaped student driven by the style code (trainer/cin_code_distill.py) with the
   recipe below; it paints its teacher windows once (``RUN/pairs.npz``, about 4 minutes) and keeps
   checkpoints in runs/anycin/student;
2. ``python -m trainer export-conditioned runs/anycin/student --registry runs/anycin/registry
   --style any-painting``: a style-conditioned version in a registry of its own (copy it into
   model_registry/ only when its figures meet the targets, docs/styles.md);
3. ``python -m scripts.anystyle_figures``: the figures on hold-out photos in hold-out looks.

    python -m scripts.train_anystyle                      # everything
    python -m scripts.train_anystyle --budget-minutes 60  # time-box the training stage

The first student (kind ``conditioned``: the compact generator with FiLM, trainer/code_generator.py)
is trained by hand with ``teacher-pairs`` and ``train --kind conditioned`` (docs/training.md); its
figures are in docs/styles.md.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path("runs/anycin")
RUN = ROOT / "student"
REGISTRY = ROOT / "registry"
STYLE = "any-painting"
# The held-out looks the figures use: three multistyle26 styles never trained on, a Wesnoth painting,
# and two that owe nothing to multistyle26 (whose convolutions the student starts from): a generated
# marbling and an openclipart drawing. 6 looks x 8 hold-out photos x 1 window per photo size.
EVAL_LOOKS = ("ms26-02-coffee", "ms26-11-coffee", "ms26-22-coffee", "wesnoth-wesnoth-1.16-data--swamp-01",
              "marbling-101", "clipart-openclipart-png--buildings-firestation_mimooh_01")

# cin_distill's recipe (scripts/train_defaults.py: L1 + VGG16 feature distance + fine-detail term,
# rate 5e-4, falling linearly to zero over the second half) with five residual blocks: one network for every
# look needs more than the three blocks a single style does. 16 looks per photo and size over 20
# photos at 3 sizes: 960 looks, 2880 windows. About 1.5 s a step on one shared core here.
RECIPE = {
    "data_a": "data/photos/train", "run_dir": str(RUN), "width": 32, "stem": 16, "n_blocks": 5,
    "sizes": [512, 1024, 2048], "looks": 16, "crop_sides": [128, 256], "crops": [2, 1], "steps": 2400,
    "lr": 0.0005, "lambda_l1": 1.0, "lambda_vgg": 1.0, "lambda_hf": 1.0, "checkpoint_every": 100, "num_threads": 1,
}


def trainer(*args: str) -> list[str]:
    return [sys.executable, "-m", "trainer", *args]


def run(cmd: list[str], budget_s: float = 0.0) -> None:
    """Run ``cmd``; with a budget, interrupt it (SIGINT: the trainer saves and stops) when it is spent."""
    print("$ " + " ".join(cmd), flush=True)
    process = subprocess.Popen(cmd)
    try:
        code = process.wait(timeout=budget_s or None)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        code = process.wait()
        print(f"the {budget_s / 60:.0f} min budget is spent; training stopped", flush=True)
        return
    if code:
        raise subprocess.CalledProcessError(code, cmd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget-minutes", type=float, default=0.0, help="stop training after N minutes")
    args = parser.parse_args(argv)
    if (RUN / "checkpoints" / "latest.pt").exists():
        run(trainer("cin-code-distill", "--resume", str(RUN)), args.budget_minutes * 60)
    else:
        ROOT.mkdir(parents=True, exist_ok=True)
        config = ROOT / "config.json"
        config.write_text(json.dumps(RECIPE, indent=1) + "\n")
        run(trainer("cin-code-distill", "--config", str(config)), args.budget_minutes * 60)
    run(trainer("export-conditioned", str(RUN), "--registry", str(REGISTRY), "--style", STYLE))
    newest = max(int(p.name) for p in (REGISTRY / STYLE).iterdir() if p.name.isdigit())
    looks = [flag for look in EVAL_LOOKS for flag in ("--look", look)]
    run([sys.executable, "-m", "scripts.anystyle_figures", "--student", str(REGISTRY / STYLE / str(newest)),
         "--out", str(ROOT / "eval"), "--crops", "1", *looks, "--metrics-into", str(RUN)])
    return 0


if __name__ == "__main__":
    sys.exit(main())
