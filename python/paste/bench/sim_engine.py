"""SimulatedEngine: SIMULATED model time for trace replay, with the model's real tokenizer.

It implements exactly what paste.session uses of paste.engine.engine.Engine (`encode`,
`chat_prompt`, `submit`, `submit_turn`, `end_session`, `tokenizer`, `config.model`) but runs
no model: a turn must be teacher-forced (GenerationParams.forced_tokens; anything else raises
InvalidArgumentError) and its tokens come out of the handle one by one on a clock:

    token i of a turn is delivered at  submit + prefill_s + (step(i) + 1) / decode_tok_s
    prefill_s = (num_prompt_tokens - num_cached_tokens) / prefill_tok_s
    step(i) = i without drafts (below)

Rates are per session (sessions in the batch do not slow each other down). With `max_batch`,
at most that many turns decode at once; the others wait for a slot (BatchSlots: higher
priority first, then arrival) and their clock starts when admitted, so load beyond the
engine's saturation queues turns as a real scheduler does and co-scheduling priorities
matter. KV retention mirrors EngineCore.continue_session: after a `submit_turn` the
session's sequence (prompt + output tokens) stays parked; a next turn whose conversation
extends it reuses all of it except the last token (num_cached_tokens = len(parked) - 1, the
number the real engine reports); any other conversation, and every `submit` (no session), is
prefilled in full (no prefix cache; parked sequences never expire). Text deltas come from the
engine's own Detokenizer, special tokens are skipped exactly as the engine skips them, so the
session sees the same text as with the real engine for the same forced tokens. Outputs carry
no call_events (speculation falls back to the parser's calls); call_scan / call_candidates
only give predicted-call drafts (below).

Speculative decoding (GenerationParams.num_draft_tokens): a step commits the prompt-lookup
drafts the forced output continues with plus one token (`decode_steps`), at the cost of one
plain step: the GPU assumption that verifying a few draft tokens of a small batch costs what a
decode step does (decoding is memory-bound there; on this CPU it is not, bench_drafts). As in
the engine, inside a tool call a predicted call (call_candidates) still matches, the draft is
that call's next tokens (the engine's CallWatch, run over the forced tokens).

Defaults are PASTE's calibrated GPU rates: 113.7 decode tokens/s per session, 38112 prefill
tokens/s. Handles are iterated on the session's thread; the sleeping happens there.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paste.bench.batch_slots import BatchSlots
from paste.engine.chat import ChatPromptMixin
from paste.errors import InvalidArgumentError

DEFAULT_DECODE_TOK_S = 113.7
DEFAULT_PREFILL_TOK_S = 38112.0


@dataclass(frozen=True)
class SimulatedConfig:
    model: str
    decode_tok_s: float = DEFAULT_DECODE_TOK_S
    prefill_tok_s: float = DEFAULT_PREFILL_TOK_S


class SimulatedHandle:
    """Like paste.engine.engine.RequestHandle: iterate for RequestOutputs; `final`, abort()."""

    def __init__(
        self,
        engine: SimulatedEngine,
        request_id: int,
        prompt: list[int],
        forced: tuple[int, ...],
        num_cached: int,
        on_finish: Any,
        priority: float = 0.0,
        num_draft_tokens: int = 0,
        params: Any = None,
    ) -> None:
        self._engine, self._id = engine, request_id
        self._drafts, self._params = num_draft_tokens, params
        self._priority = priority
        self._prompt, self._forced, self._cached = prompt, forced, num_cached
        self._on_finish = on_finish
        self._submitted = time.monotonic()
        self._aborted = threading.Event()
        self.final: Any = None

    def __iter__(self) -> Iterator[Any]:
        from paste.engine.request import RequestOutput

        eng = self._engine
        if not eng.slots.acquire(self._priority, self._aborted):
            self.final = RequestOutput(self._id, "", "", [], True, "abort", len(self._prompt),
                                       self._cached, {})
            yield self.final
            return
        try:
            yield from self._decode()
        finally:
            eng.slots.release()

    def _decode(self) -> Iterator[Any]:
        from paste.engine.request import Detokenizer, RequestOutput

        eng = self._engine
        self._submitted = time.monotonic()  # admitted into the batch: the clock starts
        detok = Detokenizer(eng.tokenizer, self._prompt[-4:])
        prefill_s = (len(self._prompt) - self._cached) / eng.config.prefill_tok_s
        step_s = 1.0 / eng.config.decode_tok_s
        steps = eng.decode_steps(self._prompt, self._forced, self._drafts, self._params)
        ids: list[int] = []
        text = ""
        ttft: float | None = None
        for i, token in enumerate(self._forced):
            if self.final is not None:
                return
            wait = self._submitted + prefill_s + (steps[i] + 1) * step_s - time.monotonic()
            if wait > 0 and self._aborted.wait(wait):
                break
            ids.append(token)
            ttft = ttft if ttft is not None else time.monotonic() - self._submitted
            delta = "" if token in eng.skip_ids else detok.push(token)
            text += delta
            stop = token in eng.eos_ids or i == len(self._forced) - 1
            reason = ("stop" if token in eng.eos_ids else "length") if stop else None
            out = RequestOutput(
                self._id,
                text,
                delta,
                list(ids),
                stop,
                reason,
                len(self._prompt),
                self._cached,
                {"ttft_s": ttft},
            )
            if stop:
                self.final = out
                self._on_finish(ids)
            yield out
            if stop:
                return
        out = RequestOutput(
            self._id,
            text,
            "",
            list(ids),
            True,
            "abort",
            len(self._prompt),
            self._cached,
            {} if ttft is None else {"ttft_s": ttft},
        )
        self.final = out
        yield out

    def result(self) -> Any:
        for _ in self:
            pass
        return self.final

    def abort(self) -> None:
        self._aborted.set()


class SimulatedEngine(ChatPromptMixin):
    """See the module docstring. Thread-safe: many sessions submit concurrently."""

    def __init__(
        self,
        model: str,
        decode_tok_s: float = DEFAULT_DECODE_TOK_S,
        prefill_tok_s: float = DEFAULT_PREFILL_TOK_S,
        max_batch: int | None = None,
    ) -> None:
        from paste.engine.core import eos_token_ids
        from paste.engine.model_runner import load_tokenizer
        from paste.models.store import resolve_model

        if decode_tok_s <= 0 or prefill_tok_s <= 0:
            raise InvalidArgumentError("--decode-tok-s and --prefill-tok-s must be > 0")
        folder = Path(resolve_model(model))
        self.config = SimulatedConfig(model, decode_tok_s, prefill_tok_s)
        self.tokenizer = load_tokenizer(folder)
        self.eos_ids = frozenset(eos_token_ids(folder, self.tokenizer))
        self.skip_ids = frozenset(int(i) for i in getattr(self.tokenizer, "all_special_ids", []))
        self.slots = BatchSlots(max_batch)
        self._parked: dict[str, list[int]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._watch: Any = None  # CallWatch of predicted-call drafts (prepare_call_drafts)
        self._watch_lock = threading.Lock()

    @property
    def step_time_s(self) -> float:
        """Seconds per decode step (what the speculator's time-to-call estimate needs)."""
        return 1.0 / self.config.decode_tok_s

    def submit(
        self, prompt: str | Sequence[int], params: Any = None, priority: float = 0.0
    ) -> SimulatedHandle:
        return self._handle(self.encode(prompt), params, 0, lambda _ids: None, priority)

    def submit_turn(
        self,
        session_key: str,
        conversation: Sequence[int],
        params: Any = None,
        priority: float = 0.0,
        pin_ttl_s: float = 30.0,
    ) -> SimulatedHandle:
        ids = [int(t) for t in conversation]
        with self._lock:
            have = self._parked.pop(session_key, None)
        cached = 0
        if have is not None and len(ids) > len(have) and ids[: len(have)] == have:
            cached = len(have) - 1

        def park(output: list[int]) -> None:
            with self._lock:
                self._parked[session_key] = ids + output

        return self._handle(ids, params, cached, park, priority)

    def end_session(self, session_key: str) -> None:
        with self._lock:
            self._parked.pop(session_key, None)

    def shutdown(self) -> None:
        with self._lock:
            self._parked.clear()

    def _handle(self, ids: list[int], params: Any, cached: int, on_finish: Any,
                priority: float = 0.0) -> SimulatedHandle:
        forced = tuple(getattr(params, "forced_tokens", ()) or ())
        if not forced:
            raise InvalidArgumentError(
                "SimulatedEngine replays teacher-forced turns only (GenerationParams.forced_tokens)"
            )
        if not ids:
            raise InvalidArgumentError("the prompt has no tokens")
        drafts = getattr(params, "num_draft_tokens", None) or 0
        return SimulatedHandle(self, next(self._ids), ids, forced, cached, on_finish, priority,
                               drafts, params)

    def prepare_call_drafts(self) -> None:
        """Builds the CallWatch of predicted-call drafts once. Its JSON scanner (the replay's
        format) reads the whole vocabulary (~0.4 s): a replay with drafting modes calls this
        before any timed turn; otherwise the first drafted turn with candidates builds it."""
        if self._watch is not None:
            return
        from paste.engine.call_watch import CallWatch
        from paste.engine.request import GenerationParams
        from paste.speculation.rendering import scan_for_format

        watch = CallWatch(self.tokenizer, len(self.tokenizer))
        watch.check(GenerationParams(call_scan=scan_for_format("json")))
        self._watch = watch

    def decode_steps(self, prompt: list[int], forced: tuple[int, ...], num_draft_tokens: int,
                     params: Any) -> list[int]:
        """decode_steps() for one turn, with its predicted calls as drafts when the turn
        carries them (GenerationParams.call_scan / call_candidates): one CallWatch of this
        engine's tokenizer, used by one turn at a time."""
        if (num_draft_tokens <= 0 or getattr(params, "call_scan", None) is None
                or not getattr(params, "call_candidates", ())):
            return decode_steps(prompt, forced, num_draft_tokens)
        with self._watch_lock:
            self.prepare_call_drafts()
            self._watch.add(0, params)
            try:
                return decode_steps(prompt, forced, num_draft_tokens, calls=self._watch)
            finally:
                self._watch.remove(0)


def decode_steps(prompt: list[int], forced: tuple[int, ...], num_draft_tokens: int,
                 ngram_min: int = 2, ngram_max: int = 4, calls: Any = None) -> list[int]:
    """The decode step (0, 1, ...) in which each forced token is committed. Without drafts,
    token i in step i; with them, each step commits the drafts that the forced output
    continues with, plus one token, as the real engine does for a forced turn
    (engine/drafts.py): inside a tool call that a predicted call still matches, that call's
    next tokens (`calls`: a CallWatch already watching sequence 0 for this turn, advanced here
    token by token), else prompt lookup (the engine's own proposer, EngineConfig defaults)."""
    if num_draft_tokens <= 0:
        return list(range(len(forced)))
    import numpy as np

    from paste.core import propose_ngram_draft
    from paste.engine.drafts import common_prefix

    tokens = np.asarray(list(prompt) + list(forced), dtype=np.int32)
    steps: list[int] = []
    step = 0
    while len(steps) < len(forced):
        done = len(steps)
        room = min(num_draft_tokens, len(forced) - done - 1)
        draft = calls.drafts({0: room}).get(0) if calls is not None and room else None
        if draft is None:
            draft = (propose_ngram_draft(tokens[: len(prompt) + done], ngram_min, ngram_max,
                                         room).tolist() if room else [])
        accepted = common_prefix(draft, forced[done : done + len(draft)])
        steps += [step] * (accepted + 1)
        if calls is not None:
            for token in forced[done : done + accepted + 1]:
                calls.step([0], [int(token)])
        step += 1
    return steps
