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
Every argument after the first search comes from a real tool output (URLs, page words), and
each call's thought reasons about that output (paste.workloads.research_thoughts).
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Generator
from dataclasses import dataclass

from paste.workloads.corpus import Document
from paste.workloads.index import terms
from paste.workloads.research_thoughts import (
    fetch_new,
    fetch_next,
    fetch_top,
    first_search,
    next_topic_search,
    page_terms,
    refine,
)
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
    return len(page_terms(query, page)) / len(q) if q else 0.0


def _sentences(task: ResearchTask) -> list[str]:
    """The sentence each topic's query was built from (the whole question if unknown)."""
    q = task.question
    if "First: " in q and " Second: " in q:
        first, second = q.split("First: ", 1)[1].split(" Second: ", 1)
        sentences = [first, second]
    else:
        sentences = [q.removeprefix("Which module is this? ")]
    return (sentences + [q] * len(task.topics))[: len(task.topics)]


def _topic(query: str, thought: str) -> Generator[Call, str, dict | None]:
    """One topic: yields calls, returns the best page (None if nothing was found)."""
    found = parse_json((yield Call(thought, "search", {"query": query})))
    results = (found or {}).get("results", [])
    pages: list[dict] = []
    reply = ""
    for rank, result in enumerate(results[:2]):
        if rank == 0:
            why = fetch_top(query, results)
        else:
            why = fetch_next(query, pages[-1] if pages else None, result, reply)
        reply = yield Call(why, "fetch", {"url": result["url"]})
        page = parse_json(reply)
        if isinstance(page, dict):
            pages.append(page)
        if pages and max(_coverage(query, p) for p in pages) >= ENOUGH:
            break
    best = max(pages, key=lambda p: _coverage(query, p), default=None)
    if best is not None and _coverage(query, best) < ENOUGH:
        new = Counter(t for t in terms(best["text"]) if t not in set(terms(query)))
        if new:
            word, count = min(new.items(), key=lambda kv: (-kv[1], kv[0]))
            refined = f"{query} {word}"
            why = refine(query, pages, best, word, count, refined)
            found = parse_json((yield Call(why, "search", {"query": refined})))
            fetched = {str(p.get("url")) for p in pages}
            results = (found or {}).get("results", [])
            more = [r for r in results if r["url"] not in fetched]
            if more:
                why = fetch_new(refined, results, fetched, more[0])
                page = parse_json((yield Call(why, "fetch", {"url": more[0]["url"]})))
                if isinstance(page, dict):
                    pages.append(page)
        best = max(pages, key=lambda p: _coverage(query, p))
    return best


def research_agent(task: ResearchTask) -> AgentProgram:
    """The agent program of a task (module docstring)."""
    titles = []
    previous: dict | None = None
    for i, (query, sentence) in enumerate(zip(task.topics, _sentences(task), strict=True)):
        if i == 0:
            thought = first_search(sentence, query)
        else:
            thought = next_topic_search(previous, task.topics[i - 1], sentence, query)
        previous = yield from _topic(query, thought)
        titles.append("" if previous is None else str(previous.get("title", "")).split(" (")[0])
    named = [t for t in titles if t]
    if not named:
        return "I could not find a matching module."
    return "The answer: " + " and ".join(named) + "."
