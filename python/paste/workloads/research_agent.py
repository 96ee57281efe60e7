"""The research workload's tasks and its scripted agent (search, fetch by rank, refine, answer).

Tasks are drawn from the corpus with a seed. A `lookup` task asks which module a sentence of
its docstring describes; a `compare` task asks about two modules at once. The question's
content words (paste.workloads.index.terms, at most MAX_QUERY_TERMS) are the search query.

The agent, per topic of its question:
  1. search(query); 2. fetch the top result's URL (rank 0, as agents do);
  3. if less than ENOUGH of the query's terms occur in the page, fetch the next result; if the
     best page still falls short, refine: search again with the query plus the most frequent
     new term of the best page, and fetch that search's best unfetched result;
  4. answer with the title of the page that matched the most query terms (ties: first fetched).
Every argument after the first search comes from a real tool output (URLs, page words).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass

from paste.workloads.corpus import Document
from paste.workloads.index import terms
from paste.workloads.scripted import AgentProgram, Call, parse_json

MAX_QUERY_TERMS = 8
ENOUGH = 0.6


@dataclass(frozen=True)
class ResearchTask:
    task_id: str
    question: str
    topics: tuple[str, ...]  # one search query per topic
    expected: tuple[str, ...]  # doc ids the question was built from


def _sentence(doc: Document, rng: random.Random) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", " ".join(doc.text.split()))
                 if len(terms(s)) >= 4]
    return rng.choice(sentences[:6]) if sentences else doc.text[:200]


def _query(sentence: str) -> str:
    return " ".join(list(dict.fromkeys(terms(sentence)))[:MAX_QUERY_TERMS])


def research_tasks(corpus: tuple[Document, ...], n: int, seed: int) -> list[ResearchTask]:
    """n seeded tasks (about one in three is a compare task)."""
    rng = random.Random(seed)
    tasks = []
    for i in range(n):
        if rng.random() < 1 / 3:
            a, b = rng.sample(corpus, 2)
            sa, sb = _sentence(a, rng), _sentence(b, rng)
            question = f"Which two modules are these? First: {sa} Second: {sb}"
            tasks.append(ResearchTask(f"research-{seed}-{i}", question,
                                      (_query(sa), _query(sb)), (a.doc_id, b.doc_id)))
        else:
            doc = rng.choice(corpus)
            s = _sentence(doc, rng)
            tasks.append(ResearchTask(f"research-{seed}-{i}", f"Which module is this? {s}",
                                      (_query(s),), (doc.doc_id,)))
    return tasks


def _coverage(query: str, page: dict) -> float:
    q = set(terms(query))
    text = set(terms(f"{page.get('title', '')} {page.get('text', '')}"))
    return len(q & text) / len(q) if q else 0.0


def _topic(query: str) -> AgentProgram:
    """One topic: yields calls, returns the best page's title ('' if nothing was found)."""
    found = parse_json((yield Call("Searching the corpus.", "search", {"query": query})))
    urls = [r["url"] for r in (found or {}).get("results", [])]
    pages: list[dict] = []
    for url in urls[:2]:
        page = parse_json((yield Call("Reading the top result.", "fetch", {"url": url})))
        if isinstance(page, dict):
            pages.append(page)
        if pages and max(_coverage(query, p) for p in pages) >= ENOUGH:
            break
    best = max(pages, key=lambda p: _coverage(query, p), default=None)
    if best is not None and _coverage(query, best) < ENOUGH:
        new = Counter(t for t in terms(best["text"]) if t not in set(terms(query)))
        if new:
            word = min(new.items(), key=lambda kv: (-kv[1], kv[0]))[0]
            refined = f"{query} {word}"
            found = parse_json((yield Call("Refining the query.", "search", {"query": refined})))
            fetched = {p.get("url") for p in pages}
            more = [r["url"] for r in (found or {}).get("results", []) if r["url"] not in fetched]
            if more:
                page = parse_json((yield Call("Reading a new result.", "fetch", {"url": more[0]})))
                if isinstance(page, dict):
                    pages.append(page)
        best = max(pages, key=lambda p: _coverage(query, p))
    return "" if best is None else str(best.get("title", "")).split(" (")[0]


def research_agent(task: ResearchTask) -> AgentProgram:
    """The agent program of a task (module docstring)."""
    titles = []
    for query in task.topics:
        titles.append((yield from _topic(query)))
    named = [t for t in titles if t]
    if not named:
        return "I could not find a matching module."
    return "The answer: " + " and ".join(named) + "."
