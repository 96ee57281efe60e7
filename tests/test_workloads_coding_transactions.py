"""Coding workload transactions (paste.workloads.coding_tools): edit and run_python staged on
real repository copies give exactly the real call's result, change nothing until commit, and
a commit leaves the repository byte for byte as the real call leaves a twin copy; every way a
commit can refuse leaves the repository as it was. Then the same through the speculation
manager: a hit commits once, a miss leaves no trace."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from paste.parsing import canonical_call
from paste.speculation.admission import Candidate
from paste.speculation.config import SpeculationConfig
from paste.speculation.manager import SpeculationManager
from paste.tools import ToolExecutor
from paste.tools.transaction import Staged
from paste.workloads.coding_tools import add_coding_tools
from paste.workloads.errors import EditError, PathEscapeError, WorkloadToolError
from paste.workloads.repo import CodingTask, prepare_repo
from paste.workloads.toolbox import LiveToolBox
from paste.workloads.worktree import CommitConflictError

WAIT_S = 30.0
TASK = CodingTask("c", 1, False, False)  # textkit/stats.py line 19 reads "return ordered[mid - 1]"
STATS = "textkit/stats.py"
FIX = {"path": STATS, "line": 19, "old": "return ordered[mid - 1]",
       "new": "return (ordered[mid - 1] + ordered[mid]) / 2"}
FIXED = "edited textkit/stats.py:19: return (ordered[mid - 1] + ordered[mid]) / 2"
WRITE = "open('out.txt','w').write('x'); print('done')"
CHURN = ("import os, shutil; open('textkit/stats.py', 'a').write('# touched\\n'); "
         "os.remove('conftest.py'); shutil.rmtree('tests'); os.makedirs('build/sub'); "
         "open('build/sub/a.txt', 'w').write('a'); os.chmod('pytest.ini', 0o600); "
         "os.mkdir('empty'); print(sorted(os.listdir('.')))")


def tree(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Everything under root: relative path -> (permission bits, bytes; None for a folder)."""
    out: dict[str, tuple[int, bytes | None]] = {}
    for path in sorted(root.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        out[path.relative_to(root).as_posix()] = (mode, None if path.is_dir() else
                                                   path.read_bytes())
    return out


@dataclass
class Repo:
    """A repository copy alone in its folder (run_python forks go beside it) and its tools."""

    root: Path
    box: LiveToolBox

    def call(self, name: str, **arguments: Any) -> Any:
        """The real tool (as the executor runs an authoritative call)."""
        return self.box.registry.get(name).invoke(arguments)

    def stage(self, name: str, **arguments: Any) -> Staged:
        """The tool's transaction (as the executor runs a speculative call)."""
        transaction = self.box.registry.get(name).transaction
        assert transaction is not None
        staged = transaction(**arguments)
        assert isinstance(staged, Staged)
        return staged

    def beside(self) -> list[str]:
        return sorted(p.name for p in self.root.parent.iterdir())

    def log(self) -> list[tuple[str, bool, bool]]:
        return [(r.name, r.speculative, r.commit) for r in self.box.runs]


def make_repo(folder: Path) -> Repo:
    root = prepare_repo(TASK, folder / "repo")
    box = LiveToolBox()
    add_coding_tools(box, root)
    return Repo(root.resolve(), box)


@pytest.fixture()
def twins(tmp_path: Path) -> tuple[Repo, Repo]:
    """Two identical copies: `a` stages and commits, `b` runs the same calls for real."""
    return make_repo(tmp_path / "a"), make_repo(tmp_path / "b")


# -- edit ---------------------------------------------------------------------------------------


def test_edit_transaction_stages_the_result_and_commit_writes_what_edit_writes(twins):
    a, b = twins
    original = tree(a.root)
    staged = a.stage("edit", **FIX)
    assert staged.value == FIXED
    assert tree(a.root) == original  # nothing written before the commit
    assert b.call("edit", **FIX) == FIXED
    staged.commit()
    assert staged.state == "committed"
    assert tree(a.root) == tree(b.root) != original
    assert tree(a.root)[STATS][0] == original[STATS][0]  # permission bits kept
    assert sorted(tree(a.root)) == sorted(original)  # no temp file left behind
    canonical = canonical_call("edit", FIX)
    assert [(r.name, r.canonical, r.effect, r.speculative, r.commit) for r in a.box.runs] == [
        ("edit", canonical, "side_effect", True, False),
        ("edit", canonical, "side_effect", False, True)]
    assert a.box.runs[0].finished_at <= a.box.runs[1].started_at
    assert a.box.recording == []  # only the real tool records outcomes
    assert b.box.recording == [(canonical, ("ok", FIXED))]


def test_edit_commit_raises_if_the_file_changed_after_the_fork(twins):
    a, _ = twins
    staged = a.stage("edit", **FIX)
    other = {"path": STATS, "line": 18, "old": "return ordered[mid]", "new": "return ordered[0]"}
    assert a.call("edit", **other) == "edited textkit/stats.py:18: return ordered[0]"
    left = tree(a.root)
    with pytest.raises(CommitConflictError,
                       match=r"^textkit/stats\.py changed since the edit was staged$"):
        staged.commit()
    assert staged.state == "discarded"
    assert tree(a.root) == left  # as the other writer left it
    assert a.log() == [("edit", True, False), ("edit", False, False)]  # no commit logged


def test_edit_commit_raises_if_the_file_was_deleted_after_the_fork(twins):
    a, _ = twins
    staged = a.stage("edit", **FIX)
    (a.root / STATS).unlink()
    left = tree(a.root)
    with pytest.raises(CommitConflictError,
                       match=r"^textkit/stats\.py changed since the edit was staged$"):
        staged.commit()
    assert tree(a.root) == left and STATS not in left


def test_edit_commit_compares_content_so_a_rewrite_with_the_same_bytes_commits(twins):
    a, b = twins
    staged = a.stage("edit", **FIX)
    (a.root / STATS).write_bytes((a.root / STATS).read_bytes())
    staged.commit()
    b.call("edit", **FIX)
    assert tree(a.root) == tree(b.root)


@pytest.mark.parametrize(("arguments", "error", "message"), [
    ({"path": STATS, "line": 2, "old": "nope", "new": "x"}, EditError,
     "line 2 of textkit/stats.py does not contain 'nope'"),
    ({"path": STATS, "line": 999, "old": "a", "new": "b"}, EditError,
     "line 999 of textkit/stats.py does not contain 'a'"),
    ({"path": STATS, "line": 0, "old": "a", "new": "b"}, EditError,
     "line 0 of textkit/stats.py does not contain 'a'"),
    ({"path": STATS, "line": 19, "old": "", "new": "b"}, EditError,
     "line 19 of textkit/stats.py does not contain ''"),
    ({"path": "missing.py", "line": 1, "old": "a", "new": "b"}, WorkloadToolError,
     "no file 'missing.py'"),
    ({"path": "textkit", "line": 1, "old": "a", "new": "b"}, WorkloadToolError,
     "no file 'textkit'"),
    ({"path": "../b/repo/conftest.py", "line": 1, "old": "a", "new": "b"}, PathEscapeError,
     "path '../b/repo/conftest.py' is outside the repository"),
])
def test_edit_transaction_raises_what_edit_raises(twins, arguments, error, message):
    a, _ = twins
    original = tree(a.root)
    with pytest.raises(error) as real:
        a.call("edit", **arguments)
    with pytest.raises(error) as staged:
        a.stage("edit", **arguments)
    assert type(real.value) is type(staged.value) is error
    assert str(real.value) == str(staged.value) == message
    assert tree(a.root) == original
    assert a.log() == [("edit", False, False), ("edit", True, False)]  # the failed run logged


# -- run_python ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("code", "expected"), [
    ("from textkit.stats import median; print(median([4, 1, 3, 2]))", "2\n(exit code 0)"),
    ("import os, textkit; print(os.getcwd()); print(textkit.__file__); raise SystemExit(3)",
     ".\n./textkit/__init__.py\n(exit code 3)"),
    ("import textkit.stats as s; s.median([])",
     'Traceback (most recent call last):\n  File "<string>", line 1, in <module>\n'
     '  File "./textkit/stats.py", line 14, in median\n'
     '    raise ValueError("median of an empty list")\n'
     "ValueError: median of an empty list\n(exit code 1)"),
])
def test_run_python_transaction_output_is_the_real_runs(twins, code, expected):
    a, b = twins
    original = tree(a.root)
    staged = a.stage("run_python", code=code)
    assert staged.value == expected == b.call("run_python", code=code)
    staged.discard()
    assert tree(a.root) == original and a.beside() == ["repo"]


