"""The agent loop on the tiny model with a scripted policy: transcripts, events, parallel
calls, KV reuse across tool waits, max_turns, follow-up runs, abandoned streams, busy/closed."""

from __future__ import annotations

import threading

import pytest

from paste.errors import InvalidArgumentError
from paste.session import (
    Final,
    SessionBusyError,
    SessionClosedError,
    TokenDelta,
    ToolCallEvent,
    ToolResultEvent,
    open_session,
    parser_for_model,
)
from paste.session.template import TemplateProfile, render_view
from paste.tools import ToolExecutor, ToolRegistry
from test_session_support import (
    FakeScriptedPolicy,
    call_text,
    shared_tiny_folder,
    tiny_engine,
)

BARRIER_WAIT_S = 30.0  # only reached if the two calls of one turn do not run concurrently


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def registry():
    reg = ToolRegistry()
    barrier = threading.Barrier(2, timeout=BARRIER_WAIT_S)

    @reg.tool(effect="read_only", timeout_s=10)
    def search(query: str, top_k: int = 2) -> list[dict]:
        """Search the web."""
        return [{"title": f"{query} {i}"} for i in range(top_k)]

    @reg.tool(effect="read_only", timeout_s=40)
    def meet(tag: str) -> str:
        """Wait for the other call of the turn."""
        barrier.wait()
        return f"met {tag}"

    return reg


@pytest.fixture(scope="module")
def executor(registry):
    ex = ToolExecutor(registry)
    yield ex
    ex.shutdown()


def session(engine, registry, executor, script, system, **kwargs):
    policy = FakeScriptedPolicy(engine, script)
    return open_session(engine, tools=registry, system=system, turn_params=policy,
                        executor=executor, **kwargs)


def tool_call(call_id, name, arguments):
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def test_multi_turn_with_parallel_calls_gives_the_exact_transcript(engine, registry, executor):
    script = [
        call_text("search", query="paris"),
        '[{"name": "meet", "arguments": {"tag": "a"}}, {"name": "meet", "arguments": {"tag": "b"}}]',
        "Paris 0 and Paris 1.",
    ]
    with session(engine, registry, executor, script, "Multi turn test.", tenant="acme") as s:
        result = s.run("Find Paris")
    assert result.status == "completed" and result.final_text == "Paris 0 and Paris 1."
    assert result.messages == [
        {"role": "system", "content": "Multi turn test."},
        {"role": "user", "content": "Find Paris"},
        {"role": "assistant", "content": "",
         "tool_calls": [tool_call("call_1", "search", '{"query": "paris"}')]},
        {"role": "tool", "tool_call_id": "call_1", "name": "search",
         "content": '[{"title": "paris 0"}, {"title": "paris 1"}]'},
        {"role": "assistant", "content": "",
         "tool_calls": [tool_call("call_2", "meet", '{"tag": "a"}'),
                        tool_call("call_3", "meet", '{"tag": "b"}')]},
        {"role": "tool", "tool_call_id": "call_2", "name": "meet", "content": "met a"},
        {"role": "tool", "tool_call_id": "call_3", "name": "meet", "content": "met b"},
        {"role": "assistant", "content": "Paris 0 and Paris 1."},
    ]
    metrics = result.metrics
    assert (metrics["num_turns"], metrics["num_tool_calls"], metrics["num_tool_errors"]) == (3, 3, 0)
    assert [t["num_tool_calls"] for t in metrics["turns"]] == [1, 2, 0]


def test_stream_yields_calls_results_text_and_final_in_order(engine, registry, executor):
    script = [call_text("search", query="rome", top_k=1), "Rome 0."]
    s = session(engine, registry, executor, script, "Stream order test.")
    events = list(s.stream("Find Rome"))
    s.close()
    text = "".join(e.text for e in events if isinstance(e, TokenDelta))
    assert text == "Rome 0."
    assert [e for e in events if not isinstance(e, TokenDelta)] == [
        ToolCallEvent("call_1", "search", {"query": "rome", "top_k": 1}),
        ToolResultEvent("call_1", True, '[{"title": "rome 0"}]', None),
        Final("Rome 0.", "completed"),
    ]
    first_delta = next(i for i, e in enumerate(events) if isinstance(e, TokenDelta))
    assert isinstance(events[first_delta - 1], ToolResultEvent)  # text came after the tool
    assert isinstance(events[-1], Final)


