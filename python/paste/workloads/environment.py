"""LiveEnvironment: what the live workloads' tools run against, for the length of a benchmark.

It owns the CorpusServer of the research workload (started when a research task is in the
run, over a given corpus or the stdlib corpus) and one temporary directory under which every
coding session gets its own repository copy (`<tmp>/<mode>/<task id>`). `tools_for` builds a
session's LiveToolBox. Lifetime: `with LiveEnvironment(...) as env:`; closing stops the server
and deletes every copy.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from paste.workloads.netlatency import NetworkLatency
from paste.workloads.tasks import LiveTask
from paste.workloads.toolbox import LiveToolBox


class LiveEnvironment:
    def __init__(self, workloads: list[str], latency: NetworkLatency | None = None,
                 corpus: Any = None, science_in_process: bool = False) -> None:
        self.workloads = list(workloads)
        self.latency = latency or NetworkLatency()
        self.science_in_process = science_in_process
        self._corpus = corpus
        self.server: Any = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def __enter__(self) -> LiveEnvironment:
        self._tmp = tempfile.TemporaryDirectory(prefix="paste-live-")
        if "research" in self.workloads:
            from paste.workloads.corpus import stdlib_corpus
            from paste.workloads.index import BM25Index
            from paste.workloads.web_server import CorpusServer

            corpus = self._corpus if self._corpus is not None else stdlib_corpus()
            self.server = CorpusServer(BM25Index(corpus), self.latency).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def tools_for(self, task: LiveTask, run_name: str, playback: Any = None) -> LiveToolBox:
        """A fresh LiveToolBox with the task's workload tools (playback: oracle mode)."""
        box = LiveToolBox(playback)
        if task.workload == "research":
            from paste.workloads.research_tools import add_research_tools

            add_research_tools(box, self.server.base_url, task.task_id)
        elif task.workload == "coding":
            from paste.workloads.coding_tools import add_coding_tools
            from paste.workloads.repo import prepare_repo

            assert self._tmp is not None, "use LiveEnvironment as a context manager"
            root = prepare_repo(task.task, Path(self._tmp.name) / run_name / task.task_id)
            add_coding_tools(box, root)
        else:
            from paste.workloads.science_tools import add_science_tools

            add_science_tools(box, in_process=self.science_in_process)
        return box
