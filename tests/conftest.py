"""Shared pytest setup: a small, fixed torch thread pool.

The test machines have 2 cores shared with other work; torch's default of one thread per core
(plus interop threads) oversubscribes them and makes small-model decoding several times slower.
"""

from __future__ import annotations

import torch

torch.set_num_threads(1)
