"""n > 1: several independent answers (choices) to one Chat Completions request.

Each choice is its own engine request over the same prompt (the engine's prefix cache shares
the prompt's KV blocks between them) and its own run of generation.run_turn, so tool calls,
grammars, logprobs and stop strings work per choice exactly as for one. Choice i samples with
seed + i when the request has a seed (distinct, reproducible streams), and only choice 0 keeps
the request's prompt_cache_key (one parked conversation per key).

`merge_turns` interleaves the choices' events in the order they happen, tagged with the
choice index. If one choice fails, the others are stopped (their engine requests aborted) and
the error is raised; closing the merged stream closes every choice's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from paste.server.turn import TurnRequest

SEED_MODULUS = 2**63  # seeds the engine accepts: [0, 2**63)
_DONE = object()


def choice_turns(turn: TurnRequest, n: int) -> list[TurnRequest]:
    """The turn of each of n choices (see the module docstring)."""
    turns = [turn]
    for i in range(1, n):
        seed = turn.params.seed
        params = turn.params if seed is None else replace(
            turn.params, seed=(seed + i) % SEED_MODULUS)
        turns.append(replace(turn, params=params, cache_key=None))
    return turns


async def merge_turns(streams: list[AsyncIterator[Any]]) -> AsyncIterator[tuple[int, Any]]:
    """(choice index, event) from every stream as they come; see the module docstring."""
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

    async def pull(index: int, stream: AsyncIterator[Any]) -> None:
        try:
            async for event in stream:
                await queue.put((index, event))
            await queue.put((index, _DONE))
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            await queue.put((index, exc))

    tasks = [asyncio.ensure_future(pull(i, s)) for i, s in enumerate(streams)]
    running = len(tasks)
    try:
        while running:
            index, item = await queue.get()
            if item is _DONE:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield index, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for stream in streams:
            await stream.aclose()  # type: ignore[attr-defined]
