"""BFCL's API classes run by paste.patterns.loaders.bfcl_backend: exact outputs and statuses,
every failure path (unknown function, a raising method, an unknown class, the package
missing)."""

import json
import shutil
from pathlib import Path

import pytest

from paste.patterns.loaders import bfcl, bfcl_backend, load_folder
from paste.patterns.trace import LoadIssue

FIXTURE = Path(__file__).resolve().parent / "data" / "traces_fixtures" / "bfcl-v4-multi-turn"
needs_bfcl = pytest.mark.skipif(not bfcl_backend.available(), reason="bfcl-eval not installed")
FS = {"root": {"alex": {"type": "directory", "contents": {
    "a.txt": {"type": "file", "content": "one two"},
    "docs": {"type": "directory", "contents": {}},
}}}}  # fmt: skip


def _fs() -> bfcl_backend.Backend:
    return bfcl_backend.Backend(["GorillaFileSystem"], bfcl.CLASS_DOCS, {"GorillaFileSystem": FS})


def test_render():
    assert bfcl_backend.render("text") == "text"
    assert bfcl_backend.render(None) == "null"
    assert bfcl_backend.render({"a": [1, "é"]}) == '{"a": [1, "é"]}'
    assert bfcl_backend.render({1, 2}) == "{1, 2}"  # not JSON: its str()


@needs_bfcl
def test_calls_act_on_the_loaded_scenario_in_order():
    fs = _fs()
    assert fs.call("ls", {}) == ('{"current_directory_content": ["a.txt", "docs"]}', "ok")
    assert fs.call("wc", {"file_name": "a.txt", "mode": "w"}) == (
        '{"count": 2, "type": "words"}', "ok")
    assert fs.call("cd", {"folder": "docs"}) == ('{"current_working_directory": "docs"}', "ok")
    assert fs.call("ls", {}) == ('{"current_directory_content": []}', "ok")
    # a fresh backend starts from the scenario again
    assert _fs().call("ls", {})[0] == '{"current_directory_content": ["a.txt", "docs"]}'


@needs_bfcl
def test_an_api_error_is_a_failed_step():
    out, status = _fs().call("cd", {"folder": "missing"})
    assert status == "error"
    assert set(json.loads(out)) == {"error"}


@needs_bfcl
def test_a_raising_method_and_an_unknown_function_are_failed_steps():
    out, status = _fs().call("ls", {"no_such_parameter": 1})
    assert status == "error" and json.loads(out)["error"].startswith("TypeError: ")
    assert _fs().call("launch", {}) == ('{"error": "No such function: launch"}', "error")


def test_an_unknown_class_is_a_backend_error():
    with pytest.raises(bfcl_backend.BackendError, match="no API module for class 'Nope'"):
        bfcl_backend.Backend(["Nope"], bfcl.CLASS_DOCS, {})


@needs_bfcl
def test_a_conversation_that_cannot_run_keeps_its_calls_without_outputs(tmp_path):
    folder = tmp_path / "bfcl"
    shutil.copytree(FIXTURE, folder)
    questions = folder / bfcl.QUESTIONS
    lines = questions.read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    first["involved_classes"] = ["GorillaFileSystem", "Nope"]
    questions.write_text("\n".join([json.dumps(first)] + lines[1:]) + "\n", encoding="utf-8")
    result = load_folder(folder)
    assert result.issues == [LoadIssue(f"{bfcl.QUESTIONS}:1",
                                       "tool outputs unavailable (no API module for class "
                                       "'Nope')")]
    assert [len(t.calls) for t in result.traces] == [5, 6, 3, 4]
    assert all(s.output is None for s in result.traces[0].steps)
    assert all(s.output is not None for s in result.traces[1].steps if s.call)


def test_without_the_package_every_trace_loads_without_outputs(monkeypatch):
    monkeypatch.setattr(bfcl_backend, "available", lambda: False)  # fake: package missing
    result = load_folder(FIXTURE)
    assert result.issues == [LoadIssue(
        bfcl.QUESTIONS, "tool outputs unavailable: bfcl-eval is not installed "
        "(pip install --no-deps bfcl-eval==2026.3.23)")]
    assert [len(t.calls) for t in result.traces] == [5, 6, 3, 4]
    assert all(s.output is None for t in result.traces for s in t.steps)
