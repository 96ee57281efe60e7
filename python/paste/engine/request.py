"""Requests of the engine: parameters, incremental detokenisation, stop strings, outputs.

Detokenisation is incremental and linear: a request keeps two offsets into its output tokens,
`prefix` (tokens already turned into text, kept as left context) and `read` (tokens decoded so
far). Each step decodes only tokens[prefix:] and emits the text beyond tokens[prefix:read]; a
trailing U+FFFD (an incomplete UTF-8 sequence split across tokens) is held back until the next
token completes it.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

from paste.engine.call_events import CallEvent, CallScan, ReasoningGate, check_candidates
from paste.engine.grammar import GrammarSpec
from paste.engine.pooling import PoolingParams
from paste.engine.sampler import SamplingParams
from paste.errors import InvalidArgumentError


@dataclass(frozen=True)
class GenerationParams:
    """What to generate: sampling, limits and stop conditions of one request."""

    max_tokens: int = 256
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    stop_token_ids: tuple[int, ...] = ()
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    # Teacher forcing: decode exactly these tokens (real forward passes, known outputs), used
    # by trace replay and scripted agents. The turn ends after them (or at a stop token).
    forced_tokens: tuple[int, ...] = ()
    # Tool calls (engine/call_events.py): the format the engine's scanner watches the output
    # for, and predicted calls as (candidate id, token ids) for its trie matcher; their events
    # arrive on RequestOutput.call_events in the step they happen.
    call_scan: CallScan | None = None
    call_candidates: tuple[tuple[int, tuple[int, ...]], ...] = ()
    # A reasoning model's thinking is not scanned: calls are watched from where it closes.
    call_reasoning: ReasoningGate | None = None
    # Constrained decoding (engine/grammar.py): the output must match this grammar.
    grammar: GrammarSpec | None = None
    # Log-probabilities: None = off; k = each output token's logprob under the model's own
    # distribution (the raw logits, before temperature, top-k/p and grammar) and the k most
    # likely tokens' (TokenLogprob).
    logprobs: int | None = None
    # Prompt log-probabilities (scoring, vLLM's prompt_logprobs): None = off; k = each prompt
    # token's logprob given the tokens before it, its rank and the k most likely tokens'
    # (RequestOutput.prompt_logprobs; the first token has none). Every prompt row is computed:
    # no cached prefix is reused. Not for a session's turns.
    prompt_logprobs: int | None = None
    # Logit adjustments (engine/penalties.py): bias per token id (-100..100), OpenAI's
    # presence / frequency penalties (-2..2, this turn's output), vLLM's repetition penalty
    # (> 0, 1 = off; prompt and output), and end-of-turn tokens forbidden until min_tokens.
    logit_bias: tuple[tuple[int, float], ...] = ()
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    repetition_penalty: float = 1.0
    min_tokens: int = 0
    # vLLM's allowed_token_ids (sample only these; empty = any) and bad_words (never write
    # these words: the engine bans a word's last token where its other tokens were just
    # written; each word as the tokenizer writes it alone and after a space).
    allowed_token_ids: tuple[int, ...] = ()
    bad_words: tuple[str, ...] = ()
    # Nucleus by ratio: drop tokens whose probability is below min_p x the top one's.
    min_p: float = 0.0
    # Speculative decoding (engine/drafts.py): draft tokens per step for this request; None =
    # the engine's EngineConfig.num_draft_tokens, 0 = none.
    num_draft_tokens: int | None = None
    # A predicted output (OpenAI's `prediction`, engine/prediction.py): token ids most of the
    # output is expected to copy, drafted after the output so far; the output is unchanged.
    prediction: tuple[int, ...] = ()
    # Prefix-cache namespace (vLLM's cache_salt): the request shares cached KV blocks only with
    # requests of the same salt, so a tenant that salts its requests neither reuses another's
    # prefixes nor can time whether another sent one. None = the common namespace.
    cache_salt: str | None = None
    # A LoRA adapter of the engine (EngineConfig.lora_modules) to run this request with;
    # None = the base model. Its prompt KV is cached apart from the base model's.
    lora: str | None = None
    # An embedding (engine/pooling.py): the prompt pooled from the model's hidden states into
    # RequestOutput.embedding; the request ends at its prompt (max_tokens must be 1, its one
    # sampled token is not part of the answer). Not with a grammar, forced tokens, prompt
    # logprobs or drafts, nor for a session's turns.
    pooling: PoolingParams | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.max_tokens < 2**31:
            raise InvalidArgumentError(f"max_tokens must be in [1, 2**31), got {self.max_tokens}")
        if self.seed is not None and not 0 <= self.seed < 2**63:
            raise InvalidArgumentError(f"seed must be in [0, 2**63), got {self.seed}")
        if any(t < 0 for t in self.forced_tokens):
            raise InvalidArgumentError("forced_tokens must be non-negative token ids")
        if any(not isinstance(s, str) or s == "" for s in self.stop):
            raise InvalidArgumentError("stop strings must be non-empty strings")
        check_candidates(self.call_candidates, self.call_scan)
        if self.call_reasoning is not None and self.call_scan is None:
            raise InvalidArgumentError("call_reasoning needs a call_scan (what to watch after "
                                       "the thinking)")
        for name in ("logprobs", "prompt_logprobs"):
            value = getattr(self, name)
            if value is not None and value < 0:  # the engine checks its max_logprobs
                raise InvalidArgumentError(f"{name} must be >= 0 or None, got {value}")
        if self.num_draft_tokens is not None and not 0 <= self.num_draft_tokens <= 64:
            raise InvalidArgumentError(
                f"num_draft_tokens must be in [0, 64] or None, got {self.num_draft_tokens}")
        if self.grammar is not None and self.forced_tokens:
            raise InvalidArgumentError("a request cannot have both a grammar and forced_tokens")
        if self.cache_salt is not None and (not isinstance(self.cache_salt, str)
                                            or not self.cache_salt):
            raise InvalidArgumentError(
                f"cache_salt must be a non-empty string or None, got {self.cache_salt!r}")
        if self.lora is not None and (not isinstance(self.lora, str) or not self.lora):
            raise InvalidArgumentError(f"lora must be a non-empty string or None, got "
                                       f"{self.lora!r}")
        self._check_adjustments()
        self.sampling()  # typed errors for temperature, top_k, top_p, min_p now

    def _check_adjustments(self) -> None:
        for name in ("presence_penalty", "frequency_penalty"):
            value = getattr(self, name)
            if not -2.0 <= value <= 2.0:  # also rejects NaN
                raise InvalidArgumentError(f"{name} must be in [-2, 2], got {value}")
        if not 0.0 < self.repetition_penalty < math.inf:
            raise InvalidArgumentError(
                f"repetition_penalty must be > 0 and finite, got {self.repetition_penalty}")
        if any(not isinstance(t, int) or t < 0 for t in self.allowed_token_ids):
            raise InvalidArgumentError("allowed_token_ids must be non-negative token ids")
        if any(not isinstance(w, str) or not w.strip() for w in self.bad_words):
            raise InvalidArgumentError("bad_words must be non-blank strings")
        for entry in self.logit_bias:
            if (not isinstance(entry, tuple) or len(entry) != 2
                    or not isinstance(entry[0], int) or not -100.0 <= entry[1] <= 100.0):
                raise InvalidArgumentError(
                    f"logit_bias entries must be (token id, bias in [-100, 100]), got {entry!r}")
        if len({t for t, _ in self.logit_bias}) != len(self.logit_bias):
            raise InvalidArgumentError("logit_bias names a token id twice")
        if not 0 <= self.min_tokens <= self.max_tokens:
            raise InvalidArgumentError(
                f"min_tokens must be in [0, max_tokens={self.max_tokens}], got {self.min_tokens}")
        if self.min_tokens and self.grammar is not None:
            raise InvalidArgumentError(
                "a request cannot have both a grammar and min_tokens (the grammar decides "
                "where the output ends)")
        if self.pooling is not None:
            self._check_pooling()
        if self.ignore_eos and self.grammar is not None:
            # the grammar's matcher ends at the end-of-turn token; ignored, nothing could follow
            raise InvalidArgumentError(
                "a request cannot have both a grammar and ignore_eos (the grammar decides "
                "where the output ends)")

    @property
    def adjusts_logits(self) -> bool:
        """Whether any logit adjustment of engine/penalties.py is asked for."""
        return bool(self.logit_bias or self.min_tokens or self.presence_penalty
                    or self.frequency_penalty or self.repetition_penalty != 1.0
                    or self.allowed_token_ids or self.bad_words)

    @property
    def num_tokens_allowed(self) -> int:
        return len(self.forced_tokens) if self.forced_tokens else self.max_tokens

    @property
    def salt_id(self) -> int:
        """cache_salt as the scheduler's 64-bit prefix-cache namespace: 0 for none, else 8
        bytes of its SHA-256 (never 0, so no salt falls into the common namespace). The
        engine mixes in the LoRA adapter's load (EngineCore._salt)."""
        if self.cache_salt is None:
            return 0
        digest = hashlib.sha256(self.cache_salt.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "little") or 1

    def _check_pooling(self) -> None:
        if not isinstance(self.pooling, PoolingParams):
            raise InvalidArgumentError(f"pooling must be PoolingParams, got {self.pooling!r}")
        conflicts = _pooling_conflicts(self)
        if conflicts:
            raise InvalidArgumentError(
                f"a pooled request (an embedding) ends at its prompt: not with "
                f"{', '.join(conflicts)}")

    def sampling(self) -> SamplingParams:
        return SamplingParams(
            temperature=self.temperature, top_k=self.top_k, top_p=self.top_p, seed=self.seed,
            min_p=self.min_p,
        )


