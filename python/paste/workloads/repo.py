"""The coding workload's sample repository (minirepo/, package `textkit`) and its tasks.

minirepo/ ships with one bug: `variance` divides by n instead of n - 1 (MUTATIONS[0]). Each
other mutation puts a different bug into one function. A task's repository copy is minirepo/
with the shipped bug fixed and the task's bug applied (task 0 keeps the shipped bug), made in
a fresh temporary directory per session, so sessions and modes never share files.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path

MINIREPO = Path(__file__).resolve().parent / "minirepo"


@dataclass(frozen=True)
class Mutation:
    symbol: str
    path: str
    good: str
    bad: str
    issue: str  # what the task tells the agent
    probe: str  # a one-line check the agent may run first


MUTATIONS = (
    Mutation("variance", "textkit/stats.py", "return total / (len(values) - 1)",
             "return total / len(values)",
             "variance() must return the sample variance (divide by n - 1).",
             "from textkit.stats import variance; print(variance([1, 2, 3, 4]))"),
    Mutation("median", "textkit/stats.py", "return (ordered[mid - 1] + ordered[mid]) / 2",
             "return ordered[mid - 1]",
             "median() of an even number of values must average the two middle values.",
             "from textkit.stats import median; print(median([4, 1, 3, 2]))"),
    Mutation("top_words", "textkit/words.py", "key=lambda kv: (-kv[1], kv[0])",
             "key=lambda kv: (kv[1], kv[0])",
             "top_words() must list the most frequent words first.",
             "from textkit.words import top_words; print(top_words('b a b c b a', 2))"),
    Mutation("merge_intervals", "textkit/intervals.py", "if merged and start <= merged[-1][1]:",
             "if merged and start < merged[-1][1]:",
             "merge_intervals() must also merge intervals that only touch.",
             "from textkit.intervals import merge_intervals; print(merge_intervals([(1, 3), (3, 4)]))"),
    Mutation("word_count", "textkit/words.py", "return len(words(text))",
             "return len(text.split(' '))",
             "word_count() must count words, not spaces.",
             "from textkit.words import word_count; print(word_count('The cat, the hat.'))"),
)  # fmt: skip


@dataclass(frozen=True)
class CodingTask:
    task_id: str
    mutation: int
    probe: bool  # run the probe script before editing
    full_suite: bool  # run the whole suite after the module's tests pass

    @property
    def question(self) -> str:
        m = MUTATIONS[self.mutation]
        return f"Bug report for the textkit repository: {m.issue} Fix it and run the tests."


def coding_tasks(n: int, seed: int) -> list[CodingTask]:
    rng = random.Random(seed)
    return [CodingTask(f"coding-{seed}-{i}", rng.randrange(len(MUTATIONS)), rng.random() < 0.5,
                       rng.random() < 0.5) for i in range(n)]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if text.count(old) != 1:
        raise RuntimeError(f"{path.name}: expected {old!r} exactly once")
    path.write_text(text.replace(old, new))


def prepare_repo(task: CodingTask, dest: Path) -> Path:
    """Copy minirepo/ to dest (must not exist) with the task's bug; returns dest."""
    shutil.copytree(MINIREPO, dest, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shipped = MUTATIONS[0]
    _replace(dest / shipped.path, shipped.bad, shipped.good)
    m = MUTATIONS[task.mutation]
    _replace(dest / m.path, m.good, m.bad)
    return dest