@pytest.fixture
def fresh_engine(tmp_path_factory):
    """An engine with an empty prefix cache, so that turn 0 reuses nothing."""
    eng = tiny_engine(shared_tiny_folder(tmp_path_factory))
    yield eng
    eng.shutdown()


def test_returning_turns_reuse_the_parked_kv_exactly(fresh_engine, registry, executor):
    engine = fresh_engine
    call = call_text("search", query="oslo")
    script = [call, "Oslo."]
    s = session(engine, registry, executor, script, "Reuse test.")
    result = s.run("Find Oslo")
    eos = engine.tokenizer.eos_token_id
    prompt0 = s.prompt_ids(result.messages[:2])
    output0 = engine.encode(call) + [eos]
    prompt1 = s.prompt_ids(result.messages[:4])
    assert prompt1[: len(prompt0) + len(output0)] == prompt0 + output0  # extends the parked seq
    turns = result.metrics["turns"]
    assert [t["num_prompt_tokens"] for t in turns] == [len(prompt0), len(prompt1)]
    assert [t["num_output_tokens"] for t in turns] == [len(output0), len(engine.encode("Oslo.")) + 1]
    assert [t["num_cached_tokens"] for t in turns] == [0, len(prompt0) + len(output0) - 1]
    expected_ratio = (len(prompt0) + len(output0) - 1) / len(prompt1)
    assert result.metrics["prefix_hit_ratios"] == [0.0, expected_ratio]
    assert result.metrics["mean_returning_prefix_hit_ratio"] == expected_ratio
    # A follow-up run extends the same parked sequence: only the new user message is prefilled.
    output1 = engine.encode("Oslo.") + [eos]
    again = s.run("And again?")
    prompt2 = s.prompt_ids(again.messages[:6])
    assert again.metrics["turns"][2]["num_cached_tokens"] == len(prompt1) + len(output1) - 1
    assert again.metrics["turns"][2]["num_prompt_tokens"] == len(prompt2)
    s.close()


def test_max_turns_stops_with_a_clear_message_and_answers_every_call(engine, registry, executor):
    s = session(engine, registry, executor, [call_text("search", query="loop", top_k=0)],
                "Max turns test.", max_turns=3)
    result = s.run("Loop forever")
    s.close()
    assert result.status == "max_turns"
    assert result.final_text == (
        "stopped: the session reached max_turns=3 model turns without a final answer")
    assert [m["role"] for m in result.messages] == [
        "system", "user", "assistant", "tool", "assistant", "tool", "assistant", "tool"]
    assert [m["content"] for m in result.messages if m["role"] == "tool"] == ["[]"] * 3
    assert result.metrics["num_turns"] == 3


def test_abandoned_stream_still_answers_every_committed_call(engine, registry, executor):
    two_calls = ('[{"name": "search", "arguments": {"query": "x", "top_k": 0}}, '
                 '{"name": "search", "arguments": {"query": "y", "top_k": 0}}]')
    s = session(engine, registry, executor, [two_calls, "done"], "Abandon test.")
    stream = s.stream("Go")
    for event in stream:
        if isinstance(event, ToolResultEvent):
            break
    stream.close()
    assert [(m["role"], m.get("tool_call_id")) for m in s.messages] == [
        ("system", None), ("user", None), ("assistant", None), ("tool", "call_1"),
        ("tool", "call_2")]
    assert s.run("Continue").status == "completed"  # the session is usable again
    s.close()


