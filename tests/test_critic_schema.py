"""The manifest's critic section and the geometry of critic map cells (tessera.critic_geometry)."""

import copy

import pytest

from tessera.critic_geometry import cells_in, chain_geometry, grid_length
from tessera.registry import RegistryError, parse_manifest
from tests.support.tiny_model import tiny_manifest

PATCH_34 = [[4, 2, 1], [4, 2, 1], [4, 1, 1], [4, 1, 1]]
SECTION = {"conditional": True, "score": "logit", "realism_layers": PATCH_34, "gradcam_layers": PATCH_34[:3],
           "receptive_field": 34, "halo": 17}


def manifest(critic: dict | None, artifact: bool = True) -> dict:
    data = {**tiny_manifest(multiple=4), "format_version": 1, "style": "s", "version": 1}
    data["artifacts"] = {"onnx": {"file": "model.onnx", "sha256": "0" * 64}}
    if artifact:
        data["artifacts"]["critic"] = {"file": "critic.onnx", "sha256": "1" * 64}
    if critic is not None:
        data["critic"] = critic
    return data


def test_a_critic_section_is_read_with_its_artifact():
    parsed = parse_manifest(manifest(SECTION))
    assert parsed.critic.receptive_field == 34 and parsed.artifacts.critic.file == "critic.onnx"
    assert parse_manifest(manifest(None, artifact=False)).critic is None  # versions without a critic stay valid


@pytest.mark.parametrize(("change", "artifact", "says"), [
    (None, True, "must come together"),
    ({}, False, "must come together"),
    ({"receptive_field": 70}, True, "receptive_field and halo must be 34 and 17"),
    ({"gradcam_layers": [[3, 1, 1]]}, True, "first layers"),
    ({"score": "hinge"}, True, "critic.score"),
])
def test_a_bad_critic_section_is_refused_by_name(change, artifact, says):
    critic = None if change is None else {**copy.deepcopy(SECTION), **change}
    with pytest.raises(RegistryError, match=says):
        parse_manifest(manifest(critic, artifact))


def test_patchgan_geometry_and_cells_of_cores_partition_the_grid():
    geometry = chain_geometry([tuple(x) for x in PATCH_34])
    assert (geometry.stride, geometry.receptive_field, geometry.offset, geometry.halo) == (4, 34, 6.0, 17)
    for width in (1, 37, 200, 203):
        cells = grid_length(PATCH_34, width)
        counted = [0] * cells
        for start in range(0, width, 12):
            first, count = cells_in(start, min(12, width - start), 4, 6.0, cells)
            for i in range(first, first + count):
                counted[i] += 1
        assert counted == [1] * cells
