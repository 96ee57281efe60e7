"""Where values live: typed spans in text and leaves of JSON, each under a stable *locator*.

A locator names a position that generalises across sessions, never an instance value:
  `text`             the whole text (short texts only)
  `j:<path>`         a JSON leaf; list items by rank (`#0`), instance-like dict keys by rank
  `k:<path>`         an instance-like dict key itself (a file name in a directory listing)
  `a:<path>`         an argument leaf of an earlier call
  `j:<path>|<fields>` (or `a:`) a list of records (objects) projected onto some of their
                     scalar fields (`j:.flights|date,flight_number`): a list a call resends
  `s:<type>:<rank>`  the rank-th distinct span of a type, in order of first occurrence
  `c:<type>:<word><` the first span of a type after / before a cue word, in user messages
  `c:<type>:><word>` only (`locate_message`, `cue_spans`): "to 'temp' directory" -> temp
Span types: url, path, quoted, ident, date, number, name (capitalised phrase). A date span is
a date in any common written form ("November 10th, 2026", "3 March 2026", "09/10, 2026",
ISO), its value the ISO form, as a tool takes it. A user message's date without a year ("May
24th", "24 May") is one too when the session knows its current date (`today`, from the
system prompt: "The current time is 2024-05-15 ..."): the year that puts it nearest today.
`locate_text` / `locate_json` return {locator: value key} (see canonical.value_key).
"""

from __future__ import annotations

import datetime
import functools
import itertools
import json
import re
from typing import Any

from paste.patterns.canonical import records_key, value_key

MAX_TEXT_CHARS = 20000  # spans are taken from the first MAX_TEXT_CHARS of an output
MAX_RANK = 30  # at most this many distinct spans per type and text
MAX_WHOLE_TEXT = 300  # `text` locator only for texts up to this length
MAX_FIELDS = 12  # lists of records with more scalar fields get no projections

SPAN_PATTERNS: dict[str, re.Pattern[str]] = {
    "url": re.compile(r"https?://[^\s'\"<>\]\)}]+"),
    "path": re.compile(
        r"(?<![\w/.~-])(?:\.{0,2}/)?(?:[\w.-]+/)+[\w.-]*[\w]|"
        r"(?<![\w/.-])[\w-]+\.(?:py|pyx|txt|md|json|cfg|toml|yaml|yml|rst|c|h|"
        r"cpp|js|ts|html|pdf|docx|csv|sh|ini|log|xml|java|go|rs)\b"
    ),
    # A single quote opens only where no word precedes it and closes only where none follows
    # (an apostrophe in "I've ... I'll" is not a quote).
    "quoted": re.compile(r"(?<!\w)'([^'\n]{1,200})'(?!\w)|\"([^\"\n]{1,200})\"|`([^`\n]{1,200})`"),
    # A code may start with a digit ("3RK2T9", _is_ident decides which such tokens are codes),
    # but not inside a timestamp such as 2024-05-01T00:00.
    "ident": re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*\b|"
                        r"(?<![\w.:/-])\d+[A-Za-z_][A-Za-z0-9_]*(?:[.-][A-Za-z0-9_]+)*\b(?!:)"),
    "date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "number": re.compile(r"(?<![\w.-])-?\d+(?:\.\d+)?(?![\w.]|-\d)"),
    # Capitalised words; a dot only ends an initial or abbreviation (a capital and at most two
    # lower-case letters: "J.", "St.", "Mrs."), so a name never runs across a sentence end
    # ("... Kelly. I'm", "... to LAS. Thank"), and an apostrophe stays in a word
    # only before a capital ("O'Brien"; not "I'm", not a possessive "Robbie's").
    "name": re.compile(r"\b[A-Z](?:[a-z]{0,2}\.|[\w-]*(?:'[A-Z][\w-]*)?)(?:\s+(?:of|the|de|von|van)?"
                       r"\s*[A-Z](?:[a-z]{0,2}\.|[\w-]*(?:'[A-Z][\w-]*)?))+"),
}


