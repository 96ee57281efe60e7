"""Conjunct swaps: an earlier call's argument with one conjunct of the user's message put in
place of the other ("Who is older, Danny Green or James Worthy?": after the call
`search("Danny Green birth date")` the next is `search("James Worthy birth date")`).

An agent comparing or listing things the user named runs the same call once per thing. Its
second call is no copy of any value: it is the first call's argument with the first conjunct
replaced by the second. `conjunct_pairs(message)` finds the pairs of a message: two names
joined by or / and / vs / versus / & (each a run of capitalised words, joining words such as
"of" allowed inside, or a quoted string); `swapped(value, pairs)` gives every value with one
side of a pair (found in it as whole words) replaced by the other side, in the pairs' order.
SessionState indexes them under `w:<argument path>:<rank>` locators of a `swap` entry, so
the miner learns them as any other derivation rule (with support and P(correct | rank)) and
they generalise: no value of a training session is ever in one.
"""

from __future__ import annotations

import functools
import re

COORDINATORS = frozenset({"or", "and", "vs", "vs.", "versus", "&"})
# Lower-case words a name may hold between capitalised ones ("Bank of America").
JOINERS = frozenset({"of", "the", "de", "da", "del", "di", "du", "la", "le", "van", "von", "y"})
# Words that never stand alone for a name: a name starting with one has no first-word variant.
FUNCTION_WORDS = frozenset({"a", "an", "the"}) | JOINERS
MAX_WORDS = 8  # a conjunct has at most this many words
MAX_SWAPS = 4  # swapped values kept per argument
OPEN = "\"'“‘([«"
CLOSE = ",;:?!\"'”’)]»"
_QUOTE_OPEN = r"(?:\"|“|(?<!\w)')"
_QUOTE_CLOSE = r"(?:\"|”|'(?!\w))"
_QUOTED = re.compile(
    _QUOTE_OPEN + r"(?P<a>[^\"“”\n]{1,120}?)" + _QUOTE_CLOSE
    + r",?\s+(?:or|and|vs\.?|versus|&)\s+"
    + _QUOTE_OPEN + r"(?P<b>[^\"“”\n]{1,120}?)" + _QUOTE_CLOSE)
# Double-quoted strings are masked before the word scan: a coordinator inside one ("Balance
# and Composure") joins no conjuncts of the message.
_DOUBLE_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”")
_WORD = re.compile(r"\S+")
# One side of a pair: its variants, longest first, each (phrase, is the first word alone).
Side = tuple[tuple[str, bool], ...]
Pairs = tuple[tuple[Side, Side], ...]


def _core(token: str) -> str:
    """A token without its surrounding quotes and punctuation; a final dot stays on an
    abbreviation that has another one ("M.D.") and goes otherwise."""
    core = token.lstrip(OPEN).rstrip(CLOSE)
    if core.endswith(".") and "." not in core[:-1]:
        core = core[:-1]
    return core


def _capitalised(word: str) -> bool:
    return bool(word) and (word[0].isupper() or word[0].isdigit())


def _run(cores: list[str], start: int, step: int, bounded: list[bool]) -> list[str]:
    """The conjunct from token `start` walking by `step` (+1 right, -1 left): capitalised
    words, joiners only between two of them; it ends at a token `bounded` (punctuation after
    it) or at MAX_WORDS words. Returned in text order; empty when `start` is not capitalised."""
    out: list[str] = []
    i = start
    while 0 <= i < len(cores) and len(out) < MAX_WORDS:
        word = cores[i]
        if _capitalised(word):
            out.append(word)
        elif word.lower() in JOINERS and out and 0 <= i + step < len(cores) \
                and _capitalised(cores[i + step]):
            out.append(word)
        else:
            break
        # Walking right, punctuation after this word ends the conjunct; walking left,
        # punctuation after the NEXT word (the one before this) does.
        if (step > 0 and bounded[i]) or (step < 0 and i + step >= 0 and bounded[i + step]):
            break
        i += step
    return out if step > 0 else out[::-1]


@functools.lru_cache(maxsize=1024)
def conjunct_pairs(text: str) -> Pairs:
    """The (left, right) conjunct pairs of `text`, in text order. Each side is a tuple of
    variants, longest first: a run of capitalised words that starts the text also comes
    without its first word (the capital of a sentence's first word: "Was Talking Heads and
    ..." -> "Talking Heads")."""
    pairs: list[tuple[Side, Side]] = []
    for m in _QUOTED.finditer(text):
        pairs.append((((m.group("a"), False),), ((m.group("b"), False),)))
    tokens = [m.group(0) for m in _WORD.finditer(_DOUBLE_QUOTED.sub(" \" ", text))]
    cores = [_core(t) for t in tokens]
    bounded = [bool(t.rstrip("\"'”’)]»")) and t.rstrip("\"'”’)]»")[-1] in CLOSE
               for t in tokens]
    for i, word in enumerate(cores):
        if word.lower() not in COORDINATORS or i == 0 or i + 1 >= len(cores):
            continue
        if tokens[i - 1][-1:] in "\"'”’" or tokens[i + 1][:1] in "\"'“‘":
            continue  # quoted conjuncts: _QUOTED (a masked string is a lone quote token)
        left = _run(cores, i - 1, -1, bounded)
        right = _run(cores, i + 1, 1, bounded)
        if not left or not right:
            continue
        pairs.append((_variants(left, i - len(left) == 0), _variants(right, False)))
    return tuple(pairs)


def _variants(words: list[str], starts_text: bool) -> Side:
    """The conjunct, then (starting the text) without its first word, then (of several
    words) its first word alone, which swaps with the other side's first word ("distance
    from Wilmington" for "Wilmington International Airport")."""
    out = [(" ".join(words), False)]
    if starts_text and len(words) > 1:
        out.append((" ".join(words[1:]), False))
    if len(words) > 1 and len(words[0]) >= 3 and words[0].lower() not in FUNCTION_WORDS \
            and not starts_text:
        out.append((words[0], True))
    return tuple(out)


def _find(value: str, phrase: str) -> re.Pattern[str] | None:
    pattern = re.compile(r"(?<!\w)" + re.escape(phrase) + r"(?!\w)")
    return pattern if pattern.search(value) else None


def swapped(value: str, pairs: Pairs) -> list[str]:
    """Distinct values of `value` with one side of a pair replaced by the other (every
    occurrence of it, as whole words), pairs in order, left -> right before right -> left;
    of a side's variants the longest found in `value` is replaced; at most MAX_SWAPS."""
    out: list[str] = []
    for left, right in pairs:
        for this, other in ((left, right), (right, left)):
            for variant, head in this:
                pattern = _find(value, variant)
                if pattern is None:
                    continue
                by = other[0][0].split(" ", 1)[0] if head else other[0][0]
                new = pattern.sub(by.replace("\\", "\\\\"), value)  # `by` taken literally
                if new != value and new not in out:
                    out.append(new)
                break
            if len(out) >= MAX_SWAPS:
                return out
    return out


def locate_swaps(arg_locs: dict[str, str],
                 pairs: Pairs) -> dict[str, str]:
    """`w:<path>:<rank>` locators of the swapped values of a call's argument leaves (`arg_locs`:
    its `a:<path>` locators, values.locate_arguments), empty when nothing swaps."""
    out: dict[str, str] = {}
    if not pairs:
        return out
    for loc, value in arg_locs.items():
        if not loc.startswith("a:") or "|" in loc:
            continue
        for rank, new in enumerate(swapped(value, pairs)):
            out[f"w:{loc[2:]}:{rank}"] = new
    return out
