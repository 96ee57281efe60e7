"""The research agent's thoughts: what it reasons before each call, from what it just read.

Each builder gets the real output the agent just received (search results, a fetched page)
and states what a research agent would: which result looks relevant and why (the query terms
its snippet or page shares, quoted), what is missing, and what it does next. Quotes are cut
(scripted.clip) so a thought stays within about 200-600 characters (docs/workloads.md).
"""

from __future__ import annotations

from typing import Any

from paste.workloads.index import terms
from paste.workloads.scripted import clip, enumerate_words, plural


def shared_terms(query: str, text: str) -> list[str]:
    """The query's distinct terms that occur in text, in query order."""
    have = set(terms(text))
    return [t for t in dict.fromkeys(terms(query)) if t in have]


def page_terms(query: str, page: dict[str, Any]) -> list[str]:
    return shared_terms(query, f"{page.get('title', '')} {page.get('text', '')}")


def short_title(item: dict[str, Any]) -> str:
    return str(item.get("title", "")).split(" (")[0] or "an untitled page"


def _num_terms(query: str) -> int:
    return len(dict.fromkeys(terms(query)))


def first_search(sentence: str, query: str) -> str:
    return (f'The question quotes this sentence: "{clip(sentence, 180)}". The module whose '
            "documentation contains it should rank first in a keyword search, so I will search "
            f"the corpus for the sentence's distinctive content words: {query}.")


def next_topic_search(previous: dict[str, Any] | None, previous_query: str, sentence: str,
                      query: str) -> str:
    if previous is None:
        done = "I found no page for the first sentence, so I leave it open."
    else:
        have = page_terms(previous_query, previous)
        done = (f"The first module is {short_title(previous)}: its page contains "
                f"{len(have)} of the {_num_terms(previous_query)} query terms "
                f"({enumerate_words(have)}).")
    return (f'{done} Now the second sentence: "{clip(sentence, 170)}". Searching the corpus '
            f"for its content words: {query}.")


def fetch_top(query: str, results: list[dict[str, Any]]) -> str:
    top = results[0]
    have = shared_terms(query, f"{top.get('title', '')} {top.get('snippet', '')}")
    others = "; ".join(f'{short_title(r)} ("{clip(r.get("snippet", ""), 50)}")'
                       for r in results[1:3])
    rest = f" Below it: {others}." if others else ""
    return (f'The search for "{query}" returned {plural(len(results), "result")}. The top one is '
            f'{short_title(top)}, whose snippet reads "{clip(top.get("snippet", ""), 100)}"; it '
            f"shares {len(have)} of the {_num_terms(query)} query terms"
            f"{' (' + enumerate_words(have) + ')' if have else ''}.{rest} It is "
            f"ranked first, so it is the best candidate; I will read its page: {top['url']}")


def fetch_next(query: str, page: dict[str, Any] | None, result: dict[str, Any],
               reply: str) -> str:
    """After the top page: `page` as read, or None if the fetch failed (`reply`: its error)."""
    if page is None:
        why = f'The top page could not be read ("{clip(reply, 160)}").'
    else:
        have = page_terms(query, page)
        missing = [t for t in dict.fromkeys(terms(query)) if t not in have]
        why = (f"The page of {short_title(page)} contains only {len(have)} of the "
               f"{_num_terms(query)} query terms ({enumerate_words(have) or 'none'}); "
               f"it lacks {enumerate_words(missing)}, so it is probably not the module the "
               "question describes.")
    return (f"{why} The next result was {short_title(result)}, snippet "
            f'"{clip(result.get("snippet", ""), 130)}". Reading that page: {result["url"]}')


def refine(query: str, pages: list[dict[str, Any]], best: dict[str, Any], word: str,
           count: int, refined: str) -> str:
    n = _num_terms(query)
    scores = ", ".join(f"{short_title(p)} has {len(page_terms(query, p))} of {n}"
                       for p in pages)
    missing = [t for t in dict.fromkeys(terms(query)) if t not in page_terms(query, best)]
    if count > 1:
        hint = (f'Its most frequent word outside the query is "{word}" ({count} times), '
                "likely part of the topic's vocabulary.")
    else:
        hint = (f'No word outside the query occurs twice in it; "{word}" is the first of them '
                "alphabetically, a weak hint.")
    return (f"No page covers the question well enough: {scores} query terms; the best one, "
            f"{short_title(best)}, lacks {enumerate_words(missing)}. {hint} I will add that "
            f"word to the query and search again: {refined}.")


def fetch_new(refined: str, results: list[dict[str, Any]], fetched: set[str],
              pick: dict[str, Any]) -> str:
    seen = [short_title(r) for r in results if r["url"] in fetched]
    known = f"; {enumerate_words(seen)} I have already read" if seen else ""
    titles = enumerate_words([short_title(r) for r in results[:5]])
    return (f'The refined search for "{refined}" returned {titles}{known}. '
            f"{short_title(pick)} is new and its snippet says "
            f'"{clip(pick.get("snippet", ""), 150)}", so I will fetch it: {pick["url"]}')
