"""LiveTask: one session of a live workload (research, coding or science) and its agent program.

`make_tasks(workloads, n, seed)` gives n seeded tasks per workload, in workload order; the
task ids carry the seed, so training tasks (another seed) never equal evaluated ones. The
workload name is also the session's tenant: each workload has its own PatternStore.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from paste.errors import InvalidArgumentError
from paste.workloads.scripted import AgentProgram

WORKLOADS = ("research", "coding", "science")


@dataclass(frozen=True)
class LiveTask:
    workload: str
    task: Any  # ResearchTask | CodingTask | ScienceTask

    @property
    def task_id(self) -> str:
        return str(self.task.task_id)

    @property
    def question(self) -> str:
        return str(self.task.question)

    def program(self) -> AgentProgram:
        """A fresh agent program for this task."""
        if self.workload == "research":
            from paste.workloads.research_agent import research_agent

            return research_agent(self.task)
        if self.workload == "coding":
            from paste.workloads.coding_agent import coding_agent

            return coding_agent(self.task)
        from paste.workloads.science_agent import science_agent

        return science_agent(self.task)


def parse_workloads(text: str) -> list[str]:
    """`research,coding` -> names in order (InvalidArgumentError if unknown)."""
    names = list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown or not names:
        raise InvalidArgumentError(
            f"unknown workload(s) {', '.join(unknown) or '(none)'}; known: {', '.join(WORKLOADS)}"
        )
    return names


def make_tasks(workloads: list[str], n: int, seed: int) -> list[LiveTask]:
    out: list[LiveTask] = []
    for name in workloads:
        if name == "research":
            from paste.workloads.corpus import stdlib_corpus
            from paste.workloads.research_agent import research_tasks

            out += [LiveTask(name, t) for t in research_tasks(stdlib_corpus(), n, seed)]
        elif name == "coding":
            from paste.workloads.repo import coding_tasks

            out += [LiveTask(name, t) for t in coding_tasks(n, seed)]
        else:
            from paste.workloads.science_agent import science_tasks

            out += [LiveTask(name, t) for t in science_tasks(n, seed)]
    return out