def test_run_python_transaction_writes_only_at_commit(twins):
    a, b = twins
    staged = a.stage("run_python", code=WRITE)
    assert staged.value == "done\n(exit code 0)" == b.call("run_python", code=WRITE)
    assert not (a.root / "out.txt").exists()
    fork_folder, repo = a.beside()
    assert fork_folder.startswith(".paste-fork-") and repo == "repo"  # beside root, not in it
    assert (a.root.parent / fork_folder / "repo" / "out.txt").read_text() == "x"
    staged.commit()
    assert (a.root / "out.txt").read_text() == "x"
    assert tree(a.root) == tree(b.root)
    assert a.beside() == ["repo"]  # the fork is gone
    assert a.log() == [("run_python", True, False), ("run_python", False, True)]
    assert a.box.recording == []


def test_run_python_commit_applies_modified_created_deleted_and_mode_changes(twins):
    a, b = twins
    staged = a.stage("run_python", code=CHURN)
    expected = "['build', 'empty', 'pytest.ini', 'textkit']\n(exit code 0)"
    assert staged.value == expected == b.call("run_python", code=CHURN)
    staged.commit()
    assert tree(a.root) == tree(b.root)
    assert sorted(tree(a.root)) == [
        "build", "build/sub", "build/sub/a.txt", "empty", "pytest.ini", "textkit",
        "textkit/__init__.py", "textkit/intervals.py", "textkit/stats.py", "textkit/words.py"]
    assert tree(a.root)["pytest.ini"][0] == 0o600
    assert a.beside() == ["repo"]


