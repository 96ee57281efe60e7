"""CallWatch: the engine's tool-call scanner and trie matcher, advanced once per step.

Every request with GenerationParams.call_scan is a sequence of the ToolCallScanner of its
format (one scanner per format in use; one model writes one format, so one in practice); a
request with call_candidates is also a sequence of the ONE TrieMatcher, holding them. Per step,
after BatchLoop.commit, each scanner and the matcher get one batch call over the sequences
that decoded a token:

    scan(all watched tokens)        -> CALL_START / CALL_COMPLETE per sequence
    matcher.reset(seq) at CALL_START   (a new call: match it from its first token)
    advance(tokens inside a call)   -> CONFIRMED(candidate) / REFUTED, reported once per call

What the matcher sees of a call: tag mode, the tokens after the start tag; json mode, the
tokens from the one holding the '{' (candidates are rendered to match, speculation/render.py).
A call that completes while its candidates are still pending is REFUTED at its last token.
A token that both ends one call and starts the next is matched only as the next call's start.
Token indices are the request's output indices (sequences join at registration, before any
output token). Driven by the engine thread only, like the BatchLoop.

With params.call_reasoning (a ReasoningGate) a sequence's tokens reach neither its scanner
nor the matcher until its thinking has closed (`_Gate`): the thinking's tokens, the closing
tag's, and blank tokens or a partial opening tag before an answer that opens without thinking
are skipped; events keep the request's output indices.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from paste.core import MatchStatus, ScanEventKind, ScanMode, ToolCallScanner, TrieMatcher
from paste.engine.call_events import CallEvent, CallEventKind, CallScan, ReasoningGate
from paste.engine.request import GenerationParams
from paste.errors import InvalidArgumentError

_SCAN_KINDS = {
    int(ScanEventKind.CALL_START): CallEventKind.CALL_START,
    int(ScanEventKind.CALL_COMPLETE): CallEventKind.CALL_COMPLETE,
}
_CONFIRMED, _REFUTED = int(MatchStatus.CONFIRMED), int(MatchStatus.REFUTED)


_START, _THINKING, _ANSWER = range(3)


class _Gate:
    """A sequence's position relative to its thinking (ReasoningGate), token by token."""

    def __init__(self, gate: ReasoningGate, blank: Callable[[int], bool]) -> None:
        self._open, self._close = gate.open_ids, gate.close_ids
        self._blank = blank
        self.state = _THINKING if gate.inside else _START
        self._matched = 0  # tokens of the opening tag seen (START)
        self._recent: list[int] = []  # the last tokens, as long as the closing tag (THINKING)

    def admits(self, token: int) -> bool:
        """Whether `token` is answer (scanned); advances the state."""
        if self.state == _ANSWER:
            return True
        if self.state == _START:
            if token == self._open[self._matched]:
                self._matched += 1
                if self._matched == len(self._open):
                    self.state = _THINKING
                return False
            if self._matched == 0 and self._blank(token):
                return False
            self.state = _ANSWER
            return True
        self._recent.append(token)
        if len(self._recent) > len(self._close):
            del self._recent[0]
        if tuple(self._recent) == self._close:
            self.state = _ANSWER
        return False


@dataclass
class _Watched:
    scan: CallScan
    scanner: ToolCallScanner
    matched: bool  # has candidates in the matcher
    gate: _Gate | None = None
    skipped: int = 0  # output tokens before the answer that the scanner never saw
    num_tokens: int = 0
    matching: bool = False  # inside a call whose match is not reported yet
    candidates: tuple[tuple[int, tuple[int, ...]], ...] = ()
    fed: list[int] = field(default_factory=list)  # the matcher's tokens of the current call


