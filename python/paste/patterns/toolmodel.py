"""ToolModel: a discriminative next-tool model, mixed into the control flow's distribution.

The control-flow model (controlflow.py) counts what followed each recent token sequence, and
the text evidence (textevidence.py) reweights it by the words of the latest user message, one
word at a time. Neither weighs the two together, nor what the session did earlier: after
`get_reservation_details` a user's "cancel it" and "also check NQNU5R" call for different
tools, and a session that already searched flights searches again. This model is a
multinomial logistic regression over the call kinds seen in training, on indicator features
of the state a call is made in:

  event features  `l1=`, `l2=`, `l3=`  the last one, two and three context tokens (with `<u>`
                                       and failure marks, as the control flow sees them)
                  `used=<kind>`        each kind the session has called so far
                  `n=<calls>`          how many calls it made (capped at MAX_CALLS)
                  `uw=<word>`          the latest user message's words, when that message
                                       is the last thing that happened (its first call)
  message         `w=<word>`           the latest user message's words

Only features seen in at least MIN_SESSIONS training sessions are kept (never a value of one
session). It is fitted by full-batch Adam on the mean cross-entropy plus L2 * |W|^2; the
message part is computed once per distinct message (a session's every call shares its task
statement), so fitting costs O(calls * event features + messages * words) per iteration.

Mixing (`mix`): P(kind) = (1 - a) * P_cf(kind) + a * M * Q(kind) for the model's kinds, M the
mass P_cf gives them, Q renormalised over those the session may call; `<end>` and kinds the
model never saw (tools first called after mining) keep P_cf; the weight `a` is chosen
by cross-validation at mining (cfselect.select_tool_mix: 0 unless a weight wins clearly), so
a source where the counts already say it all keeps them. Queries cost the number of active
features times the number of kinds (the message part is memoised per message).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from paste.patterns.controlflow import END, USER, token_kind

MIN_SESSIONS = 2  # a feature must occur in this many training sessions
MAX_CALLS = 6  # `n=` feature: calls so far, capped
L2 = 0.01  # weight of |W|^2 in the fitted loss
ITERS = 250  # Adam steps
STEP = 0.1  # Adam step size

Event = tuple[list[str], str, frozenset[str]]  # (context before, next token, user words)


def called(context: list[str]) -> tuple[set[str], int]:
    """(the kinds called, the number of calls) in `context`."""
    calls = [token_kind(t) for t in context if t not in ("<s>", USER)]
    return set(calls), len(calls)


def tail_features(context: list[str]) -> list[str]:
    """`l1=`, `l2=`, `l3=`: the last one, two and three context tokens."""
    out = [f"l1={context[-1]}"]
    if len(context) > 1:
        out.append(f"l2={context[-2]}|{context[-1]}")
    if len(context) > 2:
        out.append(f"l3={context[-3]}|{context[-2]}|{context[-1]}")
    return out


def event_features(context: list[str], words: frozenset[str]) -> list[str]:
    """The event features of a call made after `context`, `words` being the latest user
    message's (module docstring)."""
    used, num_calls = called(context)
    out = tail_features(context)
    out.extend(f"used={k}" for k in sorted(used))
    out.append(f"n={min(num_calls, MAX_CALLS)}")
    if context[-1] == USER:
        out.extend(f"uw={w}" for w in sorted(words))
    return out


def message_features(words: frozenset[str]) -> list[str]:
    """The message features of the latest user message's `words`."""
    return [f"w={w}" for w in sorted(words)]


def features(context: list[str], words: frozenset[str]) -> tuple[list[str], list[str]]:
    """(event features, message features) of a call made after `context` with `words` the
    latest user message's words."""
    return event_features(context, words), message_features(words)


