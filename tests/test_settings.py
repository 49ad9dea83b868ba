"""tessera/settings.py: one dataclass per process gives its flags, TESSERA_* variables, defaults and help."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from bff.config import MILLIONS_BOUNDS, GatewayConfig
from inference_server.config import ServerConfig
from scripts.local_stack import ROOT
from tessera.settings import BoundedParse, SettingsError, field_type, parse_settings, setting, specs
from trainer.config import TrainConfig


@dataclass(frozen=True)
class Inner:
    depth: int = setting(3, "how deep", minimum=1)


@dataclass(frozen=True)
class Example:
    name: str = setting("tile", "a name")
    rate: float = setting(1.5, "a rate", env="RATE_HZ")
    wait_s: float = setting(2.0, "a time in seconds")
    folder: Path | None = setting(None, "a folder")
    verbose: bool = setting(False, "talk more")
    hosts: tuple[str, ...] = setting(("a:1",), "hosts", flag="--host")
    token: str = setting("", "a secret", secret=True)
    inner: Inner = field(default_factory=Inner)

    def __post_init__(self) -> None:
        if self.name == "forbidden":
            raise SettingsError("name may not be 'forbidden'")


def parse(argv, environ=None):
    return parse_settings(Example, argv, argparse.ArgumentParser(prog="example"), environ or {})[0]


def test_defaults_come_from_the_dataclass():
    assert parse([]) == Example()


def test_flags_win_over_variables_which_win_over_defaults():
    environ = {"TESSERA_NAME": "from-env", "TESSERA_RATE_HZ": "4", "TESSERA_DEPTH": "7", "TESSERA_VERBOSE": "yes"}
    settings = parse(["--name", "from-flag", "--host", "x:1,y:2", "--folder", "/tmp"], environ)
    assert settings == Example(name="from-flag", rate=4.0, folder=Path("/tmp"), verbose=True, hosts=("x:1", "y:2"),
                               inner=Inner(depth=7))
    assert parse(["--no-verbose", "--depth", "2"], environ).verbose is False


@pytest.mark.parametrize(("environ", "argv", "words"), [
    ({"TESSERA_RATE_HZ": "fast"}, [], "variable TESSERA_RATE_HZ='fast' is unusable: 'fast' is not a number"),
    # NaN passes every bound (each comparison with it is false); an infinity overflows the clocks waited on
    ({"TESSERA_RATE_HZ": "nan"}, [], "TESSERA_RATE_HZ='nan' is unusable: 'nan' is not a finite number"),
    ({}, ["--rate", "inf"], "argument --rate: 'inf' is not a finite number"),
    ({}, ["--rate=-Infinity"], "argument --rate: '-Infinity' is not a finite number"),
    # a time stops at MAX_SECONDS: 1e10 s overflowed the registry poller's wait
    ({"TESSERA_WAIT_S": "1e10"}, [], "TESSERA_WAIT_S='1e10' is unusable: 1e10 is above the maximum of 1e+07"),
    ({"TESSERA_DEPTH": "0"}, [], "TESSERA_DEPTH='0' is unusable: 0 is below the minimum of 1"),
    ({"TESSERA_VERBOSE": "maybe"}, [], "TESSERA_VERBOSE='maybe'"),
    ({"TESSERA_TOKEN": "\x00"}, ["--depth", "x"], "argument --depth: 'x' is not a whole number"),
    ({"TESSERA_RATE_HZ": "x"}, ["--help"], "TESSERA_RATE_HZ='x'"),  # even under --help
    ({}, ["--name", "forbidden"], "name may not be 'forbidden'"),
])
def test_a_bad_value_is_one_line_naming_it_and_exit_status_2(capsys, environ, argv, words):
    with pytest.raises(SystemExit) as caught:
        parse(argv, environ)
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("example: error: ")


def test_help_names_every_variable_and_default_but_no_secret(capsys):
    with pytest.raises(SystemExit):
        parse(["--help"], {"TESSERA_TOKEN": "hunter2"})
    out = " ".join(capsys.readouterr().out.split())
    for text in ("env TESSERA_RATE_HZ; default 1.5", "env TESSERA_DEPTH; default 3", "default a:1", "--no-verbose"):
        assert text in out
    assert "hunter2" not in out and "required" not in out


def test_help_names_the_bounds_a_setting_is_given(capsys):
    """Before, only a refusal said them: --poll-interval 0.001 was the first a person heard of its 0.01."""
    @dataclass(frozen=True)
    class Bounded:
        size: int = setting(512, "a size", minimum=16, maximum=2048)
        count: int = setting(1, "a count", minimum=0)
        share: float = setting(0.5, "a share", maximum=1)
        wait_s: float = setting(2.0, "a time")  # its implicit MAX_SECONDS is no bound a person chooses

    with pytest.raises(SystemExit):
        parse_settings(Bounded, ["--help"], argparse.ArgumentParser(prog="bounded"), {})
    out = " ".join(capsys.readouterr().out.split())
    for text in ("a size [env TESSERA_SIZE; default 512; 16 to 2048]",
                 "a count [env TESSERA_COUNT; default 1; at least 0]",
                 "a share [env TESSERA_SHARE; default 0.5; at most 1]",
                 "a time [env TESSERA_WAIT_S; default 2.0]"):
        assert text in out


@pytest.mark.parametrize(("argv", "said"), [
    (["--rate", "-1"], "argument --rate: -1 is below the minimum of 0"),  # was "-1.0 is below the minimum of 0"
    (["--rate", "0"], "argument --rate: 0 is below the minimum of 0.001"),  # was "0.0 ... of 0.001"
    (["--rate", "1e10"], "argument --rate: 1e10 is above the maximum of 1e+07"),  # was "10000000000.0 ... 10000000.0"
    (["--count", "4294967296"], "argument --count: 4294967296 is above the maximum of 4294967295"),
])
def test_a_refusal_echoes_the_value_as_given_and_says_its_bound_as_written(capsys, argv, said):
    @dataclass(frozen=True)
    class Bounded:
        rate: float = setting(1.0, "a rate", minimum=0.001, maximum=1e7)
        count: int = setting(1, "a count", maximum=2**32 - 1)  # :g would say 4.29497e+09

    with pytest.raises(SystemExit):
        parse_settings(Bounded, argv, argparse.ArgumentParser(prog="bounded"), {})
    assert said in capsys.readouterr().err


def test_help_names_the_bounds_a_custom_parse_enforces(capsys):
    """Before, --max-upload-mb's help said nothing of the bounds its parse refused ("0 must be above 0 and
    at most 1e+06 (millions)"); a BoundedParse says them once, for the refusal and for help."""
    @dataclass(frozen=True)
    class Custom:
        even: int = setting(2, "an even number", parse=BoundedParse(int, "even only"), minimum=0)

    with pytest.raises(SystemExit):
        parse_settings(Custom, ["--help"], argparse.ArgumentParser(prog="custom"), {})
    assert "an even number [env TESSERA_EVEN; default 2; even only; at least 0]" in " ".join(
        capsys.readouterr().out.split())
    in_millions = {"--max-upload-mb", "--max-megapixels", "--max-result-mb", "--max-batch-mb", "--max-photo-mb",
                   "--preview-cache-mb", "--max-clip-megapixels", "--max-decoded-megapixels"}
    assert {spec.flag for spec in specs(GatewayConfig) if spec.bounds == MILLIONS_BOUNDS} == in_millions
    assert MILLIONS_BOUNDS == "more than 0 and at most 1,000,000"


