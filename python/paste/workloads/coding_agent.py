"""The coding workload's scripted agent: grep the symbol, view it, edit, run pytest, answer.

  1. grep(`def <symbol>\\b`) -> the first match gives the file and the line;
  2. view(file, line, line + 14);
  3. (probe tasks) run_python(the bug report's one-line check);
  4. edit(file, N, bad, good) where N is the first viewed line containing the buggy text;
  5. pytest(the test file of that module: tests/test_<module>.py); if it passes and the task
     asks for it, pytest(tests);
  6. answer with the edited line and the last pytest summary line.
The agent knows the fix from the bug report (as a model would after reading it); the file,
the line numbers and what it reports come from the real tool outputs. Before each call it
writes its reasoning about the output it just read (paste.workloads.coding_thoughts).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from paste.workloads import coding_thoughts as think
from paste.workloads.repo import MUTATIONS, CodingTask
from paste.workloads.scripted import AgentProgram, Call

_MATCH = re.compile(r"^([^:\n]+\.py):(\d+):", re.M)
_NUMBERED = re.compile(r"^(\d+): (.*)$", re.M)


def coding_agent(task: CodingTask) -> AgentProgram:
    """The agent program of a task (module docstring)."""
    m = MUTATIONS[task.mutation]
    found = yield Call(think.grep_symbol(m), "grep", {"pattern": rf"def {m.symbol}\b"})
    match = _MATCH.search(found)
    if match is None:
        return f"I could not find {m.symbol} in the repository."
    path, line = match.group(1), int(match.group(2))
    viewed = yield Call(think.view_definition(m, found, path, line), "view",
                        {"path": path, "start": line, "end": line + 14})
    numbered = _NUMBERED.findall(viewed)
    target = next((int(n) for n, text in numbered if m.bad in text), None)
    why = ""
    if task.probe:
        printed = yield Call(think.reproduce(m, viewed, path, target), "run_python",
                             {"code": m.probe})
        if target is not None:
            code = dict(numbered)[str(target)]
            why = think.fix_after_probe(m, printed, path, target, code)
    if target is None:
        return f"The code of {m.symbol} does not contain the reported bug."
    why = why or think.fix_after_view(m, viewed, path, target)
    edited = yield Call(why, "edit", {"path": path, "line": target, "old": m.bad, "new": m.good})
    if not edited.startswith("edited"):
        return f"The edit failed: {edited}"
    tests = f"tests/test_{PurePosixPath(path).stem}.py"
    result = yield Call(think.run_module_tests(edited, tests), "pytest", {"target": tests})
    if task.full_suite and "(exit code 0)" in result:
        result = yield Call(think.run_suite(result, tests, m.symbol), "pytest",
                            {"target": "tests"})
    return f"Fixed {m.symbol} in {path} line {target}. Tests: {think.summary(result)}."