_MONTHS = {
    name: number
    for number, full in enumerate(
        ("january", "february", "march", "april", "may", "june", "july", "august",
         "september", "october", "november", "december"), 1)
    for name in (full, full[:3], *(("sept",) if number == 9 else ()))
}
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
# Written dates with a year; the month is a name or a number (month before day, as in the
# traces' US English). Without a year (a month name only: "5/24" may be a fraction), a date
# is a span only given today's date (YEARLESS_FORMS).
DATE_FORMS = (
    re.compile(r"\b(?P<year>\d{4})-(?P<m>\d{2})-(?P<day>\d{2})\b"),
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+(?P<year>\d{{4}})\b", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+(?P<year>\d{{4}})\b", re.IGNORECASE),
    re.compile(r"\b(?P<m>\d{1,2})/(?P<day>\d{1,2})(?:/|,\s*)(?P<year>\d{4})\b"),
    re.compile(r"\b(?P<year>\d{4})(?:/|,\s*)(?P<m>\d{1,2})/(?P<day>\d{1,2})\b"),
)
YEARLESS_FORMS = (
    re.compile(rf"\b{_MONTH}\s+{_DAY}\b(?!:)", re.IGNORECASE),
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}(?!\w)", re.IGNORECASE),
)


def written_dates(text: str, today: str | None = None) -> list[str]:
    """Distinct dates of `text` in ISO form, in order of occurrence (overlapping matches: the
    leftmost, then the longest wins); impossible dates (February 30) are none. With `today`
    (ISO), dates without a year too, in the year that puts them nearest today."""
    ref = _iso_date(today) if today else None
    found: list[tuple[int, int, str]] = []
    forms = DATE_FORMS + (YEARLESS_FORMS if ref is not None else ())
    for form in forms:
        for m in form.finditer(text):
            g = m.groupdict()
            month = int(g["m"]) if g.get("m") else _MONTHS[g["mon"].lower()]
            try:
                if g.get("year"):
                    day = datetime.date(int(g["year"]), month, int(g["day"]))
                else:
                    assert ref is not None
                    day = _nearest(ref, month, int(g["day"]))
            except ValueError:
                continue
            found.append((m.start(), -m.end(), day.isoformat()))
    found.sort()
    out: dict[str, None] = {}
    end = -1
    for start, neg_stop, iso in found:
        if start >= end:
            out.setdefault(iso, None)
            end = -neg_stop
    return list(out)


ISO_DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")


def stated_date(text: str) -> str | None:
    """The first valid ISO date (YYYY-MM-DD) of a system prompt, or None: the session's
    current date when the prompt states it ("The current time is 2024-05-15 15:00:00 EST")."""
    for m in ISO_DATE.finditer(text):
        if _iso_date(m.group(0)) is not None:
            return m.group(0)
    return None


