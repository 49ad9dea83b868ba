"""One sentence for an id the server does not hold (a style, a preset), whatever client asked: the
close id when the asked one looks like a typo of it, then the ids there are."""

from __future__ import annotations

import difflib

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
    by_lower = {k.lower(): k for k in known}
    # No id is longer than LONGEST_ECHO: a longer ask is no typo of one (and is not matched, which
    # would cost time in its length).
    near = [] if len(asked) > LONGEST_ECHO else difflib.get_close_matches(asked.lower(), list(by_lower), n=1,
                                                                          cutoff=0.6)
    hint = f" (did you mean {by_lower[near[0]]!r}?)" if near else ""
    more = f" and {len(known) - shown} more" if len(known) > shown else ""
    return f"unknown {kind} {echo!r}{hint}; {holder} {', '.join(known[:shown])}{more}"
