"""Text evidence for control flow: which tools the words of the latest user message point to.

Two scores, each with its own cross-validated weight (cfselect.select_config). The learned one,
naive Bayes over word presence, learned from training calls: for a kind k and the words W of
the latest user message that were seen in training,
    s(k) = sum over w in W of log(c(w,k) + 1)  -  |W| * log(c(k) + 2)
(c(w,k): calls of kind k made while w was in the latest user message; c(k): calls of kind k).
This is the log-likelihood of W under k up to terms that do not depend on k, which cancel in
the renormalisation below. The Predictor multiplies the control-flow probability of k by exp(weight * s(k)) and
renormalises over the kinds it considered; the weight (0 = off) is chosen by cross-validation
(cfselect.select_config). "cancel my reservation" -> cancel_reservation; "check the tire
pressure" -> check_tire_pressure: learned from co-occurrence, no tool names are matched.

The zero-shot one, name overlap: n(k) = how many words of k's own name (split at `_`, `-`,
`.`, `:` and lower-to-upper case changes; 3+ characters; the `bash:` prefix of shell kinds
dropped) the message contains, a name word matching any message word that starts with its
first STEM characters ("sort" matches "sorted", "liter" "liters"). It needs no training
co-occurrence, so it also points to tools seen rarely or only in other contexts
("activate the parking brake" -> activateParkingBrake). The kinds being ranked are scored
together, each matched name word weighted by one over the number of those kinds whose names
hold it (`name_scores`): ToolBench offers `products_for_seo_api` beside `search_for_seo_api`
and eight more `..._for_seo_api` tools, and only "product" tells them apart. The Predictor
multiplies P(k) by exp(text_weight * s(k) + name_weight * n(k) + doc_weight * d(k)) in one
renormalisation.

The documented one, description overlap, when the session's tool schemas carry descriptions
(`SessionState.docs`; BFCL's function docs, ToolBench's API list, an OpenAI `tools` list):
with D(k) the distinct words of k's tool's description (3+ characters, cut to STEM like name
words) and n the number of kinds ranked together,
    d(k) = sum over w in D(k) held by the message of log(n / df(w))  /  |D(k)|
(df(w): how many of the ranked kinds' descriptions hold w): the IDF-weighted share of the
description the message holds. A word every ranked tool's description holds scores 0; a
long description does not win by its length. "To wrap it up,
what's the average tire pressure?" names no word of `mean` but its description ("Calculate
the mean of a list of numbers" ...) may hold "average"; "log me out" -> "Handle user logout".
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable

_WORD = re.compile(r"[a-z][a-z0-9]{2,}")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_SPLIT = re.compile(r"[^a-z0-9]+")
MAX_WORDS = 300  # distinct words taken from one message
STEM = 5  # characters of a name word a message word must start with


def message_words(text: str) -> frozenset[str]:
    """Distinct lower-case words (3+ characters) of a message, the first MAX_WORDS of them."""
    out: dict[str, None] = {}
    for m in _WORD.finditer(text.lower()):
        out.setdefault(m.group(0), None)
        if len(out) >= MAX_WORDS:
            break
    return frozenset(out)


@functools.lru_cache(maxsize=4096)
def name_words(kind: str) -> tuple[str, ...]:
    """Distinct lower-case words (3+ characters) of a kind's name, cut to STEM characters:
    `activateParkingBrake` -> (activ, parki, brake), `bash:grep` -> (grep,)."""
    name = kind[5:] if kind.startswith("bash:") else kind
    words = _SPLIT.split(_CAMEL.sub(r"\1 \2", name).lower())
    return tuple(dict.fromkeys(w[:STEM] for w in words if len(w) >= 3))


def word_prefixes(words: frozenset[str]) -> frozenset[str]:
    """Every prefix of 3..STEM characters of the message words: a name word (cut to STEM)
    matches a message word exactly when it is one of these."""
    return frozenset(w[:n] for w in words for n in range(3, STEM + 1))


def name_score(prefixes: frozenset[str], kind: str) -> int:
    """n(kind): how many of the kind's name words the message (its `word_prefixes`) holds."""
    return sum(w in prefixes for w in name_words(kind.rstrip("!")))


def name_scores(prefixes: frozenset[str], kinds: list[str]) -> dict[str, float]:
    """n(k) for each of `kinds` scored together: each name word the message holds counts
    1 / (how many of `kinds` have it), so a word every candidate shares ("for", "api",
    "get") does not tell them apart and a word only one has counts fully."""
    df: dict[str, int] = {}
    words = {k: [w for w in name_words(k.rstrip("!")) if w in prefixes] for k in kinds}
    for ws in words.values():
        for w in ws:
            df[w] = df.get(w, 0) + 1
    return {k: sum(1.0 / df[w] for w in ws) for k, ws in words.items()}