def test_run_python_discard_removes_the_fork_and_leaves_the_repository(twins):
    a, _ = twins
    original = tree(a.root)
    staged = a.stage("run_python", code=CHURN)
    assert len(a.beside()) == 2
    staged.discard()
    assert staged.state == "discarded"
    assert tree(a.root) == original and a.beside() == ["repo"]
    assert a.log() == [("run_python", True, False)]


def _edit_stats(root: Path) -> None:
    (root / STATS).write_text((root / STATS).read_text() + "# theirs\n")


def _write_out(root: Path) -> None:
    (root / "out.txt").write_text("theirs")


def _add_module(root: Path) -> None:
    (root / "textkit/other.py").write_text("")


@pytest.mark.parametrize(("code", "mover", "moved"), [
    ("open('textkit/stats.py', 'a').write('# mine\\n')", _edit_stats, "textkit/stats.py"),
    (WRITE, _write_out, "out.txt"),
    ("open('textkit/new.py', 'w').write('')", _add_module, "textkit"),  # its listing moved
    ("import os; os.remove('textkit/stats.py')", _edit_stats, "textkit/stats.py"),
])
def test_run_python_commit_raises_when_the_repository_moved_under_a_changed_path(
        twins, code, mover, moved):
    a, _ = twins
    staged = a.stage("run_python", code=code)
    mover(a.root)
    left = tree(a.root)
    with pytest.raises(CommitConflictError) as raised:
        staged.commit()
    assert str(raised.value) == f"the repository changed since run_python forked it: {moved}"
    assert tree(a.root) == left and a.beside() == ["repo"]
    assert a.log() == [("run_python", True, False)]


