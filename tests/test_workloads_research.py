"""Research workload (paste.workloads): BM25 index, corpus HTTP server, search/fetch tools and
the scripted research agent, on the tiny fixture corpus (tests/data/workloads)."""

from __future__ import annotations

import json
import math
import urllib.request

import pytest

from paste.tools import ToolExecutor, ToolJob
from paste.workloads.corpus import module_text, stdlib_corpus
from paste.workloads.environment import LiveEnvironment
from paste.workloads.errors import DestinationError
from paste.workloads.index import BM25Index, terms
from paste.workloads.netlatency import NetworkLatency
from paste.workloads.research_agent import ResearchTask
from paste.workloads.research_tools import add_research_tools
from paste.workloads.tasks import LiveTask
from paste.workloads.toolbox import LiveToolBox
from paste.workloads.web_server import CorpusServer
from test_session_support import shared_tiny_folder
from test_workloads_support import run_one, sim_engine, thoughts, tiny_corpus


@pytest.fixture(scope="module")
def index():
    return BM25Index(tiny_corpus())


def test_terms_lowercase_words_without_stop_words():
    assert terms("The Heap-queue, of 2 trees!") == ["heap", "queue", "trees"]


def test_index_ranks_exact_documents(index):
    assert [h.doc_id for h in index.search("compress files", 5)] == ["gzip", "zipfile"]
    assert [h.doc_id for h in index.search("heap binary tree", 5)] == ["heapq", "gzip"]
    assert [h.doc_id for h in index.search("sorted list insertion", 5)] == ["bisect"]
    assert index.search("nothing matches xyz", 5) == []
    assert index.search("heap binary tree", 5)[0].snippet == (
        "A heap is a binary tree where every parent is smaller than its children."
    )


def test_index_score_is_bm25(index):
    docs = tiny_corpus()
    lengths = {d.doc_id: len(terms(f"{d.doc_id} {d.text}")) for d in docs}
    avgdl = sum(lengths.values()) / len(docs)
    tf = terms("json " + docs[2].text).count("json")
    idf = math.log(1 + (5 - 1 + 0.5) / (1 + 0.5))
    expected = idf * tf * 2.5 / (tf + 1.5 * (0.25 + 0.75 * lengths["json"] / avgdl))
    assert tf == 3
    assert index.score("json") == {"json": pytest.approx(expected)}


def test_stdlib_corpus_is_deterministic_and_skips_private_modules():
    a, b = stdlib_corpus(), stdlib_corpus.__wrapped__()
    assert a == b and len(a) > 50
    ids = [d.doc_id for d in a]
    assert ids == sorted(ids) and "json" in ids and not any(i.startswith("_") for i in ids)
    assert "antigravity" not in ids and "test" not in ids


def test_module_text_reads_docstrings_without_importing():
    source = '"""Top doc."""\ndef f():\n    """F doc.\n\n    More."""\nclass _P:\n    """hidden"""\n'
    assert module_text(source) == "Top doc.\n\nf: F doc."


def test_server_serves_search_and_pages(index):
    with CorpusServer(index) as server:
        with urllib.request.urlopen(f"{server.base_url}/search?q=json+text&k=2") as r:
            body = json.loads(r.read())
        assert body == {"query": "json text", "results": [{
            "url": f"{server.base_url}/page/json", "title": "json (fixture)",
            "snippet": "Encode Python objects as JSON text and decode JSON text into Python "
                       "objects."}]}  # fmt: skip
        with urllib.request.urlopen(f"{server.base_url}/page/bisect") as r:
            assert json.loads(r.read())["title"] == "bisect (fixture)"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{server.base_url}/page/nope")
        assert err.value.code == 404
        err.value.close()
        assert server.answer("/search?q=") == ("search", 400, {"error": "missing query parameter q"})
        assert server.base_url.startswith("http://127.0.0.1:")
    assert [r.status for r in server.log] == [200, 200, 404]


def test_a_read_reply_is_already_logged(index):
    # The log entry is written before the reply, so a client never sees a reply that is not
    # yet logged (it used to be appended after the write: a race the serving thread could lose).
    with CorpusServer(index) as server:
        for i in range(40):
            with urllib.request.urlopen(f"{server.base_url}/page/json") as r:
                r.read()
            assert len(server.log) == i + 1


def test_latency_is_seeded_per_session_and_request():
    lat = NetworkLatency(seed=7, scale=1.0)
    a = lat.draw("page", "s1", "/page/json")
    assert a == NetworkLatency(seed=7).draw("page", "s1", "/page/json")
    assert a != lat.draw("page", "s2", "/page/json")
    assert a != NetworkLatency(seed=8).draw("page", "s1", "/page/json")
    assert NetworkLatency(seed=7, scale=0.01).draw("page", "s1", "/page/json") == pytest.approx(a / 100)
    assert NetworkLatency(scale=0.0).draw("page", "s1", "/x") == 0.0
    draws = [NetworkLatency(seed=s).draw("search", "s", "/q") for s in range(400)]
    assert sorted(draws)[200] == pytest.approx(1.0, rel=0.1)  # median near the p50


def test_server_injects_the_seeded_delay(index):
    lat = NetworkLatency(seed=3, scale=0.02)
    with CorpusServer(index, lat) as server:
        req = urllib.request.Request(f"{server.base_url}/page/gzip", headers={"X-Session": "t1"})
        urllib.request.urlopen(req).read()
    assert server.log[0].delay_s == lat.draw("page", "t1", "/page/gzip") > 0


def _tools(server):
    box = LiveToolBox()
    add_research_tools(box, server.base_url, "t1")
    return box, ToolExecutor(box.registry)


