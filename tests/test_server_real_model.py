"""The real default model behind the server (needs `paste models pull smollm2-135m-instruct`;
skipped otherwise): a greedy answer that knows a fact, streamed and whole alike.

The engine runs in float32, not the machine's "auto" dtype: the model's first answer token is
a near tie ("The" 25.36 vs "L" 25.26 in float32), and bfloat16 logits are spaced 0.125 apart
at that size, so on a CPU whose bf16 kernels round differently (seen in CI; here with
ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=default) both round to 25.5 and greedy decoding
answers "L'Étoile, ..." instead. float32 gives the same logits on every kernel path."""

from __future__ import annotations

import pytest

from test_server_support import openai_client

NAME = "smollm2-135m-instruct"
pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def server():
    from paste.models.store import is_pulled

    if not is_pulled(NAME):
        pytest.skip(f"run `paste models pull {NAME}` first")
    from paste.engine.engine import Engine
    from paste.server import BackgroundServer, ServerConfig, create_app

    engine = Engine(NAME, num_blocks=256, num_threads=1, dtype="float32")
    try:
        with BackgroundServer(create_app(engine, ServerConfig(model_id=NAME))) as srv:
            yield srv
    finally:
        engine.shutdown()


def test_real_model_answers_and_streams_the_same_text(server):
    client = openai_client(server)
    kwargs = dict(model=NAME, temperature=0, max_tokens=24,
                  messages=[{"role": "user", "content": "What is the capital of France?"}])
    whole = client.chat.completions.create(**kwargs).choices[0].message.content
    streamed = "".join(c.choices[0].delta.content or ""
                       for c in client.chat.completions.create(**kwargs, stream=True))
    assert "Paris" in whole
    assert streamed == whole
