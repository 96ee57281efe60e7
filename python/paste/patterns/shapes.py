"""Value shapes: what a hole's values look like, so a derived candidate that cannot be one is
dropped.

A shape is the value's character classes with runs collapsed: upper-case letters and digits
are `X` (identifiers mix them: IFOYYZ, NQNU5R), lower-case letters `a`, every other character
itself. So `IFOYYZ` and `NQNU5R` are `X`, `2024-05-24` is `X-X-X`, `aarav_ahmed_6699` is
`a_a_X`, `IDs` is `Xa`. A hole is shaped when its training values (at least MIN_VALUES) have
at most MAX_SHAPES distinct shapes; a shaped hole's candidates must have one of them (a
rule that reads the word after "reservation" in "The reservation IDs are IFOYYZ and NQNU5R"
then yields `IDs` for nothing). Free text, mixed holes, and paths and URLs (any shape with a
`/`: `dir0/file0.txt` in training says nothing about `README.md`) and lists of records (a
list hole's shape grows with its length) stay unfiltered.

A shape forgets lengths (`JFK` and `M20IZO` are both `X`), so lengths are kept beside it: a
shaped hole whose training values have at most MAX_LENGTHS distinct lengths only takes
candidates of those lengths (airport codes 3, reservation ids 6, dates 10 characters; a user
id or an amount, whose lengths vary, is not length-filtered). A store counts at most
MAX_SHAPES + 1 distinct shapes and MAX_LENGTHS + 1 distinct lengths per hole (`note`): one
more decides that the hole is not filtered, for good.

Dates (`allowed_days`): in sessions that know their current date (SessionState.today), a
hole whose training values include at least MIN_VALUES ISO dates keeps the range of their
days from their sessions' dates, and only takes candidates within DAYS_MARGIN of it: a
flight date (training: -10..+20 days) never takes a passenger's date of birth (decades
before), which has the same shape and length. Values that are not ISO dates pass.

Back-off (`typed_values`): a shaped hole whose rules give fewer than MAX_RANK values also
takes the values the user typed that fit it: the spans of the user's messages (values.py) of
an allowed shape and length, latest message first. The codes a user types are arguments more
often than anything else in the session, but the rule that reads one names its message and
span ("the third identifier of the second-latest message": the user gave two reservation ids
at once, the agent handled the first) and is too rare to be among a hole's best rules. The
back-off values rank after the rules' own and their P(correct | rank) is calibrated with them
(store.py, pass 3).
"""

from __future__ import annotations

import datetime
from collections import Counter
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paste.patterns.state import SessionState

MIN_VALUES = 10
MAX_SHAPES = 2
MAX_LENGTHS = 2
DAYS_MARGIN = 365  # days a dated hole's candidates may lie beyond its training range


def shape(value: object) -> str:
    """The collapsed character-class signature of str(value) (module docstring)."""
    return _shape(str(value))


@lru_cache(maxsize=1 << 16)  # candidates repeat across the queries of a session
def _shape(text: str) -> str:
    out: list[str] = []
    for ch in text:
        c = "X" if ch.isupper() or ch.isdigit() else "a" if ch.islower() else ch
        if not out or out[-1] != c or c not in "Xa":
            out.append(c)
    return "".join(out)


def allowed_shapes(seen: Counter[str] | None) -> set[str] | None:
    """The shapes a hole's candidates may have, or None when the hole is not shaped."""
    if not seen or sum(seen.values()) < MIN_VALUES or len(seen) > MAX_SHAPES:
        return None
    if any("/" in s or s.startswith("[") for s in seen):
        return None  # paths, URLs and lists: depth, naming, length vary beyond training
    return set(seen)


def note(seen: Counter, key: object, cap: int) -> None:
    """Counts one value's `key` (its shape, or its length) in a hole's `seen`, keeping at most
    `cap` + 1 distinct keys (cap: MAX_SHAPES, MAX_LENGTHS). Past `cap` distinct keys the hole
    is unshaped, or not length-bound, for good (allowed_shapes, allowed_lengths), so a further
    key would change nothing; free-text holes would otherwise keep a key per value."""
    if key in seen or len(seen) <= cap:
        seen[key] += 1


def allowed_lengths(seen: Counter[int] | None, shapes: set[str] | None) -> set[int] | None:
    """The lengths a shaped hole's candidates may have, or None when it is not length-bound
    (not shaped, or its training values have more than MAX_LENGTHS lengths)."""
    if shapes is None or not seen or len(seen) > MAX_LENGTHS:
        return None
    return set(seen)


def days_from(value: object, today: str | None) -> int | None:
    """Days from `today` to `value` when both are ISO dates (YYYY-MM-DD), else None."""
    if today is None or not isinstance(value, str) or len(value) != 10:
        return None
    return _days(value, today)


@lru_cache(maxsize=1 << 14)  # a session's dates repeat across its queries
def _days(value: str, today: str) -> int | None:
    try:
        return (datetime.date.fromisoformat(value) - datetime.date.fromisoformat(today)).days
    except ValueError:
        return None


def allowed_days(seen: list[int] | None, today: str | None) -> tuple[int, int] | None:
    """The range of days from today a dated hole's candidates may lie in, given its training
    [count, min, max] (None: not dated, too few dates, or the session's date unknown)."""
    if today is None or not seen or seen[0] < MIN_VALUES:
        return None
    return seen[1] - DAYS_MARGIN, seen[2] + DAYS_MARGIN


def in_days(value: str, today: str | None, days: tuple[int, int]) -> bool:
    """False only for an ISO date outside `days` (allowed_days) of today."""
    off = days_from(value, today)
    return off is None or days[0] <= off <= days[1]


def typed_spans(state: SessionState) -> list[str]:
    """The distinct spans of the user's messages (values.py), latest message first, each
    message's in span order."""
    out: dict[str, None] = {}
    for i in reversed(state.by_source.get("user", ())):
        for loc, v in state.entries[i].locs.items():
            if loc.startswith("s:"):
                out.setdefault(v)
    return list(out)


def typed_values(spans: list[str], shapes: set[str], lengths: set[int] | None,
                 have: list[str], limit: int) -> list[str]:
    """The `spans` (typed_spans) a hole of these shapes and lengths may take, in order,
    skipping those in `have`; at most `limit` - len(have) of them."""
    out: list[str] = []
    room = limit - len(have)
    for v in spans:
        if room <= len(out):
            break
        if v not in have and shape(v) in shapes and (lengths is None or len(v) in lengths):
            out.append(v)
    return out
