"""Choose a store's control-flow configuration by FOLDS-fold cross-validation on its training
sessions: n-gram order (1..ORDER+1), whether `<u>` user-turn tokens are kept, whether the
answers of orders 1..order are averaged, and the weights of the user-message text evidence
(textevidence.py: the learned naive-Bayes score and the zero-shot tool-name overlap). The
score is the number of calls whose kind was the top prediction, exactly as the evaluation
counts tool@1; ties prefer the shorter order, keeping user turns, no averaging and the
smaller weights (listed first; the smaller name weight before the smaller text weight).
When sessions record tool descriptions, a second pass at the chosen order, user turns and
averaging also weighs the description overlap: every (text, name, description) weight of
WEIGHTS x DOC_WEIGHTS. The best of them with a positive description weight replaces the
first pass's choice only when it wins by more than one standard error: of the held-out
calls on which the two disagree, it wins W and loses L with W - L > sqrt(W + L) (the sign
test's spread; the one-standard-error rule of model selection): a tenant with a dozen
sessions does not turn a new evidence on because it won two calls more in its folds.
"""

from __future__ import annotations

import math

from paste.patterns.controlflow import END, ORDER, USER, ControlFlowModel, call_token
from paste.patterns.textevidence import (
    TextEvidence,
    doc_scores,
    message_words,
    name_scores,
    reweight,
    word_prefixes,
)
from paste.patterns.toolmodel import ToolModel, mix
from paste.patterns.unknowntools import offered_distribution, offered_tokens, tool_name

TEXT_WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)
NAME_WEIGHTS = (0.0, 0.5, 1.0, 2.0)
WEIGHTS = [(t, n) for n in NAME_WEIGHTS for t in TEXT_WEIGHTS]  # (text, name), ties: first
DOC_WEIGHTS = (0.0, 0.25, 0.5, 1.0)
TOOL_MIXES = (0.0, 0.25, 0.5, 0.75)  # weights of the ToolModel in the mix (toolmodel.py)
MIN_P = 1e-4  # floor of a held-out call's probability in the log-likelihood
FOLDS = 4

Event = tuple[list[str], str, frozenset[str]]
Offered = frozenset[str] | None  # the tools a session offered, None when not recorded
Offered_split = tuple[list[Offered], list[Offered]]  # (a fold's rest, the fold)
Docs = dict[str, str] | None  # a session's tool descriptions (Trace.docs)
Config = tuple[int, bool, bool, float, float, float]  # order, user turns, average, 3 weights


def session_events(steps: list) -> list[Event]:
    """(context before, next token, words of the latest user message) for every call of a
    session and its end, with the same tokens SessionState.context uses."""
    context: list[str] = ["<s>"]
    words: frozenset[str] = frozenset()
    events: list[Event] = []
    for step in steps:
        if step.role == "user":
            words = message_words(step.text)
            if context[-1] != USER and len(context) > 1:
                context.append(USER)
        elif step.call is not None:
            events.append((list(context), step.call.kind, words))
            context.append(call_token(step.call.kind, step.status == "error"))
    events.append((context, END, words))
    return events


def _text_model(train: list[list[Event]]) -> TextEvidence:
    text = TextEvidence()
    for events in train:
        for _ctx, tok, words in events:
            if tok != END:
                text.observe(words, tok)
    return text


def _known_tools(train: list[list[Event]], offered: list[Offered]) -> set[str]:
    """The tools the sessions of `train` offered or called (unknowntools.UnknownTools.known)."""
    known = {tool_name(tok.rstrip("!")) for events in train for _c, tok, _w in events}
    for tools in offered:
        known.update(tools or ())
    return known


