"""Agents over the OpenAI API: recorded sessions replayed by HTTP clients against a paste
server whose model time is SIMULATED, to measure what the server does for agent frameworks
that run their own tools (co-scheduling of returning turns, KV kept per prompt_cache_key).

Server side, `TeacherForcedServer` wraps a SimulatedEngine (GPU-rate model time, at most
`max_batch` turns decoding at once, docs/replay.md): every turn a client asks for is
teacher-forced to its session's next recorded turn, the session named by the request's
prompt_cache_key (the only way a stateless request names its conversation). The real app
(create_app) renders, parses and schedules it as any request.

Client side, `run_client` is an agent loop over POST /v1/chat/completions: the recorded
session's system prompt and user messages, the tools it was offered (any-object schemas),
prompt_cache_key = its session; each call the answer makes runs as the tool would, by
sleeping its seeded latency (paste.bench.latency), and its recorded output goes back as a
tool message. Its task completion time is from the first request to the last answer.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any

from paste.bench.latency import LatencyModel
from paste.bench.runner import system_prompt
from paste.bench.script import ReplayScript
from paste.errors import InvalidArgumentError
from paste.parsing import canonical_call
from paste.speculation.latency import latency_kind


class TeacherForcedServer:
    """The engine of a bench server (see the module docstring); everything but submit_turn
    is the wrapped SimulatedEngine's."""

    def __init__(self, engine: Any, scripts: dict[str, ReplayScript]) -> None:
        """`scripts`: the session each prompt_cache_key replays."""
        eos = engine.tokenizer.eos_token_id
        self._engine = engine
        self._turns = {key: [tuple(engine.encode(t.text)) + (eos,)
                             for run in s.runs for t in run.turns]
                       for key, s in scripts.items()}  # fmt: skip
        self._next = dict.fromkeys(scripts, 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def submit(self, prompt: Any, params: Any = None, priority: float = 0.0) -> Any:
        raise InvalidArgumentError("a bench client names its session: send prompt_cache_key")

    def submit_turn(self, key: str, conversation: Any, params: Any = None,
                    priority: float = 0.0, pin_ttl_s: float = 30.0) -> Any:
        turns = self._turns.get(key)
        if turns is None or self._next[key] >= len(turns):
            raise InvalidArgumentError(f"no recorded turn left for session {key!r}")
        forced = turns[self._next[key]]
        self._next[key] += 1
        return self._engine.submit_turn(key, conversation, replace(params, forced_tokens=forced),
                                        priority, pin_ttl_s)


@dataclass
class ClientRecord:
    session_id: str
    tct_s: float
    turns: int
    calls: list[str]  # canonical calls the answers made, in order
    waited_s: float  # time spent in tools (sleeping their latencies)


def run_client(base_url: str, model: str, script: ReplayScript, offered: list[str],
               latency: LatencyModel, key: str, start_at: float = 0.0) -> ClientRecord:
    """One recorded session as an agent loop over the API (see the module docstring);
    starts at time.monotonic() == start_at (at once if past)."""
    import httpx

    tools = [{"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
             for n in offered]  # fmt: skip
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(script)}]
    calls: list[str] = []
    turns, waited = 0, 0.0
    time.sleep(max(0.0, start_at - time.monotonic()))
    t0 = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=600.0) as http:
        for run in script.runs:
            messages.append({"role": "user", "content": run.user})
            for turn in run.turns:
                body = {"model": model, "messages": messages, "tools": tools,
                        "prompt_cache_key": key, "temperature": 0}  # fmt: skip
                response = http.post("/v1/chat/completions", json=body)
                response.raise_for_status()
                message = response.json()["choices"][0]["message"]
                turns += 1
                made = message.get("tool_calls") or []
                entry: dict[str, Any] = {"role": "assistant", "content": message["content"] or ""}
                if made:
                    entry["tool_calls"] = made
                messages.append(entry)
                for call in made:
                    name, arguments = call["function"]["name"], call["function"]["arguments"]
                    canonical = canonical_call(name, arguments)
                    calls.append(canonical)
                    kind = latency_kind(name, json.loads(arguments))  # the server's JSON
                    seconds = latency.draw(script.session_id, name, kind, canonical)
                    time.sleep(seconds)
                    waited += seconds
                    messages.append({"role": "tool", "tool_call_id": call["id"],
                                     "content": turn.output or ""})
    return ClientRecord(script.session_id, time.monotonic() - t0, turns, calls, waited)
