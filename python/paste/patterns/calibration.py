"""Calibration: a store's map from the predictor's raw call probability to a hit rate.

A raw probability is a product: P(kind | context) * P(template | kind) * the product of the
holes' P(correct | rank). Its factors are not independent (a session on a familiar path gets
every hole right more often than the product says), so raw probabilities are biased, and
differently per agent. Admission spends tool time on them, so each store learns its own map:

  cross_fit   the store's training sessions in FOLDS folds (by session index); for each fold a
              store mined on the other folds predicts (top-K) at every call of the fold: the
              (raw p, hit) pairs are out-of-sample, as a live session's are
  fit         isotonic regression of hit on raw p (pool adjacent violators), each block's rate
              shrunk towards its mean raw p by PRIOR pseudo-counts (few pairs: little change),
              then made non-decreasing again; the knots are (block mean raw p, rate)
  apply       piecewise-linear between knots; below the first knot proportional to p, above
              the last linear towards (1, 1); an empty map is the identity

The map is monotone, so it never changes which calls a prediction ranks first; it changes the
probabilities admission sees. A store too small to cross-fit (fewer than
MIN_SESSIONS sessions) keeps the identity.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

FOLDS = 4
TOP_K = 5  # predictions per call collected for the fit (the evaluation's top-5)
PRIOR = 4.0  # pseudo-count of each block's shrinkage towards its mean raw p
MIN_SESSIONS = 2 * FOLDS


@dataclass(frozen=True)
class Calibration:
    """Knots (raw p, calibrated p), strictly increasing in raw p; empty = identity."""

    xs: tuple[float, ...] = field(default=())
    ys: tuple[float, ...] = field(default=())

    def apply(self, p: float) -> float:
        xs, ys = self.xs, self.ys
        if not xs:
            return p
        if p <= xs[0]:
            return ys[0] * p / xs[0] if xs[0] > 0 else ys[0]
        if p >= xs[-1]:
            if xs[-1] >= 1.0:
                return ys[-1]
            t = (p - xs[-1]) / (1.0 - xs[-1])
            return min(1.0, ys[-1] + t * (1.0 - ys[-1]))
        i = bisect_right(xs, p) - 1
        t = (p - xs[i]) / (xs[i + 1] - xs[i])
        return ys[i] + t * (ys[i + 1] - ys[i])

    def to_json(self) -> list[list[float]]:
        return [[x, y] for x, y in zip(self.xs, self.ys, strict=True)]

    @classmethod
    def from_json(cls, data: Any) -> Calibration:
        """From to_json's output; raises ValueError unless it is a list of [x, y] pairs in
        [0, 1] with strictly increasing x."""
        if not isinstance(data, list) or not all(
            isinstance(k, list) and len(k) == 2
            and all(isinstance(v, int | float) and 0.0 <= v <= 1.0 for v in k)
            for k in data
        ):
            raise ValueError("calibration must be a list of [raw p, p] pairs in [0, 1]")
        xs = tuple(float(k[0]) for k in data)
        if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):
            raise ValueError("calibration knots must have strictly increasing raw p")
        return cls(xs, tuple(float(k[1]) for k in data))


def fit(pairs: Iterable[tuple[float, bool]], prior: float = PRIOR) -> Calibration:
    """The isotonic map of (raw p, hit) pairs (see module docstring); identity if empty."""
    # blocks: [weight, sum of raw p, hits], merged while a block's rate is not above the
    # previous one's (pool adjacent violators over pairs sorted by raw p)
    same: dict[float, list[float]] = {}  # equal raw p start as one block
    for p, hit in pairs:
        acc = same.setdefault(p, [0.0, 0.0, 0.0])
        acc[0] += 1.0
        acc[1] += p
        acc[2] += float(hit)
    blocks: list[list[float]] = []
    for p in sorted(same):
        blocks.append(same[p])
        while len(blocks) > 1 and blocks[-2][2] * blocks[-1][0] >= blocks[-1][2] * blocks[-2][0]:
            w, s, h = blocks.pop()
            blocks[-1][0] += w
            blocks[-1][1] += s
            blocks[-1][2] += h
    xs: list[float] = []
    ys: list[float] = []
    for w, s, h in blocks:  # block mean raw p strictly increases: blocks hold distinct p
        x = s / w
        xs.append(x)
        ys.append(min(1.0, max(ys[-1] if ys else 0.0, (h + prior * x) / (w + prior))))
    return Calibration(tuple(xs), tuple(ys))


def cross_fit(
    sessions: list[Any],
    mine_fold: Callable[[list[Any]], Any],
    predict_calls: Callable[[Any, Any], Iterable[tuple[int, float, bool]]],
    maps: int = 1,
) -> list[Calibration]:
    """`maps` fit()s over out-of-fold pairs, one per kind of prediction: `mine_fold(train
    sessions)` builds a predictor, `predict_calls(predictor, session)` yields (which map, raw
    p, hit) of each prediction at each call of a held-out session. Identities below
    MIN_SESSIONS sessions."""
    if len(sessions) < MIN_SESSIONS:
        return [Calibration() for _ in range(maps)]
    pairs: list[list[tuple[float, bool]]] = [[] for _ in range(maps)]
    for fold in range(FOLDS):
        train = [s for i, s in enumerate(sessions) if i % FOLDS != fold]
        held = [s for i, s in enumerate(sessions) if i % FOLDS == fold]
        predictor = mine_fold(train)
        for session in held:
            for which, p, hit in predict_calls(predictor, session):
                pairs[which].append((p, hit))
    return [fit(of_map) for of_map in pairs]