MAX_LOGPROBS = 20  # EngineConfig.max_logprobs' default: the alternatives a token may carry


@dataclass(frozen=True)
class TokenLogprob:
    """One token's log-probability, the `top` most likely tokens' (id, logprob), most likely
    first, and its rank in the model's distribution (1 = the most likely; ties share the best
    rank) (GenerationParams.logprobs / prompt_logprobs)."""

    token_id: int
    logprob: float
    top: tuple[tuple[int, float], ...] = ()
    rank: int | None = None


@dataclass
class RequestOutput:
    """A request's state as seen by a caller: `delta` is the text added since the last output."""

    request_id: int
    text: str
    delta: str
    token_ids: list[int]
    finished: bool
    finish_reason: str | None  # "stop", "length", "abort" or None
    num_prompt_tokens: int
    num_cached_tokens: int
    metrics: dict[str, float] = field(default_factory=dict)
    call_events: list[CallEvent] = field(default_factory=list)  # this step's (call_events.py)
    logprobs: list[TokenLogprob] | None = None  # one per token_ids entry, when asked for
    # One per prompt token when asked for (GenerationParams.prompt_logprobs): None for the
    # first; complete from the first output on.
    prompt_logprobs: list[TokenLogprob | None] | None = None
    # vLLM's stop_reason: the stop string or stop token id (GenerationParams.stop /
    # stop_token_ids) that finished the request; None for anything else (the model's own
    # end-of-turn token, a length limit, an abort)
    stop_reason: int | str | None = None
    # The pooled prompt (GenerationParams.pooling), in the request's finished output.
    embedding: list[float] | None = None
    # Why an aborted request failed (the engine's handles raise it instead of the output):
    # e.g. penalties.NoTokenError, when its constraints left no token to sample.
    error: Exception | None = None


