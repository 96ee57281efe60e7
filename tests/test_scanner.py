"""ToolCallScanner through the bindings: exact CALL_START / CALL_COMPLETE events (sequence,
token index) in tag mode and in json mode over a tiny hand-made vocabulary."""

from __future__ import annotations

import numpy as np
import pytest

from paste.core import ScanEventKind, ScanMode, ToolCallScanner
from paste.errors import InvalidArgumentError, UnknownSequenceError

START, DONE = int(ScanEventKind.CALL_START), int(ScanEventKind.CALL_COMPLETE)

# token id -> text; ids 100/101 stand for the special tokens <tool_call> / </tool_call>.
VOCAB = [
    "Sure.",  # 0
    "\n",  # 1
    "```",  # 2
    "json\n",  # 3
    '{"',  # 4
    "name",  # 5
    '": "',  # 6
    "f",  # 7
    '", "',  # 8
    "arguments",  # 9
    '": {',  # 10
    "q",  # 11
    "}",  # 12
    "}}",  # 13
    '\\"',  # 14 escaped quote
    '"',  # 15
    " ",  # 16
    "{",  # 17
]


def scan(sc: ToolCallScanner, steps: dict[int, list[int]]) -> list[tuple[int, int, int]]:
    seq_ids = np.array(list(steps), dtype=np.int64)
    offsets = np.cumsum([0] + [len(t) for t in steps.values()]).astype(np.int32)
    tokens = np.array([t for toks in steps.values() for t in toks], dtype=np.int32)
    seqs, kinds, index = sc.scan(seq_ids, offsets, tokens)
    assert seqs.dtype == np.int64 and kinds.dtype == np.int8 and index.dtype == np.int32
    return list(zip(seqs.tolist(), kinds.tolist(), index.tolist(), strict=True))


def test_tag_mode_events_across_steps():
    sc = ToolCallScanner(ScanMode.TAG, start_tag=[100], end_tag=[101])
    sc.add_sequence(1)
    sc.add_sequence(2)
    assert scan(sc, {1: [5, 100, 7], 2: [100]}) == [(1, START, 1), (2, START, 0)]
    assert sc.in_call(1)
    assert scan(sc, {1: [8, 101, 100], 2: [9]}) == [(1, DONE, 4), (1, START, 5)]
    assert scan(sc, {2: [101]}) == [(2, DONE, 2)]
    assert sc.num_tokens(1) == 6


def test_tag_mode_multi_token_tags():
    sc = ToolCallScanner(ScanMode.TAG, start_tag=[1, 1, 2], end_tag=[1, 3, 2])
    sc.add_sequence(7)
    assert scan(sc, {7: [1, 1, 1, 2]}) == [(7, START, 3)]
    assert scan(sc, {7: [1, 3]}) == []
    assert scan(sc, {7: [2]}) == [(7, DONE, 6)]


def test_json_mode_strings_escapes_and_nesting():
    sc = ToolCallScanner(ScanMode.JSON)
    sc.set_vocabulary([s.encode() for s in VOCAB])
    assert sc.vocab_size == len(VOCAB)
    sc.add_sequence(1)
    # {"name": "f", "arguments": {"q": "}"}}
    call = [4, 5, 6, 7, 8, 9, 10, 15, 11, 6, 12, 15, 13]
    assert scan(sc, {1: [16, 1] + call[:5]}) == [(1, START, 2)]
    assert scan(sc, {1: call[5:]}) == [(1, DONE, 14)]
    # {"q": "\"}"} : the escaped quote keeps the string open over its '}'.
    sc.reset(1)
    assert scan(sc, {1: [4, 11, 6, 14, 12, 15, 12]}) == [(1, START, 0), (1, DONE, 6)]


def test_json_mode_prose_and_code_fences():
    plain = ToolCallScanner(ScanMode.JSON)
    plain.set_vocabulary(VOCAB)  # str entries are taken as UTF-8
    plain.add_sequence(1)
    assert scan(plain, {1: [0, 16, 17, 12]}) == []  # a '{' after prose is not a call
    fenced = ToolCallScanner(ScanMode.JSON, code_fences=True)
    fenced.set_vocabulary(VOCAB)
    fenced.add_sequence(1)
    assert scan(fenced, {1: [0, 1, 2, 3, 4, 11, 15, 12, 1, 2, 0, 17]}) == [
        (1, START, 4),
        (1, DONE, 7),
    ]
    anywhere = ToolCallScanner(ScanMode.JSON, json_start_anywhere=True)
    anywhere.set_vocabulary(VOCAB)
    anywhere.add_sequence(1)
    assert scan(anywhere, {1: [0, 16, 17, 12]}) == [(1, START, 2), (1, DONE, 3)]


def test_errors_leave_state_unchanged():
    with pytest.raises(InvalidArgumentError):
        ToolCallScanner(ScanMode.TAG, start_tag=[], end_tag=[1])
    sc = ToolCallScanner(ScanMode.JSON)
    sc.add_sequence(1)
    with pytest.raises(InvalidArgumentError, match="vocabulary"):
        scan(sc, {1: [0]})
    sc.set_vocabulary(VOCAB)
    with pytest.raises(InvalidArgumentError, match="not in the vocabulary"):
        scan(sc, {1: [17, 999]})
    with pytest.raises(UnknownSequenceError):
        scan(sc, {1: [17], 5: [12]})
    with pytest.raises(InvalidArgumentError):
        sc.set_vocabulary([1, 2])
    assert sc.num_tokens(1) == 0 and not sc.in_call(1)
    assert scan(sc, {1: [17, 12]}) == [(1, START, 0), (1, DONE, 1)]
