"""The cut kind: one generator trained with an adversarial and a patchwise contrastive (PatchNCE) loss."""

import json
import math

import pytest
import torch

from trainer.cli import main
from trainer.config import ConfigError, TrainConfig
from trainer.models.cut import PatchHeads, patch_nce
from trainer.runs import load_generator


def test_patch_nce_rewards_the_patch_at_the_same_place():
    keys = torch.nn.functional.normalize(torch.randn(2, 16, 8), dim=-1)
    right = patch_nce(keys, keys, tau=0.07)
    shuffled = patch_nce(keys[:, torch.randperm(16)], keys, tau=0.07)
    assert float(right) < 0.5 < math.log(16) < float(shuffled)
    queries = keys.clone().requires_grad_(True)
    patch_nce(queries, keys.clone().requires_grad_(True), tau=0.07).backward()
    assert queries.grad.abs().sum() > 0  # the output side learns; keys are detached


def test_heads_pick_the_drawn_positions_and_give_unit_vectors():
    heads = PatchHeads([4, 6], dim=8)
    maps = [torch.randn(2, 4, 5, 5), torch.randn(2, 6, 3, 3)]
    out = heads(maps, [torch.tensor([0, 7, 24]), torch.tensor([1, 8])])
    assert [tuple(o.shape) for o in out] == [(2, 3, 8), (2, 2, 8)]
    assert torch.allclose(out[0].norm(dim=-1), torch.ones(2, 3), atol=1e-5)


def test_a_cut_run_trains_and_is_evaluated_against_the_paintings(tmp_path, unpaired_dirs, tiny):
    a, b = unpaired_dirs
    run = tmp_path / "run"
    flags = ["train", "--kind", "cut", "--data-a", str(a), "--data-b", str(b), "--steps", "2", "--run-dir", str(run),
             "--nce-patches", "16", "--lambda-colour", "2", *tiny(netG="compact", upsample="resize")]
    assert main(flags) == 0
    records = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1]
    assert {"G_GAN", "NCE", "D", "colour"} <= set(records[0]) and all(math.isfinite(v) for v in records[-1].values())
    net, info = load_generator(run)
    assert info["kind"] == "cut" and info["step"] == 2
    assert main(["evaluate", str(run), "--holdout-a", str(a), "--crops", "4", "--crop-size", "32"]) == 0
    values = json.loads((run / "metrics.json").read_text())["metrics"]
    assert set(values) == {"fid_effnetlite0_to_paintings", "fid_effnetlite0_input_to_paintings",
                           "content_preservation"}


def test_cut_needs_the_compact_generator():
    cfg = TrainConfig(kind="cut", data_a="a", data_b="b", netG="resnet_6blocks").resolved()
    with pytest.raises(ConfigError, match="compact"):
        cfg.validate()
    assert TrainConfig(kind="cut").resolved().gan_mode == "lsgan"