class Detokenizer:
    """Turns a growing list of token ids into text deltas (see the module docstring)."""

    def __init__(self, tokenizer: Any, prompt_tail: list[int]) -> None:
        self._tok = tokenizer
        self._ids: list[int] = list(prompt_tail)  # left context so the first word spaces right
        self._prefix = 0
        self._read = len(self._ids)

    def push(self, token_id: int) -> str:
        self._ids.append(token_id)
        prev = self._tok.decode(self._ids[self._prefix : self._read], skip_special_tokens=False)
        full = self._tok.decode(self._ids[self._prefix :], skip_special_tokens=False)
        if full.endswith("\ufffd") or len(full) <= len(prev):
            return ""
        delta = full[len(prev) :]
        self._prefix, self._read = self._read, len(self._ids)
        return delta


def _pooling_conflicts(params: GenerationParams) -> list[str]:
    return [name for name, on in (
        ("max_tokens other than 1", params.max_tokens != 1), ("a grammar", params.grammar),
        ("forced_tokens", params.forced_tokens), ("prompt_logprobs", params.prompt_logprobs),
        ("drafts", params.num_draft_tokens), ("a prediction", params.prediction)) if on]


class Request:
    """Engine-side state of one generation request (owned by the engine thread)."""

    def __init__(
        self,
        request_id: int,
        prompt_ids: list[int],
        params: GenerationParams,
        detokenizer: Detokenizer,
        skip_token_ids: frozenset[int],
    ) -> None:
        self.request_id = request_id
        self.prompt_ids = prompt_ids
        self.params = params
        self.output_ids: list[int] = []
        self.text = ""
        self.finished = False
        self.finish_reason: str | None = None
        self.num_cached_tokens = 0
        self.seq_id = -1
        self.session_key: str | None = None
        self.pin_ttl_s = 30.0
        self._detok = detokenizer
        self._skip = skip_token_ids
        self._max_stop = max((len(s) for s in params.stop), default=0)
        self.arrival_time = time.perf_counter()
        self.first_token_time: float | None = None
        self.last_token_time: float | None = None
        self._emitted = 0
        self.call_events: list[CallEvent] = []  # since the last output()
        self.logprobs: list[TokenLogprob] | None = [] if params.logprobs is not None else None
        self.stop_reason: int | str | None = None  # RequestOutput.stop_reason
        # (accepted, rejected) drafted prediction tokens (engine/prediction.py); None: no
        # prediction followed
        self.prediction_counts: tuple[int, int] | None = None
        self.prompt_logprobs: list[TokenLogprob | None] | None = (
            None if params.prompt_logprobs is None else [None] * len(prompt_ids))
        self.embedding: list[float] | None = None  # set when the prompt is pooled
        self.error: Exception | None = None  # RequestOutput.error

    def append(self, token_id: int, logprob: TokenLogprob | None = None) -> None:
        """Adds a sampled token (with its TokenLogprob when the request asked for them); a
        stop string found in the text cuts it and finishes."""
        self.last_token_time = time.perf_counter()
        if self.first_token_time is None:
            self.first_token_time = self.last_token_time
        self.output_ids.append(token_id)
        if self.logprobs is not None and logprob is not None:
            self.logprobs.append(logprob)
        if token_id in self._skip:
            return
        if token_id in self.params.stop_token_ids and not self.params.include_stop_str_in_output:
            return  # it ends the turn; its text is not part of the answer (as vLLM)
        delta = self._detok.push(token_id)
        if not delta:
            return
        start = max(0, len(self.text) - self._max_stop + 1)
        self.text += delta
        for stop in self.params.stop:
            at = self.text.find(stop, start)
            if at >= 0:
                cut = at + len(stop) if self.params.include_stop_str_in_output else at
                self.text = self.text[:cut]
                if not self.finished:
                    self.stop_reason = stop
                self.finish("stop")
                return

    def take_delta(self) -> str:
        """Text not yet handed out. While running, a tail that could still grow into a stop
        string is held back, so emitted text is never retracted."""
        end = len(self.text)
        if not self.finished:
            for stop in self.params.stop:
                for k in range(min(len(stop) - 1, end), 0, -1):
                    if self.text.endswith(stop[:k]):
                        end = min(end, len(self.text) - k)
                        break
        end = max(end, self._emitted)
        delta = self.text[self._emitted : end]
        self._emitted = end
        return delta

    def finish(self, reason: str) -> None:
        if not self.finished:
            self.finished, self.finish_reason = True, reason

    def output(self) -> RequestOutput:
        """A snapshot for the caller, carrying the text added since the previous one."""
        delta = self.take_delta()
        metrics = {}
        if self.first_token_time is not None:
            metrics["ttft_s"] = self.first_token_time - self.arrival_time
        if self.last_token_time is not None and len(self.output_ids) > 1:
            metrics["tpot_s"] = ((self.last_token_time - (self.first_token_time or 0.0))
                                 / (len(self.output_ids) - 1))
        if self.prediction_counts is not None:
            metrics["accepted_prediction_tokens"] = float(self.prediction_counts[0])
            metrics["rejected_prediction_tokens"] = float(self.prediction_counts[1])
        events, self.call_events = self.call_events, []
        return RequestOutput(
            self.request_id,
            self.text,
            delta,
            list(self.output_ids),
            self.finished,
            self.finish_reason,
            len(self.prompt_ids),
            self.num_cached_tokens,
            metrics,
            events,
            None if self.logprobs is None else list(self.logprobs),
            self.prompt_logprobs,  # filled before the first token; not changed after it
            self.stop_reason,
            self.embedding if self.finished else None,
            self.error,
        )
