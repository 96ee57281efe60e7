"""n > 1: several independent answers (choices) to one request (Chat Completions, legacy
completions).

Each choice is its own engine request over its prompt and its own run of
generation.run_turn, so tool calls, grammars, logprobs and stop strings work per choice
exactly as for one. Choice i samples with seed + i when the request has a seed (distinct,
reproducible streams), and only choice 0 keeps the request's prompt_cache_key (one parked
conversation per key).

The prompt is computed once: of the choices of one prompt, the first starts at once and the
others when it has its first output, by then the prompt's full KV blocks are in the engine's
prefix cache, so they prefill only the last partial block (n prefills of a long prompt
would cost n times the compute, and delay every choice).

`merge_choices` interleaves the choices' events in the order they happen, tagged with the
choice index. If one choice fails, the others are stopped (their engine requests aborted)
and the error is raised; closing the merged stream closes every choice's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from paste.server.generation import run_turn
from paste.server.turn import TurnRequest

SEED_MODULUS = 2**63  # seeds the engine accepts: [0, 2**63)
_DONE = object()

# A choice's event stream, given the callback its first engine output must call (or None).
StreamFactory = Callable[[Callable[[], None] | None], AsyncIterator[Any]]


def choice_stream(state: Any, turn: TurnRequest,
                  on_prompt: Callable[[list[int], Any], None] | None = None) -> StreamFactory:
    """The stream factory of one choice: generation.run_turn of `turn` on the server's engine
    (`state`: the app's ServerState), reporting its end to the server's metrics and its
    conversation's record (`on_prompt`: run_turn's, the request log's hook)."""
    return lambda on_started: run_turn(state.engine, turn, state.parser_format,
                                       state.on_turn_end(turn.cache_key),
                                       on_started=on_started, reasoning=state.config.reasoning,
                                       on_prompt=on_prompt)


def choice_turns(turn: TurnRequest, n: int) -> list[TurnRequest]:
    """The turn of each of n choices (see the module docstring)."""
    turns = [turn]
    for i in range(1, n):
        seed = turn.params.seed
        params = turn.params if seed is None else replace(
            turn.params, seed=(seed + i) % SEED_MODULUS)
        turns.append(replace(turn, params=params, cache_key=None))
    return turns


async def merge_choices(groups: list[list[StreamFactory]]) -> AsyncIterator[tuple[int, Any]]:
    """(choice index, event) of every choice as they come; groups[p] are the choices of
    prompt p (indices numbered across the groups in order). See the module docstring."""
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    tasks: list[asyncio.Future[None]] = []
    streams: list[AsyncIterator[Any]] = []

    async def pull(index: int, stream: AsyncIterator[Any]) -> None:
        try:
            async for event in stream:
                await queue.put((index, event))
            await queue.put((index, _DONE))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put((index, exc))

    def start(index: int, factory: StreamFactory,
              on_started: Callable[[], None] | None = None) -> None:
        stream = factory(on_started)
        streams.append(stream)
        tasks.append(asyncio.ensure_future(pull(index, stream)))

    async def start_rest(first_output: asyncio.Event, index: int,
                         factories: list[StreamFactory]) -> None:
        await first_output.wait()
        for j, factory in enumerate(factories):
            start(index + j, factory)

    index = 0
    for group in groups:
        if len(group) > 1:
            first_output = asyncio.Event()
            start(index, group[0], first_output.set)
            tasks.append(asyncio.ensure_future(start_rest(first_output, index + 1, group[1:])))
        elif group:
            start(index, group[0])
        index += len(group)
    running = index
    try:
        while running:
            at, item = await queue.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield at, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in streams:
            await stream.aclose()  # type: ignore[attr-defined]
