"""PatternStore: everything learned from one tenant's traces, saved as one JSON file.

Mining is three passes over each session, replayed through a SessionState exactly as a live
session would be seen:
  1. observe: control-flow counts, per-kind argument templates (with the task groups that used
     each), and for every hole the derivation rules that explain its true value (support).
  2. score_rules: each hole's best-supported rules are resolved at every instance of the hole:
     fired / correct counts; rules are then ordered by precision (correct / (fired + 1)).
  3. calibrate: the rank at which each hole's true value appears among the distinct values the
     ordered rules produce -> P(correct | rank), per hole; counted for two orders (plain, and
     "novel": values an earlier call of the same kind used go last, for iteration patterns)
     and the novel order is used for a hole only where it wins clearly (see uses_novelty).
Record rules (records.py: several holes copied from one item of a list, item after item) are
supported in pass 1 and get their P(correct | rank) in pass 3, per template.
Then `mine` (mining.py) cross-fits the store's calibration (calibration.py): the map from the
predictor's raw call probability to the hit rate measured out of fold; online updates keep it.
Generalisation / tenant rule: a template (its literal text is learned data) is only used when
sessions of at least `min_groups` task groups produced it, so values specific to one task are
never emitted unless they also occur in the live session's own history (then they are holes).
A store holds one tenant; `update` refuses traces of another tenant (TenantMismatchError).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from paste.patterns.calibration import Calibration
from paste.patterns.cfselect import Config, session_events
from paste.patterns.changelog import ChangeLog, Changes
from paste.patterns.controlflow import END, ORDER, ControlFlowModel
from paste.patterns.errors import PatternStoreError, TenantMismatchError
from paste.patterns.history import OnlineFit, SessionHistory
from paste.patterns.records import RecordRule, explain_records, item_offset, record_candidates
from paste.patterns.replay import replay
from paste.patterns.shapes import (
    MAX_LENGTHS,
    MAX_SHAPES,
    allowed_days,
    allowed_lengths,
    allowed_shapes,
    days_from,
    in_days,
    note,
    shape,
    typed_spans,
    typed_values,
)
from paste.patterns.state import SessionState
from paste.patterns.storefile import READ_VERSIONS, fill_from_data, to_data, write_json
from paste.patterns.templates import (
    extract,
    fits_type,
    hole_locators,
    hole_paths,
    hole_types,
    num_holes,
    schema_only,
)
from paste.patterns.textevidence import TextEvidence
from paste.patterns.toolmodel import ToolModel
from paste.patterns.trace import Trace
from paste.patterns.unknowntools import UnknownTools

MAX_RANK = 5  # candidate values kept per hole
TYPED_KEY = ("typed",)  # a query memo's key for the user's typed spans (shapes.typed_spans)
MAX_RULES = 40  # best-supported rules scored per hole
MAX_ORDERED = 4 * MAX_RANK  # most precise rules tried per hole at prediction time
MAX_RECORD_RULES = 1  # best-supported record rules per template
MAX_EVIDENCE = 8  # most precise rules of a one-hole template whose firing is counted (pass 3)
EVIDENCE_TEMPLATES = 4  # a kind's most used general one-hole templates given such counts
PRIOR = 4  # pseudo-count of the precision estimates (see ordered_rules)
SEP = "\x1f"


def rule_str(rule: tuple[str, str, str]) -> str:
    return SEP.join(rule)


def rule_tuple(text: str) -> tuple[str, str, str]:
    a, b, c = text.split(SEP, 2)
    return (a, b, c)


def _hole_type(hkey: str) -> str | None:
    """The JSON type the hole's values must have (templates.hole_types); None for a hole of
    any text, or one whose key names no template (a store built by hand)."""
    _kind, tkey, index = hkey.split(SEP)
    try:
        types = hole_types(tkey)
    except ValueError:
        return None
    return types[int(index)] if int(index) < len(types) else None


class PatternStore:
    """Per-tenant patterns (see module docstring). Counts are the saved state; ordered rule
    lists and control-flow tables are derived lazily and rebuilt after every update."""

    def __init__(
        self,
        tenant: str = "default",
        min_groups: int = 3,
        cf_order: int = ORDER,
        cf_user_turns: bool = True,
        text_weight: float = 0.0,
        cf_average: bool = False,
        name_weight: float = 0.0,
        doc_weight: float = 0.0,
    ) -> None:
        self.tenant = tenant
        self.min_groups = min_groups
        self.cf = ControlFlowModel(cf_order, cf_user_turns, cf_average)
        self.text = TextEvidence()
        self.text_weight = text_weight
        self.name_weight = name_weight  # weight of the tool-name overlap (textevidence.py)
        self.doc_weight = doc_weight  # weight of the tool-description overlap (same)
        self.templates: dict[str, Counter[str]] = {}
        self.template_groups: dict[str, set[str]] = {}
        self.hole_rules: dict[str, Counter[str]] = {}
        self.hole_shapes: dict[str, Counter[str]] = {}  # shapes.shape of each hole's values
        self.hole_lengths: dict[str, Counter[int]] = {}  # and their lengths (shapes.py)
        # hole -> [n, min, max] of its ISO-date values' days from the session's today
        self.hole_days: dict[str, list[int]] = {}
        self.rank_stats: dict[str, dict[str, list[int]]] = {}
        self.rule_stats: dict[str, dict[str, list[int]]] = {}  # hkey, and hkey SEP last token
        # kind SEP template key -> record rule key -> support / [instances, hits at rank 0..]
        self.record_rules: dict[str, Counter[str]] = {}
        self.record_stats: dict[str, dict[str, list[int]]] = {}
        # one-hole template's hole key -> rule -> [calls of the kind it fired at, of those the
        # calls that were the template filled with its value] (pass 3, `evidence`)
        self.rule_evidence: dict[str, dict[str, list[int]]] = {}
        self.latency: dict[str, list[float]] = {}
        self.unknown_tools = UnknownTools()  # tools offered or called per group (unknowntools.py)
        # kind -> [calls of it that another call followed, of those followed by the same call]
        self.repeats: dict[str, list[int]] = {}
        # [calls or session ends after a call of a kind new to the store, of those calls of
        # that same kind]: how an agent goes on after a tool it had not used before
        self.novel_repeats = [0, 0]
        self.num_sessions = 0
        self.calibration = Calibration()  # raw call probability -> hit rate (mine fits it)
        self.calibration_named = Calibration()  # the same, for predictions given the tool
        # the next-tool model mixed into the control flow with weight tool_mix (toolmodel.py;
        # fitted and weighed by `mine`, refitted and weighed again from `history` as `update`
        # adds to it, with the control-flow configuration; a store learned only online gets
        # them that way)
        self.tool_model: ToolModel | None = None
        self.tool_mix = 0.0
        self.history: SessionHistory | None = SessionHistory()
        # hole -> its last context token ("": none) -> its ordered rules, compiled
        self._ordered: dict[str, dict[str, list[tuple[str, int, object, str]]]] = {}
        self._ordered_str: dict[str, dict[str, list[str]]] = {}  # the same, as rule_str
        self._evidence_holes: dict[str, list[str]] = {}
        self._evidence: dict[str, dict[tuple[str, int, object, str], tuple[int, int]]] = {}
        self._records: dict[str, list[RecordRule]] = {}
        # Per hole, derived at the first query since the counts last changed: allowed shapes
        # (None: unshaped) and whether the novel order is used.
        self._hole_view: dict[
            str, tuple[set[str] | None, bool, set[int] | None, str | None]] = {}
        # what each pass changed since the views were last all dropped (changelog.py)
        self.change_log = ChangeLog()

    # -- mining --------------------------------------------------------------------------
    def _check_tenant(self, trace: Trace) -> None:
        if trace.tenant != self.tenant:
            raise TenantMismatchError(
                f"trace {trace.session_id!r} belongs to tenant {trace.tenant!r}, "
                f"store belongs to {self.tenant!r}"
            )

    def observe(self, trace: Trace) -> None:
        """Pass 1 over one session (control flow, templates, rule support)."""
        self._check_tenant(trace)
        self.num_sessions += 1
        self.unknown_tools.observe(trace)
        session = SessionState(env=trace.env, today=trace.today)
        changed = Changes(set(), set(), set())
        previous: tuple[str, str] | None = None  # (kind, canonical call) of the last call
        novel = False  # the last call's kind was new to the store when it was made
        for state, step in replay(trace, session, turn_text=True):
            call = step.call
            assert call is not None  # replay yields tool steps only
            canonical = call.canonical
            if novel:
                self.novel_repeats[0] += 1
                self.novel_repeats[1] += previous is not None and call.kind == previous[0]
            novel = call.kind not in self.templates
            if previous is not None:
                rep = self.repeats.setdefault(previous[0], [0, 0])
                rep[0] += 1
                rep[1] += canonical == previous[1]
            previous = (call.kind, canonical)
            self.cf.observe(state.context, call.kind)
            required = trace.params.get(call.name) if trace.params else None
            if required is not None and len(required) == 1 and required[0] in call.arguments:
                user = state.entry_for("user", "b1")
                self.unknown_tools.observe_single(call.name, trace.group, call.arguments,
                                                  required[0], user.locs if user else {})
            self.text.observe(state.user_words, call.kind)
            tkey, holes = extract(call.arguments, state)
            changed.kinds.add(call.kind)
            changed.templates.add(f"{call.kind}{SEP}{tkey}")
            self.templates.setdefault(call.kind, Counter())[tkey] += 1
            self.template_groups.setdefault(call.kind + SEP + tkey, set()).add(trace.group)
            if len(holes) >= 2:
                records = self.record_rules.setdefault(f"{call.kind}{SEP}{tkey}", Counter())
                offsets = [item_offset(path) for path in hole_paths(tkey)]
                for record in explain_records(state, holes, offsets):
                    records[record.key] += 1
            for i, value in enumerate(holes):
                hkey = f"{call.kind}{SEP}{tkey}{SEP}{i}"
                changed.holes.add(hkey)
                note(self.hole_shapes.setdefault(hkey, Counter()), shape(value), MAX_SHAPES)
                note(self.hole_lengths.setdefault(hkey, Counter()), len(str(value)), MAX_LENGTHS)
                off = days_from(value, trace.today)
                if off is not None:
                    span = self.hole_days.setdefault(hkey, [0, off, off])
                    span[:] = [span[0] + 1, min(span[1], off), max(span[2], off)]
                rules = self.hole_rules.setdefault(hkey, Counter())
                for rule in state.explain(value):
                    rules[rule_str(rule)] += 1
            if "tool_s" in step.timings:
                acc = self.latency.setdefault(call.kind, [0.0, 0.0])
                acc[0] += step.timings["tool_s"]
                acc[1] += 1
        self.novel_repeats[0] += novel
        self.cf.observe(session.context, END)
        self.invalidate(changed)

    def _calls(self, trace: Trace) -> Iterator[tuple[SessionState, str, list[str]]]:
        """(state before the call, kind SEP template key, true hole values) of every replayed
        call."""
        self._check_tenant(trace)
        for state, step in replay(trace, turn_text=True):
            call = step.call
            assert call is not None  # replay yields tool steps only
            tkey, holes = extract(call.arguments, state)
            yield state, f"{call.kind}{SEP}{tkey}", holes

    def _holes(self, trace: Trace) -> Iterator[tuple[SessionState, str, str]]:
        """(state before the call, hole key, true value) of every hole of every replayed call."""
        for state, template, holes in self._calls(trace):
            for i, value in enumerate(holes):
                yield state, f"{template}{SEP}{i}", value

    def score_rules(self, trace: Trace) -> None:
        """Pass 2 over one session: fired / correct counts of each hole's supported rules."""
        changed = Changes(set(), set(), set())
        for state, hkey, value in self._holes(trace):
            changed.holes.add(hkey)
            stats = self.rule_stats.setdefault(hkey, {})
            in_ctx = self.rule_stats.setdefault(f"{hkey}{SEP}{state.context[-1]}", {})
            for rule in self._supported(hkey):
                got = state.resolve(rule_tuple(rule))
                if got is not None:
                    for table in (stats, in_ctx):
                        acc = table.setdefault(rule, [0, 0])
                        acc[0] += 1
                        acc[1] += got == value
        self.invalidate(changed)

    def calibrate(self, trace: Trace) -> None:
        """Pass 3 over one session: rank statistics of each hole's candidate list and of each
        record rule's tuples."""
        changed = Changes(set(), set(), set())
        for state, template, holes in self._calls(trace):
            changed.holes.update(self._calibrate_evidence(state, template, holes))
            changed.templates.add(template)
            self._calibrate_records(state, template, holes)
            for i, value in enumerate(holes):
                changed.holes.add(f"{template}{SEP}{i}")
                self._calibrate_hole(state, f"{template}{SEP}{i}", value)
        self.invalidate(changed)

    def _calibrate_evidence(self, state: SessionState, template: str,
                            holes: list[str]) -> list[str]:
        """At a call of a kind, for each of the kind's evidence holes (`evidence_holes`) and
        each of the hole's MAX_EVIDENCE most precise rules that fires here: one more firing,
        and one more hit when the call is that template with the rule's value. Returns the
        evidence holes."""
        kind = template.split(SEP, 1)[0]
        evidence_holes = self.evidence_holes(kind)
        for hkey in evidence_holes:
            own = hkey.rsplit(SEP, 1)[0] == template
            table = self.rule_evidence.setdefault(hkey, {})
            for rule, compiled in zip(self.ordered_rule_keys(hkey)[:MAX_EVIDENCE],
                                      self.ordered_rules(hkey), strict=False):
                got = state.resolve_compiled(compiled)
                if got is None:
                    continue
                acc = table.setdefault(rule, [0, 0])
                acc[0] += 1
                acc[1] += own and holes[0] == got
        return evidence_holes

    def evidence_holes(self, kind: str) -> list[str]:
        """Hole keys of the kind's EVIDENCE_TEMPLATES most used general templates of one
        hole: a template whose hole a rule fills gets P(template, value | kind, the rule
        fires) measured over every call of the kind (`evidence`), not only its share of the
        kind's calls, which is low where most calls are literal text but high where the rule
        applies (a swapped conjunct: swaps.py)."""
        holes = self._evidence_holes.get(kind)
        if holes is None:
            counts = self.templates.get(kind, Counter())
            holes = [f"{kind}{SEP}{tkey}{SEP}0"
                     for tkey, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
                     if self.is_general(kind, tkey) and num_holes(tkey) == 1
                     ][:EVIDENCE_TEMPLATES]
            self._evidence_holes[kind] = holes
        return holes

    def evidence(self, hkey: str) -> dict[tuple[str, int, object, str], tuple[int, int]]:
        """Compiled rule -> (firings, hits) of the hole's rules with evidence counts (pass 3)."""
        out = self._evidence.get(hkey)
        if out is None:
            table = self.rule_evidence.get(hkey, {})
            out = self._evidence[hkey] = {
                SessionState.compile_rule(rule_tuple(r)): (n, h) for r, (n, h) in table.items()
                if n}
        return out

    def _calibrate_records(self, state: SessionState, template: str, holes: list[str]) -> None:
        kind, tkey = template.split(SEP, 1)
        for record in self.records(template):
            entries = state.record_entries(record.source, record.selector)
            tuples = record_candidates(entries, record, state.used_masks.get(kind, {}),
                                       hole_locators(tkey), state.last_call_bit(kind))
            if not tuples:
                continue
            stats = self.record_stats.setdefault(template, {}).setdefault(
                record.key, [0] * (MAX_RANK + 1))
            stats[0] += 1
            truth = tuple(holes[i] for i in record.holes)
            if truth in tuples[:MAX_RANK]:
                stats[1 + tuples.index(truth)] += 1

    def _calibrate_hole(self, state: SessionState, hkey: str, value: str) -> None:
        both = self.rank_stats.setdefault(
            hkey,
            {"plain": [0] * (MAX_RANK + 1), "novel": [0] * (MAX_RANK + 1), "duel": [0, 0]},
        )
        top: dict[str, bool] = {}
        for variant in ("plain", "novel"):
            stats = both[variant]
            stats[0] += 1
            cands = self.candidates(hkey, state, novelty=variant == "novel")
            if value in cands:
                stats[1 + cands.index(value)] += 1
            top[variant] = cands[:1] == [value]
        both["duel"][0] += top["novel"] and not top["plain"]
        both["duel"][1] += top["plain"] and not top["novel"]

    def update(self, trace: Trace, refit: bool = True) -> None:
        """Online update from one completed session (all three passes on it); the session
        joins the store's history, and (`refit`) the next-tool model is refitted, or the
        configuration and the model's weight chosen again, when the history has grown enough
        (history.py). A caller that must not wait for a fit (the server, holding the tenant's
        lock) passes refit=False and fits apart (`refresh_due`, `fit_online`, `set_online`,
        then Predictor.refresh). A store loaded from a file saved before the history has
        none: it keeps what it has."""
        self.observe(trace)
        self.score_rules(trace)
        self.calibrate(trace)
        if self.history is not None:
            self.history.add(session_events(trace.steps), trace.tools, trace.docs)
            if refit and self.refresh_due():
                self.set_online(self.fit_online())

    def refresh_due(self) -> bool:
        """True when the next-tool model is due for a refit or the configuration and its
        weight for a new choice."""
        return self.history is not None and self.history.refresh_due(self.tool_mix)

    def fit_online(self) -> OnlineFit:
        """The configuration, control flow, next-tool model and weight for the history as it is
        (SessionHistory.refresh); the store is not changed."""
        history, config, unknown_rate, mix, complete = self.online_fit_inputs()
        return history.refresh(config, unknown_rate, mix, complete)

    def online_fit_inputs(self) -> tuple[SessionHistory, Config, float, float, bool]:
        """What `fit_online` computes from: the history, the configuration in force, the
        unknown-tool rate, the weight, and whether the history holds every session the store
        learned (a fit elsewhere, server/fitting.py, needs no more);
        PatternStoreError without a history."""
        if self.history is None:
            raise PatternStoreError("this store keeps no session history")
        config = (self.cf.order, self.cf.user_turns, self.cf.average, self.text_weight,
                  self.name_weight, self.doc_weight)
        complete = len(self.history.sessions) == self.num_sessions
        return self.history, config, self.unknown_tools.rates()[0], self.tool_mix, complete

    def set_online(self, fit: OnlineFit) -> None:
        """Installs what `fit_online` computed (a Predictor of the store must then refresh)."""
        if fit.config is not None and fit.cf is not None:
            self.cf = fit.cf
            self.text_weight, self.name_weight, self.doc_weight = fit.config[3:]
        self.tool_model, self.tool_mix = fit.model, fit.mix
        if self.history is not None:
            self.history.fitted, self.history.selected = fit.fitted, fit.selected

    # -- derived views ---------------------------------------------------------------------
    def invalidate(self, changed: Changes | None = None) -> None:
        """Drop the views derived from the counts (rule orders, hole shapes and orders): all of
        them, or (`changed`, what a pass changed) those of its holes, templates and kinds.
        The passes above call it, and so must code that changes the counts directly."""
        if changed is None or not self.change_log.add(changed):
            self._ordered, self._hole_view, self._records = {}, {}, {}
            self._ordered_str, self._evidence_holes, self._evidence = {}, {}, {}
            self.change_log.reset()
            return
        for hkey in changed.holes:
            for view in (self._ordered, self._ordered_str, self._hole_view, self._evidence):
                view.pop(hkey, None)
        for template in changed.templates:
            self._records.pop(template, None)
        for kind in changed.kinds:
            self._evidence_holes.pop(kind, None)

    def records(self, template: str) -> list[RecordRule]:
        """The template's (kind SEP template key) best-supported record rules, at most
        MAX_RECORD_RULES (ties: rule key)."""
        rules = self._records.get(template)
        if rules is None:
            support = self.record_rules.get(template, Counter())
            best = sorted(support.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_RECORD_RULES]
            rules = self._records[template] = [RecordRule.from_key(k) for k, _n in best]
        return rules

    def _supported(self, hkey: str) -> list[str]:
        counts = self.hole_rules.get(hkey, Counter())
        return [r for r, _n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_RULES]]

    def ordered_rules(self, hkey: str, last: str = "") -> list[tuple[str, int, object, str]]:
        """`ordered_rule_keys`, compiled for SessionState.resolve_compiled (cached)."""
        ctx = self._order_context(hkey, last)
        per = self._ordered.get(hkey)
        if per is None:
            per = self._ordered[hkey] = {}
        rules = per.get(ctx)
        if rules is None:
            rules = per[ctx] = [SessionState.compile_rule(rule_tuple(r))
                                for r in self.ordered_rule_keys(hkey, last)]
        return rules

    def ordered_rule_keys(self, hkey: str, last: str = "") -> list[str]:
        """A hole's supported rules (rule_str), most precise first (ties: support, then
        text); at most MAX_ORDERED.

        Precision is measured after the same last context token `last` (a retry after a failed
        call copies the failed call's arguments; a first call copies the user's message),
        shrunk towards the hole's overall precision: (hit + PRIOR * p) / (fired + PRIOR), where
        p = (hit_all + 1) / (fired_all + PRIOR) is itself shrunk towards 1 / PRIOR."""
        ctx = self._order_context(hkey, last)
        per = self._ordered_str.get(hkey)
        if per is None:
            per = self._ordered_str[hkey] = {}
        ordered = per.get(ctx)
        if ordered is None:
            support = self.hole_rules.get(hkey, Counter())
            overall = self.rule_stats.get(hkey, {})
            in_ctx = self.rule_stats.get(f"{hkey}{SEP}{ctx}", {})

            def key(r: str) -> tuple:
                fired, hit = overall.get(r, (0, 0))
                prior = (hit + 1) / (fired + PRIOR)
                fired_c, hit_c = in_ctx.get(r, (0, 0))
                return (-(hit_c + PRIOR * prior) / (fired_c + PRIOR), -support[r], r)

            ordered = per[ctx] = sorted(self._supported(hkey), key=key)[:MAX_ORDERED]
        return ordered

    def _order_context(self, hkey: str, last: str) -> str:
        """The context token a hole's order after `last` is measured in: `last`, or "" (the
        hole's own order) when the hole has no counts after it."""
        if last and f"{hkey}{SEP}{last}" not in self.rule_stats:
            return ""
        return last

    def uses_novelty(self, hkey: str) -> bool:
        """Whether the hole's candidates put values already used by the same kind last: chosen
        per hole when, at the mined instances where exactly one order was right at rank 0, the
        novel order won by more than two standard errors of a fair coin (sign test)."""
        stats = self.rank_stats.get(hkey)
        if not stats:
            return False
        wins, losses = stats["duel"]
        return wins - losses > 2 * (wins + losses) ** 0.5

    def rank_table(self, hkey: str) -> list[int]:
        """[instances, hits at rank 0, 1, ...] of the hole's chosen candidate order."""
        stats = self.rank_stats.get(hkey)
        if not stats:
            return [0] * (MAX_RANK + 1)
        return stats["novel" if self.uses_novelty(hkey) else "plain"]

    def candidates(
        self, hkey: str, state: SessionState, novelty: bool | None = None, memo: dict | None = None
    ) -> list[str]:
        """Distinct values the hole's rules produce in `state`, best rule first, then (a shaped
        hole short of MAX_RANK) the user's typed values of its shape (shapes.typed_values);
        <= MAX_RANK. With `novelty` (default: `uses_novelty`) values the same kind already
        used go last. `memo` caches selector -> entry lookups (and the typed spans) across
        the holes of one prediction (the state must not change while it is in use)."""
        out: list[str] = []
        memo = {} if memo is None else memo
        view = self._hole_view.get(hkey)
        if view is None:
            shapes = allowed_shapes(self.hole_shapes.get(hkey))
            view = self._hole_view[hkey] = (
                shapes, self.uses_novelty(hkey),
                allowed_lengths(self.hole_lengths.get(hkey), shapes), _hole_type(hkey))
        shapes, lengths, typ = view[0], view[2], view[3]
        days = allowed_days(self.hole_days.get(hkey), state.today)
        for source, mode, arg, loc in self.ordered_rules(hkey, state.context[-1]):
            sel = (source, mode, arg)
            entry = memo.get(sel, memo)
            if entry is memo:
                entry = memo[sel] = state.entry_compiled(source, mode, arg)
            if entry is None:
                continue
            v = entry.locs.get(loc)
            if (v is not None and v not in out and (shapes is None or shape(v) in shapes)
                    and (lengths is None or len(v) in lengths) and fits_type(v, typ)
                    and (days is None or in_days(v, state.today, days))):
                out.append(v)
                if len(out) == 2 * MAX_RANK:
                    break
        if shapes is not None and len(out) < MAX_RANK:  # back-off (shapes.py)
            spans = memo.get(TYPED_KEY)
            if spans is None:
                spans = memo[TYPED_KEY] = typed_spans(state)
            if days is not None:
                spans = [v for v in spans if in_days(v, state.today, days)]
            if typ is not None:
                spans = [v for v in spans if fits_type(v, typ)]
            out += typed_values(spans, shapes, lengths, out, MAX_RANK)
        if novelty is None:
            novelty = view[1]
        if novelty:
            used = state.used_masks.get(hkey.split(SEP, 1)[0], {})  # values the kind used
            out.sort(key=lambda v: v in used)
        return out[:MAX_RANK]

    def is_general(self, kind: str, tkey: str) -> bool:
        """True when sessions of at least `min_groups` task groups used this template, or when
        it carries no learned value at all (templates.schema_only: parameters that are holes
        or flags), which cannot leak any training session's data."""
        if len(self.template_groups.get(kind + SEP + tkey, ())) >= self.min_groups:
            return True
        return schema_only(tkey)

    # -- persistence (storefile.py) ------------------------------------------------------
    def save(self, path: Path) -> None:
        """Writes the store as one JSON file (storefile.to_data, storefile.write_json)."""
        with open(path, "w", encoding="utf-8") as out:
            write_json(to_data(self), out)

    @classmethod
    def load(cls, path: Path) -> PatternStore:
        """The store saved in `path`; PatternStoreError (naming the file) when it cannot be
        read, is not a pattern store of this format, or is malformed."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise PatternStoreError(f"{path}: cannot read pattern store ({exc})") from exc
        if not isinstance(data, dict) or data.get("version") not in READ_VERSIONS:
            raise PatternStoreError(f"{path}: not a pattern store of version "
                                    f"{' or '.join(map(str, READ_VERSIONS))}")
        try:
            store = cls(data["tenant"], data["min_groups"])
            fill_from_data(store, data, path)
        except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
            raise PatternStoreError(
                f"{path}: malformed pattern store ({type(exc).__name__}: {exc})") from exc
        return store
