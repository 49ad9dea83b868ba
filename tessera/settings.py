"""One way for every process to read its settings: a dataclass whose fields become flags and variables.

Each field declared with `setting(default, help)` becomes a flag (`max_streams` -> `--max-streams`)
and, for long-running processes, an environment variable (`TESSERA_MAX_STREAMS`). Flags win over
the environment, which wins over the dataclass default: defaults are written once, in the dataclass,
and the help text (with each default and variable) is derived from the fields. A field whose type is
itself a settings dataclass contributes its fields as flags of their own (one level, no prefix).

A bad value, whether in a flag or a variable, ends the process with one line on stderr naming the
flag or variable and exit code 2, before anything starts (even under --help).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tessera.number_checks import MAX_SECONDS, finite_float

ENV_PREFIX = "TESSERA_"
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}
_METAVARS = {int: "N", float: "X", Path: "PATH", tuple: "A,B,..."}


class SettingsError(ValueError):
    """A flag or variable holds a value that cannot be used; the message names it."""


def setting(default: Any = dataclasses.MISSING, help: str = "", *, flag: str | None = None,
            env: str | bool | None = None, parse: Callable[[str], Any] | None = None, shown: str | None = None,
            minimum: float | None = None, maximum: float | None = None, secret: bool = False,
            metavar: str | None = None) -> Any:
    """A dataclass field that is also a flag and a variable.

    flag and env default to the field's name (`--max-streams`, `TESSERA_MAX_STREAMS`; env=False: no
    variable); `parse` turns
    the text of either into the field's value (default: from the field's type; a BoundedParse when it
    enforces bounds of its own, so that help names them); `shown` replaces the default in help;
    `minimum`/`maximum` bound numbers; `secret` values are never echoed; `metavar` names the value in
    help (default: N, X, PATH or TEXT, from the type).
    """
    metadata = {"help": help, "flag": flag, "env": env, "parse": parse, "shown": shown,
                "minimum": minimum, "maximum": maximum, "secret": secret, "metavar": metavar}
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not settings; use a tuple")
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class BoundedParse:
    """A setting's `parse` that enforces bounds of its own (a size in millions, say), and those bounds in
    help's words: help names them as it names a minimum and maximum given to setting(), from the one
    text the refusal says too."""

    parse: Callable[[str], Any]
    bounds: str  # "more than 0 and at most 1,000,000"

    def __call__(self, text: str) -> Any:
        return self.parse(text)


@dataclass(frozen=True)
class _Spec:
    name: str  # the field's name
    group: str  # the name of the nested settings field holding it, or "" at top level
    flag: str
    env: str | None
    help: str
    kind: type
    default: Any
    parse: Callable[[str], Any]
    shown: str
    secret: bool
    metavar: str
    bounds: str = ""  # the bounds it takes, as help says them: "at least 1", "16 to 2048"


def field_type(field: dataclasses.Field, owner: type) -> type:
    """The plain type of a field (str, int, float, bool, Path, tuple or a dataclass), Optional removed."""
    kind = typing.get_type_hints(owner)[field.name]
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    return typing.get_origin(kind) or kind


def specs(cls: type, env_prefix: str | None = ENV_PREFIX) -> list[_Spec]:
    """Every flag of a settings dataclass, nested settings dataclasses included."""
    out = []
    for field in dataclasses.fields(cls):
        kind = field_type(field, cls)
        if dataclasses.is_dataclass(kind):
            out += [dataclasses.replace(s, group=field.name) for s in specs(kind, env_prefix)]
        elif "help" in field.metadata:
            out.append(_spec(field, kind, env_prefix))
    return out


def _spec(field: dataclasses.Field, kind: type, env_prefix: str | None) -> _Spec:
    # A plain field(metadata={"help": ...}) is a setting too.
    meta = {"flag": None, "env": None, "parse": None, "shown": None, "minimum": None, "maximum": None,
            "secret": False, "metavar": None, **field.metadata}
    # env=False: a flag only (a generic name like TIMEOUT would be too easily set by something else).
    env = None if env_prefix is None or meta["env"] is False else env_prefix + (meta["env"] or field.name.upper())
    default = None if field.default is dataclasses.MISSING else field.default
    shown = meta["shown"] or ("" if meta["secret"] else _show(default))
    return _Spec(name=field.name, group="", flag=meta["flag"] or "--" + field.name.replace("_", "-"), env=env,
                 help=meta["help"], kind=kind, default=default, shown=shown, secret=meta["secret"],
                 metavar=meta["metavar"] or _METAVARS.get(kind, "TEXT"),
                 bounds=_bounds(meta["parse"], meta["minimum"], meta["maximum"]),
                 parse=_bounded(meta["parse"] or _parser(kind), meta["minimum"],
                                _maximum(field.name, kind, meta["maximum"])))


# A float setting is a time when its name ends so (the settings' convention: stylize_timeout_s,
# grace_seconds, max_queue_delay_ms, poll_interval, the CLI's timeout, the pace rules' wait_allowance).
_TIME_NAMES = ("_s", "_ms", "_seconds", "interval", "timeout", "wait_allowance")


def _maximum(name: str, kind: type, given: float | None) -> float | None:
    """A setting's largest value: the one it names, else MAX_SECONDS for a time (a larger one overflows the
    clocks threads and gRPC wait on: --poll-interval 1e10 ended the registry poller)."""
    if given is None and kind is float and name.endswith(_TIME_NAMES):
        return MAX_SECONDS
    return given


def _bounds(parse: Callable[[str], Any] | None, minimum: float | None, maximum: float | None) -> str:
    """The bounds help names for a setting: its parse's own (a BoundedParse) and those given to setting()."""
    own = parse.bounds if isinstance(parse, BoundedParse) else ""
    return "; ".join(text for text in (own, bounds_text(minimum, maximum)) if text)


