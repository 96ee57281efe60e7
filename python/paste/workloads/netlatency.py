"""NetworkLatency: the seeded network delay the corpus server adds to each request.

One lognormal per endpoint, fitted to a median and a 90th percentile (as paste.bench.latency
does): defaults from ../shared/traces/README.md, search p50 1.0 s / p90 1.5 s (FireAct's
search), fetch p50 2.1 s / p90 13 s (page fetches; a heavy tail). A draw is keyed by (seed,
session, request path and query), so the same request of the same session waits the same time
in every mode and for speculative and authoritative requests alike. `scale` multiplies every
draw (tests use a small scale); draws are capped at `max_s` (before scaling).
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, field

from paste.errors import InvalidArgumentError

Z90 = 1.2815515655446004
DEFAULT_ENDPOINTS: dict[str, tuple[float, float]] = {"search": (1.0, 1.5), "page": (2.1, 13.0)}


@dataclass(frozen=True)
class NetworkLatency:
    seed: int = 0
    scale: float = 1.0
    max_s: float = 30.0
    endpoints: dict[str, tuple[float, float]] = field(
        default_factory=lambda: dict(DEFAULT_ENDPOINTS)
    )

    def __post_init__(self) -> None:
        if self.scale < 0 or self.max_s < 0:
            raise InvalidArgumentError("latency scale and max_s must be >= 0")
        for name, (p50, p90) in self.endpoints.items():
            if p50 < 0 or p90 < p50:
                raise InvalidArgumentError(f"latency of {name!r}: need p90 >= p50 >= 0")

    def draw(self, endpoint: str, session: str, request: str) -> float:
        """Seconds the server waits before answering `request` (module docstring)."""
        p50, p90 = self.endpoints.get(endpoint, (0.0, 0.0))
        if p50 <= 0 or self.scale == 0:
            return 0.0
        key = f"{self.seed}\x00{session}\x00{request}".encode()
        rng = random.Random(int.from_bytes(hashlib.sha256(key).digest()[:8], "big"))
        sigma = math.log(p90 / p50) / Z90 if p90 > p50 else 0.0
        return self.scale * min(self.max_s, rng.lognormvariate(math.log(p50), sigma))
