"""The manifest schema: every shipped manifest validates, and each kind of mistake is named by its field."""

import copy
import json
from pathlib import Path

import pytest

from inference_server.runtime.tensorrt_runtime import plan_limits_problem, usable_plans
from scripts.local_stack import ROOT
from tessera.registry import MANIFEST_KINDS, RegistryError, parse_manifest, read_manifest
from tessera.registry.manifest import MAX_PLAN_BATCH
from tessera.tiling import MAX_TILE_EDGE

SHIPPED = sorted((ROOT / "model_registry").glob("*/*/manifest.json"))
BLUE_INK = ROOT / "model_registry" / "blue-ink" / "1" / "manifest.json"
PLAN = {"file": "model.sm86.trt10.plan", "sha256": "0" * 64, "compute_capability": "8.6",
        "tensorrt_version": "10.3.0", "precision": "fp16", "min_tile": 4, "opt_tile": 512, "max_tile": 1024,
        "max_batch": 8}


def _with(change) -> dict:
    data = copy.deepcopy(json.loads(BLUE_INK.read_text()))
    change(data)
    return data


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.parent.name}-v{p.parent.name}")
def test_every_shipped_manifest_validates(path: Path):
    manifest = read_manifest(path.parent)
    assert manifest.kind in MANIFEST_KINDS and manifest.version == int(path.parent.name)


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["tiling"].update(halo=-1), "tiling.halo: Input should be greater than or equal to 0 (got -1)"),
    (lambda d: d["tiling"].update(halo="40"), "tiling.halo: Input should be a valid integer (got '40')"),
    (lambda d: d["tiling"].update(mode="tile"), "tiling.mode: Input should be 'crop' or 'feather' (got 'tile')"),
    (lambda d: d.pop("tiling"), "tiling: Field required"),
    (lambda d: d["io"].update(input="img"), "io.input: Input should be 'image' (got 'img')"),
    (lambda d: d["io"].update(range=[0, 1]), "io.range.0: Input should be -1.0 (got 0)"),
    (lambda d: d["artifacts"]["onnx"].update(file="../model.onnx"), "artifacts.onnx.file: artifact file name"),
    (lambda d: d["artifacts"]["onnx"].update(sha256="abc"), "artifacts.onnx.sha256: String should match pattern"),
    (lambda d: d.update(halo=40), "halo: Extra inputs are not permitted"),
    (lambda d: d["io"].pop("context_input"), "io.context_input and artifacts.context_onnx must come together"),
    (lambda d: d["tiling"].update(needs_thumbnail=False), "tiling.needs_thumbnail must be true exactly when"),
    (lambda d: d.update(kind="painting"), "kind must be one of ['conditioned', 'generator'], got 'painting'"),
    (lambda d: d.update(kind="conditioned"), "conditioning: Field required"),
    (lambda d: d["artifacts"].update(tensorrt=[{**PLAN, "max_batch": 0}]),
     "artifacts.tensorrt.0.max_batch: Input should be greater than or equal to 1"),
    (lambda d: d["artifacts"].update(tensorrt=[{k: v for k, v in PLAN.items() if k != "max_tile"}]),
     "artifacts.tensorrt.0.max_tile: Field required"),
    (lambda d: d["artifacts"].update(tensorrt=[{**PLAN, "min_tile": 2048}]),
     "artifacts.tensorrt.0: tile limits must satisfy min_tile <= opt_tile <= max_tile"),
    (lambda d: d.update(precisions=["fp32", "int4"]),
     "precisions.1: Input should be 'fp32', 'bf16', 'bf16-fp32-input', 'bf16-fp32-stem' or 'fp32-openvino' "
     "(got 'int4')"),
    (lambda d: d.update(precisions=["bf16"]), "precisions must list fp32, the precision every version is trained at"),
    (lambda d: d.update(precisions=["fp32", "bf16", "bf16"]), "precisions lists bf16 more than once"),
])
def test_a_broken_field_is_named_in_the_error(change, message):
    with pytest.raises(RegistryError) as caught:
        parse_manifest(_with(change), "1")
    assert message in str(caught.value)


def test_defaults_fill_what_older_manifests_leave_out():
    def strip(d):
        del d["tiling"]["tile_safe"], d["tiling"]["needs_thumbnail"], d["io"]["layout"]
    manifest = parse_manifest(_with(strip), "1")
    assert (manifest.kind, manifest.tiling.tile_safe, manifest.tiling.needs_thumbnail) == ("generator", True, True)
    assert manifest.io.layout == "NCHW"
    assert manifest.precisions == ("fp32",)  # only what the version was measured at


def test_kinds_are_looked_up_by_name_so_a_new_kind_is_one_entry():
    assert set(MANIFEST_KINDS) == {"generator", "conditioned"}
    assert parse_manifest(_with(lambda d: d.update(kind="generator")), "1").kind == "generator"


def test_tensorrt_plans_whose_limits_do_not_cover_the_servers_calls_are_not_used():
    manifest = parse_manifest(_with(lambda d: d["artifacts"].update(tensorrt=[
        PLAN, {**PLAN, "file": "small.plan", "max_tile": 512, "opt_tile": 256},
        {**PLAN, "file": "few.plan", "max_batch": 2}, {**PLAN, "file": "big-min.plan", "min_tile": 64}])), "1")
    assert [p.file for p in usable_plans(manifest, max_batch=4)] == ["model.sm86.trt10.plan"]
    small, few, big_min = manifest.tensorrt[1:]
    assert "cores up to 512 px, the server allows 1024 px" in plan_limits_problem(small, manifest.tiling, 4)
    assert "batches of up to 2 tiles, the server batches up to 4" in plan_limits_problem(few, manifest.tiling, 4)
    assert "inputs from 64 px, the server sends some of 16 px" in plan_limits_problem(big_min, manifest.tiling, 4)
    assert plan_limits_problem(few, manifest.tiling, 1) is None


@pytest.mark.parametrize(("field", "limit"), [("min_tile", MAX_TILE_EDGE), ("opt_tile", MAX_TILE_EDGE),
                                              ("max_tile", MAX_TILE_EDGE), ("max_batch", MAX_PLAN_BATCH)])
def test_a_tensorrt_plans_sizes_are_bounded_naming_their_field(field, limit):
    """Before, a plan's tile sides and batch took any whole number (10**15 tiles per call), while every
    other size a version declares is bounded."""
    plan = {**PLAN, "opt_tile": MAX_TILE_EDGE, "max_tile": MAX_TILE_EDGE, field: limit}  # at the limits: valid
    assert parse_manifest(_with(lambda d: d["artifacts"].update(tensorrt=[plan])), "1").tensorrt[0]
    absurd = {**plan, field: 10**15}
    said = rf"^manifest.json: artifacts\.tensorrt\.0\.{field}: Input should be less than or equal to {limit} "
    with pytest.raises(RegistryError, match=said + r"\(got 1000000000000000\)"):
        parse_manifest(_with(lambda d: d["artifacts"].update(tensorrt=[absurd])), "1")