@functools.lru_cache(maxsize=4096)
def doc_words(text: str) -> frozenset[str]:
    """D: the distinct words (3+ characters, cut to STEM) of a tool's description."""
    return frozenset(w[:STEM] for w in _WORD.findall(text.lower()))


def doc_scores(prefixes: frozenset[str], kinds: list[str],
               docs: dict[str, str], tool_of: Callable[[str], str]) -> dict[str, float]:
    """d(k) of the module docstring for each of `kinds` (a failed token `k!` as k), scored
    together; `docs` maps tool names (tool_of(kind)) to descriptions. Kinds without a
    description score 0."""
    held: dict[str, tuple[list[str], int]] = {}
    df: dict[str, int] = {}
    for k in kinds:
        text = docs.get(tool_of(k.rstrip("!")))
        if not text:
            continue
        words = doc_words(text)
        hit = sorted(w for w in words if w in prefixes)  # a fixed summing order
        held[k] = (hit, len(words))
        for w in hit:
            df[w] = df.get(w, 0) + 1
    n = len(kinds)
    return {k: sum(math.log(n / df[w]) for w in hit) / size
            for k, (hit, size) in held.items() if hit}


class TextEvidence:
    """Word/kind co-occurrence counts and the score s(k) of the module docstring."""

    def __init__(self) -> None:
        self.word_kind: dict[str, Counter[str]] = {}
        self.kind_total: Counter[str] = Counter()
        self.num_calls = 0
        self._logs: dict[str, dict[str, float]] | None = None  # kind -> word -> log(c + 1)

    def observe(self, words: frozenset[str], kind: str) -> None:
        """A call of `kind` was made while `words` were the latest user message's words."""
        self.num_calls += 1
        self.kind_total[kind] += 1
        self._logs = None
        table = self.word_kind
        for w in words:
            per_kind = table.get(w)
            if per_kind is None:
                per_kind = table[w] = Counter()
            per_kind[kind] += 1

    def known(self, words: frozenset[str]) -> list[str]:
        """The words that were seen in training (the only ones that score), sorted: a score
        sums over them, and a set's order changes with the interpreter's hash seed."""
        return sorted(w for w in words if w in self.word_kind)

    def score(self, words: frozenset[str] | list[str], kind: str) -> float:
        """s(kind) for the words (0 when nothing was learned); pass `known(words)` (a fixed
        order) when scoring many kinds. The per-kind table of log(c + 1) is built once after
        the counts change, so a query sums table lookups, in the words' order."""
        logs = self._logs
        if logs is None:
            logs = self._log_table()
        n = sum(map(self.word_kind.__contains__, words))
        total = sum(filter(None, map(logs.get(kind, {}).get, words)), 0.0)
        return total - n * math.log(self.kind_total.get(kind, 0) + 2)

    def _log_table(self) -> dict[str, dict[str, float]]:
        logs: dict[str, dict[str, float]] = {}
        for w, per_kind in self.word_kind.items():
            for kind, c in per_kind.items():
                if c:
                    logs.setdefault(kind, {})[w] = math.log(c + 1)
        self._logs = logs
        return logs

    def to_json(self) -> dict:
        return {
            "word_kind": {w: dict(c) for w, c in self.word_kind.items()},
            "kind_total": dict(self.kind_total),
            "num_calls": self.num_calls,
        }

    @classmethod
    def from_json(cls, data: dict) -> TextEvidence:
        model = cls()
        model.num_calls = data["num_calls"]
        model.kind_total = Counter(data["kind_total"])
        for w, c in data["word_kind"].items():
            model.word_kind[w] = Counter(c)
        return model


def reweight(
    dist: list[tuple[str, float]], scores: dict[str, float], weight: float, end: str
) -> list[tuple[str, float]]:
    """`dist` with each non-`end` token's probability times exp(weight * scores[token]),
    renormalised so the non-`end` tokens keep their total mass; sorted, most likely first."""
    if weight == 0.0 or not dist:
        return dist
    calls = [(t, p) for t, p in dist if t != end]
    if not calls:
        return dist
    top = max(scores.get(t, 0.0) for t, _p in calls)
    raw = [(t, p * math.exp(weight * (scores.get(t, 0.0) - top))) for t, p in calls]
    mass, new_mass = sum(p for _t, p in calls), sum(p for _t, p in raw)
    out = [(t, p * mass / new_mass) for t, p in raw] if new_mass > 0 else calls
    out += [(t, p) for t, p in dist if t == end]
    return sorted(out, key=lambda x: (-x[1], x[0]))
