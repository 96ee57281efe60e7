"""LoraRuntime: loaded LoRA adapters (engine/lora.py) applied per token row in the forward.

Before each step the engine says which adapter each scheduled sequence runs (`set_rows`, from
the plan's query_start_loc), and exactly the linear layers that the step's adapters adapt carry
a forward hook: it adds, for every adapter of the step, x[rows] @ A.T @ B.T to those rows of
the layer's output (index_add_), so one batch mixes requests of several adapters and of the
base model, and a base row is computed exactly as without adapters. Hooks are added and
removed only when the step's set of adapters changes, so a step without adapter rows runs the
model with no hook at all, as an engine without adapters does; a step whose rows all run one
adapter skips the gathers.

Per adapter and layer the slices of a fused layer (q/k/v of qkv_proj, gate/up) are stacked
into one A [sum of ranks, in] and one B [out, sum of ranks] that is zero outside each slice's
rows and rank columns: two matmuls per layer, not two per slice. On a CPU they run in float32
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

_Fused = tuple[torch.Tensor, torch.Tensor]  # (A [R, in], B [out, R])


def fuse(deltas: Sequence[LoraDelta], out_features: int, dtype: torch.dtype) -> _Fused:
    """One layer's slices of one adapter as one A and one block-sparse B (module docstring)."""
    a = torch.cat([d.a for d in deltas]).to(dtype)
    b = torch.zeros(out_features, a.shape[0], dtype=dtype, device=a.device)
    col = 0
    for d in deltas:
        rank = d.a.shape[0]
        b[d.start:d.start + d.size, col:col + rank] = d.b.to(dtype)
        col += rank
    return a, b


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
        # this step: (an adapter's fused layers, its rows; None = every row of the batch)
        self._rows: list[tuple[dict[str, _Fused], torch.Tensor | None]] = []
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
        self._rows = []
        self._hook_layers(frozenset(name for name in seq_adapters if name is not None))
        if not self._step_adapters:
            return
        first = seq_adapters[0]
        if first is not None and all(name == first for name in seq_adapters):
            self._rows = [(self._fused[first], None)]
            return
        starts = query_start_loc.tolist()
        spans: dict[str, list[np.ndarray]] = {}
        for i, name in enumerate(seq_adapters):
            if name is not None:
                spans.setdefault(name, []).append(np.arange(starts[i], starts[i + 1]))
        for name, parts in spans.items():
            rows = torch.from_numpy(np.concatenate(parts)).to(self.device)
            self._rows.append((self._fused[name], rows))

    def _hook_layers(self, names: frozenset[str]) -> None:
        """Hooks exactly the layers adapters `names` adapt (nothing to do when they are the
        previous step's)."""
        if names == self._step_adapters:
            return
        wanted = set().union(*(self._fused[name] for name in names))
        for target in set(self._hooks) - wanted:
            self._hooks.pop(target).remove()
        for target in sorted(wanted - set(self._hooks)):
            self._hooks[target] = self._modules[target].register_forward_hook(
                self._hook(target))
        self._step_adapters = names

    @property
    def hooked_layers(self) -> tuple[str, ...]:
        """The layers hooked for the current step's adapters."""
        return tuple(sorted(self._hooks))

    def _hook(self, target: str) -> Any:
        def add_deltas(_module: nn.Module, args: tuple, out: torch.Tensor) -> torch.Tensor | None:
            layers = [(f[target], rows) for f, rows in self._rows if target in f]
            x = args[0].to(self.dtype)
            for (a, b), rows in layers:
                if rows is None:
                    out.add_((x @ a.t()) @ b.t())
                else:
                    y = (x.index_select(0, rows) @ a.t()) @ b.t()
                    out.index_add_(0, rows, y.to(out.dtype))
            return out

        return add_deltas