def test_busy_and_closed_sessions_refuse_to_run(engine, registry, executor):
    s = session(engine, registry, executor, ["hi"], "Busy test.")
    stream = s.stream("first")
    next(stream)
    with pytest.raises(SessionBusyError):
        next(s.stream("second"))
    assert list(stream)[-1] == Final("hi", "completed")
    s.close()
    with pytest.raises(SessionClosedError):
        s.run("after close")
    engine.generate(["x"])  # a step boundary: the end_session command has been applied
    assert s.session_id not in engine.core.sessions


def test_render_view_follows_what_the_template_renders():
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"},
        {"role": "assistant", "content": "", "tool_calls": [tool_call("c1", "f", '{"a": 1}')]},
        {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "R"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    raw = {2: '{"name": "f", "arguments": {"a": 1}}'}
    full = TemplateProfile(renders_tools=True, renders_tool_calls=True)
    view, passed = render_view(messages, raw, tools, full, "hermes", "template")
    assert passed == tools
    assert view[2] == {"role": "assistant", "content": "",
                       "tool_calls": [tool_call("c1", "f", {"a": 1})]}
    assert view[0] == messages[0] and view[3] == messages[3]
    view, passed = render_view(messages, raw, tools, full, "hermes", "raw")
    assert passed == tools
    assert view == [messages[0], messages[1], {"role": "assistant", "content": raw[2]},
                    messages[3]]
    plain = TemplateProfile(renders_tools=False, renders_tool_calls=False)
    view, passed = render_view(messages, raw, tools, plain, "json", "template")
    assert passed is None
    assert view[2] == {"role": "assistant", "content": raw[2]}
    assert view[0]["content"] == (
        "S\n\n# Tools\nTo call a tool, reply with only a JSON object {\"name\": <tool name>, "
        "\"arguments\": {<arguments>}}.\nThe result comes back in a tool message. Answer "
        "without a tool call when done.\nAvailable tools (JSON schemas):\n"
        '{"name": "f", "parameters": {}}')
    assert messages[2]["tool_calls"][0]["function"]["arguments"] == '{"a": 1}'  # not modified


def test_template_profile_of_the_tiny_chatml_template(engine):
    assert TemplateProfile.probe(engine) == TemplateProfile(False, False)


@pytest.mark.parametrize(("model", "fmt"), [
    ("qwen2.5-coder-0.5b-instruct", "json"),
    ("Qwen/Qwen2.5-7B-Instruct", "hermes"),
    ("NousResearch/Hermes-3-Llama-3.1-8B", "hermes"),
    ("meta-llama/Llama-3.1-8B-Instruct", "llama3_json"),
    ("smollm2-135m-instruct", "json"),
    ("some/unknown-model", "json"),
    ("mistralai/Mistral-7B-Instruct-v0.3", "mistral"),
    ("mistralai/Devstral-Small-2507", "mistral"),  # no folder: the tokenizer is not known
])
def test_parser_table_by_model_name(model, fmt):
    assert parser_for_model(model) == fmt


def test_a_mistral_folders_tokenizer_picks_its_layout(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps({"model_type": "mistral"}))
    assert parser_for_model(str(tmp_path), tmp_path) == "mistral"  # by architecture
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(
        {"added_tokens_decoder": {"9": {"content": "[TOOL_CALLS]"}}}))
    assert parser_for_model("devstral-small", tmp_path) == "mistral"
    (tmp_path / "tokenizer.json").write_text(json.dumps(
        {"added_tokens": [{"id": 9, "content": "[TOOL_CALLS]"}, {"id": 32, "content": "[ARGS]"}]}))
    assert parser_for_model("devstral-small", tmp_path) == "mistral_args"
    assert parser_for_model(str(tmp_path), tmp_path) == "mistral_args"
    assert parser_for_model("Qwen/Qwen3-8B", tmp_path) == "hermes"  # the name decides first


