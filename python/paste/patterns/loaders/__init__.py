"""Trace loaders, one module per source format, chosen by the files a folder contains.

A folder laid out like `../shared/traces/<source>/` (same file names, any subset of records)
loads the same way whatever the folder is called: `detect_source` looks at file names only.
Every module has `NAME`, `detect(folder)`, `load(folder, tenant)` and
`write_subset(folder, out, keep)` (used by the split tool).
"""

from __future__ import annotations

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


def detect_source(folder: Path) -> str:
    """The source kind name of `folder` (e.g. "fireact-hotpotqa")."""
    return str(source_module(folder).NAME)


def load_folder(folder: Path, tenant: str | None = None) -> LoadResult:
    """Load every session of `folder`; malformed records are in `LoadResult.issues`.

    `tenant` overrides the sessions' tenant; by default it is "default", except for paste's
    own format whose records carry their tenant."""
    module = source_module(Path(folder))
    return module.load(Path(folder)) if tenant is None else module.load(Path(folder), tenant)
