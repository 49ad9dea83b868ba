"""The base of every manifest schema class (unknown keys are errors, parsed values are frozen), and the
rule for text that people read: no control characters."""

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, StrictStr

# Control characters (a line break, an ANSI escape), and the line and paragraph separators: printed raw
# they break a table into lines, forge log lines or drive the terminal (`tessera styles`, the server's log).
_UNPRINTABLE = ("Cc", "Zl", "Zp")


class _Schema(BaseModel):
    # Unknown keys are errors: a misspelt optional field must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


def control_characters_problem(text: str) -> str:
    """Why `text` may not be shown to people as it is ("" when it may): it holds a control character."""
    found = sorted({c for c in text if unicodedata.category(c) in _UNPRINTABLE})
    if not found:
        return ""
    shown = ", ".join(repr(c) for c in found[:3])
    return f"must not hold control characters or line breaks ({shown} found)"


def _printable(text: str) -> str:
    problem = control_characters_problem(text)
    if problem:
        raise ValueError(problem)
    return text


# Text of the registry that the CLI, the page or the log shows: names, credits, licences, descriptions.
Text = Annotated[StrictStr, AfterValidator(_printable)]