def _hits(
    train: list[list[Event]],
    test: list[list[Event]],
    order: int,
    user_turns: bool,
    text: TextEvidence | None = None,
    average: bool = False,
    offered: Offered_split | None = None,
    unknown_rate: float = 0.0,
    weights: list[tuple[float, float, float]] | None = None,
    docs: list[Docs] | None = None,
    per_call: list[list[bool]] | None = None,
    tool_mix: tuple[ToolModel | None, tuple[float, ...]] = (None, (0.0,)),
    log_probs: list[list[float]] | None = None,
) -> list[int]:
    """Top-1 kind hits on `test` for each (text, name, description) weight of `weights`
    (default: WEIGHTS, no description weight; `text`: the text model of `train`, built when
    not given). `offered`: (the tools each `train` session offered, the same for `test`),
    None or None entries when not recorded: a test session's distribution is then over its
    offered tools, as the Predictor's is, the tools `train` did not know sharing
    `unknown_rate` (unknowntools.offered_distribution). `docs`: each `test` session's tool
    descriptions (None: none). `per_call`: when given, one list per weight that gets whether
    each held-out call was a hit, in order (for paired comparisons); `log_probs` likewise
    gets the log probability of each held-out call's kind (floored at MIN_P). `tool_mix`: (a
    ToolModel of `train`, mixing weights): every weight's distribution is also mixed with the
    model at each of them (toolmodel.mix); hits and both lists are then indexed
    weight * len(mixes) + mix."""
    weights = weights if weights is not None else [(t, n, 0.0) for t, n in WEIGHTS]
    tool_model, mixes = tool_mix
    if tool_model is None:
        mixes = (0.0,)
    model = ControlFlowModel(order, user_turns, average)
    for events in train:
        for ctx, tok, _words in events:
            model.observe(ctx, tok)
    text = text if text is not None else _text_model(train)
    train_tools, test_tools = offered if offered is not None else ([], [None] * len(test))
    test_docs = docs if docs is not None else [None] * len(test)
    known_tools = _known_tools(train, train_tools)
    vocab = model.vocabulary()
    hits = [0] * (len(weights) * len(mixes))
    known: dict[frozenset[str], tuple[list[str], frozenset[str], dict[str, float]]] = {}
    use_docs = any(dw for _t, _n, dw in weights)
    for events, tools, described in zip(test, test_tools, test_docs, strict=True):
        allowed, unknown = (offered_tokens(vocab, tools, known_tools) if tools is not None
                            else (None, ()))
        for ctx, tok, words in events:
            if tok == END:
                continue
            if allowed is None:
                dist = model.distribution(ctx)
            else:
                dist = offered_distribution(model, ctx, allowed, unknown, unknown_rate)
            if words not in known:
                known[words] = (text.known(words), word_prefixes(words), {})
            kept, prefixes, learned = known[words]
            ranked = [t for t, _p in dist if t != END]
            names = name_scores(prefixes, ranked)
            about = (doc_scores(prefixes, ranked, described, tool_name)
                     if use_docs and described else {})
            for t, _p in dist:
                if t not in learned:
                    learned[t] = text.score(kept, t)
            q = tool_model.probabilities(ctx, words) if tool_model is not None else {}
            for i, (tw, nw, dw) in enumerate(weights):
                mixed = {t: tw * learned[t] + nw * names.get(t, 0.0) + dw * about.get(t, 0.0)
                         for t, _p in dist}
                scored = reweight(dist, mixed, 1.0, END)
                for j, share in enumerate(mixes):
                    final = mix(scored, q, share, allowed) if share else scored
                    top = next((t for t, _p in final if t != END), None)
                    hits[i * len(mixes) + j] += top == tok
                    if per_call is not None:
                        per_call[i * len(mixes) + j].append(top == tok)
                    if log_probs is not None:
                        p = next((p for t, p in final if t == tok), 0.0)
                        log_probs[i * len(mixes) + j].append(math.log(max(p, MIN_P)))
    return hits


