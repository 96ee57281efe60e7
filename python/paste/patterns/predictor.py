"""Predictor: the top-k concrete next calls of a live session, with probabilities.

For a SessionState: the control-flow model gives P(kind | context); each general template of
the kind (see PatternStore.is_general) has P(template | kind) = its share of the kind's calls;
each hole's candidate values come from its derivation rules resolved in the state, with
P(correct | rank) measured when mining; a template's record rules (records.py) fill the holes
they cover jointly, from one list item, with their own P(correct | rank) (a filling both ways
keeps the larger probability). A call's raw probability is the product; the top-k by
raw probability are returned (distinct canonical calls; kinds are examined most likely first,
the first MAX_KINDS of them, then further ones only while fewer than k calls were found: such
fillers rank after every call of the first kinds, so the first j calls of a top-k are the
top-j whatever k is), each with its probability mapped by the store's calibration
(calibration.py: monotone, so the ranking within each group is the raw one). Asked with the tool already known (`tool=`: the model has written the call's name), P(kind | context) is
renormalised over that tool's kinds (1 for a tool with one kind), so a call's probability is
that of its arguments given the tool, mapped by the store's second calibration, fitted on such
predictions (`calibration_named`). Cost per query is bounded by the number of kinds
(at most the control flow's TOP), templates, rules and ranks examined (constants below),
never by history length.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paste.patterns.canonical import _canonical_call
from paste.patterns.controlflow import END, TOP, token_kind
from paste.patterns.latency import expected_latency
from paste.patterns.records import RecordRule, record_candidates
from paste.patterns.state import SessionState
from paste.patterns.store import MAX_RANK, SEP, PatternStore
from paste.patterns.templates import fill, hole_locators
from paste.patterns.textevidence import doc_scores, name_scores, reweight, word_prefixes
from paste.patterns.toolmodel import mix
from paste.patterns.unknowntools import offered_distribution, offered_tokens, tool_name

MAX_KINDS = 6
# Pseudo-counts of the store-wide P(correct | rank) in each hole's own rate: a hole seen once
# or twice is not certain of its rank-0 value (empirical-Bayes shrinkage towards the pool).
RANK_PRIOR = 2.0
MAX_TEMPLATES = 4
BEAM = 5
FILL_CACHE = 1 << 14  # filled templates memoised (cleared when full)


@dataclass(frozen=True)
class Prediction:
    """A predicted concrete call. `name`/`arguments` are what the model would emit for the
    bash tool too (`name="bash"`); `kind` is its control-flow label."""

    name: str
    arguments: dict[str, Any]
    probability: float
    expected_latency_s: float
    canonical: str
    kind: str = ""


def shrunk(hits: int, n: int, pooled: float) -> float:
    """hits / n shrunk towards the pooled rate by RANK_PRIOR pseudo-counts."""
    return (hits + RANK_PRIOR * pooled) / (n + RANK_PRIOR)


def _kth(found: dict[str, Prediction], need: int, floor: float) -> float:
    """The need-th best probability among `found` once it holds that many, else `floor`."""
    if len(found) < need:
        return floor
    return sorted((x.probability for x in found.values()), reverse=True)[need - 1]


def _best(fills: list[tuple[list[str], float]], k: int) -> list[tuple[list[str], float]]:
    """The k most probable distinct fillings (a filling found twice keeps its larger
    probability): only they can enter a top-k, and each costs a fill and a canonicalisation."""
    best: dict[tuple[str, ...], tuple[list[str], float]] = {}
    for values, p in fills:
        key = tuple(values)
        if key not in best or best[key][1] < p:
            best[key] = (values, p)
    return sorted(best.values(), key=lambda x: -x[1])[:k]


class Predictor:
    """Stateless view over a PatternStore; call `refresh()` after the store was updated."""

    def __init__(self, store: PatternStore) -> None:
        self.store = store
        self._mark: tuple[int, int] | None = None  # the store's change-log mark at the last refresh
        self.refresh()

    def refresh(self) -> None:
        """Bring the views up to date with the store's counts (call it after the store was
        updated). Per kind and per hole, only those the store's passes changed since the last
        refresh are rebuilt (PatternStore.change_log; a changed hole's rule orders are then
        rebuilt at its first query), or all of them when the store's views were all dropped
        since (a new predictor, counts changed directly, many updates at once); what pools
        every hole or kind (rank probabilities, record tables, the control flow, tools,
        repeats, latencies) is rebuilt either way."""
        log = self.store.change_log
        changes = log.since(self._mark) if self._mark is not None else None
        self._mark = log.mark()
        if changes is None:
            self._templates: dict[str, list[tuple[list, str, float, int]]] = {
                kind: self._template_rows(kind) for kind in self.store.templates}
            for key in self.store.rule_stats:  # warm the store's cache: no sort at query time
                parts = key.split(SEP)
                if len(parts) == 4:
                    self.store.ordered_rules(SEP.join(parts[:3]), parts[3])
            for hkey in self.store.hole_rules:  # the order after an unseen last context token
                self.store.ordered_rules(hkey, "")
            # (hole, last context token) -> its rules with evidence counts, most precise first
            self._evidence_order: dict[tuple[str, str], list[tuple[Any, tuple[int, int]]]] = {}
            self._filled: dict[tuple[str, ...], tuple[dict[str, Any], str]] = {}
        else:
            holes: set[str] = set()
            for changed in changes:
                holes |= changed.holes
                for kind in changed.kinds:
                    self._templates[kind] = self._template_rows(kind)
            if holes:
                self._evidence_order = {key: rules for key, rules in self._evidence_order.items()
                                        if key[0] not in holes}
        self._pooled_views()

    def _template_rows(self, kind: str) -> list[tuple[list, str, float, int]]:
        """The kind's general templates, most used first (at most MAX_TEMPLATES): (parsed
        template, key, share of the kind's calls, holes)."""
        counts = self.store.templates.get(kind, Counter())
        total = sum(counts.values())
        rows = []
        for tkey, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            if self.store.is_general(kind, tkey):
                parsed = json.loads(tkey)
                holes = sum(
                    1
                    if spec[0] == "H"
                    else sum(isinstance(p, int) for p in spec[1])
                    if spec[0] == "T"
                    else 0
                    for _path, spec in parsed
                )
                rows.append((parsed, tkey, n / total, holes))
            if len(rows) == MAX_TEMPLATES:
                break
        return rows

    def _pooled_views(self) -> None:
        """The views that pool every hole, template or kind of the store."""
        self._rank_p: dict[str, list[float]] = {}
        tables = {hkey: self.store.rank_table(hkey) for hkey in self.store.rank_stats}
        pooled_n = sum(t[0] for t in tables.values())
        pooled = [
            sum(t[1 + r] for t in tables.values()) / pooled_n if pooled_n else 0.0
            for r in range(MAX_RANK)
        ]
        for hkey, stats in tables.items():
            n = stats[0]
            self._rank_p[hkey] = [
                shrunk(h, n, pooled[r]) if n else 0.0 for r, h in enumerate(stats[1:])
            ]
        self._records = self._record_tables()
        n, same = self.store.novel_repeats
        self._novel_repeat = same / (n + RANK_PRIOR) if n else 0.0
        self._known_tools = {tool_name(kind) for kind in self.store.templates}
        pairs = sum(n for n, _r in self.store.repeats.values())
        repeats = sum(r for _n, r in self.store.repeats.values())
        self._pooled_repeat = repeats / pairs if pairs else 0.0
        self.store.cf.build()
        self._allowed_memo: dict[frozenset[str], tuple[frozenset[str], tuple[str, ...]]] = {}
        self._unknown_rate, self._empty_rate = self.store.unknown_tools.rates()
        self._latency: dict[str, float] = {
            kind: expected_latency(kind, self.store.latency) for kind in self.store.templates
        }

    def _record_tables(self) -> dict[str, list[tuple[RecordRule, tuple, list[float], list[int]]]]:
        """Per template (kind SEP template key): its record rules, each with its compiled
        selector, P(correct | rank) shrunk towards the pooled rate of all record rules, and
        the ranks of non-zero probability, most probable first."""
        stats = self.store.record_stats
        pooled_n = sum(t[0] for rules in stats.values() for t in rules.values())
        pooled = [
            sum(t[1 + r] for rules in stats.values() for t in rules.values()) / pooled_n
            if pooled_n else 0.0
            for r in range(MAX_RANK)
        ]
        tables: dict[str, list[tuple[RecordRule, tuple, list[float], list[int]]]] = {}
        for template, rules in stats.items():
            for record in self.store.records(template):
                counts = rules.get(record.key)
                if not counts or not counts[0]:
                    continue
                n = counts[0]
                probs = [shrunk(h, n, pooled[r]) for r, h in enumerate(counts[1:])]
                sel = (record.source, record.selector)
                order = sorted((r for r, p in enumerate(probs) if p > 0.0), key=lambda r: -probs[r])
                tables.setdefault(template, []).append((record, sel, probs, order))
        return tables

    def _evidence_fills(self, kind: str, tkey: str, p_t: float, state: SessionState,
                        memo: dict, fills: list[tuple[list[str], float]]
                        ) -> list[tuple[list[str], float]]:
        """A one-hole template's rank-0 value at P(template, value | kind, its rule fires):
        the hole's first rule (in the hole's precision order) that produces it and has
        evidence counts (PatternStore.evidence), shrunk towards the filling's own probability
        (RANK_PRIOR pseudo-counts), divided by the template's share (the caller multiplies by
        it); the value keeps the larger estimate. Values of later ranks keep theirs: a rule's
        firings were mostly where it agreed with the rank-0 value."""
        hkey = f"{kind}{SEP}{tkey}{SEP}0"
        last = state.context[-1]
        rules = self._evidence_order.get((hkey, last))
        if rules is None:
            evidence = self.store.evidence(hkey)
            rules = self._evidence_order[(hkey, last)] = [
                (rule, evidence[rule]) for rule in self.store.ordered_rules(hkey, last)
                if rule in evidence]
        if not rules or p_t <= 0.0:
            return fills
        cands = memo.get(hkey)
        if cands is None:
            cands = memo[hkey] = self.store.candidates(hkey, state, memo=memo)
        if not cands:
            return fills
        top = cands[0]
        for rule, (fired, hit) in rules:
            if state.resolve_compiled(rule) != top:
                continue
            own = next((p for values, p in fills if values[0] == top),
                       self._rank_p.get(hkey, [0.0])[0])
            p = min(shrunk(hit, fired, p_t * own) / p_t, 1.0 / p_t)
            if p <= own:
                return fills
            rest = [(values, q) for values, q in fills if values[0] != top]
            return sorted([([top], p), *rest], key=lambda x: -x[1])
        return fills

    def _record_fills(
        self,
        kind: str,
        tkey: str,
        holes: int,
        state: SessionState,
        threshold: float,
        memo: dict,
        k: int,
    ) -> list[tuple[list[str], float]]:
        """Fillings from the template's record rules: the covered holes from one list item
        (P(correct | the item's rank)), every other hole from its own rules (`_fills`). Items
        and the other holes' fillings are each taken best first, and a pair whose positions
        (i, j) have (i + 1) * (j + 1) > k cannot be among the rule's k best, so it is skipped."""
        out: list[tuple[list[str], float]] = []
        used = state.used_masks.get(kind, {})
        last = state.last_call_bit(kind)
        rests: dict[tuple[int, ...], list[tuple[list[str], float]]] = {}
        for record, sel, probs, order in self._records.get(f"{kind}{SEP}{tkey}", ()):
            if not order or probs[order[0]] < threshold:
                continue
            entries = memo.get(sel)
            if entries is None:
                entries = memo[sel] = state.record_entries(*sel)
            if not entries:
                continue
            covered = record.holes
            rest = tuple(i for i in range(holes) if i not in covered)
            others = rests.get(rest)
            if others is None:
                others = rests[rest] = (
                    self._fills(kind, tkey, list(rest), state, threshold / probs[order[0]], memo)
                    if rest else [([], 1.0)])
            if not others:
                continue
            items = record_candidates(entries, record, used, hole_locators(tkey), last, MAX_RANK)
            pos = 0
            for rank in order:
                if rank >= len(items):
                    continue
                if probs[rank] * others[0][1] < threshold:
                    break  # `order` and `others` are best first
                for j, (vals, p_rest) in enumerate(others):
                    p = probs[rank] * p_rest
                    if p < threshold or (pos + 1) * (j + 1) > k:
                        break
                    values = [""] * holes
                    for i, v in zip(covered, items[rank], strict=True):
                        values[i] = v
                    for i, v in zip(rest, vals, strict=True):
                        values[i] = v
                    out.append((values, p))
                pos += 1
        return out

    def _fills(
        self,
        kind: str,
        tkey: str,
        holes: int | list[int],
        state: SessionState,
        threshold: float,
        memo: dict,
    ) -> list[tuple[list[str], float]]:
        """Best non-zero fillings (values, product of rank probabilities) of at least
        `threshold` of the holes (all `holes` of the template, or those listed, values in that
        order); every factor is <= 1, so a partial filling below it can be dropped early."""
        beam: list[tuple[list[str], float]] = [([], 1.0)]
        for i in range(holes) if isinstance(holes, int) else holes:
            hkey = f"{kind}{SEP}{tkey}{SEP}{i}"
            cands = memo.get(hkey)  # a hole's candidates, once per query (records refill)
            if cands is None:
                cands = memo[hkey] = self.store.candidates(hkey, state, memo=memo)
            probs = self._rank_p.get(hkey, [0.0] * MAX_RANK)
            grown = [
                (vals + [c], p * probs[r])
                for vals, p in beam
                for r, c in enumerate(cands)
                if p * probs[r] > 0.0 and p * probs[r] >= threshold
            ]
            if not grown:
                return []
            grown.sort(key=lambda x: -x[1])
            beam = grown[:BEAM]
        return beam

    def predict(
        self, state: SessionState, k: int = 5, allow: Callable[[str], bool] | None = None,
        tool: str | None = None,
    ) -> list[Prediction]:
        """Top-k distinct concrete calls for the session's next step, most probable first
        (calls of kinds past the first MAX_KINDS, found to fill a short top-k, after the rest).

        `allow(tool_name)`: only tools it accepts are predicted (e.g. the tools the session
        offers, or the ones that may run speculatively), so that calls the caller would
        discard never take a top-k slot; probabilities stay those of the full distribution.
        `tool`: the next call is known to be a call of this tool (its name was decoded): only
        its calls, with probabilities given the tool (module docstring)."""
        if k <= 0:
            return []
        out: dict[str, Prediction] = {}  # calls of the first MAX_KINDS kinds
        fillers: dict[str, Prediction] = {}  # calls of later kinds, found to fill a short top-k
        floor = 0.0  # k-th best probability so far: templates that cannot beat it are skipped
        memo: dict = {}  # selector -> history entry, shared by every hole of this query
        kinds = self.distribution(state) if tool is None else self._tool_kinds(state, tool)
        if allow is not None:
            kinds = [(t, p) for t, p in kinds if t != END and allow(tool_name(t))]
        last = state.calls[-1] if state.calls else None
        last_canon = last.canonical if last is not None else None
        found, need = out, k
        for i, (kind, p_kind) in enumerate(kinds):
            if i == MAX_KINDS:
                if len(out) >= k:
                    break  # past the first MAX_KINDS kinds only to fill a short top-k
                found, need, floor = fillers, k - len(out), 0.0
            if kind == END or p_kind < floor or p_kind <= 0.0:
                continue
            kind = token_kind(kind)
            name = tool_name(kind)
            latency = self._latency.get(kind)
            if latency is None:
                latency = self._latency[kind] = expected_latency(kind, self.store.latency)
            if kind not in self._templates:  # a kind unknown to training
                if name in self._known_tools:
                    continue  # a new command of a known shell tool (a repeat): no template
                for args, p in self._unknown_calls(state, name, p_kind, floor):
                    canon = _canonical_call(name, args)
                    if canon == last_canon:
                        p = min(p, self._repeat_p(kind))
                    if p > 0.0 and p >= floor and canon not in out and canon not in found:
                        found[canon] = Prediction(name, args, p, latency, canon, kind)
                        floor = _kth(found, need, floor)
                continue
            for parsed, tkey, p_t, holes in self._templates.get(kind, ()):
                if p_kind * p_t < floor:
                    break  # templates are sorted by share
                scale = p_kind * p_t
                threshold = floor / scale
                fills = self._fills(kind, tkey, holes, state, threshold, memo)
                if holes == 1:
                    fills = self._evidence_fills(kind, tkey, p_t, state, memo, fills)
                elif holes >= 2:
                    joint = self._record_fills(kind, tkey, holes, state, threshold, memo, k)
                    if joint:  # no record filling: the beam stands as it is, nothing to merge
                        fills = _best(fills + joint, k)
                for values, p_fill in fills:
                    p = scale * p_fill
                    if p < floor:
                        continue
                    args, canon = self._call(name, parsed, tkey, values)
                    if canon == last_canon:  # the call just made, again: its own measured rate
                        assert last is not None
                        p = min(p, self._repeat_p(last.kind))
                        if p <= 0.0 or p < floor:
                            continue
                    into = out if canon in out else found
                    if canon not in into or into[canon].probability < p:
                        into[canon] = Prediction(name, dict(args), p, latency, canon, kind)
                floor = _kth(found, need, floor)
        top = sorted(out.values(), key=lambda x: (-x.probability, x.canonical))[:k]
        top += sorted(fillers.values(), key=lambda x: (-x.probability, x.canonical))[: k - len(top)]
        cal = self.store.calibration if tool is None else self.store.calibration_named
        if not cal.xs:
            return top
        return [dataclasses.replace(x, probability=cal.apply(x.probability)) for x in top]

    def _unknown_calls(self, state: SessionState, name: str, p_kind: float,
                       floor: float) -> list[tuple[dict[str, Any], float]]:
        """Calls of an offered tool training never saw, with probabilities: without its
        schema, or when it requires no parameter, the argument-free call (the measured share
        of such calls); when it requires one parameter, that parameter set to the latest user
        message's value at each locator, by the locator's measured precision
        (unknowntools.UnknownTools.locators); when it requires more, none."""
        required = state.params.get(name) if state.params is not None else None
        if not required:  # schema unknown, or no parameter required
            return [({}, p_kind * self._empty_rate)]
        if len(required) > 1:
            return []
        user = state.entry_for("user", "b1")
        if user is None:
            return []
        out: list[tuple[dict[str, Any], float]] = []
        seen: set[str] = set()
        for loc, precision in self.store.unknown_tools.locators():
            if p_kind * precision < floor or len(out) == MAX_RANK:
                break
            v = user.locs.get(loc)
            if v is not None and v not in seen:
                seen.add(v)
                out.append(({required[0]: v}, p_kind * precision))
        return out

    def _call(self, name: str, parsed: list, tkey: str,
              values: list[str]) -> tuple[dict[str, Any], str]:
        """(arguments, canonical call) of a template filled with `values`, memoised: the same
        history values fill the same templates at query after query of a session. The cached
        arguments are never handed out (predict copies them)."""
        key = (name, tkey, *values)
        hit = self._filled.get(key)
        if hit is None:
            args = fill(parsed, values)
            hit = (args, _canonical_call(name, args))
            if len(self._filled) >= FILL_CACHE:
                self._filled.clear()
            self._filled[key] = hit
        return hit

    def _repeat_p(self, kind: str) -> float:
        """P(the next call repeats the previous one exactly | the previous one's kind): the
        kind's training rate shrunk towards the store's pooled rate (RANK_PRIOR pseudo-counts).
        The product of kind, template and hole factors overrates a repeat (a hole that copies
        the last call's argument is usually right, but rarely for the very same call)."""
        n, r = self.store.repeats.get(kind, (0, 0))
        return shrunk(r, n, self._pooled_repeat)

    def distribution(self, state: SessionState) -> list[tuple[str, float]]:
        """Next-token distribution: control flow reweighted by the latest user message's text
        evidence (textevidence.py: learned words and tool-name overlap, each with the store's
        weight; the scores are cached on the state per user message), then mixed with the
        store's next-tool model (toolmodel.py) at its cross-validated weight.
        When the state knows the session's offered tools, only their kinds (and `<end>`) are
        scored (unknowntools.offered_distribution: `<end>` keeps its probability, the offered
        kinds share the calls' mass, tools unknown to training a measured part of it): the
        model cannot call a tool it was not offered; every offered kind is reweighted before
        the TOP most likely are kept, so that a tool the message names can rise from below
        the control flow's own top."""
        if state.tools is None:
            dist = self.store.cf.distribution(state.context)
        else:
            allowed, unknown = self._allowed(state.tools)
            dist = offered_distribution(
                self.store.cf, state.context, allowed, unknown, self._unknown_rate)
        tw, nw = self.store.text_weight, self.store.name_weight
        dw = self.store.doc_weight if state.docs else 0.0
        if (tw == 0.0 and nw == 0.0 and dw == 0.0) or not state.user_words:
            return self._novel_repeat_mix(state, self._tool_mixed(state, dist)[:TOP])
        memo_key = (id(self.store.text), self.store.text.num_calls, state.num_user, tw, nw, dw)
        memo = state.memo.get(memo_key)
        if memo is None:
            text = self.store.text
            memo = state.memo[memo_key] = (
                text.known(state.user_words), word_prefixes(state.user_words), {}, {})
        words, prefixes = memo[0], memo[1]
        learned: dict[str, float] = memo[2]  # the text score depends on the kind alone
        # the name and description scores depend on the set of kinds ranked together
        ranked_scores: dict[str, float] = {}
        if nw or dw:
            by_ranked: dict[tuple[str, ...], dict[str, float]] = memo[3]
            ranked = tuple(t for t, _p in dist if t != END)
            hit = by_ranked.get(ranked)
            if hit is None:
                hit = by_ranked[ranked] = self._ranked_scores(prefixes, list(ranked), nw, dw,
                                                              state.docs)
            ranked_scores = hit
        scores = {}
        for t, _p in dist:
            s = learned.get(t)
            if s is None:
                s = learned[t] = tw * self.store.text.score(words, t)
            scores[t] = s + ranked_scores.get(t, 0.0)
        dist = self._tool_mixed(state, reweight(dist, scores, 1.0, END))
        return self._novel_repeat_mix(state, dist[:TOP])

    def _tool_mixed(self, state: SessionState,
                    dist: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """`dist` mixed with the store's next-tool model at its weight (toolmodel.mix), over
        the session's offered tools when known; unchanged without a model."""
        model = self.store.tool_model
        if model is None or self.store.tool_mix <= 0.0:
            return dist
        # keyed by the model itself: a refitted model (PatternStore.update) never reads the
        # message part of the one it replaced, whose id a new object may reuse
        memo = state.memo.setdefault(("tool_model", model, state.num_user), {})
        q = model.probabilities(state.context, state.user_words, memo,
                                state.used_masks.keys(), len(state.calls))
        allowed = self._allowed(state.tools)[0] if state.tools is not None else None
        return mix(dist, q, self.store.tool_mix, allowed)

    def _novel_repeat_mix(self, state: SessionState,
                          dist: list[tuple[str, float]]) -> list[tuple[str, float]]:
        """After a call of a kind training never saw (a command the agent just found, such as
        a task's own script), the control flow knows nothing of it and backs off to the
        unigram; an agent often runs it again. Its kind gets the store's measured rate of
        same-kind calls after a kind new to the store (PatternStore.novel_repeats, shrunk by
        RANK_PRIOR pseudo-counts), the others share the rest."""
        r = self._novel_repeat
        kind = token_kind(state.context[-1])
        if (r <= 0.0 or not state.calls or kind != state.calls[-1].kind
                or kind in self._templates
                or (state.tools is not None and tool_name(kind) not in state.tools)):
            return dist
        mixed = [(t, p * (1.0 - r)) for t, p in dist if t != kind] + [(kind, r)]
        return sorted(mixed, key=lambda x: (-x[1], x[0]))[:TOP]

    @staticmethod
    def _ranked_scores(prefixes: frozenset[str], ranked: list[str], nw: float, dw: float,
                       docs: dict[str, str] | None) -> dict[str, float]:
        """nw * n(k) + dw * d(k) for the kinds ranked together (textevidence.py)."""
        out = {k: nw * v for k, v in name_scores(prefixes, ranked).items()} if nw else {}
        if dw and docs:
            for k, v in doc_scores(prefixes, ranked, docs, tool_name).items():
                out[k] = out.get(k, 0.0) + dw * v
        return out

    def _tool_kinds(self, state: SessionState, tool: str) -> list[tuple[str, float]]:
        """P(kind | context, the call is one of `tool`): the distribution's kinds of the tool,
        renormalised; a tool with one kind (every tool but a shell's) is certain even when the
        distribution does not rank it (a kind never seen in training has no templates). A
        kind's failed token (`kind!`: the call is made and fails) counts as the kind."""
        kinds: dict[str, float] = {}
        for t, p in self.distribution(state):
            kind = token_kind(t)
            if t != END and tool_name(kind) == tool:
                kinds[kind] = kinds.get(kind, 0.0) + p
        total = sum(kinds.values())
        if total > 0.0:
            return sorted(((t, p / total) for t, p in kinds.items()), key=lambda x: -x[1])
        return [(tool, 1.0)] if tool in self._templates else []

    def _allowed(self, tools: frozenset[str]) -> tuple[frozenset[str], tuple[str, ...]]:
        """(the control-flow tokens of the offered `tools` (kinds, failed kinds) plus `<end>`;
        the offered tools training did not know), unknowntools.offered_tokens memoised."""
        hit = self._allowed_memo.get(tools)
        if hit is None:
            hit = offered_tokens(self.store.cf.vocabulary(), tools,
                                 self.store.unknown_tools.tool_groups)
            if len(self._allowed_memo) >= 1024:
                self._allowed_memo.clear()
            self._allowed_memo[tools] = hit
        return hit

    def kind_ranking(self, state: SessionState) -> list[tuple[str, float]]:
        """The distribution of the next call's kind (without `<end>`), most likely first."""
        return [(t, p) for t, p in self.distribution(state) if t != END]
