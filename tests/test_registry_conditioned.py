"""The conditioned manifest kind: what a style-conditioned version must state, and the errors that name it."""

import copy

import pytest

from tessera.registry import ConditionedManifest, RegistryError, parse_manifest

SHA = "0" * 64
GOOD = {
    "format_version": 1, "kind": "conditioned", "style": "any-painting", "version": 1,
    "artifacts": {"onnx": {"file": "model.onnx", "sha256": SHA},
                  "context_onnx": {"file": "context.onnx", "sha256": SHA},
                  "encoder_onnx": {"file": "encoder.onnx", "sha256": SHA}},
    "io": {"input": "image", "output": "stylized", "context_input": "context"},
    "tiling": {"halo": 64, "size_multiple": 4, "needs_thumbnail": True, "thumbnail_size": 512},
    "conditioning": {"code_size": 3, "context_stats": 10, "encoder": {"size": 256}, "strength": "code"},
    "presets": [{"id": "mosaic", "name": "Mosaic", "code": [0.1, 0.2, 0.3],
                 "preview": {"file": "preset-mosaic.jpg", "sha256": SHA}, "credits": "c", "license": "l"}],
}


def test_a_conditioned_manifest_parses_and_lists_every_file():
    manifest = parse_manifest(GOOD, "1")
    assert isinstance(manifest, ConditionedManifest)
    assert [f.file for f in manifest.files()] == ["model.onnx", "context.onnx", "encoder.onnx", "preset-mosaic.jpg"]


def _with(change) -> dict:
    data = copy.deepcopy(GOOD)
    change(data)
    return data


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["presets"][0].update(code=[1.0]), "preset 'mosaic' has 1 numbers; conditioning.code_size is 3"),
    (lambda d: d["artifacts"].pop("encoder_onnx"), "encoder_onnx and conditioning.encoder must come together"),
    (lambda d: d["artifacts"].pop("context_onnx"), "artifacts.context_onnx"),
    (lambda d: d["io"].pop("context_input"), "io.context_input and tiling.needs_thumbnail are required"),
    (lambda d: (d["artifacts"].pop("encoder_onnx"), d["conditioning"].update(encoder=None)),
     "strength 'code' needs an encoder"),
    (lambda d: d["presets"].append(dict(d["presets"][0])), "preset ids must be unique"),
    (lambda d: d["presets"][0].update(id="Not An Id"), "presets.0.id"),
    (lambda d: d["presets"][0].update(id="mosaic\n"), "presets.0.id: String should match pattern"),
    # Sizes the server allocates (a neutral code of code_size numbers probes a version without presets).
    (lambda d: d["conditioning"].update(code_size=10**10), "conditioning.code_size: Input should be less than"),
    (lambda d: d["conditioning"].update(context_stats=10**10), "conditioning.context_stats: Input should be less"),
    (lambda d: d["presets"][0].update(code=[0.1, float("nan"), 0.3]), "presets.0.code.1: Input should be a finite"),
    # Text people read (the page, `tessera styles`, the log) holds no control characters.
    (lambda d: d["presets"][0].update(name="Line1\nLine2\x1b[31mRED"),
     "presets.0.name: must not hold control characters or line breaks"),
    (lambda d: d["presets"][0].update(credits="a\rb"), "presets.0.credits: must not hold control characters"),
    (lambda d: d["conditioning"].update(network="x\u2028y"), "conditioning.network: must not hold control"),
    (lambda d: d["artifacts"]["onnx"].update(file="model\x1b.onnx"), "must be a plain file name"),
])
def test_a_broken_conditioned_manifest_says_what_is_wrong(change, message):
    with pytest.raises(RegistryError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_manifest(_with(change), "1")


def test_a_version_without_encoder_needs_a_preset():
    data = _with(lambda d: (d["artifacts"].pop("encoder_onnx"), d["conditioning"].update(encoder=None,
                                                                                        strength="pixels")))
    assert parse_manifest(data, "1").conditioning.encoder is None
    data["presets"] = []
    with pytest.raises(RegistryError, match="needs at least one preset"):
        parse_manifest(data, "1")
