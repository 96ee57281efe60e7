"""LoraRuntime: loaded LoRA adapters (engine/lora.py) applied per token row in the forward.

Before each step the engine says which adapter each scheduled sequence runs (`set_rows`, from
the plan's query_start_loc), and exactly the linear layers that the step's adapters adapt carry
a forward hook: it adds, for every adapter of the step, x[rows] @ A.T @ B.T to those rows of
the layer's output, so one batch mixes requests of several adapters and of the
base model, and a base row is computed exactly as without adapters. Hooks are added and
removed only when the step's set of adapters changes, so a step without adapter rows runs the
model with no hook at all, as an engine without adapters does; a step whose rows all run one
adapter multiplies them by its A and B and needs no mask.

A step whose rows mix adapters (or an adapter and the base model) runs every row through one
stack of its adapters per layer: x @ [A_a; A_b].T gives each row the rank columns of every
adapter, a 0/1 mask keeps a row's own adapter's columns (none for a base row), and one matmul
by [B_a | B_b] adds the deltas: the same five operations per layer however many adapters the
batch mixes, where gathering and scattering each adapter's rows took five per adapter (the
extra products are tiny: the ranks, not the layer's width). The stacks are built when the
step's set of adapters changes, the masks once per step and column layout.

Per adapter and layer the slices of a fused layer (q/k/v of qkv_proj, gate/up) are stacked
into one A [sum of ranks, in] and one B [out, sum of ranks] that is zero outside each slice's
rows and rank columns: two matmuls per layer, not two per slice. Both are kept transposed and
contiguous (A.T [in, R], B.T [R, out]), as the matmuls read them: a fifth less time per layer
than multiplying by transposed views on this CPU. On a CPU they run in float32
whatever the model's dtype: these products are tiny, and bfloat16 matmuls of a few rows cost
about five times float32's there (oneDNN's fixed overhead: 50 vs 10 us for 8 rows of a rank-16
q/k/v on this machine), which made a bfloat16 adapter decode 1.8x slower than the base model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from paste.engine.lora import LoraAdapter, LoraDelta

_Fused = tuple[torch.Tensor, torch.Tensor]  # (A.T [in, R], B.T [R, out]), contiguous


def fuse(deltas: Sequence[LoraDelta], out_features: int, dtype: torch.dtype) -> _Fused:
    """One layer's slices of one adapter as one A and one block-sparse B (module docstring)."""
    a = torch.cat([d.a for d in deltas]).to(dtype)
    b = torch.zeros(out_features, a.shape[0], dtype=dtype, device=a.device)
    col = 0
    for d in deltas:
        rank = d.a.shape[0]
        b[d.start:d.start + d.size, col:col + rank] = d.b.to(dtype)
        col += rank
    return a.t().contiguous(), b.t().contiguous()


