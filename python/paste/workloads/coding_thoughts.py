"""The coding agent's thoughts: what it reasons before each call, from what it just read.

Each builder gets the real output the agent just received (grep matches, numbered source
lines, the probe's printout, the edit's confirmation, pytest's summary) and states what a
coding agent would: where the definition is, which line contradicts the docstring and the bug
report, what the reproduction printed, what the tests showed. About 200-600 characters
(docs/workloads.md); code is quoted as it is (scripted.safe_text later masks brackets).
"""

from __future__ import annotations

import re

from paste.workloads.repo import Mutation
from paste.workloads.scripted import clip

_NUMBERED = re.compile(r"^(\d+): (.*)$", re.M)


def grep_symbol(m: Mutation) -> str:
    return (f'The bug report says: "{m.issue}" So the function to look at is {m.symbol}. I '
            "do not know yet which module of textkit defines it, and I want to read its code "
            "before changing anything, so I will search the repository's Python files for its "
            f"definition line, def {m.symbol}, to get the file and the line number.")


def view_definition(m: Mutation, found: str, path: str, line: int) -> str:
    matches = found.splitlines()
    first = clip(matches[0].split(":", 2)[2] if matches[0].count(":") >= 2 else matches[0], 80)
    more = f" ({len(matches) - 1} more matches elsewhere)" if len(matches) > 1 else ""
    return (f'grep found the definition in {path} at line {line}: "{first}"{more}. I will '
            f"read that file from line {line} to {line + 14}: fifteen lines should cover the "
            f"docstring and the whole body of {m.symbol}, so I can see which line causes the "
            "reported behaviour before I change it.")


def _lines(viewed: str) -> list[tuple[int, str]]:
    return [(int(n), text) for n, text in _NUMBERED.findall(viewed)]


def _docstring(viewed: str) -> str:
    doc = next((t for _, t in _lines(viewed) if '"""' in t), "")
    return clip(doc.strip().strip('"'), 120).rstrip(".")


def reproduce(m: Mutation, viewed: str, path: str, target: int | None) -> str:
    lines = _lines(viewed)
    span = f"Lines {lines[0][0]} to {lines[-1][0]}" if lines else "The viewed lines"
    code = dict(lines).get(target or 0, "").strip()
    line = f' Line {target} reads "{clip(code, 110)}", the likely culprit.' if code else ""
    call = m.probe.split("; ", 1)[-1]
    return (f"{span} of {path} show {m.symbol}; its docstring promises: "
            f'"{_docstring(viewed)}".{line} Before editing I want to see the bug myself, so I '
            f"will run a one-line script that prints {call.removeprefix('print(')[:-1]} and "
            "compare the result with what the report expects.")


def fix_after_probe(m: Mutation, printed: str, path: str, target: int, code: str) -> str:
    lines = printed.strip().splitlines()
    value = clip(" ".join(lines[:-1]) or "nothing", 100)
    status = lines[-1].strip("()") if lines else "no exit code"
    return (f'The probe printed "{value}" ({status}), which is not what the report asks '
            f'for: "{m.issue}" That behaviour comes from line {target} of {path}: '
            f'"{clip(code.strip(), 110)}". I will replace "{m.bad}" with "{m.good}" in that '
            "line only and leave the rest of the function as it is.")


def fix_after_view(m: Mutation, viewed: str, path: str, target: int) -> str:
    code = dict(_lines(viewed)).get(target, "").strip()
    return (f'{path} line {target} reads "{clip(code, 110)}", but the docstring promises '
            f'"{_docstring(viewed)}" and the report says: "{m.issue}" That line is the bug. '
            f'I will replace "{m.bad}" with "{m.good}" in that line only and leave the rest of '
            "the function as it is.")


def run_module_tests(edited: str, tests: str) -> str:
    return (f'The edit was applied: "{clip(edited, 150)}". Now I need evidence that it fixes '
            f"the bug without breaking anything. The tests of this module are in {tests}; "
            "running just that file first is quicker than the whole suite and shows at once "
            "whether the fixed behaviour is what the tests expect.")


def summary(output: str) -> str:
    """pytest's summary line ("2 passed"), or the first line of other output."""
    lines = [ln for ln in output.splitlines() if "passed" in ln or "failed" in ln]
    return lines[-1].strip("= ") if lines else output.splitlines()[0] if output else "no output"


def run_suite(result: str, tests: str, symbol: str) -> str:
    status = result.strip().splitlines()[-1].strip("()")
    return (f"{tests}: {summary(result)} ({status}), so the fix satisfies the module's own "
            f"tests. The task asks to run the tests, and other textkit modules or their tests "
            f"may rely on {symbol}, so before answering I will run the whole suite in tests/ "
            "to make sure nothing else broke.")
