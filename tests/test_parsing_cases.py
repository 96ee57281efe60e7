"""Golden and project cases for every tool-call format, one-shot and under many chunkings.

Cases come from ../shared/golden/tool_calls.jsonl (beside the repo root) and
tests/data/parsing_cases.jsonl; both use the schema of the shared README: content is compared
after collapsing whitespace runs and stripping, calls as JSON values, and a case whose note
says an error is recorded must report at least one error while every other case reports none. Every way of feeding the text must give exactly the one-shot
ParsedOutput and an event stream that satisfies paste.parsing.replay.stream_problems.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from paste.parsing import parse_tool_calls
from paste.parsing.replay import replay, stream_problems

_REPO = Path(__file__).resolve().parents[1]
_GOLDEN = _REPO.parent / "shared" / "golden" / "tool_calls.jsonl"
_OWN = _REPO / "tests" / "data" / "parsing_cases.jsonl"


def _load(path: Path, tag: str) -> list:
    if not path.exists():
        return [
            pytest.param(
                None,
                id=f"{tag}-missing",
                marks=pytest.mark.skip(
                    reason=f"{path} not found (the shared folder should sit beside the repo root)"
                ),
            )
        ]
    lines = path.read_text(encoding="utf-8").splitlines()
    cases = [json.loads(line) for line in lines if line.strip()]
    return [pytest.param(c, id=f"{tag}{n}-{c['format']}") for n, c in enumerate(cases)]


CASES = _load(_GOLDEN, "golden") + _load(_OWN, "own")


_ERROR_NOTE = re.compile(r"error (is )?recorded")


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _chunkings(text: str, seed: int) -> list[list[str]]:
    """Per character, every two-chunk split, and seeded random chunkings."""
    out = [list(text)] + [[text[:k], text[k:]] for k in range(len(text) + 1)]
    rng = random.Random(seed)
    for _ in range(12):
        bounds = [0]
        while bounds[-1] < len(text):
            bounds.append(min(bounds[-1] + rng.randint(1, 7), len(text)))
        out.append([text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)])
    return out


@pytest.mark.parametrize("case", CASES)
def test_one_shot_matches_expected(case: dict) -> None:
    out = parse_tool_calls(case["text"], format=case["format"])
    assert _squash(out.content) == _squash(case["content"])
    assert [{"name": c.name, "arguments": c.arguments} for c in out.calls] == case["calls"]
    # JSON-value comparison also distinguishes true from 1, which == on dicts does not.
    assert json.dumps([c.arguments for c in out.calls], sort_keys=True) == json.dumps(
        [c["arguments"] for c in case["calls"]], sort_keys=True
    )
    if _ERROR_NOTE.search(case.get("note", "")):
        assert len(out.errors) >= 1
    else:
        assert out.errors == []


@pytest.mark.parametrize("case", CASES)
def test_every_chunking_matches_one_shot(case: dict) -> None:
    text, fmt = case["text"], case["format"]
    expected = parse_tool_calls(text, format=fmt)
    for pieces in _chunkings(text, seed=len(text)):
        events, final = replay(pieces, fmt)
        assert final == expected, pieces
        assert stream_problems(events, final) == [], pieces