class LoraRuntime:
    """The adapters of one model, by name, and this step's rows of each. Adapters are added
    and removed between steps (the engine thread's commands)."""

    def __init__(self, model: nn.Module, adapters: Sequence[LoraAdapter]) -> None:
        weight = next(model.parameters())
        self.device = weight.device
        self.dtype = torch.float32 if self.device.type == "cpu" else weight.dtype
        self._modules = dict(model.named_modules())
        self.adapters: dict[str, LoraAdapter] = {}
        self._fused: dict[str, dict[str, _Fused]] = {}  # adapter -> {layer: fused A, B}
        self._hooks: dict[str, Any] = {}  # layer -> its hook's handle, while hooked
        self._step_adapters: frozenset[str] = frozenset()  # the adapters the hooks are for
        self._namespaces: dict[str, int] = {}  # adapter -> the serial of its load
        self._loads = 0
        # this step's adapters, stacked per hooked layer: (A.T, B.T, each column's adapter)
        self._stacks: dict[str, tuple[torch.Tensor, torch.Tensor, tuple[int, ...]]] = {}
        self._single: dict[str, _Fused] | None = None  # every row runs this adapter
        self._owner: np.ndarray | None = None  # per row: its adapter's index in the stack, -1
        self._masks: dict[tuple[int, ...], torch.Tensor] = {}  # this step's, by column layout
        for adapter in adapters:
            self.add(adapter)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.adapters)

    def add(self, adapter: LoraAdapter) -> None:
        """Serve `adapter` from the next step on (its name must be new)."""
        fused = {t: fuse(ds, self._modules[t].out_features, self.dtype)  # type: ignore[arg-type]
                 for t, ds in adapter.deltas.items()}
        self.adapters[adapter.name] = adapter
        self._fused[adapter.name] = fused
        self._loads += 1
        self._namespaces[adapter.name] = self._loads

    def remove(self, name: str) -> None:
        """Stop serving adapter `name` (no request may run it: the engine checks)."""
        del self.adapters[name], self._fused[name], self._namespaces[name]
        self._hook_layers(frozenset())

    def namespace(self, name: str) -> int:
        """The serial of adapter `name`'s load (1, 2, ...): a name loaded again, perhaps from
        other weights, gets a new one, so KV cached under the old weights is never hit."""
        return self._namespaces[name]

    def set_rows(self, seq_adapters: Sequence[str | None], query_start_loc: np.ndarray) -> None:
        """This step's rows: sequence i of the plan (query rows query_start_loc[i] ..
        query_start_loc[i + 1]) runs adapter seq_adapters[i] (None: the base model)."""
        self._single = None
        self._owner = None
        self._masks = {}
        self._hook_layers(frozenset(name for name in seq_adapters if name is not None))
        if not self._step_adapters:
            return
        first = seq_adapters[0]
        if first is not None and all(name == first for name in seq_adapters):
            self._single = self._fused[first]
            return
        starts = query_start_loc.tolist()
        owner = np.full(starts[len(seq_adapters)], -1, dtype=np.int64)
        index = {name: i for i, name in enumerate(sorted(self._step_adapters))}
        for i, name in enumerate(seq_adapters):
            if name is not None:
                owner[starts[i]:starts[i + 1]] = index[name]
        self._owner = owner

    def _hook_layers(self, names: frozenset[str]) -> None:
        """Hooks exactly the layers adapters `names` adapt, each with the stack of those
        adapters' A and B it adapts (nothing to do when they are the previous step's)."""
        if names == self._step_adapters:
            return
        order = sorted(names)
        self._stacks = {}
        for target in set().union(*(self._fused[name] for name in order)):
            own = [(i, self._fused[name][target]) for i, name in enumerate(order)
                   if target in self._fused[name]]
            layout = tuple(i for i, (at, _bt) in own for _ in range(at.shape[1]))
            self._stacks[target] = (torch.cat([at for _i, (at, _bt) in own], dim=1),
                                    torch.cat([bt for _i, (_at, bt) in own]), layout)
        for target in set(self._hooks) - set(self._stacks):
            self._hooks.pop(target).remove()
        for target in sorted(set(self._stacks) - set(self._hooks)):
            self._hooks[target] = self._modules[target].register_forward_hook(
                self._hook(target))
        self._step_adapters = names

    def _mask(self, layout: tuple[int, ...]) -> torch.Tensor:
        """This step's [rows, columns] 0/1 mask of a stack whose column j belongs to adapter
        layout[j]: a row keeps its own adapter's columns."""
        mask = self._masks.get(layout)
        if mask is None:
            assert self._owner is not None
            cols = np.asarray(layout, dtype=np.int64)
            mask = torch.from_numpy(self._owner[:, None] == cols[None, :]).to(
                self.device, self.dtype)
            self._masks[layout] = mask
        return mask

    @property
    def hooked_layers(self) -> tuple[str, ...]:
        """The layers hooked for the current step's adapters."""
        return tuple(sorted(self._hooks))

    def _hook(self, target: str) -> Any:
        def add_deltas(_module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
            x = args[0].to(self.dtype)
            if self._single is not None:
                at, bt = self._single[target]
                return out.add_(torch.mm(torch.mm(x, at), bt))
            at, bt, layout = self._stacks[target]
            return out.add_(torch.mm(torch.mm(x, at) * self._mask(layout), bt))

        return add_deltas
