"""Control flow: the next tool kind's distribution given the recent context tokens.

Counts of (context of length 0..ORDER, next token) are kept; `build()` turns them into one
table per seen context with Witten-Bell interpolation, which backs off from longer to shorter
contexts in proportion to how many distinct continuations the longer context has had:
    P(x | c) = (C(c, x) + T(c) * P(x | c[1:])) / (C(c) + T(c)),   T(c) = #distinct x after c.
Prediction looks up the longest seen suffix of the context (at most ORDER + 1 hash lookups),
so a query costs constant time. The token `<end>` stands for "the session ends here".

Which context suits an agent differs (user turns matter to a customer-service agent, not to a
scripted multi-turn benchmark), so cfselect.select_config picks the order and whether `<u>`
tokens are kept by cross-validation over the training sessions, not by hand.
"""

from __future__ import annotations

from collections import Counter

ORDER = 3
END = "<end>"
TOP = 12  # continuations kept per context table


USER = "<u>"


def call_token(kind: str, failed: bool) -> str:
    """Control-flow token of a completed call: its kind, `!` appended when it failed."""
    return kind + ("!" if failed else "")


def token_kind(token: str) -> str:
    """The call kind of a control-flow token (`call_token` without its failure mark)."""
    return token[:-1] if token.endswith("!") else token


class ControlFlowModel:
    """Back-off n-gram model over control-flow tokens (see module docstring)."""

    def __init__(self, order: int = ORDER, user_turns: bool = True, average: bool = False) -> None:
        self.order = order
        self.user_turns = user_turns
        self.average = average  # average the answers of orders 1..order instead of `order`
        self.counts: dict[tuple[str, ...], Counter[str]] = {}
        self._tables: dict[tuple[str, ...], list[tuple[str, float]]] | None = None
        self._cache: dict = {}

    def observe(self, context: list[str], token: str) -> None:
        """Count `token` after every suffix (length 0..order) of `context`."""
        if not self.user_turns:
            context = [t for t in context if t != USER]
        for n in range(0, self.order + 1):
            if n > len(context):
                break
            key = tuple(context[len(context) - n :]) if n else ()
            self.counts.setdefault(key, Counter())[token] += 1
        self._tables = None

    def _prob(self, ctx: tuple[str, ...], token: str, cache: dict) -> float:
        hit = cache.get((ctx, token))
        if hit is not None:
            return hit
        counts = self.counts.get(ctx)
        if not ctx:
            total = sum(counts.values()) if counts else 0
            p = counts[token] / total if counts and total else 0.0
        elif counts is None:
            p = self._prob(ctx[1:], token, cache)
        else:
            total, distinct = sum(counts.values()), len(counts)
            p = (counts[token] + distinct * self._prob(ctx[1:], token, cache)) / (total + distinct)
        cache[(ctx, token)] = p
        return p

    def _table(self, ctx: tuple[str, ...]) -> list[tuple[str, float]]:
        """Top continuations of a seen context. Tokens never seen after `ctx` keep the order
        they have after ctx[1:] (their probability is that one times a constant), so only the
        tokens seen after `ctx` and the parent's table can be in the top TOP."""
        if ctx:
            parent = self._tables.get(ctx[1:]) if self._tables is not None else None
            if parent is None:
                parent = self._table(ctx[1:])
                if self._tables is not None:
                    self._tables[ctx[1:]] = parent
            candidates = set(self.counts[ctx]) | {t for t, _p in parent}
        else:
            candidates = set(self.counts.get((), Counter()))
        scored = sorted(
            ((t, self._prob(ctx, t, self._cache)) for t in candidates),
            key=lambda x: (-x[1], x[0]),
        )
        return scored[:TOP]

    def build(self) -> None:
        """Precompute the table of every seen context, so that every later query is at most
        order + 1 hash lookups (without build, tables are computed on first use)."""
        self._cache = {}
        self._tables = {}
        for ctx in sorted(self.counts, key=len):  # parents first
            self._tables[ctx] = self._table(ctx)

    def _longest(self, context: list[str], order: int) -> list[tuple[str, float]]:
        assert self._tables is not None  # set by distribution(); internal invariant
        for n in range(min(order, len(context)), -1, -1):
            ctx = tuple(context[len(context) - n :]) if n else ()
            table = self._tables.get(ctx)
            if table is None and ctx in self.counts:
                table = self._tables[ctx] = self._table(ctx)
            if table is not None:
                return table
        return []

    def distribution(self, context: list[str]) -> list[tuple[str, float]]:
        """Top continuations (token, probability) of the longest seen suffix of `context`
        (with `average`: the mean of the answers of the models of order 1..order)."""
        context = self._prepare(context)
        if not self.average:
            return self._longest(context, self.order)
        mixed: dict[str, float] = {}
        for order in range(1, self.order + 1):
            for t, p in self._longest(context, order):
                mixed[t] = mixed.get(t, 0.0) + p / self.order
        return sorted(mixed.items(), key=lambda x: (-x[1], x[0]))[:TOP]

    def restricted(
        self, context: list[str], allowed: frozenset[str], top: int = TOP
    ) -> list[tuple[str, float]]:
        """distribution() over the tokens in `allowed` only (e.g. the kinds of the tools a
        session offers, plus `<end>`), renormalised over all of them, the `top` most likely
        kept; every allowed token is scored (not only the TOP of the full table), at most
        (order + 1) * len(allowed) cached lookups. Empty when no allowed token has any
        probability."""
        mixed = self.probabilities(context, allowed)
        total = sum(mixed.values())
        if total <= 0.0:
            return []
        return sorted(
            ((t, p / total) for t, p in mixed.items() if p > 0.0), key=lambda x: (-x[1], x[0])
        )[:top]

    def probabilities(self, context: list[str], tokens: frozenset[str]) -> dict[str, float]:
        """P(token | context) of each of `tokens` (interpolated, not renormalised; with
        `average`, the mean over orders 1..order), (order + 1) * len(tokens) cached lookups."""
        context = self._prepare(context)
        orders = range(1, self.order + 1) if self.average else (self.order,)
        mixed = dict.fromkeys(sorted(tokens), 0.0)  # sums over it: a fixed order (hash seed)
        for order in orders:
            ctx = self._longest_seen(context, order)
            for t in tokens:
                mixed[t] += self._prob(ctx, t, self._cache) / len(orders)
        return mixed

    def _prepare(self, context: list[str]) -> list[str]:
        """The context a query uses (without `<u>` unless user turns count); tables ready."""
        if self._tables is None:
            self._tables, self._cache = {}, {}
        return context if self.user_turns else [t for t in context if t != USER]

    def _longest_seen(self, context: list[str], order: int) -> tuple[str, ...]:
        for n in range(min(order, len(context)), 0, -1):
            ctx = tuple(context[len(context) - n :])
            if ctx in self.counts:
                return ctx
        return ()

    def vocabulary(self) -> list[str]:
        """Every token ever seen as a continuation."""
        return sorted(self.counts.get((), Counter()))

    def to_json(self) -> dict:
        return {
            "order": self.order,
            "user_turns": self.user_turns,
            "average": self.average,
            "counts": [[list(ctx), dict(c)] for ctx, c in self.counts.items()],
        }

    @classmethod
    def from_json(cls, data: dict) -> ControlFlowModel:
        model = cls(data["order"], data["user_turns"], data["average"])
        model.counts = {tuple(ctx): Counter(c) for ctx, c in data["counts"]}
        return model
