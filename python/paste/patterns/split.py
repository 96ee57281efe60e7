"""Seeded train/test split of trace source folders, keeping each source's own files/format.

A session goes to test when a hash of (seed, source, group) falls below the test fraction, so
all sessions of one task group land on the same side and the split is stable across runs and
machines (no global RNG state). `split_sources` writes `out/train/<source>/` and
`out/test/<source>/` with the same file names as the input folders.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from paste.errors import InvalidArgumentError
from paste.patterns.loaders import source_folders, source_module


def _unit(seed: int, source: str, key: str) -> float:
    digest = hashlib.sha256(f"{seed}\x1f{source}\x1f{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_sources(
    src: Path, out: Path, test_fraction: float, seed: int = 0
) -> dict[str, tuple[int, int]]:
    """Split every source folder `src` stands for (`loaders.source_folders`); returns
    {source: (num_train, num_test)} session counts."""
    if not 0.0 < test_fraction < 1.0:
        raise InvalidArgumentError(f"test fraction must be in (0, 1), got {test_fraction}")
    counts: dict[str, tuple[int, int]] = {}
    for folder in source_folders(Path(src)):
        module = source_module(folder)
        result = module.load(folder)
        group_of = {t.session_id: t.group for t in result.traces}

        def is_test(sid: str, name: str = module.NAME, groups: dict = group_of) -> bool:
            return _unit(seed, name, groups.get(sid, sid)) < test_fraction

        n_test = module.write_subset(folder, out / "test" / module.NAME, is_test)
        n_train = module.write_subset(
            folder, out / "train" / module.NAME, lambda sid: not is_test(sid)
        )
        counts[module.NAME] = (n_train, n_test)
    return counts