def bounds_text(minimum: float | None, maximum: float | None) -> str:
    """Bounds in help's words, "16 to 2048", "at least 1" or "at most 1" ("" for none); a setting's (a
    time's implicit MAX_SECONDS is not named) and the CLI's own flags'."""
    if minimum is not None and maximum is not None:
        return f"{number_text(minimum)} to {number_text(maximum)}"
    if minimum is not None:
        return f"at least {number_text(minimum)}"
    return "" if maximum is None else f"at most {number_text(maximum)}"


def number_text(bound: float) -> str:
    """A bound as a person reads it: an int whole (4294967295, which :g would round to 4.29497e+09), a
    float as :g does (0.001, 1e+07; 0 for 0.0)."""
    return str(bound) if isinstance(bound, int) else f"{bound:g}"


def _show(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def _parser(kind: type) -> Callable[[str], Any]:
    if kind is bool:
        return parse_bool
    if kind is tuple:
        return lambda text: tuple(part.strip() for part in text.split(",") if part.strip())
    if kind is int:
        return _named(int, "a whole number")
    if kind is float:
        return finite_float
    return kind  # str, Path


def _named(convert: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return convert(text)
        except ValueError:
            raise ValueError(f"{text!r} is not {what}") from None
    return parse


def _bounded(parse: Callable[[str], Any], minimum: float | None, maximum: float | None) -> Callable[[str], Any]:
    if minimum is None and maximum is None:
        return parse

    def check(text: str) -> Any:
        """The value of `text`; ValueError echoing the text as given ("-1", not the float's "-1.0")."""
        value = parse(text)
        if minimum is not None and value < minimum:
            raise ValueError(f"{text.strip()} is below the minimum of {number_text(minimum)}")
        if maximum is not None and value > maximum:
            raise ValueError(f"{text.strip()} is above the maximum of {number_text(maximum)}")
        return value
    return check


def parse_bool(text: str) -> bool:
    """'1/true/yes/on' or '0/false/no/off', any case."""
    lowered = text.strip().lower()
    if lowered in _TRUE | _FALSE:
        return lowered in _TRUE
    raise ValueError(f"{text!r} is not one of true/false, yes/no, on/off, 1/0")


def add_flags(parser: argparse.ArgumentParser | argparse._ArgumentGroup, cls: type,
              env_prefix: str | None = ENV_PREFIX) -> None:
    """One flag per setting, each defaulting to None (not given), with help naming its variable, default and
    bounds."""
    for spec in specs(cls, env_prefix):
        extra = [f"env {spec.env}"] if spec.env else []
        if spec.shown:
            extra.append(f"default {spec.shown}")
        if spec.bounds:
            extra.append(spec.bounds)
        text = f"{spec.help} [{'; '.join(extra)}]" if extra else spec.help
        text = text.replace("%", "%%")
        if spec.kind is bool:
            parser.add_argument(spec.flag, dest=spec.name, action=argparse.BooleanOptionalAction, default=None,
                                help=text)
        else:
            parser.add_argument(spec.flag, dest=spec.name, type=_for_argparse(spec), default=None, help=text,
                                metavar=spec.metavar)


def _for_argparse(spec: _Spec) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return spec.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return convert


def env_values(cls: type, environ: Mapping[str, str] | None = None,
               env_prefix: str | None = ENV_PREFIX) -> dict[str, Any]:
    """The settings given in the environment, parsed; SettingsError names the first bad variable."""
    environ = os.environ if environ is None else environ
    values = {}
    for spec in specs(cls, env_prefix):
        if spec.env is None or spec.env not in environ:
            continue
        raw = environ[spec.env]
        try:
            values[spec.name] = spec.parse(raw)
        except ValueError as exc:
            shown = "(hidden)" if spec.secret else repr(raw)
            raise SettingsError(f"environment variable {spec.env}={shown} is unusable: {exc}") from None
    return values


def build(cls: type, values: Mapping[str, Any], env_prefix: str | None = ENV_PREFIX) -> Any:
    """An instance of `cls` from flat values by field name; nested settings are filled from the same values."""
    top, nested = {}, {}
    for spec in specs(cls, env_prefix):
        if spec.name in values:
            (nested.setdefault(spec.group, {}) if spec.group else top)[spec.name] = values[spec.name]
    for group, fields in nested.items():
        group_type = field_type(next(f for f in dataclasses.fields(cls) if f.name == group), cls)
        top[group] = group_type(**fields)
    return cls(**top)


def parse_settings(cls: type, argv: Sequence[str] | None, parser: argparse.ArgumentParser,
                   environ: Mapping[str, str] | None = None) -> tuple[Any, argparse.Namespace]:
    """Flags over variables over defaults: (settings, the parsed namespace for any extra flags).

    Exits with status 2 and one line on stderr for a bad variable or flag, or when the dataclass's own
    checks (`__post_init__` raising SettingsError) refuse the combination.
    """
    add_flags(parser, cls)
    try:
        values = env_values(cls, environ)
    except SettingsError as exc:
        fail(parser.prog, str(exc))
    args = parser.parse_args(argv)
    values.update({spec.name: getattr(args, spec.name) for spec in specs(cls)
                   if getattr(args, spec.name, None) is not None})
    try:
        return build(cls, values), args
    except SettingsError as exc:
        fail(parser.prog, str(exc))


def describe(settings: Any) -> str:
    """One log line with every setting; secret ones show only whether they are set."""
    parts = []
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if dataclasses.is_dataclass(value):
            parts.append(describe(value))
        else:
            parts.append(f"{field.name}={'***' if field.metadata.get('secret') and value else value}")
    return ", ".join(parts)


def fail(prog: str, message: str) -> typing.NoReturn:
    """One line on stderr and exit status 2, as argparse does for a bad flag."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


class FlagParser(argparse.ArgumentParser):
    """An ArgumentParser whose mistakes are one line and a pointer to --help (exit status 2), not the
    whole usage block above the line that matters; its subcommands' parsers are of this class too."""

    def error(self, message: str) -> typing.NoReturn:
        print(f"{self.prog}: error: {message}\n(`{self.prog} --help` lists the flags)", file=sys.stderr)
        raise SystemExit(2)

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        """As ArgumentParser's, but flags it does not know are reported by the (sub)command they were
        given to, so the pointer names that command's --help (`tessera stylize --help`)."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            self._command_parser(sys.argv[1:] if args is None else list(args)).error(
                f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _command_parser(self, argv: list[str]) -> argparse.ArgumentParser:
        """The innermost subcommand's parser named in argv (self when there is none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for i, word in enumerate(argv):
                    if word in action.choices:
                        chosen = action.choices[word]
                        return chosen._command_parser(argv[i + 1:]) if isinstance(chosen, FlagParser) else chosen
        return self