def test_tools_exact_outputs_and_typed_errors(index):
    with CorpusServer(index) as server:
        box, ex = _tools(server)
        try:
            out = ex.submit(ToolJob("1", "search", json.dumps({"query": "binary heap"}))).result()
            assert json.loads(out.content)["results"][0]["url"] == f"{server.base_url}/page/heapq"
            page = ex.submit(ToolJob("2", "fetch", json.dumps({"url": f"{server.base_url}/page/json"}))).result()
            assert json.loads(page.content) == {
                "url": f"{server.base_url}/page/json", "title": "json (fixture)",
                "text": tiny_corpus()[2].text}  # fmt: skip
            bad = ex.submit(ToolJob("3", "fetch", json.dumps({"url": f"{server.base_url}/page/nope"}))).result()
            assert (bad.error_kind, bad.content) == (
                "tool_error", "tool 'fetch' raised PageNotFoundError: no page 'nope'")
            far = ex.submit(ToolJob("4", "fetch", json.dumps({"url": "http://example.com/page/x"}))).result()
            assert far.error_kind == "tool_error" and "DestinationError" in far.content
        finally:
            ex.shutdown()
        spec = box.registry.get("fetch")
        assert spec.effect.value == "read_only"
        assert spec.may_speculate({"url": f"{server.base_url}/page/x"})
        assert not spec.may_speculate({"url": "http://example.com/page/x"})
        assert issubclass(DestinationError, ValueError)
    assert all(r.path.startswith(("/search", "/page/")) for r in server.log)


def test_research_agent_session_exact_calls(tmp_path_factory):
    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    task = LiveTask("research", ResearchTask("r-1", "Which module keeps a list sorted?",
                                             ("sorted list insertion",), ("bisect",)))
    with LiveEnvironment(["research"], NetworkLatency(scale=0.0), tiny_corpus()) as env:
        run = run_one(engine, env, task)
        base = env.server.base_url
    assert run.calls["r-1"] == [("search", {"query": "sorted list insertion"}),
                                ("fetch", {"url": f"{base}/page/bisect"})]
    assert run.answers["r-1"] == "The answer: bisect."
    assert run.run.sessions[0].statuses == ["completed"]
    assert thoughts(run, "r-1") == [
        'The question quotes this sentence: "Which module keeps a list sorted?". The module '
        "whose documentation contains it should rank first in a keyword search, so I will "
        "search the corpus for the sentence's distinctive content words: sorted list insertion.",
        'The search for "sorted list insertion" returned 1 result. The top one is bisect, whose '
        'snippet reads "Bisection algorithms for keeping a list in sorted order without sorting '
        'it again after each..."; it shares 3 of the 3 query terms (sorted, list and insertion).'
        " It is ranked first, so it is the best candidate; I will read its page: "
        f"{base}/page/bisect",
    ]


def test_research_agent_fetches_the_next_result_then_refines(tmp_path_factory):
    """Each page covers half of "archives heap" (< ENOUGH): fetch rank 1, then refine with the
    best page's (heapq, first fetched on a tie) most frequent new term, alphabetical on ties:
    "algorithm". The refined search finds nothing unfetched, so the agent answers."""
    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    task = LiveTask("research", ResearchTask("r-2", "q", ("archives heap",), ("zipfile",)))
    with LiveEnvironment(["research"], NetworkLatency(scale=0.0), tiny_corpus()) as env:
        run = run_one(engine, env, task)
        base = env.server.base_url
    assert run.calls["r-2"] == [
        ("search", {"query": "archives heap"}), ("fetch", {"url": f"{base}/page/heapq"}),
        ("fetch", {"url": f"{base}/page/zipfile"}),
        ("search", {"query": "archives heap algorithm"}),
    ]
    assert run.answers["r-2"] == "The answer: heapq."
    assert thoughts(run, "r-2")[1:] == [
        'The search for "archives heap" returned 2 results. The top one is heapq, whose snippet '
        'reads "Heap queue algorithm."; it shares 1 of the 2 query terms (heap). Below it: '
        'zipfile ("Read and write ZIP archives."). It is ranked first, so it is the best '
        f"candidate; I will read its page: {base}/page/heapq",
        "The page of heapq contains only 1 of the 2 query terms (heap); it lacks archives, so "
        "it is probably not the module the question describes. The next result was zipfile, "
        f'snippet "Read and write ZIP archives.". Reading that page: {base}/page/zipfile',
        "No page covers the question well enough: heapq has 1 of 2, zipfile has 1 of 2 query "
        "terms; the best one, heapq, lacks archives. No word outside the query occurs twice in "
        'it; "algorithm" is the first of them alphabetically, a weak hint. I will add that word '
        "to the query and search again: archives heap algorithm.",
    ]


def test_compare_task_thoughts_quote_each_sentence_and_the_first_answer(tmp_path_factory):
    """A compare task: the second search's thought reports the first topic's best page."""
    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    question = ("Which two modules are these? First: Keep a list in sorted order. Second: "
                "Encode Python objects as JSON text.")
    task = LiveTask("research", ResearchTask("r-3", question, ("sorted list", "json text"),
                                             ("bisect", "json")))
    with LiveEnvironment(["research"], NetworkLatency(scale=0.0), tiny_corpus()) as env:
        run = run_one(engine, env, task)
    said = thoughts(run, "r-3")
    assert [c[0] for c in run.calls["r-3"]] == ["search", "fetch", "search", "fetch"]
    assert said[0].startswith('The question quotes this sentence: "Keep a list in sorted order."')
    assert said[2] == (
        "The first module is bisect: its page contains 2 of the 2 query terms (sorted and list)."
        ' Now the second sentence: "Encode Python objects as JSON text.". Searching the corpus '
        "for its content words: json text.")
    assert run.answers["r-3"] == "The answer: bisect and json."
