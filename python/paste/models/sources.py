"""Find a model's GGUF weights inside installed pip packages, assemble split parts, verify.

Single-file models: the package folder is located with importlib.util.find_spec and the
package is never imported (its __init__ may import heavy, uninstalled dependencies).
Split models: each part package exposes `get_part_path()`; parts are concatenated in
registry order while hashing, so the bytes are read once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

from paste.models.errors import ChecksumMismatchError, ModelPackageMissingError
from paste.models.progress import ProgressFn, no_progress
from paste.models.registry import ModelSpec

_CHUNK = 8 << 20


def _missing(spec: ModelSpec, what: str) -> ModelPackageMissingError:
    return ModelPackageMissingError(
        f"model {spec.name!r}: {what}; install its weights with:\n  {spec.pip_command()}"
    )


def _package_folder(spec: ModelSpec, module: str) -> Path:
    found = importlib.util.find_spec(module)
    if found is None or not found.submodule_search_locations:
        raise _missing(spec, f"package {module!r} is not installed")
    return Path(next(iter(found.submodule_search_locations)))


def locate_parts(spec: ModelSpec) -> list[Path]:
    """Paths of the GGUF file (one) or of its parts (in order); raises
    ModelPackageMissingError naming the pip command if a package or file is missing."""
    if not spec.split:
        _dist, module, _version = spec.packages[0]
        path = _package_folder(spec, module) / spec.gguf_file
        if not path.is_file():
            raise _missing(spec, f"{path.name} is missing from package {module!r}")
        return [path]
    parts: list[Path] = []
    for _dist, module, _version in spec.packages:
        _package_folder(spec, module)  # typed error before importing anything
        get_part_path = getattr(importlib.import_module(module), "get_part_path", None)
        if get_part_path is None:
            raise _missing(spec, f"package {module!r} has no get_part_path()")
        path = Path(get_part_path())
        if not path.is_file():
            raise _missing(spec, f"part file {path} of package {module!r} is missing")
        parts.append(path)
    return parts


def _copy_hashing(sources: list[Path], dest: Path | None, progress: ProgressFn, stage: str) -> str:
    total = sum(p.stat().st_size for p in sources)
    digest = hashlib.sha256()
    done = 0
    progress(stage, 0, total)
    out = dest.open("wb") if dest is not None else None
    try:
        for source in sources:
            with source.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
                    if out is not None:
                        out.write(chunk)
                    done += len(chunk)
                    progress(stage, done, total)
    finally:
        if out is not None:
            out.close()
    return digest.hexdigest()


def assemble_gguf(spec: ModelSpec, work_dir: Path, progress: ProgressFn = no_progress) -> Path:
    """Return a verified GGUF file for `spec`.

    A single-file model is hashed in place and its package path returned (no copy). A split
    model is concatenated into `work_dir / spec.gguf_file`. On a sha256 mismatch the
    assembled file is deleted and ChecksumMismatchError raised with the reinstall command.
    """
    parts = locate_parts(spec)
    if not spec.split:
        actual = _copy_hashing(parts, None, progress, f"verifying {spec.gguf_file}")
        result = parts[0]
    else:
        result = work_dir / spec.gguf_file
        actual = _copy_hashing(parts, result, progress, f"assembling {spec.gguf_file}")
    if actual != spec.sha256:
        if spec.split:
            result.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"model {spec.name!r}: sha256 of {spec.gguf_file} is {actual}, expected "
            f"{spec.sha256}; reinstall its packages with:\n"
            f"  {spec.pip_command().replace('--no-deps', '--force-reinstall --no-deps')}"
        )
    return result
