"""Coding workload (paste.workloads): the sample repository and the real grep/sed/python/pytest
tools on a temporary copy, their exact outputs, typed errors and effect classes. The scripted
agent's live sessions are in test_workloads_coding_agent.py."""

from __future__ import annotations

import json

import pytest

from paste.tools import ToolExecutor, ToolJob
from paste.workloads.coding_tools import add_coding_tools
from paste.workloads.repo import MINIREPO, MUTATIONS, CodingTask, coding_tasks, prepare_repo
from paste.workloads.toolbox import LiveToolBox


@pytest.fixture()
def tools(tmp_path):
    root = prepare_repo(CodingTask("c", 1, False, False), tmp_path / "repo")
    box = LiveToolBox()
    add_coding_tools(box, root)
    ex = ToolExecutor(box.registry)
    yield root, box, lambda name, **a: ex.submit(ToolJob("1", name, json.dumps(a))).result()
    ex.shutdown()


def test_shipped_repo_has_the_variance_bug_and_copies_get_the_task_bug(tmp_path):
    assert MUTATIONS[0].bad in (MINIREPO / MUTATIONS[0].path).read_text()
    root = prepare_repo(CodingTask("c", 1, False, False), tmp_path / "r")
    stats = (root / "textkit/stats.py").read_text()
    assert MUTATIONS[0].good in stats and MUTATIONS[1].bad in stats
    assert MUTATIONS[1].good not in stats
    assert coding_tasks(3, 5) == coding_tasks(3, 5)


def test_grep_view_exact_outputs(tools):
    _, _, call = tools
    assert call("grep", pattern=r"def median\b").content == "textkit/stats.py:11:def median(values):"
    assert call("grep", pattern="zzz_nothing").content == "no matches"
    assert call("view", path="textkit/stats.py", start=17, end=19).content == (
        "17:     if len(ordered) % 2:\n18:         return ordered[mid]\n19:     return ordered[mid - 1]"
    )


def test_edit_then_pytest(tools):
    root, _, call = tools
    before = call("pytest", target="tests/test_stats.py").content
    assert before.splitlines()[-2:] == ["1 failed, 3 passed", "(exit code 1)"]
    assert "FAILED tests/test_stats.py::test_median_odd_and_even" in before
    assert str(root) not in before and " in 0." not in before
    out = call("edit", path="textkit/stats.py", line=19, old="return ordered[mid - 1]",
               new="return (ordered[mid - 1] + ordered[mid]) / 2")
    assert out.content == "edited textkit/stats.py:19: return (ordered[mid - 1] + ordered[mid]) / 2"
    after = call("pytest").content
    assert after.splitlines()[-2:] == ["8 passed", "(exit code 0)"]
    assert not list(root.rglob("__pycache__")) and not (root / ".pytest_cache").exists()


def test_run_python_output_and_exit_code(tools):
    _, _, call = tools
    out = call("run_python", code="from textkit.stats import median; print(median([4, 1, 3, 2]))")
    assert out.content == "2\n(exit code 0)"


def test_bad_input_gives_typed_errors(tools):
    _, _, call = tools
    bad = call("grep", pattern="(")
    assert bad.error_kind == "tool_error" and bad.content.startswith(
        "tool 'grep' raised BadPatternError: grep: Unmatched ( or \\(")
    assert call("view", path="../../etc/passwd").content == (
        "tool 'view' raised PathEscapeError: path '../../etc/passwd' is outside the repository")
    assert "PathEscapeError" in call("grep", pattern="x", path="/etc").content
    assert "PathEscapeError" in call("pytest", target="../").content
    assert call("edit", path="textkit/stats.py", line=2, old="nope", new="x").content == (
        "tool 'edit' raised EditError: line 2 of textkit/stats.py does not contain 'nope'")
    assert "EditError" in call("edit", path="textkit/stats.py", line=999, old="a", new="b").content
    assert "WorkloadToolError: no file 'missing.py'" in call("view", path="missing.py").content


def test_effect_classes_and_edit_runs_speculatively_only_as_a_transaction(tools):
    root, box, _ = tools
    effects = {n: box.registry.get(n).effect.value for n in box.registry.names()}
    assert effects == {"grep": "read_only", "view": "read_only", "edit": "side_effect",
                       "run_python": "side_effect", "pytest": "read_only"}
    cpu = sorted(n for n in box.registry.names() if box.registry.get(n).cpu_bound)
    assert cpu == ["pytest", "run_python"]
    with_transaction = sorted(n for n in box.registry.names()
                              if box.registry.get(n).transaction is not None)
    assert with_transaction == ["edit", "run_python"]
    ex = ToolExecutor(box.registry)
    args = {"path": "textkit/stats.py", "line": 19, "old": "return", "new": "raise"}
    future = ex.submit(ToolJob("s", "edit", json.dumps(args), speculative=True))
    staged = future.result()
    future.discard_effects()
    ex.shutdown()
    assert (staged.ok, staged.content) == (True, "edited textkit/stats.py:19: raise ordered[mid - 1]")
    assert "raise ordered" not in (root / "textkit/stats.py").read_text()
    assert [(r.name, r.speculative, r.commit) for r in box.runs] == [("edit", True, False)]
    assert box.recording == []