def test_open_session_rejects_bad_arguments(engine, registry, executor):
    with pytest.raises(InvalidArgumentError, match="unknown tool-call format 'xml'"):
        open_session(engine, tools=registry, executor=executor, parser="xml")
    with pytest.raises(InvalidArgumentError, match="max_turns must be >= 1, got 0"):
        open_session(engine, tools=registry, executor=executor, max_turns=0)
    with pytest.raises(InvalidArgumentError, match="assistant_view must be one of raw, template"):
        open_session(engine, tools=registry, executor=executor, assistant_view="pretty")


def test_hermes_calls_with_prose_keep_the_prose_as_content(engine, registry, executor):
    text = 'Let me search. <tool_call>{"name": "search", "arguments": {"query": "nice"}}</tool_call>'
    s = session(engine, registry, executor, [text, "Nice 0."], "Hermes test.", parser="hermes")
    events = list(s.stream("Find Nice"))
    s.close()
    assert "".join(e.text for e in events if isinstance(e, TokenDelta)) == "Let me search. Nice 0."
    assert s.messages[2] == {"role": "assistant", "content": "Let me search.",
                             "tool_calls": [tool_call("call_1", "search", '{"query": "nice"}')]}
    assert s._raw_texts[2] == text  # what the next turn renders (assistant_view="raw")
    assert s.status == "completed"


def test_calls_are_dispatched_while_the_model_is_still_writing(engine, registry, executor):
    text = call_text("search", query="early", top_k=1) + " and then some more words"
    s = session(engine, registry, executor, [text, "Early 0."], "Early test.")
    events = list(s.stream("Go early"))
    s.close()
    kinds = [type(e).__name__ for e in events]
    first_call = kinds.index("ToolCallEvent")
    trailing = "".join(e.text for e in events[first_call:] if isinstance(e, TokenDelta))
    assert trailing.startswith(" and then some more words")  # generated after the dispatch
    assert kinds.count("ToolCallEvent") == 1
    assert s.messages[2]["content"] == "and then some more words"


def test_default_executor_is_shared_per_registry(engine, registry):
    from paste.session import close_shared_executor, shared_executor

    try:
        s = open_session(engine, tools=registry, turn_params=FakeScriptedPolicy(
            engine, [call_text("search", query="shared", top_k=1), "ok"]))
        assert s.executor is shared_executor(registry)
        assert s.run("Go").messages[2]["content"] == '[{"title": "shared 0"}]'
        s.close()
    finally:
        close_shared_executor(registry)
    assert shared_executor(registry) is not s.executor  # a new one after close
    close_shared_executor(registry)


def test_ablation_without_early_dispatch_submits_calls_at_the_turns_end(engine, registry,
                                                                        executor):
    text = call_text("search", query="late", top_k=1) + " and then some more words"
    s = session(engine, registry, executor, [text, "Late 0."], "Late test.",
                early_dispatch=False)
    events = list(s.stream("Go late"))
    s.close()
    kinds = [type(e).__name__ for e in events]
    first_call, first_result = kinds.index("ToolCallEvent"), kinds.index("ToolResultEvent")
    assert first_call < first_result
    # The turn's text all came before the call was dispatched.
    assert not any(isinstance(e, TokenDelta) for e in events[first_call:first_result])
    assert s.messages[3]["content"] == '[{"title": "late 0"}]'
    assert s.status == "completed"


def test_ablation_without_kv_retention_parks_nothing(fresh_engine, registry, executor):
    engine = fresh_engine
    s = session(engine, registry, executor, [call_text("search", query="x"), "X."], "No KV.",
                kv_retention=False)
    result = s.run("Find x")
    prompt1 = s.prompt_ids(result.messages[:4])
    turns = result.metrics["turns"]
    # Only whole blocks of the prefix cache can be reused (block size 4), never the parked
    # sequence's partial last block; and nothing stays parked between turns.
    assert turns[1]["num_cached_tokens"] <= (len(prompt1) - 1) // 4 * 4
    assert s.session_id not in engine.core.sessions
    assert engine.core.loop.num_parked == 0
    s.close()