class CallWatch:
    def __init__(self, tokenizer: object, vocab_size: int) -> None:
        self._tok = tokenizer
        self._vocab_size = vocab_size
        self._scanners: dict[CallScan, ToolCallScanner] = {}
        self.matcher = TrieMatcher()
        self._seqs: dict[int, _Watched] = {}

    def check(self, params: GenerationParams) -> None:
        """Builds the scanner `params` need; InvalidArgumentError (e.g. a tag with no tokens).
        Call before the request touches the BatchLoop, so a bad request changes nothing."""
        if params.call_scan is not None:
            self._scanner(params.call_scan)

    def add(self, seq_id: int, params: GenerationParams) -> None:
        """Watches `seq_id` for this turn (after check(params)); indices restart at 0."""
        self.remove(seq_id)
        if params.call_scan is None:
            return
        scanner = self._scanner(params.call_scan)
        scanner.add_sequence(seq_id)
        if params.call_candidates:
            self.matcher.add_sequence(seq_id)
            for cand_id, tokens in params.call_candidates:
                self.matcher.add_candidate(seq_id, cand_id, list(tokens))
        gate = None if params.call_reasoning is None else _Gate(params.call_reasoning, self._blank)
        self._seqs[seq_id] = _Watched(params.call_scan, scanner, bool(params.call_candidates),
                                      gate=gate, candidates=params.call_candidates)

    def remove(self, seq_id: int) -> None:
        w = self._seqs.pop(seq_id, None)
        if w is None:
            return
        w.scanner.remove_sequence(seq_id)
        if w.matched:
            self.matcher.remove_sequence(seq_id)

    def step(self, seq_ids: list[int], tokens: list[int]) -> dict[int, list[CallEvent]]:
        """Events of the tokens committed this step (one per sequence), by sequence."""
        if not self._seqs:
            return {}
        watched = []
        for s, t in zip(seq_ids, tokens, strict=True):
            w = self._seqs.get(s)
            if w is None:
                continue
            if w.gate is not None and not w.gate.admits(t):
                w.num_tokens += 1
                w.skipped += 1
                continue
            watched.append((s, t))
        if not watched:
            return {}
        events: dict[int, list[CallEvent]] = {}
        groups: dict[int, list[tuple[int, int]]] = {}
        for s, t in watched:
            groups.setdefault(id(self._seqs[s].scanner), []).append((s, t))
        for items in groups.values():
            scanner = self._seqs[items[0][0]].scanner
            found = scanner.scan(*_batch(items))
            for s, kind, index in zip(*(a.tolist() for a in found), strict=True):
                index += self._seqs[s].skipped
                events.setdefault(s, []).append(CallEvent(_SCAN_KINDS[kind], index))
        feed, closing = self._to_match(watched, events)
        if feed:
            status, cand_ids, _ = self.matcher.advance(*_batch(feed))
            for (s, _t), st, cand in zip(feed, status.tolist(), cand_ids.tolist(), strict=True):
                w = self._seqs[s]
                index = w.num_tokens - 1
                if st == _CONFIRMED:
                    events.setdefault(s, []).append(
                        CallEvent(CallEventKind.CONFIRMED, index, cand)
                    )
                    w.matching = False
                elif st == _REFUTED or s in closing:
                    events.setdefault(s, []).append(CallEvent(CallEventKind.REFUTED, index))
                    w.matching = False
        for s in closing:
            self._seqs[s].matching = False
        return events

    def drafts(self, max_tokens: dict[int, int]) -> dict[int, list[int]]:
        """Draft tokens from the predicted calls (speculative decoding, engine/drafts.py): for
        each sequence of `max_tokens` inside a call still being matched, the next (up to its
        max_tokens) tokens of its first candidate (in the order given) that the call's tokens
        so far begin."""
        out: dict[int, list[int]] = {}
        for s, k in max_tokens.items():
            w = self._seqs.get(s)
            if w is None or not w.matching:
                continue
            n = len(w.fed)
            for _cand, tokens in w.candidates:
                if len(tokens) > n and list(tokens[:n]) == w.fed:
                    out[s] = list(tokens[n : n + k])
                    break
        return out

    def _to_match(
        self, watched: list[tuple[int, int]], events: dict[int, list[CallEvent]]
    ) -> tuple[list[tuple[int, int]], set[int]]:
        """The (seq, token) pairs the matcher advances over, and the sequences whose call
        completed with this token (module docstring)."""
        feed: list[tuple[int, int]] = []
        closing: set[int] = set()
        for s, t in watched:
            w = self._seqs[s]
            w.num_tokens += 1
            if not w.matched:
                continue
            kinds = [e.kind for e in events.get(s, ())]
            started = CallEventKind.CALL_START in kinds
            if started:
                self.matcher.reset(s)
                w.matching = True
                w.fed = []
            if not w.matching:
                continue
            if kinds and kinds[-1] is CallEventKind.CALL_COMPLETE:
                closing.add(s)
            if not started or w.scan.mode == "json":  # a tag's last token is not the call's
                feed.append((s, t))
                w.fed.append(t)
        return feed, closing

    def _scanner(self, scan: CallScan) -> ToolCallScanner:
        scanner = self._scanners.get(scan)
        if scanner is not None:
            return scanner
        if scan.mode == "tag":
            start, end = self._tag(scan.start_tag), self._tag(scan.end_tag)
            scanner = ToolCallScanner(ScanMode.TAG, start_tag=start, end_tag=end)
        else:
            scanner = ToolCallScanner(ScanMode.JSON, json_start_anywhere=scan.json_start_anywhere,
                                      code_fences=scan.code_fences)
            scanner.set_vocabulary(self._vocabulary())
        self._scanners[scan] = scanner
        return scanner

    def _blank(self, token: int) -> bool:
        """Whether the token's text is whitespace only (before an opening tag)."""
        text = self._tok.decode([token], skip_special_tokens=False)  # type: ignore[attr-defined]
        return not text.strip()

    def _tag(self, text: str) -> list[int]:
        ids = list(self._tok.encode(text, add_special_tokens=False))  # type: ignore[attr-defined]
        if not ids:
            raise InvalidArgumentError(f"call_scan tag {text!r} has no tokens")
        return ids

    def _vocabulary(self) -> list[bytes]:
        """Bytes of every token id the model can produce (ids past the tokenizer: empty)."""
        n = len(self._tok)  # type: ignore[arg-type]
        texts = self._tok.batch_decode(  # type: ignore[attr-defined]
            [[i] for i in range(n)], skip_special_tokens=False
        )
        out = [t.encode() for t in texts]
        return out + [b""] * max(0, self._vocab_size - n)


def _batch(items: list[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One token per sequence as the scanner/matcher's flat arrays."""
    seq_ids = np.fromiter((s for s, _ in items), dtype=np.int64, count=len(items))
    tokens = np.fromiter((t for _, t in items), dtype=np.int32, count=len(items))
    return seq_ids, np.arange(len(items) + 1, dtype=np.int32), tokens
