"""EngineCore: the synchronous step loop of one engine (driven by one thread).

    plan   = BatchLoop.schedule(now)      C++: what to compute this step
    logits = ModelRunner.forward(plan)    torch: the model over the plan's tokens
    logits  = adjust, then grammar mask   logit_bias / penalties / min_tokens, then JSON grammars
    tokens = Sampler.sample(logits)       one token per sequence that reached its last token
    events = BatchLoop.commit(tokens)     C++: append, stop token / length, free or park
    calls  = CallWatch.step(tokens)       C++: tool-call scanner + trie matcher, one batch each

Requests are keyed by the BatchLoop's sequence id. Stop strings are found in Python on the
detokenised text; such a request is freed in the loop right after the commit that produced it.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from paste.core import BatchLoop, BatchLoopConfig
from paste.engine.call_watch import CallWatch
from paste.engine.config import EngineConfig
from paste.engine.drafts import can_draft, common_prefix, verify
from paste.engine.grammar import Grammars
from paste.engine.logprobs import score_prompt_rows, token_logprobs
from paste.engine.lora import LoraInUseError, LoraNameError, load_adapter
from paste.engine.lora_runtime import LoraRuntime
from paste.engine.model_runner import ModelRunner
from paste.engine.penalties import LogitAdjustments, NoTokenError
from paste.engine.pooling import Pooler
from paste.engine.prediction import Predictions
from paste.engine.request import (
    Detokenizer,
    GenerationParams,
    Request,
    RequestOutput,
    TokenLogprob,
)
from paste.engine.sampler import Sampler, SamplingState
from paste.engine.step_costs import ROWS, measure_step_costs
from paste.errors import InvalidArgumentError

_FINISH = {1: "stop", 2: "length"}


def eos_token_ids(folder: Path, tokenizer: object) -> tuple[int, ...]:
    """End-of-turn ids: the tokenizer's eos plus generation_config.json's eos_token_id."""
    ids: set[int] = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    gen = folder / "generation_config.json"
    if gen.is_file():
        value = json.loads(gen.read_text()).get("eos_token_id")
        ids.update([value] if isinstance(value, int) else list(value or []))
    return tuple(sorted(ids))


def _rounds(
    seq_ids: list[int], tokens: list[int], reasons: list[int]
) -> list[tuple[list[int], list[int], list[int]]]:
    """A step's events (several per sequence, in token order, when drafts were accepted) as
    rounds of at most one per sequence: round r holds each sequence's r-th token."""
    if len(set(seq_ids)) == len(seq_ids):
        return [(seq_ids, tokens, reasons)]
    rounds: list[tuple[list[int], list[int], list[int]]] = []
    seen: dict[int, int] = {}
    for sid, tok, reason in zip(seq_ids, tokens, reasons, strict=True):
        r = seen.get(sid, 0)
        seen[sid] = r + 1
        if r == len(rounds):
            rounds.append(([], [], []))
        for column, value in zip(rounds[r], (sid, tok, reason), strict=True):
            column.append(value)
    return rounds