def test_a_negative_arena_release_period_is_refused(capsys):
    with pytest.raises(SystemExit):
        parse_settings(ServerConfig, ["--arena-release-seconds", "-1"], argparse.ArgumentParser(prog="s"), {})
    assert "argument --arena-release-seconds: -1 is below the minimum of 0" in capsys.readouterr().err


@pytest.mark.parametrize("cls", [ServerConfig, GatewayConfig, TrainConfig], ids=lambda c: c.__name__)
def test_every_field_of_a_process_config_is_a_flag_with_help(cls):
    """A nested settings dataclass (the server's batching and stream limits) may keep internal constants."""
    flags = {spec.name for spec in specs(cls)}
    for f in dataclasses.fields(cls):
        kind = field_type(f, cls)
        names = [g.name for g in dataclasses.fields(kind) if "help" in g.metadata] if dataclasses.is_dataclass(kind) \
            else [f.name]
        assert set(names) <= flags, f"{cls.__name__}.{f.name} has no flag: declare it with setting(default, help)"


def test_a_setting_can_name_its_value_in_help(capsys):
    """`metavar` replaces the type's placeholder (TEXT for a str), e.g. the server's engine choices."""
    @dataclass(frozen=True)
    class Engines:
        engine: str = setting("a", "which engine", metavar="{a,b}")
        name: str = setting("x", "a name")

    with pytest.raises(SystemExit):
        parse_settings(Engines, ["--help"], argparse.ArgumentParser(prog="engines"), {})
    out = capsys.readouterr().out
    assert "--engine {a,b}" in out and "--name TEXT" in out