class ToolModel:
    """A fitted model: `kinds` (its classes), a weight row per kept feature, a bias."""

    def __init__(self, kinds: list[str], vocab: list[str], weights: np.ndarray,
                 bias: np.ndarray) -> None:
        self.kinds = kinds
        self.vocab = {f: i for i, f in enumerate(vocab)}
        self.weights = weights
        self.bias = bias
        # row of each word / kind feature by its word or kind (no feature string per query)
        self._rows: dict[str, dict[str, int]] = {"w": {}, "uw": {}, "used": {}}
        for f, i in self.vocab.items():
            prefix, _eq, rest = f.partition("=")
            if prefix in self._rows:
                self._rows[prefix][rest] = i

    @classmethod
    def fit(cls, sessions: Iterable[list[Event]]) -> ToolModel | None:
        """The model of the calls of `sessions` (cfselect.session_events; `<end>` events are
        not calls); None without two kinds to tell apart."""
        rows: list[tuple[list[str], list[str], str]] = []
        seen: Counter[str] = Counter()
        for events in sessions:
            here: set[str] = set()
            for ctx, tok, words in events:
                if tok == END:
                    continue
                event, message = features(ctx, words)
                rows.append((event, message, token_kind(tok)))
                here.update(event)
                here.update(message)
            seen.update(here)
        kinds = sorted({kind for _e, _m, kind in rows})
        if len(kinds) < 2:
            return None
        vocab = sorted(f for f, n in seen.items() if n >= MIN_SESSIONS)
        index = {f: i for i, f in enumerate(vocab)}
        messages: dict[tuple[str, ...], int] = {}
        x_event = np.zeros((len(rows), len(vocab)), dtype=np.float32)
        msg_of = np.zeros(len(rows), dtype=np.int64)
        for r, (event, message, _kind) in enumerate(rows):
            for f in event:
                if f in index:
                    x_event[r, index[f]] = 1.0
            msg_of[r] = messages.setdefault(tuple(message), len(messages))
        x_msg = np.zeros((len(messages), len(vocab)), dtype=np.float32)
        for key, m in messages.items():
            for f in key:
                if f in index:
                    x_msg[m, index[f]] = 1.0
        column = {kind: i for i, kind in enumerate(kinds)}
        y = np.array([column[kind] for _e, _m, kind in rows])
        weights, bias = _adam(x_event, x_msg, msg_of, y, len(kinds))
        return cls(kinds, vocab, weights, bias)

    def probabilities(self, context: list[str], words: frozenset[str],
                      memo: dict | None = None, used: Iterable[str] | None = None,
                      num_calls: int | None = None) -> dict[str, float]:
        """Q(kind) for a call after `context` with `words` the latest user message's words;
        `memo` (a dict kept per user message) caches the message part; `used` (the kinds
        called so far) and `num_calls`, when the caller keeps them (SessionState: its
        used_masks' kinds, its calls), spare a scan of the whole context: a query then costs
        the same whatever the session's length. The features are event_features', looked up
        by word and kind rather than spelled out."""
        part = memo.get(id(self)) if memo is not None else None
        if part is None:
            part = self.bias + self._sum(self._keyed("w", words))
            if memo is not None:
                memo[id(self)] = part
        if used is None or num_calls is None:
            used, num_calls = called(context)
        rows = self._keyed("used", used)
        tail = [*tail_features(context), f"n={min(num_calls, MAX_CALLS)}"]
        rows += [self.vocab[f] for f in tail if f in self.vocab]
        if context[-1] == USER:
            rows += self._keyed("uw", words)
        logits = part + self._sum(rows)
        logits -= logits.max()
        q = np.exp(logits)
        q /= q.sum()
        return dict(zip(self.kinds, q.tolist(), strict=True))

    def _keyed(self, prefix: str, keys: Iterable[str]) -> list[int]:
        """Rows of the `<prefix>=<key>` features the model kept."""
        rows = self._rows[prefix]
        return [rows[k] for k in keys if k in rows]

    def _sum(self, rows: list[int]) -> np.ndarray:
        if not rows:
            return np.zeros(len(self.kinds), dtype=self.weights.dtype)
        return self.weights[rows].sum(axis=0)

    # -- persistence -------------------------------------------------------------------------
    def to_json(self) -> dict:
        vocab = sorted(self.vocab, key=self.vocab.__getitem__)
        return {"kinds": self.kinds, "vocab": vocab, "weights": self.weights.tolist(),
                "bias": self.bias.tolist()}  # float32 values, exact in JSON's doubles

    @classmethod
    def from_json(cls, data: dict) -> ToolModel:
        kinds, vocab = list(data["kinds"]), list(data["vocab"])
        weights = np.asarray(data["weights"], dtype=np.float32).reshape(len(vocab), len(kinds))
        bias = np.asarray(data["bias"], dtype=np.float32).reshape(len(kinds))
        return cls(kinds, vocab, weights, bias)


def mix(dist: list[tuple[str, float]], q: dict[str, float], weight: float,
        allowed: frozenset[str] | None = None) -> list[tuple[str, float]]:
    """`dist` (token, p), most likely first, with weight `weight` of the mass it gives the
    model's kinds (Q's support) moved to Q (module docstring); `allowed`: the tokens the
    session may produce (None: any), Q is renormalised over them. A kind the model never saw
    (a tool first called after mining, an offered tool no training session called) and
    `<end>` keep their probabilities: the model has no say on them. Unchanged when Q has no
    allowed kind or `dist` gives its kinds nothing."""
    if allowed is not None:
        q = {k: p for k, p in q.items() if k in allowed}
    total = sum(q.values())
    mass = sum(p for t, p in dist if t in q)
    if weight <= 0.0 or total <= 0.0 or mass <= 0.0:
        return dist
    out = {t: (1.0 - weight) * p if t in q else p for t, p in dist}
    share = weight * mass / total
    for kind, p in q.items():
        out[kind] = out.get(kind, 0.0) + share * p
    return sorted(out.items(), key=lambda x: (-x[1], x[0]))


def _adam(x_event: np.ndarray, x_msg: np.ndarray, msg_of: np.ndarray, y: np.ndarray,
          num_kinds: int) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias minimising mean cross-entropy + L2 * |W|^2 (full-batch Adam)."""
    n, f = x_event.shape
    w = np.zeros((f, num_kinds), dtype=np.float32)
    b = np.zeros(num_kinds, dtype=np.float32)
    onehot = np.zeros((n, num_kinds), dtype=np.float32)
    onehot[np.arange(n), y] = 1.0
    moments = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, ITERS + 1):
        logits = x_event @ w + (x_msg @ w)[msg_of] + b
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        d = (p - onehot) / n
        per_msg = np.zeros((x_msg.shape[0], num_kinds), dtype=np.float32)
        np.add.at(per_msg, msg_of, d)
        grads = (x_event.T @ d + x_msg.T @ per_msg + 2.0 * L2 * w, d.sum(axis=0))
        for i, (param, grad) in enumerate(zip((w, b), grads, strict=True)):
            m, v = moments[2 * i], moments[2 * i + 1]
            m *= beta1
            m += (1.0 - beta1) * grad
            v *= beta2
            v += (1.0 - beta2) * grad * grad
            m_hat = m / (1.0 - beta1 ** step)
            v_hat = v / (1.0 - beta2 ** step)
            param -= STEP * m_hat / (np.sqrt(v_hat) + eps)
    return w, b
