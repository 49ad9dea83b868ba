"""One sentence for an id the server does not hold (a style, a preset), whatever client asked: the
close id when the asked one looks like a typo of it, then the ids there are."""

from __future__ import annotations

import difflib
import re

LONGEST_ECHO = 64  # characters of the asked id repeated back (a style or preset id's longest)


def unknown_id_message(kind: str, asked: str, known: list[str], holder: str, shown: int = 12) -> str:
    """e.g. "unknown style 'blu-ink' (did you mean 'blue-ink'?); this server serves blue-ink, umber-oil".

    `kind` names what was asked for ("style", "preset"), `holder` what holds the known ids ("this
    server serves", "this style has"); at most `shown` ids are listed, then how many more. The asked
    id is cut to LONGEST_ECHO characters; the match ignores case ("Mosaic" finds "mosaic").
    """
    echo = asked if len(asked) <= LONGEST_ECHO else asked[:LONGEST_ECHO] + "…"
    if not known:
        return f"unknown {kind} {echo!r}: {holder} none"
    near = _near(asked, known)
    hint = f" (did you mean {near!r}?)" if near else ""
    more = f" and {len(known) - shown} more" if len(known) > shown else ""
    return f"unknown {kind} {echo!r}{hint}; {holder} {', '.join(known[:shown])}{more}"


def _near(asked: str, known: list[str]) -> str | None:
    """The known id the asked one is probably a typo of: the same id up to case and leading zeros
    ("Style-7" is "style-07"), else the closest by difflib's ratio (at least 0.6). No id is longer than
    LONGEST_ECHO: a longer ask is no typo of one, and is not matched (that would cost time in its length)."""
    if len(asked) > LONGEST_ECHO:
        return None
    by_form = {_form(k): k for k in known}
    if _form(asked) in by_form:
        return by_form[_form(asked)]
    by_lower = {k.lower(): k for k in known}
    near = difflib.get_close_matches(asked.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[near[0]] if near else None


def _form(text: str) -> str:
    """Lower case, numbers without leading zeros."""
    return re.sub(r"\d+", lambda number: str(int(number.group())), text.lower())