class EngineCore:
    """Owns the BatchLoop, the ModelRunner and the requests in flight."""

    def __init__(self, folder: Path, config: EngineConfig) -> None:
        self.config = config
        self.runner = ModelRunner(folder, config)
        self.tokenizer = self.runner.tokenizer
        bs = config.block_size
        self.max_model_len = min(
            config.max_model_len, self.runner.max_positions, self.runner.num_blocks * bs
        )
        vocab = self.runner.vocab_size
        self.max_logprobs = vocab if config.max_logprobs == -1 else min(config.max_logprobs,
                                                                        vocab)
        # What a step of r query rows costs, for the drafts' goodput (step_costs.py).
        self.draft_step_costs: list[float] = (
            measure_step_costs(self.runner, min(config.max_num_batched_tokens, ROWS[-1]))
            if config.num_draft_tokens > 0 and config.adaptive_drafts else [])
        self.loop = BatchLoop(
            BatchLoopConfig(
                num_blocks=self.runner.num_blocks,
                block_size=bs,
                max_num_seqs=config.max_num_seqs,
                max_num_batched_tokens=config.max_num_batched_tokens,
                max_model_len=self.max_model_len,
                enable_prefix_caching=config.enable_prefix_caching,
                draft_ngram_min=config.draft_ngram_min,
                draft_ngram_max=config.draft_ngram_max,
                draft_step_costs=self.draft_step_costs,
                max_loras=config.max_loras,
            )
        )
        self.sampler = Sampler(self.runner.device, seed=config.seed)
        self.eos_ids = eos_token_ids(Path(folder), self.tokenizer)
        self._skip = frozenset(int(i) for i in getattr(self.tokenizer, "all_special_ids", []))
        self.calls = CallWatch(self.tokenizer, self.runner.vocab_size)
        self.predictions = Predictions()
        self.grammars = Grammars(self.tokenizer, self.runner.vocab_size, list(self.eos_ids))
        self.pooler = Pooler()  # MEAN-pooled sequences' prompt-row sums (engine/pooling.py)
        self._stuck: dict[int, NoTokenError] = {}  # this step's rows that allowed no token
        self.adjustments = LogitAdjustments(
            self.runner.vocab_size, self.runner.device,
            lambda text: list(self.tokenizer.encode(text, add_special_tokens=False)))
        self.requests: dict[int, Request] = {}  # by sequence id, while a turn runs
        self.sessions: dict[str, int] = {}  # session key -> its sequence (parked between turns)
        self._idle_since: dict[str, float] = {}  # parked session key -> when its turn ended
        self._next_sweep = 0.0
        self._states: dict[int, SamplingState] = {}
        self._drafting: dict[int, int] = {}  # sequence -> draft tokens its turn may carry
        self._next_request_id = 0
        self.num_generated_tokens = 0
        self.num_steps = 0
        # Smoothed wall time of one step: how long a running sequence waits per decoded token
        # (used to estimate when a predicted call will be emitted). None until measured.
        self.step_time_s: float | None = None

    def add_request(
        self,
        prompt_ids: list[int],
        params: GenerationParams,
        priority: float = 0.0,
        session_key: str | None = None,
        pin_ttl_s: float = 30.0,
    ) -> Request:
        """Queues a request; raises InvalidArgumentError (nothing queued) for bad input.

        With a session_key the sequence is parked (KV pinned for pin_ttl_s) when the turn ends,
        so that continue_session() can append the next turn's new tokens to it.
        """
        if not prompt_ids:
            raise InvalidArgumentError("the prompt has no tokens")
        if session_key is not None:
            _check_session_turn(params)
        self._check_ids(prompt_ids, "prompt")
        if len(prompt_ids) >= self.max_model_len:
            raise InvalidArgumentError(
                f"prompt of {len(prompt_ids)} tokens leaves no room below max_model_len "
                f"{self.max_model_len}"
            )
        self._check(params)
        state = self.sampler.new_state(params.sampling())
        seq_id = self.loop.add_sequence(
            prompt_ids,
            max_tokens=params.num_tokens_allowed,
            stop_token_ids=self._stop_ids(params),
            priority=priority,
            park_on_finish=session_key is not None,
            pin_ttl_s=pin_ttl_s,
            prompt_logits=params.prompt_logprobs is not None
            or (params.pooling is not None and params.pooling.needs_prompt_rows),
            cache_salt=self._salt(params),
            lora_id=self._lora_id(params),
        )
        return self._register(seq_id, prompt_ids, params, state, session_key, pin_ttl_s)

    def continue_session(
        self,
        key: str,
        conversation_ids: list[int],
        params: GenerationParams,
        priority: float = 0.0,
        pin_ttl_s: float = 30.0,
    ) -> Request:
        """Next turn of session `key`, given its whole conversation as token ids.

        If the session's parked sequence is a prefix of the conversation and of the same
        cache salt, only the new tokens are appended (its KV was retained); otherwise it is
        dropped and a new sequence starts (the prefix cache still reuses whatever blocks of the
        turn's salt match).
        """
        _check_session_turn(params)
        seq_id = self.sessions.get(key)
        self._idle_since.pop(key, None)
        if seq_id is not None and self.loop.has_sequence(seq_id):
            have = self.loop.tokens(seq_id)
            parked = seq_id not in self.requests
            if (
                parked
                and self.loop.seq_info(seq_id).cache_salt == self._salt(params)
                and len(conversation_ids) > len(have)
                and conversation_ids[: len(have)] == have
            ):
                if len(conversation_ids) >= self.max_model_len:
                    raise InvalidArgumentError(
                        f"conversation of {len(conversation_ids)} tokens reaches max_model_len "
                        f"{self.max_model_len}"
                    )
                self._check_ids(conversation_ids[len(have):], "conversation")
                self._check(params)
                state = self.sampler.new_state(params.sampling())
                self.loop.resume(
                    seq_id,
                    conversation_ids[len(have) :],
                    max_tokens=params.num_tokens_allowed,
                    priority=priority,
                    stop_token_ids=self._stop_ids(params),  # this turn's, not the first's
                    pin_ttl_s=pin_ttl_s,
                )
                return self._register(seq_id, conversation_ids, params, state, key, pin_ttl_s)
            if parked:
                self.loop.free(seq_id)
        self.sessions.pop(key, None)
        return self.add_request(conversation_ids, params, priority, key, pin_ttl_s)

    def load_lora(self, name: str, path: str) -> None:
        """Serves the PEFT adapter at `path` as `name` from the next step on; LoraError for
        an adapter the engine cannot apply, LoraNameError for a name in use."""
        if self.runner.lora is not None and name in self.runner.lora.adapters:
            raise LoraNameError(f"LoRA adapter {name!r} is already loaded")
        adapter = load_adapter(name, path, self.runner.model, self.config.max_lora_rank)
        if self.runner.lora is None:
            self.runner.lora = LoraRuntime(self.runner.model, [])
        self.runner.lora.add(adapter)

    def unload_lora(self, name: str) -> None:
        """Stops serving adapter `name`; LoraNameError if it is not loaded, LoraInUseError
        while a request runs it (its KV cached so far is never hit again: lora_runtime.py)."""
        lora = self.runner.lora
        if lora is None or name not in lora.adapters:
            raise LoraNameError(f"LoRA adapter {name!r} is not loaded")
        users = sum(1 for r in self.requests.values() if r.params.lora == name)
        if users:
            raise LoraInUseError(f"LoRA adapter {name!r} is in use by {users} running "
                                 f"request(s)")
        lora.remove(name)

    def _lora_id(self, params: GenerationParams) -> int:
        """The scheduler's id of a request's adapter (max_loras): the serial of its load, 0 for
        the base model."""
        lora = self.runner.lora
        if params.lora is None or lora is None or params.lora not in lora.adapters:
            return 0
        return lora.namespace(params.lora)

    def _salt(self, params: GenerationParams) -> int:
        """The scheduler's prefix-cache namespace of a request: its cache_salt
        (GenerationParams.salt_id), with its LoRA adapter's load serial mixed in (KV computed
        under an adapter differs from the base model's, and an adapter loaded again under its
        name never hits KV its old weights computed)."""
        serial = self._lora_id(params)
        if serial == 0:
            return params.salt_id
        key = f"{params.salt_id}:{serial}".encode()
        return int.from_bytes(hashlib.sha256(key).digest()[:8], "little") or 1

    def reset_prefix_cache(self) -> int:
        """Forgets the prefix cache's content (the KV of sequences running or parked stays):
        the number of blocks evicted."""
        return int(self.loop.reset_prefix_cache())

    def end_session(self, key: str) -> None:
        """Frees a session's parked sequence (a running turn is aborted)."""
        seq_id = self.sessions.pop(key, None)
        self._idle_since.pop(key, None)
        if seq_id is None or not self.loop.has_sequence(seq_id):
            return
        req = self.requests.get(seq_id)
        if req is not None:
            req.session_key = None
            self.abort(req)
        else:
            self.loop.free(seq_id)

    def _check_ids(self, ids: list[int], what: str) -> None:
        """InvalidArgumentError for a token id the model does not have (it would fail the
        step of every request in the batch)."""
        vocab = self.runner.vocab_size
        if ids and not (0 <= min(ids) and max(ids) < vocab):
            bad = next(t for t in ids if not 0 <= t < vocab)
            raise InvalidArgumentError(
                f"{what} token id {bad} is outside the vocabulary [0, {vocab})")

    def _check(self, params: GenerationParams) -> None:
        """Typed errors, before anything is queued, for params this engine cannot honour."""
        self._check_ids(list(params.forced_tokens), "forced")
        self._check_ids(list(params.prediction), "prediction")
        for name in ("logprobs", "prompt_logprobs"):
            asked = getattr(params, name)
            if asked is not None and asked > self.max_logprobs:
                raise InvalidArgumentError(
                    f"{name} {asked} is above the engine's max_logprobs {self.max_logprobs} "
                    "(--max-logprobs)")
        self.calls.check(params)
        self.grammars.check(params)
        self.adjustments.check(params)
        lora = self.runner.lora
        if params.lora is not None and (lora is None or params.lora not in lora.adapters):
            served = "serves no LoRA adapters" if lora is None else (
                f"serves {', '.join(map(repr, lora.names))}")
            raise InvalidArgumentError(f"unknown LoRA adapter {params.lora!r}: this engine "
                                       f"{served} (--lora-modules)")

    def _stop_ids(self, params: GenerationParams) -> list[int]:
        return list(params.stop_token_ids) + ([] if params.ignore_eos else list(self.eos_ids))

    def _register(
        self,
        seq_id: int,
        prompt_ids: list[int],
        params: GenerationParams,
        state: SamplingState,
        session_key: str | None,
        pin_ttl_s: float,
    ) -> Request:
        req = Request(
            self._next_request_id,
            list(prompt_ids),
            params,
            Detokenizer(self.tokenizer, prompt_ids[-4:]),
            self._skip,
        )
        self._next_request_id += 1
        req.seq_id = seq_id
        req.session_key = session_key
        req.pin_ttl_s = pin_ttl_s
        self.requests[seq_id] = req
        self._states[seq_id] = state
        if params.pooling is not None:
            self.pooler.add(seq_id)
        drafts = params.num_draft_tokens
        if drafts is None:
            drafts = self.config.num_draft_tokens
        drafts = drafts if can_draft(params) else 0
        self.loop.set_num_draft_tokens(seq_id, drafts)
        if drafts:
            self._drafting[seq_id] = drafts
        self.calls.add(seq_id, params)
        self.predictions.add(seq_id, params)
        if self.predictions.counts(seq_id) is not None:
            req.prediction_counts = (0, 0)
        self.grammars.add(seq_id, params.grammar)
        self.adjustments.add(seq_id, params, prompt_ids, self._stop_ids(params))
        if session_key is not None:
            self.sessions[session_key] = seq_id
        return req

    def abort(self, req: Request, error: Exception | None = None) -> None:
        """Stops a request now (between steps) and frees its KV; `error`: why it failed
        (RequestOutput.error)."""
        if req.finished or req.seq_id not in self.requests:
            return
        if self.loop.has_sequence(req.seq_id):  # not if its last commit ended it
            self.loop.free(req.seq_id)
        if req.session_key is not None:
            self.sessions.pop(req.session_key, None)
        req.error = error
        req.finish("abort")
        self._forget(req.seq_id)

    def has_unfinished(self) -> bool:
        return self.loop.has_unfinished

    def step(self) -> list[RequestOutput]:
        """One engine step; outputs of every request that produced text or finished.

        If the model step fails, the scheduled step is abandoned uncommitted (the loop stays
        usable: the caller can abort the requests in flight and serve new ones) and the
        error is raised."""
        started = time.monotonic()
        if self._drafting or self.predictions:
            self._explicit_drafts()
        plan = self.loop.schedule(started)
        try:
            tokens, accepted, logprobs, sample_ids = self._compute(plan)
        except BaseException:
            self.loop.abandon_step()
            raise
        if self.predictions and accepted is not None:
            self._record_predictions(plan.sample_indptr.tolist(), accepted, sample_ids)
        for sid, reused in zip(
            plan.admitted_seq_ids.tolist(), plan.admitted_num_reused.tolist(), strict=True
        ):
            if sid in self.requests:
                self.requests[sid].num_cached_tokens = reused
        events = self.loop.commit(
            tokens.to("cpu", dtype=torch.int32).numpy()
            if sample_ids
            else np.zeros(0, dtype=np.int32),
            None if accepted is None else np.asarray(accepted, dtype=np.int32),
        )
        seq_ids, committed = events.seq_ids.tolist(), events.tokens.tolist()
        reasons = events.finish_reasons.tolist()
        touched: dict[int, Request] = {}  # in plan order, each request output once
        for round_ids, round_tokens, round_reasons in _rounds(seq_ids, committed, reasons):
            self._commit_round(round_ids, round_tokens, round_reasons, logprobs, started,
                               touched)
        outputs = [req.output() for req in touched.values()]
        if started >= self._next_sweep:
            self._end_idle_sessions(started)
        elapsed = time.monotonic() - started
        self.num_steps += 1
        self.step_time_s = elapsed if self.step_time_s is None else \
            0.9 * self.step_time_s + 0.1 * elapsed
        return outputs

    def _commit_round(self, seq_ids: list[int], committed: list[int], reasons: list[int],
                      logprobs: dict[int, TokenLogprob], started: float,
                      touched: dict[int, Request]) -> None:
        """Hands one committed token per sequence to its request and the token watchers (a
        step with accepted drafts commits several per sequence, in rounds)."""
        call_events = self.calls.step(seq_ids, committed)
        self.grammars.accept(seq_ids, committed)
        self.adjustments.accept(seq_ids, committed)
        for sid, tok, reason in zip(seq_ids, committed, reasons, strict=True):
            req = self.requests.get(sid)
            if req is None or req.finished:  # a stop string ended it on an earlier token
                continue
            touched[sid] = req
            if sid in self._stuck:  # its sample came from a row that allowed no token
                self.abort(req, self._stuck.pop(sid))
                continue
            self.num_generated_tokens += 1
            req.append(tok, logprobs.get(sid))
            req.call_events.extend(call_events.get(sid, ()))
            if reason:
                if not req.finished and tok in req.params.stop_token_ids:
                    req.stop_reason = tok  # a stop token the request named (not the EOS)
                req.finish(_FINISH[reason])
                self._forget(sid)  # freed by the loop already (or parked)
            elif req.finished:  # a stop string
                if req.session_key is not None:
                    self.loop.park(sid, time.monotonic() + req.pin_ttl_s)
                else:
                    self.loop.free(sid)
                self._forget(sid)
            if req.finished and req.session_key is not None:
                self._idle_since[req.session_key] = started

    def _end_idle_sessions(self, now: float) -> None:
        """Ends the sessions parked longer than config.session_idle_s (checked at most once
        a second)."""
        self._next_sweep = now + 1.0
        limit = now - self.config.session_idle_s
        for key in [k for k, t in self._idle_since.items() if t < limit]:
            self.end_session(key)

    def _compute(
        self, plan: Any
    ) -> tuple[torch.Tensor, list[int] | None, dict[int, TokenLogprob], list[int]]:
        """The model over `plan`: one token per sampled sequence (teacher forcing replaces
        the sample), how many draft tokens each accepted (None: the step had no drafts),
        their TokenLogprobs where asked, and the sampled sequence ids."""
        if self.runner.lora is not None:
            reqs = [self.requests.get(sid) for sid in plan.seq_ids.tolist()]
            self.runner.lora.set_rows([r.params.lora if r is not None else None for r in reqs],
                                      plan.query_start_loc)
        sample_ids = plan.sample_seq_ids.tolist()
        pooled = self.pooler.rows(sample_ids, plan.logits_indices, plan.sample_indptr)
        if len(plan.prompt_logits_seq_ids) or pooled:
            scored = plan.prompt_logits_indices
            logits, hidden = self.runner.forward_scoring(plan, np.concatenate(
                [scored, np.asarray([row for _, row in pooled], dtype=scored.dtype)]))
            self._score_prompts(plan, hidden[:len(scored)])
            for (sid, _row), last in zip(pooled, hidden[len(scored):], strict=True):
                req = self.requests[sid]
                assert req.params.pooling is not None
                req.embedding = self.pooler.finish(sid, last, req.params.pooling)
        else:
            logits = self.runner.forward(plan)
        drafted = logits.shape[0] > len(sample_ids)
        # Row of each sampler's last real token; a drafted sampler's draft rows follow it.
        indptr = plan.sample_indptr.tolist() if drafted else list(range(len(sample_ids) + 1))
        rows = indptr[:-1]
        row_seqs = [-1] * logits.shape[0]  # the undrafted rows adjustments and grammars act on
        for i, sid in enumerate(sample_ids):
            if indptr[i + 1] - indptr[i] == 1:
                row_seqs[indptr[i]] = sid
            else:  # drafted: never adjusted (drafts.can_draft); its grammar sees the drafts
                first = indptr[i] - i
                self.grammars.mask_drafted(logits[indptr[i] : indptr[i + 1]], sid,
                                           plan.draft_tokens[first : first + indptr[i + 1]
                                                             - indptr[i] - 1].tolist())
        wanted = [(i, sid) for i, sid in enumerate(sample_ids)
                  if self.requests[sid].params.logprobs is not None]
        raw = (logits[[rows[i] for i, _ in wanted]].float()  # a copy: adjusted in place below
               if wanted else None)  # the model's own distribution, before any mask
        self.adjustments.apply(logits, row_seqs)
        self.grammars.mask(logits, row_seqs)
        self._stuck = self.adjustments.emptied(logits, row_seqs, self.grammars)
        states = [self._states[s] for s in sample_ids]
        accepted: list[int] | None = None
        if drafted:
            tokens, accepted = verify(self.sampler, logits, plan.sample_indptr,
                                      plan.draft_tokens, states)
        else:
            tokens = self.sampler.sample(logits, states)
        for j, sid in enumerate(sample_ids):  # teacher forcing replaces the sample
            forced = self.requests[sid].params.forced_tokens
            if forced:
                done = len(self.requests[sid].output_ids)
                if accepted is not None:  # the drafts the forced output continues with
                    drafts = plan.draft_tokens[indptr[j] - j : indptr[j + 1] - j - 1].tolist()
                    accepted[j] = common_prefix(drafts, forced[done : done + len(drafts)])
                    done += accepted[j]
                tokens[j] = forced[done]
        logprobs: dict[int, TokenLogprob] = {}
        if raw is not None:  # each wanted sequence's token, with its top-k alternatives
            entries = token_logprobs(raw, [int(tokens[j]) for j, _ in wanted],
                                     [self.requests[sid].params.logprobs or 0
                                      for _, sid in wanted])
            logprobs = {sid: e for (_, sid), e in zip(wanted, entries, strict=True)}
        return tokens, accepted, logprobs, sample_ids

    def _score_prompts(self, plan: Any, hidden: torch.Tensor) -> None:
        """Fills Request.prompt_logprobs from the hidden states of the plan's prompt rows (the
        row of position p scores prompt token p + 1)."""
        indptr = plan.prompt_logits_indptr.tolist()
        positions = plan.positions[plan.prompt_logits_indices].tolist()
        for i, sid in enumerate(plan.prompt_logits_seq_ids.tolist()):
            req = self.requests[sid]
            if req.params.pooling is not None:  # MEAN pooling: the rows join the sum
                self.pooler.add_rows(sid, positions[indptr[i]], hidden[indptr[i]:indptr[i + 1]])
                continue
            assert req.prompt_logprobs is not None and req.params.prompt_logprobs is not None
            lo, hi = indptr[i], indptr[i + 1]
            scored = score_prompt_rows(self.runner.logits, hidden[lo:hi],
                                       [req.prompt_ids[p + 1] for p in positions[lo:hi]],
                                       req.params.prompt_logprobs)
            for p, entry in zip(positions[lo:hi], scored, strict=True):
                req.prompt_logprobs[p + 1] = entry

    def _explicit_drafts(self) -> None:
        """A drafting sequence inside a tool call that a predicted call still matches drafts
        that call's next tokens instead of a prompt-lookup guess (CallWatch.drafts); else a
        request with a predicted output drafts its next tokens (prediction.py)."""
        drafts = self.calls.drafts(self._drafting) if self._drafting else {}
        if self.predictions:
            outputs = {sid: self.requests[sid].output_ids for sid in self.predictions.seq_ids()}
            drafts.update(self.predictions.drafts(outputs, skip=drafts))
        if drafts:
            ids = list(drafts)
            self.loop.set_drafts(
                np.asarray(ids, dtype=np.int64),
                np.cumsum([0] + [len(drafts[s]) for s in ids], dtype=np.int32),
                np.asarray([t for s in ids for t in drafts[s]], dtype=np.int32))

    def _record_predictions(self, indptr: list[int], accepted: list[int],
                            sample_ids: list[int]) -> None:
        """The step's verdicts on the drafted sequences, for their prediction counts."""
        verdicts = {sid: (indptr[j + 1] - indptr[j] - 1, accepted[j])
                    for j, sid in enumerate(sample_ids) if indptr[j + 1] - indptr[j] > 1}
        self.predictions.record(verdicts)
        for sid in verdicts:
            counts = self.predictions.counts(sid)
            if counts is not None:
                self.requests[sid].prediction_counts = counts

    def _forget(self, seq_id: int) -> None:
        self._drafting.pop(seq_id, None)
        self.calls.remove(seq_id)
        self.predictions.remove(seq_id)
        self.grammars.remove(seq_id)
        self.pooler.remove(seq_id)
        self.adjustments.remove(seq_id)
        self.requests.pop(seq_id, None)
        self._states.pop(seq_id, None)


def _check_session_turn(params: GenerationParams) -> None:
    if params.pooling is not None:
        raise InvalidArgumentError("an embedding (pooling) is for a request without a session")
    if params.prompt_logprobs is not None:
        raise InvalidArgumentError(
            "prompt_logprobs are for a request without a session (a session's turn reuses "
            "the KV of the turns before it, so its prompt rows are not computed)")
