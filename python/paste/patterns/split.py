"""Seeded train/test split of trace source folders, keeping each source's own files/format.

A session goes to test when a hash of (seed, source, group) falls below the test fraction, so
all sessions of one task group land on the same side and the split is stable across runs and
machines (no global RNG state). A source of two or more groups keeps at least one on each
side: when the hashes put every group on one side (a small source, an extreme fraction), the
group whose hash is nearest the threshold crosses over, so neither folder is left without
sessions (an empty train folder would have nothing to mine, an empty test one nothing to
measure). `split_sources` writes `out/train/<source>/` and `out/test/<source>/` with the same
file names as the input folders.
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
        test_groups = _test_groups(
            {g: _unit(seed, module.NAME, g) for g in set(group_of.values())}, test_fraction)

        def is_test(sid: str, name: str = module.NAME, groups: dict = group_of,
                    chosen: set = test_groups) -> bool:
            group = groups.get(sid)
            if group is None:  # a record the loader skipped: by its own hash
                return _unit(seed, name, sid) < test_fraction
            return group in chosen

        n_test = module.write_subset(folder, out / "test" / module.NAME, is_test)
        n_train = module.write_subset(
            folder, out / "train" / module.NAME, lambda sid: not is_test(sid)
        )
        counts[module.NAME] = (n_train, n_test)
    return counts


def _test_groups(units: dict[str, float], test_fraction: float) -> set[str]:
    """The groups that go to test: those whose hash is below the fraction; with two or more
    groups and all on one side, the one nearest the threshold crosses over."""
    test = {g for g, u in units.items() if u < test_fraction}
    if len(units) >= 2 and not test:
        test = {min(units, key=lambda g: (units[g], g))}
    elif len(units) >= 2 and len(test) == len(units):
        test.discard(max(units, key=lambda g: (units[g], g)))
    return test