def _iso_date(text: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(text[:10])
    except ValueError:
        return None


def _nearest(ref: datetime.date, month: int, day: int) -> datetime.date:
    """The date month/day in the year (ref's, or the one before or after) nearest `ref`;
    ValueError if it exists in none of them."""
    dates = []
    for year in (ref.year - 1, ref.year, ref.year + 1):
        try:
            dates.append(datetime.date(year, month, day))
        except ValueError:
            continue
    if not dates:
        raise ValueError(f"no date {month}/{day}")
    return min(dates, key=lambda d: abs((d - ref).days))


def _is_ident(token: str) -> bool:
    """Identifier-like (ids, snake_case, CamelCase, codes), not an ordinary word. A token that
    starts with a digit is a code only with a digit after its first letter ("3RK2T9",
    "1N99U6", a hash "3f2a9b1"), not a number with a unit or an ordinal ("100ms", "10th")."""
    if len(token) < 3:
        return False
    if token[0].isdigit():
        first = next((i for i, c in enumerate(token) if not c.isdigit()), len(token))
        return len(token) >= 4 and any(c.isdigit() for c in token[first:])
    if any(c.isdigit() for c in token) or "_" in token:
        return True
    if token.isupper():
        return True
    return any(c.isupper() for c in token[1:]) and not token.isupper()


def spans(text: str, today: str | None = None) -> dict[str, list[str]]:
    """Distinct typed spans of `text` per type, in order of first occurrence (capped);
    `today` (ISO) dates the dates written without a year (written_dates)."""
    text = text[:MAX_TEXT_CHARS]
    out: dict[str, list[str]] = {}
    for typ, pattern in SPAN_PATTERNS.items():
        if typ == "date":
            found = written_dates(text, today)[:MAX_RANK]
            if found:
                out[typ] = found
            continue
        seen: dict[str, None] = {}
        for m in pattern.finditer(text):
            value = next((g for g in m.groups() if g is not None), None) if m.groups() else None
            value = value if value is not None else m.group(0)
            value = value.rstrip(".,;:") if typ in ("url", "path", "name") else value
            if typ == "ident" and not _is_ident(value):
                continue
            if value and value not in seen:
                seen[value] = None
                if len(seen) >= MAX_RANK:
                    break
        if seen:
            out[typ] = list(seen)
    return out


def span_matches(text: str) -> list[tuple[int, int, str]]:
    """Non-overlapping (start, end, type) spans of `text`, longest first then leftmost;
    used to cut an argument string into literal parts and holes."""
    found: list[tuple[int, int, str]] = []
    for typ, pattern in SPAN_PATTERNS.items():
        for m in pattern.finditer(text):
            g = (
                next((i for i, v in enumerate(m.groups(), 1) if v is not None), 0)
                if m.groups()
                else 0
            )
            start, end = m.start(g), m.end(g)
            if typ in ("url", "path", "name"):
                while end > start and text[end - 1] in ".,;:":
                    end -= 1
            if typ == "ident" and not _is_ident(text[start:end]):
                continue
            if typ == "number" and end - start < 3:
                continue  # small numbers (head -20, line 1) are constants, not data flow
            found.append((start, end, typ))
    found.sort(key=lambda s: (-(s[1] - s[0]), s[0]))
    chosen: list[tuple[int, int, str]] = []
    for s in found:
        if all(s[1] <= c[0] or s[0] >= c[1] for c in chosen):
            chosen.append(s)
    return sorted(chosen)


def _instance_key(key: str) -> bool:
    return any(c.isdigit() or c in ". -/" for c in key)


def _keyed_records(value: dict) -> bool:
    """A mapping from instance names to records: every value is an object with the same
    (at least two) keys, like a directory's {name: {"type": .., "contents": ..}}."""
    first = next(iter(value.values()), None)
    if not isinstance(first, dict) or len(first) < 2:
        return False
    keys = first.keys()
    return all(isinstance(v, dict) and v.keys() == keys for v in value.values())


def is_records(value: Any) -> bool:
    """A non-empty list (at most MAX_RANK items) of non-empty objects: a list a call may resend
    whole (a reservation's flights, a user's saved passengers)."""
    return (isinstance(value, list) and 0 < len(value) <= MAX_RANK
            and all(isinstance(item, dict) and item for item in value))


def _projections(items: list[dict], prefix: str, path: str, out: dict[str, str]) -> None:
    """`<prefix><path>|<fields>` locators of a list of records: the list projected onto each
    of its scalar fields, each pair of them and all of them (fields every item has; a call
    resends a list with the fields its tool takes, which are rarely more than two of many)."""
    common = set(items[0])
    for item in items[1:]:
        common &= item.keys()
    fields = sorted(str(k) for k in common
                    if all(isinstance(item[k], (str, int, float, bool)) for item in items))
    if not fields or len(fields) > MAX_FIELDS:
        return
    subsets: list[tuple[str, ...]] = [(f,) for f in fields]
    subsets += itertools.combinations(fields, 2)
    if len(fields) > 2:
        subsets.append(tuple(fields))
    for sub in subsets:
        value = records_key([{f: item[f] for f in sub} for item in items])
        out.setdefault(f"{prefix}{path}|{','.join(sub)}", value)


def locate_json(value: Any, prefix: str, out: dict[str, str], path: str = "") -> None:
    """Add `prefix + path` locators for every leaf (and instance-like key) of `value`."""
    if isinstance(value, dict):
        records = _keyed_records(value)
        for rank, (k, v) in enumerate(value.items()):
            if records or _instance_key(str(k)):
                step = f"{path}.#{rank}"
                out.setdefault(f"k:{step}", str(k))
            else:
                step = f"{path}.{k}"
            locate_json(v, prefix, out, step)
    elif isinstance(value, list):
        if is_records(value):
            _projections(value, prefix, path, out)
        for rank, v in enumerate(value[:MAX_RANK]):
            locate_json(v, prefix, out, f"{path}.#{rank}")
    else:
        out.setdefault(f"{prefix}{path}", value_key(value))


def parse_json_text(text: str) -> Any:
    """The JSON value of `text` if it is a JSON object/array (one nested level of JSON-in-a-string
    is unpacked, as in ToolBench's {"response": "<json>"}), else None."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return None
    try:
        value = json.loads(stripped)
    except json.JSONDecodeError:
        return None
    if isinstance(value, dict):
        for k, v in list(value.items()):
            if isinstance(v, str) and v.strip()[:1] in ("[", "{"):
                inner = parse_json_text(v)
                if inner is not None:
                    value[k] = inner
    return value


@functools.lru_cache(maxsize=4096)
def locate_text(text: str, today: str | None = None) -> dict[str, str]:
    """Locators of a user message or tool output: whole text, JSON leaves, typed spans
    (`today`: see written_dates).

    Results are cached by text (mining replays every session several times); the returned
    dict is shared and must not be modified."""
    out: dict[str, str] = {}
    stripped = text.strip()
    if stripped and len(stripped) <= MAX_WHOLE_TEXT:
        out["text"] = stripped
    parsed = parse_json_text(stripped[: MAX_TEXT_CHARS * 5])
    if parsed is not None:
        locate_json(parsed, "j:", out)
    for typ, values in spans(text, today).items():
        for rank, v in enumerate(values):
            out[f"s:{typ}:{rank}"] = v
    return out


@functools.lru_cache(maxsize=1024)
def locate_message(text: str, today: str | None = None) -> dict[str, str]:
    """Locators of a user message: `locate_text`'s plus its cue spans (`cue_spans`). Shared
    and cached like locate_text's; `today` dates its dates written without a year."""
    out = dict(locate_text(text, today))
    for loc, v in cue_spans(text).items():
        out.setdefault(loc, v)
    return out


CUE_TYPES = ("quoted", "path")
CUE_STOP = frozenset(
    "a an the to in of for and or with my me is are was as on at from by it its this that "
    "be please also then into".split())
CUE_REACH = 2  # a cue word is one of the CUE_REACH words next to the span (stop words skipped)
CUE_CHARS = 60  # ... within this many characters
# Spans that get cues: the names a user marks as literal ('temp', final_report.pdf), which the
# sentence around them describes. Ids and numbers keep their positional locators only: their
# cues ("number", "is") add rules that crowd better ones out of a hole's examined rules.
_TOKEN = re.compile(r"[\w./-]*\w")  # words, and other tokens (notes.txt) that count too


def cue_spans(text: str) -> dict[str, str]:
    """`c:<type>:<word><` / `c:<type>:><word>` locators of the CUE_TYPES spans: the first span
    of a type that the word (lower-cased, not a stop word) precedes / follows within CUE_REACH
    words on the same line ("to 'temp' directory" -> `c:quoted:>directory` = temp, "copy
    notes.txt into" -> `c:path:copy<` = notes.txt). The word says what the value is, wherever
    it stands in the message."""
    text = text[:MAX_TEXT_CHARS]
    out: dict[str, str] = {}
    for start, end, typ in span_matches(text):
        if typ not in CUE_TYPES:
            continue
        near = text[max(0, start - CUE_CHARS):start]
        before = _TOKEN.findall(near[near.rfind("\n") + 1:])[-CUE_REACH:]
        after = _TOKEN.findall(text[end:end + CUE_CHARS].split("\n", 1)[0])[:CUE_REACH]
        for form, words in (("c:{}:{}<", reversed(before)), ("c:{}:>{}", after)):
            for w in words:
                w = w.lower()
                if w.isalpha() and w not in CUE_STOP:
                    out.setdefault(form.format(typ, w), text[start:end])
                    break
    return out


def locate_arguments(arguments: dict[str, Any]) -> dict[str, str]:
    """Locators of an earlier call's arguments: leaves (`a:`) and spans of its strings."""
    out: dict[str, str] = {}
    locate_json(arguments, "a:", out)
    text = " ".join(v for v in _strings(arguments))
    for typ, values in spans(text).items():
        for rank, v in enumerate(values):
            out[f"s:{typ}:{rank}"] = v
    return out


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