def test_run_python_commit_applies_when_the_repository_moved_elsewhere(twins):
    a, b = twins
    staged = a.stage("run_python", code=WRITE)
    assert a.call("edit", **FIX) == FIXED
    staged.commit()
    b.call("edit", **FIX)
    b.call("run_python", code=WRITE)
    assert tree(a.root) == tree(b.root)


@pytest.mark.parametrize(("code", "message"), [
    ("import os; os.remove('conftest.py'); os.mkdir('conftest.py')",
     "run_python changed conftest.py in a way a commit does not apply (file -> dir)"),
    ("import shutil; shutil.rmtree('tests'); open('tests', 'w').write('')",
     "run_python changed tests in a way a commit does not apply (dir -> file)"),
    ("import os; os.symlink('pytest.ini', 'link.ini')",
     "run_python changed link.ini in a way a commit does not apply (absent -> link)"),
    ("import os; os.mkfifo('pipe')",
     "run_python changed pipe in a way a commit does not apply (absent -> other)"),
])
def test_run_python_commit_refuses_what_it_cannot_apply_and_applies_nothing(twins, code,
                                                                             message):
    a, _ = twins
    original = tree(a.root)
    staged = a.stage("run_python", code=f"{code}; open('out.txt', 'w').write('x')")
    with pytest.raises(CommitConflictError) as raised:
        staged.commit()
    assert str(raised.value) == message
    assert tree(a.root) == original and a.beside() == ["repo"]


@contextlib.contextmanager
def unwritable(folder: Path) -> Iterator[None]:
    """folder refuses new entries, for real: chattr +i as root (root ignores permission bits),
    mode 0o555 otherwise."""
    if os.geteuid() != 0:
        mode = folder.stat().st_mode
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(mode)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], check=False,
                                        capture_output=True).returncode != 0:
        pytest.skip("this file system or user cannot make a folder immutable")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_run_python_commit_that_fails_midway_undoes_what_it_staged(twins):
    a, _ = twins
    # Applied in path order: build/ and build/a.txt and conftest.py are staged before
    # textkit/stats.py, whose folder refuses the temp file.
    code = ("import os; os.makedirs('build'); open('build/a.txt', 'w').write('a'); "
            "open('conftest.py', 'a').write('#'); open('textkit/stats.py', 'a').write('#')")
    staged = a.stage("run_python", code=code)
    original = tree(a.root)
    with unwritable(a.root / "textkit"), pytest.raises(PermissionError):
        staged.commit()
    assert tree(a.root) == original and a.beside() == ["repo"]
    assert staged.state == "discarded"


