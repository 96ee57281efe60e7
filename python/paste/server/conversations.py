"""Conversations: what the server remembers of each keyed conversation's recent turns, so a
stateless request can be co-scheduled as a native session's turn is.

A Chat Completions or Responses turn names its conversation by prompt_cache_key (or its
Responses chain's key). For each key the server keeps when its last turn ended, its last
turns' output lengths and the time its client spent on tool calls between turns; a new turn
of the key gets from that (paste.session.priority terms):

    expected_tokens  the mean output tokens of its last `window` turns
    expected_tool_s  the mean gap after its turns that made calls (its tools' time)

Bounded: the least recently used key is forgotten beyond `capacity`. Thread-safe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class _Record:
    ended_at: float
    made_calls: bool
    outputs: deque[int] = field(default_factory=deque)
    tool_s: float = 0.0
    calling_turns: int = 0


@dataclass(frozen=True)
class Outlook:
    expected_tokens: float | None = None
    expected_tool_s: float | None = None


class Conversations:
    """See the module docstring."""

    def __init__(self, capacity: int = 10_000, window: int = 4) -> None:
        self.capacity, self.window = capacity, window
        self._records: OrderedDict[str, _Record] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, key: str | None, now: float) -> Outlook:
        """A turn of `key` starts now: its outlook (nothing known: the default). The gap
        since a turn that made calls is booked as tool time."""
        if key is None:
            return Outlook()
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return Outlook()
            self._records.move_to_end(key)
            if record.made_calls:
                record.tool_s += max(0.0, now - record.ended_at)
                record.calling_turns += 1
                record.made_calls = False  # booked once
            tokens = sum(record.outputs) / len(record.outputs) if record.outputs else None
            tool_s = record.tool_s / record.calling_turns if record.calling_turns else None
            return Outlook(tokens, tool_s)

    def end(self, key: str | None, now: float, output_tokens: int, made_calls: bool) -> None:
        """A turn of `key` ended now with `output_tokens`, making calls or not."""
        if key is None:
            return
        with self._lock:
            record = self._records.get(key)
            if record is None:
                record = self._records[key] = _Record(now, made_calls,
                                                      deque(maxlen=self.window))
            record.ended_at, record.made_calls = now, made_calls
            record.outputs.append(output_tokens)
            self._records.move_to_end(key)
            while len(self._records) > self.capacity:
                self._records.popitem(last=False)

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)
