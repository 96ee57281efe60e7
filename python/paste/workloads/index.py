"""BM25Index: an in-memory Okapi BM25 search index over a corpus of Documents.

Terms are lower-cased runs of letters and digits, minus a short stop-word list. A query
scores each document d containing one of its terms t as

    score(d) = sum_t idf(t) * tf(t, d) * (k1 + 1) / (tf(t, d) + k1 * (1 - b + b * |d| / avgdl))
    idf(t)   = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))

(the always-positive idf of Lucene). Results are ordered by score, then document id, so the
ranking is deterministic. A snippet is the first sentence-ish window of the document that
contains the most query terms.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from paste.workloads.corpus import Document

_WORD = re.compile(r"[a-z0-9]+")
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was "
    "were will with which what who how does do not no can".split()
)
SNIPPET_CHARS = 160


def terms(text: str) -> list[str]:
    """Index terms of `text`, in order (duplicates kept)."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOP_WORDS and len(w) > 1]


@dataclass(frozen=True)
class Hit:
    doc_id: str
    title: str
    score: float
    snippet: str


class BM25Index:
    """Immutable after construction; safe to query from many threads."""

    def __init__(self, docs: Sequence[Document], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = {d.doc_id: d for d in docs}
        self._tf = {d.doc_id: Counter(terms(f"{d.doc_id} {d.text}")) for d in docs}
        self._len = {i: sum(tf.values()) for i, tf in self._tf.items()}
        self._avgdl = sum(self._len.values()) / len(docs) if docs else 0.0
        df: Counter[str] = Counter()
        for tf in self._tf.values():
            df.update(tf.keys())
        n = len(docs)
        self._idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
        self._postings: dict[str, list[str]] = {}
        for doc_id in sorted(self._tf):
            for t in self._tf[doc_id]:
                self._postings.setdefault(t, []).append(doc_id)

    def score(self, query: str) -> dict[str, float]:
        """doc id -> BM25 score for every document sharing a term with `query`."""
        out: dict[str, float] = {}
        for t in dict.fromkeys(terms(query)):
            idf = self._idf.get(t)
            if idf is None:
                continue
            for doc_id in self._postings[t]:
                tf = self._tf[doc_id][t]
                norm = self.k1 * (1 - self.b + self.b * self._len[doc_id] / self._avgdl)
                out[doc_id] = out.get(doc_id, 0.0) + idf * tf * (self.k1 + 1) / (tf + norm)
        return out

    def search(self, query: str, k: int = 5) -> list[Hit]:
        """The top `k` documents for `query` (score descending, then id)."""
        scores = self.score(query)
        ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:k]
        q = set(terms(query))
        return [
            Hit(i, self.docs[i].title, round(s, 4), snippet(self.docs[i].text, q))
            for i, s in ranked
        ]


def snippet(text: str, query_terms: set[str]) -> str:
    """The sentence of `text` with the most query terms (first on ties), cut to SNIPPET_CHARS."""
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", text) if s.strip()]
    if not sentences:
        return ""
    _, best = max(enumerate(sentences), key=lambda p: (len(query_terms & set(terms(p[1]))), -p[0]))
    flat = " ".join(best.split())
    return flat if len(flat) <= SNIPPET_CHARS else flat[: SNIPPET_CHARS - 3].rstrip() + "..."
