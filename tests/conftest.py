"""Shared pytest setup: a small, fixed torch thread pool, and the server tests' fixtures.

The test machines have 2 cores shared with other work; torch's default of one thread per core
(plus interop threads) oversubscribes them and makes small-model decoding several times slower.

`engine`, `server` and `client` are what most tests/test_server_*.py modules share: one
scripted tiny-model engine per module (test_server_support.FakeScriptedEngine), a live server
serving it with the default config, and an openai client of that server. A module that needs
another engine or server config defines its own fixture of the same name, which overrides
these.
"""

from __future__ import annotations

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(scope="module", autouse=True)
def _close_openai_clients():
    """The openai clients a module's tests made are closed when the module ends."""
    yield
    from test_server_support import close_clients

    close_clients()


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from test_server_support import make_engine

    eng = make_engine(tmp_path_factory)
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def server(engine):
    from test_server_support import live_server

    with live_server(engine) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server):
    from test_server_support import openai_client

    return openai_client(server)


@pytest.fixture
def tool_world():
    from tool_world import ToolWorld

    world = ToolWorld()
    yield world
    world.close()
