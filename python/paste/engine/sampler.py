"""Batched token sampling: greedy, temperature, top-k, top-p, min-p, per-request seeds.

One call samples one token for each of m rows of float32 logits [m, vocab]:

    greedy rows (temperature == 0 or top_k == 1):  argmax of the raw logits (first max wins)
    other rows:  logits / temperature -> keep top_k -> keep top_p nucleus -> softmax
                 -> drop tokens below min_p x the most likely one's probability -> draw

The draw uses the exponential-race form of categorical sampling: token = argmax(p / E) with
E ~ Exp(1) i.i.d., which picks token i with probability p_i. Each request owns its noise
source: a seeded request has its own torch.Generator (`SamplingState`), so its tokens depend
only on its seed and its own logits, never on which other requests share the batch;
unseeded requests draw from one sampler-wide generator.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from paste.errors import InvalidArgumentError


class InvalidSamplingParamsError(InvalidArgumentError):
    """A sampling parameter outside its range."""


@dataclass(frozen=True)
class SamplingParams:
    """How one request picks tokens.

    temperature: 0 means greedy; > 0 divides the logits. top_k: keep the k most likely
    tokens, 0 (or -1) keeps all. top_p: keep the smallest most-likely set whose probability
    reaches top_p, 1.0 keeps all. min_p: keep the tokens whose probability is at least
    min_p times the most likely token's (after temperature, top-k and top-p), 0 keeps all.
    seed: makes the request's draws reproducible.
    """

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    seed: int | None = None
    min_p: float = 0.0

    def __post_init__(self) -> None:
        if not self.temperature >= 0.0:  # also rejects NaN
            raise InvalidSamplingParamsError(f"temperature must be >= 0, got {self.temperature}")
        if self.top_k < -1:
            raise InvalidSamplingParamsError(f"top_k must be >= 0 (or -1), got {self.top_k}")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidSamplingParamsError(f"top_p must be in (0, 1], got {self.top_p}")
        if not 0.0 <= self.min_p <= 1.0:
            raise InvalidSamplingParamsError(f"min_p must be in [0, 1], got {self.min_p}")

    @property
    def is_greedy(self) -> bool:
        return self.temperature == 0.0 or self.top_k == 1


@dataclass
class SamplingState:
    """A request's parameters plus its private generator (None: use the sampler's shared one).

    Create once per request (Sampler.new_state) and pass the same object every step, so a
    seeded request continues its own random stream.
    """

    params: SamplingParams
    generator: torch.Generator | None = None


def apply_top_k_top_p(
    logits: torch.Tensor, top_k: torch.Tensor, top_p: torch.Tensor
) -> torch.Tensor:
    """Logits [m, V] with every token outside each row's top-k / top-p set set to -inf.

    top_k [m] int (<= 0 keeps all), top_p [m] float (>= 1 keeps all). Top-k is applied
    first; top-p then keeps token j (in descending order) iff the probability mass of the
    tokens before it is < top_p, so the most likely token is always kept.
    """
    sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)
    vocab = logits.shape[-1]
    ranks = torch.arange(vocab, device=logits.device).unsqueeze(0)
    k = torch.where(top_k > 0, top_k, torch.full_like(top_k, vocab)).unsqueeze(1)
    sorted_logits = sorted_logits.masked_fill(ranks >= k, float("-inf"))
    probs = torch.softmax(sorted_logits, dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs
    drop = (mass_before >= top_p.unsqueeze(1)) & (top_p < 1.0).unsqueeze(1)
    sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
    return torch.full_like(logits, float("-inf")).scatter(-1, order, sorted_logits)


class Sampler:
    """Samples one token per row; see the module docstring for the algorithm."""

    def __init__(self, device: torch.device | str = "cpu", seed: int | None = None) -> None:
        self.device = torch.device(device)
        self._shared = torch.Generator(device=self.device)
        if seed is None:
            self._shared.seed()
        else:
            self._shared.manual_seed(seed)

    def new_state(self, params: SamplingParams) -> SamplingState:
        """A request's sampling state: its own generator if it has a seed."""
        if params.seed is None:
            return SamplingState(params)
        generator = torch.Generator(device=self.device)
        generator.manual_seed(params.seed)
        return SamplingState(params, generator)

    def sample(self, logits: torch.Tensor, states: Sequence[SamplingState]) -> torch.Tensor:
        """Token ids [m] (int64) for logits [m, V] and one state per row."""
        if logits.dim() != 2 or logits.shape[0] != len(states):
            raise InvalidSamplingParamsError(
                f"need logits [m, V] with m == {len(states)} states, got {tuple(logits.shape)}"
            )
        logits = logits.float()
        tokens = logits.argmax(dim=-1)
        rows = [i for i, state in enumerate(states) if not state.params.is_greedy]
        if not rows:
            return tokens
        probs = probabilities(logits[rows], [states[i].params for i in rows])
        tokens[rows] = self.draw(probs, [states[i] for i in rows])
        return tokens

    def uniform(self, n: int, state: SamplingState) -> torch.Tensor:
        """n draws of U[0, 1) from the state's noise source (its own generator, or the
        sampler's shared one)."""
        generator = state.generator if state.generator is not None else self._shared
        return torch.rand(n, generator=generator, device=self.device)

    def draw(self, probs: torch.Tensor, states: Sequence[SamplingState]) -> torch.Tensor:
        """One token per row of probs [k, V] (unnormalised weights are fine: the race is
        scale-free), row j drawn with states[j]'s noise source."""
        noise = torch.empty_like(probs)
        shared = [j for j, state in enumerate(states) if state.generator is None]
        for j, state in enumerate(states):
            if state.generator is not None:
                noise[j].exponential_(generator=state.generator)
        if shared:
            shared_noise = torch.empty((len(shared), probs.shape[1]), device=probs.device)
            noise[shared] = shared_noise.exponential_(generator=self._shared)
        # E can be exactly 0 with tiny probability; 0/0 would be NaN, which argmax prefers.
        noise.clamp_min_(torch.finfo(noise.dtype).tiny)
        return (probs / noise).argmax(dim=-1)


def probabilities(logits: torch.Tensor, params: Sequence[SamplingParams]) -> torch.Tensor:
    """The distribution [k, V] each row of float32 logits [k, V] is drawn from under its
    (non-greedy) params: / temperature -> top-k -> top-p -> softmax -> min-p floor (the
    dropped tokens get 0; rows are not renormalised after min-p)."""
    dev = logits.device
    chosen = logits / torch.tensor([p.temperature for p in params], device=dev)[:, None]
    if any(p.top_k > 0 or p.top_p < 1.0 for p in params):  # the sort is the costly part
        top_k = torch.tensor([p.top_k for p in params], device=dev)
        top_p = torch.tensor([p.top_p for p in params], device=dev, dtype=torch.float32)
        chosen = apply_top_k_top_p(chosen, top_k, top_p)
    probs = torch.softmax(chosen, dim=-1)
    if any(p.min_p > 0.0 for p in params):
        min_p = torch.tensor([p.min_p for p in params], device=dev, dtype=probs.dtype)
        floor = probs.max(dim=-1, keepdim=True).values * min_p[:, None]
        probs = probs.masked_fill(probs < floor, 0.0)
    return probs