def test_run_python_transaction_that_times_out_leaves_no_fork(tmp_path):
    root = prepare_repo(TASK, tmp_path / "repo")
    box = LiveToolBox()
    add_coding_tools(box, root, timeout_s=0.5)
    transaction = box.registry.get("run_python").transaction
    assert transaction is not None
    with pytest.raises(subprocess.TimeoutExpired):
        transaction(code="import time; time.sleep(30)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
    assert [(r.name, r.speculative, r.commit) for r in box.runs] == [("run_python", True, False)]


# -- through the speculation manager ------------------------------------------------------------


@pytest.fixture()
def managed(tmp_path: Path) -> Iterator[tuple[Repo, SpeculationManager]]:
    repo = make_repo(tmp_path)
    executor = ToolExecutor(repo.box.registry)
    manager = SpeculationManager(repo.box.registry, executor,
                                 SpeculationConfig(learn_latency=False, max_waste_ratio=None))
    yield repo, manager
    executor.shutdown()


def speculate(m: SpeculationManager, name: str, arguments: dict[str, Any]) -> None:
    canonical = canonical_call(name, arguments)
    assert m.speculate("s", [Candidate(name, arguments, canonical, 0.9, 1.0, 1.0)]) == [canonical]
    assert m.staging.jobs("s")[0].future.result(WAIT_S).ok


def emit(m: SpeculationManager, call_id: str, name: str, arguments: dict[str, Any]) -> Any:
    return m.resolve("s", call_id, name, arguments, canonical_call(name, arguments))


def test_a_speculated_edit_that_the_model_emits_is_committed_once(managed):
    repo, m = managed
    before = (repo.root / STATS).read_text()
    speculate(m, "edit", FIX)
    assert (repo.root / STATS).read_text() == before
    call = emit(m, "call-1", "edit", FIX)
    assert call.kind == "reused"
    res = call.result(WAIT_S)
    assert (res.call_id, res.ok, res.content) == ("call-1", True, FIXED)
    assert (repo.root / STATS).read_text() == before.replace(FIX["old"], FIX["new"], 1)
    assert repo.log() == [("edit", True, False), ("edit", False, True)]
    counts = m.metrics.snapshot("s")
    assert (counts["hits_reused"], counts["committed"], counts["misses"]) == (1, 1, 0)


def test_a_speculated_run_python_that_the_model_emits_is_committed_once(managed):
    repo, m = managed
    speculate(m, "run_python", {"code": WRITE})
    assert not (repo.root / "out.txt").exists()
    res = emit(m, "call-1", "run_python", {"code": WRITE}).result(WAIT_S)
    assert (res.ok, res.content) == (True, "done\n(exit code 0)")
    assert (repo.root / "out.txt").read_text() == "x"
    assert repo.beside() == ["repo"]
    assert repo.log() == [("run_python", True, False), ("run_python", False, True)]
    assert m.metrics.snapshot("s")["committed"] == 1


def test_a_missed_speculation_leaves_the_repository_as_the_real_calls_leave_it(managed):
    repo, m = managed
    original = tree(repo.root)
    speculate(m, "run_python", {"code": WRITE})
    call = emit(m, "call-1", "run_python", {"code": "print('other')"})
    assert call.kind == "miss"
    assert call.result(WAIT_S).content == "other\n(exit code 0)"
    assert tree(repo.root) == original and repo.beside() == ["repo"]
    speculate(m, "edit", FIX)
    other = {"path": STATS, "line": 18, "old": "return ordered[mid]", "new": "return ordered[0]"}
    call = emit(m, "call-2", "edit", other)
    assert call.kind == "miss"
    assert call.result(WAIT_S).content == "edited textkit/stats.py:18: return ordered[0]"
    assert FIX["new"] not in (repo.root / STATS).read_text()
    assert repo.log() == [("run_python", True, False), ("run_python", False, False),
                          ("edit", True, False), ("edit", False, False)]
    counts = m.metrics.snapshot("s")
    assert (counts["misses"], counts["committed"], counts["stale_discarded"]) == (2, 0, 2)


def test_a_commit_conflict_makes_the_hit_a_miss_and_the_real_edit_runs(managed):
    repo, m = managed
    speculate(m, "edit", FIX)
    _edit_stats(repo.root)  # another writer, outside the session
    call = emit(m, "call-1", "edit", FIX)
    res = call.result(WAIT_S)
    assert (call.kind, res.ok, res.content) == ("miss", True, FIXED)
    text = (repo.root / STATS).read_text()
    assert text.count(FIX["new"]) == 1 and text.endswith("# theirs\n")
    assert repo.log() == [("edit", True, False), ("edit", False, False)]
    counts = m.metrics.snapshot("s")
    assert (counts["commit_failures"], counts["committed"], counts["hits"]) == (1, 0, 0)