def select_config(
    sessions: list[list[Event]], offered: list[Offered] | None = None, unknown_rate: float = 0.0,
    docs: list[Docs] | None = None,
) -> Config:
    """(order, user_turns, average, text_weight, name_weight, doc_weight) with the most
    cross-validated top-1 hits. `offered`: the tools each session offered (None when not
    recorded), with `unknown_rate` the store's (unknowntools.py), so that the folds predict as
    the Predictor; `docs`: each session's tool descriptions (Trace.docs)."""
    num_folds = min(FOLDS, len(sessions))
    if num_folds < 2:
        return ORDER, True, False, 0.0, 0.0, 0.0
    tools: list[Offered] = list(offered) if offered is not None else [None] * len(sessions)
    described: list[Docs] = list(docs) if docs is not None else [None] * len(sessions)
    folds = [sessions[i::num_folds] for i in range(num_folds)]
    rests = [[s for j, fold in enumerate(folds) if j != i for s in fold] for i in range(num_folds)]
    tool_folds = [tools[i::num_folds] for i in range(num_folds)]
    splits = [([t for j, fold in enumerate(tool_folds) if j != i for t in fold], tool_folds[i])
              for i in range(num_folds)]
    texts = [_text_model(rest) for rest in rests]
    best, best_hits = (ORDER, True, False, 0.0, 0.0), -1
    configs = [
        (o, u, a)
        for o in range(1, ORDER + 2)
        for u in (True, False)
        for a in ((False, True) if o > 1 else (False,))
    ]
    for order, user_turns, average in configs:
        total = [0] * len(WEIGHTS)
        for i, held_out in enumerate(folds):
            hits = _hits(rests[i], held_out, order, user_turns, texts[i], average,
                         splits[i], unknown_rate)
            for w, h in enumerate(hits):
                total[w] += h
        for w, (tw, nw) in enumerate(WEIGHTS):
            if total[w] > best_hits:
                best, best_hits = (order, user_turns, average, tw, nw), total[w]
    if not any(described):
        return (*best, 0.0)
    order, user_turns, average = best[:3]
    grid = [(tw, nw, dw) for dw in DOC_WEIGHTS for nw in NAME_WEIGHTS for tw in TEXT_WEIGHTS]
    calls: list[list[bool]] = [[] for _ in grid]  # per weight: each held-out call's hit
    for i, held_out in enumerate(folds):
        _hits(rests[i], held_out, order, user_turns, texts[i], average, splits[i],
              unknown_rate, grid, described[i::num_folds], calls)
    total = [sum(hits) for hits in calls]
    chosen = (*best, 0.0)
    top = max(range(len(grid)), key=lambda w: (total[w], -w))
    if not grid[top][2] or total[top] <= best_hits:
        return chosen
    if wins_clearly(calls[grid.index((best[3], best[4], 0.0))], calls[top]):
        return (order, user_turns, average, *grid[top])
    return chosen


def select_tool_mix(sessions: list[list[Event]], config: Config,
                    offered: list[Offered] | None = None, unknown_rate: float = 0.0,
                    docs: list[Docs] | None = None) -> float:
    """The weight of the ToolModel in the mix (toolmodel.py) with the highest cross-validated
    log-likelihood of the held-out calls' kinds under the chosen control-flow `config`, if it
    beats no model clearly (`gains_clearly`), else 0: each fold's model is fitted on the
    other folds. Log-likelihood rather than top-1 hits: a weight that sharpens the
    distribution onto one kind can win at top 1 and crowd the other kinds out of a top 5."""
    num_folds = min(FOLDS, len(sessions))
    if num_folds < 2:
        return 0.0
    order, user_turns, average, tw, nw, dw = config
    tools: list[Offered] = list(offered) if offered is not None else [None] * len(sessions)
    described: list[Docs] = list(docs) if docs is not None else [None] * len(sessions)
    logs: list[list[float]] = [[] for _ in TOOL_MIXES]
    for i in range(num_folds):
        held_out = sessions[i::num_folds]
        rest = [s for j in range(num_folds) if j != i for s in sessions[j::num_folds]]
        rest_tools = [t for j in range(num_folds) if j != i for t in tools[j::num_folds]]
        model = ToolModel.fit(rest)
        if model is None:
            return 0.0
        _hits(rest, held_out, order, user_turns, None, average,
              (rest_tools, tools[i::num_folds]), unknown_rate, [(tw, nw, dw)],
              described[i::num_folds], None, (model, TOOL_MIXES), logs)
    total = [sum(x) for x in logs]
    best = max(range(len(TOOL_MIXES)), key=lambda m: (total[m], -m))
    return TOOL_MIXES[best] if best and gains_clearly(logs[0], logs[best]) else 0.0


def gains_clearly(base: list[float], new: list[float]) -> bool:
    """Whether `new` (per-call log probabilities of the truth) beats `base` on the same calls
    by more than two standard errors of the paired mean difference."""
    diffs = [b - a for a, b in zip(base, new, strict=True)]
    if len(diffs) < 2:
        return False
    mean = sum(diffs) / len(diffs)
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return mean > 2.0 * math.sqrt(var / len(diffs))


def wins_clearly(base: list[bool], new: list[bool]) -> bool:
    """Whether `new` (per-call hits) beats `base` on the same calls by more than one standard
    error: W - L > sqrt(W + L), W the calls only `new` hits, L those only `base` hits."""
    wins = sum(b and not a for a, b in zip(base, new, strict=True))
    losses = sum(a and not b for a, b in zip(base, new, strict=True))
    return wins - losses > math.sqrt(wins + losses)
