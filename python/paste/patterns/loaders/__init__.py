"""Trace loaders, one module per source format, chosen by the files a folder contains.

A folder laid out like `../shared/traces/<source>/` (same file names, any subset of records)
loads the same way whatever the folder is called: `detect_source` looks at file names only.
Every module has `NAME`, `detect(folder)`, `load(folder, tenant)` and
`write_subset(folder, out, keep)` (used by the split tool).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from paste.patterns.errors import TraceFormatError
from paste.patterns.loaders import bfcl, fireact, miniswe, paste_jsonl, sweagent, tau, toolbench
from paste.patterns.trace import LoadResult

# Order matters only for folders that would match two kinds (none of the published ones do).
SOURCES: tuple[ModuleType, ...] = (miniswe, tau, bfcl, fireact, toolbench, sweagent, paste_jsonl)


def source_module(folder: Path) -> ModuleType:
    """The loader module for `folder`; TraceFormatError when no source kind matches."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TraceFormatError(f"{folder}: not a directory")
    for module in SOURCES:
        if module.detect(folder):
            return module
    raise TraceFormatError(f"{folder}: no known trace source layout")


def _kind(folder: Path) -> str | None:
    return next((str(m.NAME) for m in SOURCES if m.detect(folder)), None)


def source_folders(folder: Path) -> list[Path]:
    """The source folders `folder` stands for: its immediate sub-folders that are source
    folders when they are of two or more kinds (a collection laid out like ../shared/traces,
    or a split's train/ or test/), else `folder` itself when it is one, else its source
    sub-folders. TraceFormatError when there is none.

    Sub-folders are looked at first because a kind that searches a folder at any depth (SWE-
    agent's `.traj` files) would otherwise claim a whole collection and drop the rest; a SWE-
    agent folder's own sub-folders (trajectories/, tests/) are all of one kind, so it stays
    one source."""
    folder = Path(folder)
    if not folder.is_dir():
        raise TraceFormatError(f"{folder}: not a directory")
    kinds = {d: _kind(d) for d in sorted(folder.iterdir()) if d.is_dir()}
    subs = [d for d, kind in kinds.items() if kind is not None]
    if len({kinds[d] for d in subs}) >= 2:
        return subs
    if _kind(folder) is not None:
        return [folder]
    if subs:
        return subs
    raise TraceFormatError(f"{folder}: no known trace source layout in it or its sub-folders")


def source_folders_of(folders: Iterable[Path | str]) -> list[Path]:
    """`source_folders` of each of `folders`, in order (a command's DIR [DIR ...])."""
    return [f for given in folders for f in source_folders(Path(given))]


def detect_source(folder: Path) -> str:
    """The source kind name of `folder` (e.g. "fireact-hotpotqa")."""
    return str(source_module(folder).NAME)


def load_folder(folder: Path, tenant: str | None = None) -> LoadResult:
    """Load every session of `folder`; malformed records are in `LoadResult.issues`.

    `tenant` overrides the sessions' tenant; by default it is "default", except for paste's
    own format whose records carry their tenant."""
    module = source_module(Path(folder))
    return module.load(Path(folder)) if tenant is None else module.load(Path(folder), tenant)
