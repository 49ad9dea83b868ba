"""An id that is a typo of a known one (another case, a letter out) is answered with the id it may be, as the
CLI and the inference server answer it: "did you mean 'umber-oil'?"."""

from __future__ import annotations

import io

import pytest

from bff.errors import did_you_mean, unknown_style
from tests.bff.pictures import encoded, gradient
from tests.support import TINY_STYLE
from tests.support.conditioned import PAINTING_STYLE

PNG = encoded(gradient(), "PNG")


@pytest.mark.parametrize("asked, near", [
    ("Umber-Oil", "umber-oil"), ("umber-oli", "umber-oil"), ("UMBER-OIL", "umber-oil"), ("mosaik", None),
    ("u" * 65, None),  # no id is this long: no typo of one
])
def test_a_typo_of_a_known_id_is_named(asked, near):
    assert did_you_mean(asked, ["blue-ink", "umber-oil"]) == (f" (did you mean {near!r}?)" if near else "")


def test_the_unknown_style_404_suggests_the_style_it_may_be():
    error = unknown_style("Umber-Oil", ["blue-ink", "umber-oil"])
    assert (error.status, error.error) == (404, "unknown_style")
    assert error.message == ("There is no style called 'Umber-Oil' (did you mean 'umber-oil'?). Known styles: "
                             "blue-ink, umber-oil.")


def test_a_mis_cased_style_in_the_form_is_404_with_the_style_it_may_be(client):
    answer = client.post("/api/stylize", data={"style": TINY_STYLE.title(), "image": (io.BytesIO(PNG), "p.png")})
    assert (answer.status_code, answer.json["error"]) == (404, "unknown_style"), answer.json
    assert f"(did you mean '{TINY_STYLE}'?)" in answer.json["message"]


def test_a_mis_cased_preset_preview_is_404_with_the_preset_it_may_be(painting_client):
    answer = painting_client.get(f"/api/styles/{PAINTING_STYLE}/presets/Marbling/preview.jpg")
    assert (answer.status_code, answer.json["error"]) == (404, "no_preview"), answer.json
    assert answer.json["message"].endswith("with a preview (did you mean 'marbling'?).")