@pytest.mark.parametrize("text, refused", [("0", False), ("0.1", False), ("30", False), ("0.01", True),
                                           ("-1", True), ("nan", True), ("1e8", True)])
def test_the_arena_release_period_is_0_or_at_least_a_tenth_of_a_second(text, refused, capsys):
    """0 keeps the arena while serving; a period under 0.1 s would hand it back after nearly every run."""
    argv = ["--arena-release-seconds", text]
    if refused:
        with pytest.raises(SystemExit) as stopped:
            parse_settings(ServerConfig, argv, argparse.ArgumentParser(prog="s"), {})
        assert stopped.value.code == 2 and "--arena-release-seconds" in capsys.readouterr().err
    else:
        config, _ = parse_settings(ServerConfig, argv, argparse.ArgumentParser(prog="s"), {})
        assert config.batching.arena_release_seconds == float(text)


def _server_help(capsys) -> str:
    """`tessera-server --help`, its lines joined."""
    with pytest.raises(SystemExit):
        parse_settings(ServerConfig, ["--help"], argparse.ArgumentParser(prog="tessera-server"), {})
    return " ".join(capsys.readouterr().out.split())


def _serving_docs_row(flag: str) -> str:
    """What docs/serving.md's table of server flags says `flag` does, without its backticks."""
    rows = (ROOT / "docs" / "serving.md").read_text().splitlines()
    row = next(line for line in rows if line.startswith(f"| `{flag}` |"))
    return row.rstrip(" |").split(" | ")[-1].replace("`", "")


def test_the_warm_up_help_says_what_the_docs_and_the_refusal_say(capsys):
    """The help said only that the warm-up stops once two runs agree; the docs, that its first three
    run however long they take. The help now reads as the docs' table, and only what it bounds is refused."""
    assert f"--warmup-runs N {_serving_docs_row('--warmup-runs')} [env" in _server_help(capsys)
    with pytest.raises(SystemExit):
        parse_settings(ServerConfig, ["--warmup-runs", "-1"], argparse.ArgumentParser(prog="s"), {})
    assert "argument --warmup-runs: -1 is below the minimum of 0" in capsys.readouterr().err
    for runs in (0, 1):  # 0 serves cold; 1 makes a single run, fewer than the three
        config, _ = parse_settings(ServerConfig, ["--warmup-runs", str(runs)], argparse.ArgumentParser(prog="s"), {})
        assert config.warmup_runs == runs


def test_the_arena_release_help_says_the_bound_the_docs_and_the_refusal_say(capsys):
    """The help left out that a period between 0 and 0.1 s is refused, which the docs and the refusal say."""
    bound = "0, or at least 0.1:"
    assert f"--arena-release-seconds X {bound}" in _server_help(capsys)
    assert _serving_docs_row("--arena-release-seconds").startswith(bound)
