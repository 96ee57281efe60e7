"""Tool descriptions as text evidence: the exact description score, its cross-validated weight,
the Predictor's use of it, and every way descriptions reach a session (loaders, the paste JSONL
record, the pattern store file, a live session's speculation state)."""

import json
import math
from pathlib import Path

import pytest

from paste.patterns.cfselect import DOC_WEIGHTS, select_config, session_events, wins_clearly
from paste.patterns.loaders import load_folder
from paste.patterns.loaders.openai_messages import tool_docs
from paste.patterns.loaders.paste_jsonl import tools_field, write_traces
from paste.patterns.predictor import Predictor
from paste.patterns.replay import replay
from paste.patterns.state import SessionState
from paste.patterns.store import PatternStore
from paste.patterns.textevidence import doc_scores, doc_words, message_words, word_prefixes
from paste.patterns.trace import Step, ToolCall, Trace
from paste.patterns.unknowntools import tool_name

SHARED = Path(__file__).resolve().parents[2] / "shared" / "traces"


def test_doc_words_are_distinct_stems_of_three_or_more_letters():
    assert doc_words("Calculate the MEAN of a list of numbers; calculates.") == frozenset(
        {"calcu", "the", "mean", "list", "numbe"})


def test_doc_score_is_the_idf_weighted_share_of_the_description_the_message_holds():
    prefixes = word_prefixes(message_words("What's the average tire pressure?"))
    docs = {
        "mean": "Compute the average of numbers",  # D = compu the avera numbe: 4 words
        "check_tire_pressure": "Check the tire pressure of the car",  # check the tire press car
        "logout": "Log the user out",  # log the user out
    }
    kinds = ["mean", "check_tire_pressure", "logout", "no_doc"]
    got = doc_scores(prefixes, kinds, docs, tool_name)
    # n = 4 kinds; "the" is held by three descriptions (log 4/3), "avera" by one (log 4),
    # "tire" and "press" by one each; kinds whose held words are all shared score too
    assert got == pytest.approx({
        "mean": (math.log(4 / 3) + math.log(4)) / 4,
        "check_tire_pressure": (math.log(4 / 3) + 2 * math.log(4)) / 5,
        "logout": math.log(4 / 3) / 4,
    })
    assert "no_doc" not in got  # no description: no score
    # a failed token reads its kind's description; a shell kind its tool's (bash)
    assert doc_scores(prefixes, ["mean!", "logout"], docs, tool_name) == pytest.approx(
        {"mean!": math.log(2) / 4, "logout": 0.0})  # "the" in both: log 2/2 = 0
    shell = doc_scores(word_prefixes(message_words("run a shell")), ["bash:ls", "mean"],
                       {"bash": "Run a shell command", "mean": docs["mean"]}, tool_name)
    assert shell == pytest.approx({"bash:ls": 2 * math.log(2) / 3})  # run shell comma


def test_a_word_every_ranked_description_holds_scores_nothing():
    prefixes = word_prefixes(message_words("please use the tool"))
    docs = {"a": "Use the tool to add", "b": "Use the tool to remove"}
    assert doc_scores(prefixes, ["a", "b"], docs, tool_name) == {"a": 0.0, "b": 0.0}


def _described_sessions() -> tuple[list, list]:
    """(events, descriptions) of 16 sessions: eight tools whose names share nothing with the
    messages, each called twice: once after "please", once after a message holding a word
    only its description holds."""
    words = ("apple", "berry", "cherry", "damson", "elder", "fig", "grape", "hazel")
    sessions, docs = [], []
    described = {f"tool_{i}": f"Handles {w}" for i, w in enumerate(words)}
    for i, w in enumerate(words):
        for text in ("please", f"one {w} now"):
            steps = [Step(role="user", text=text),
                     Step(role="tool", call=ToolCall(f"tool_{i}", {}), output="done")]
            sessions.append(session_events(steps))
            docs.append(described)
    return sessions, docs


def test_cross_validation_turns_description_evidence_on_when_only_descriptions_tell():
    sessions, docs = _described_sessions()
    # Held out, a "one <word> now" call's tool was seen once in training and the tools with
    # both sessions in training twice: the description must outweigh odds of 2. Its score
    # is log(8 / 1) / 2 (D = handl <word>; handl is in all 8), so exp(w * 1.04) > 2 needs
    # w > 0.67: the smallest such weight of DOC_WEIGHTS is 1.0.
    assert DOC_WEIGHTS == (0.0, 0.25, 0.5, 1.0)
    assert select_config(sessions, None, 0.0, docs) == (1, True, False, 0.0, 0.0, 1.0)
    assert select_config(sessions, None, 0.0, None)[5] == 0.0  # no descriptions: off
    assert select_config(sessions, None, 0.0, [None] * len(sessions))[5] == 0.0


def test_a_new_evidence_must_win_by_more_than_one_standard_error():
    base = [True, True, False, False, False, True]
    assert wins_clearly(base, [True, True, True, True, True, True])  # W 3, L 0: 3 > 1.73
    assert not wins_clearly(base, [True, False, True, True, False, True])  # W 2, L 1: 1 < 1.73
    assert not wins_clearly(base, base)  # no disagreement: 0 > 0 is false
    assert not wins_clearly([False], [True])  # W 1, L 0: 1 > 1 is false


def test_the_predictor_ranks_the_described_tool_first_only_with_a_description_weight():
    store = PatternStore()
    for kind in ("tool_a", "tool_a", "tool_b"):
        store.cf.observe(["<s>"], kind)
    predictor = Predictor(store)
    state = SessionState(tools=frozenset({"tool_a", "tool_b"}),
                         docs={"tool_a": "Adds two numbers", "tool_b": "Logs the user out"})
    state.add_user("Log me out now")
    assert [k for k, _p in predictor.distribution(state)][0] == "tool_a"  # control flow
    store.doc_weight = 1.0
    fresh = SessionState(tools=state.tools, docs=state.docs)
    fresh.add_user("Log me out now")
    dist = dict(predictor.distribution(fresh))
    # tool_b's D = logs the user out; the message holds "out" ("log" does not start "logs")
    d_b = doc_scores(word_prefixes(message_words("Log me out now")), ["tool_a", "tool_b"],
                     fresh.docs, tool_name)["tool_b"]
    assert d_b == pytest.approx(math.log(2) / 4)
    z = 2 + math.exp(d_b)
    assert dist["tool_b"] == pytest.approx(math.exp(d_b) / z)
    assert dist["tool_a"] == pytest.approx(2 / z)
    no_docs = SessionState(tools=state.tools)
    no_docs.add_user("Log me out now")
    assert dict(predictor.distribution(no_docs))["tool_a"] == pytest.approx(2 / 3)


def test_the_store_saves_and_loads_its_description_weight(tmp_path):
    store = PatternStore()
    store.doc_weight = 0.5
    path = tmp_path / "store.json"
    store.save(path)
    assert PatternStore.load(path).doc_weight == 0.5
    data = json.loads(path.read_text())
    del data["doc_weight"]  # a store saved before descriptions were scored: off
    path.write_text(json.dumps(data))
    assert PatternStore.load(path).doc_weight == 0.0


def test_tool_docs_reads_openai_and_legacy_lists_and_skips_empty_descriptions():
    raw = [{"type": "function", "function": {"name": "a", "description": "Adds"}},
           {"name": "b", "description": "Bees"}, {"name": "c", "description": "  "},
           {"name": "d"}, "junk", {"description": "nameless"}]
    assert tool_docs(raw) == {"a": "Adds", "b": "Bees"}
    assert tool_docs(None) is None and tool_docs({"a": 1}) is None


def test_paste_jsonl_records_keep_descriptions_and_replay_gives_them_to_the_state(tmp_path):
    trace = Trace("s1", "paste-jsonl", tools=frozenset({"a", "b"}),
                  params={"a": ("x",)}, docs={"a": "Adds two numbers"})
    trace.steps = [Step(role="user", text="add"),
                   Step(role="tool", call=ToolCall("a", {"x": 1}), output="2")]
    assert tools_field(["b", "a"], {"a": ("x",)}, {"a": "Adds two numbers"}) == [
        {"type": "function", "function": {"name": "a", "description": "Adds two numbers",
                                          "parameters": {"type": "object", "required": ["x"]}}},
        {"type": "function", "function": {"name": "b"}}]
    write_traces([trace], tmp_path / "t.jsonl")
    (loaded,) = load_folder(tmp_path).traces
    assert loaded.docs == {"a": "Adds two numbers"} and loaded.params == {"a": ("x",)}
    ((state, _step),) = list(replay(loaded))
    assert state.docs == {"a": "Adds two numbers"}
    assert state.fork().docs == state.docs


@pytest.mark.skipif(not (SHARED / "bfcl-v4-multi-turn").is_dir(), reason="needs ../shared")
def test_bfcl_sessions_carry_each_offered_function_s_own_description():
    result = load_folder(SHARED / "bfcl-v4-multi-turn")
    trace = next(t for t in result.traces if t.tools and "trading_logout" in t.tools)
    assert set(trace.docs) <= trace.tools and "trading_logout" in trace.docs
    # the API class's preamble ("This tool belongs to ...") is cut: the function's own part
    assert trace.docs["trading_logout"] == "Handle user logout for trading system."
    assert all("This tool belongs" not in d for d in trace.docs.values())


def test_bfcl_sessions_carry_each_offered_function_s_required_parameters():
    fixture = Path(__file__).resolve().parent / "data" / "traces_fixtures" / "bfcl-v4-multi-turn"
    trace = next(t for t in load_folder(fixture).traces if t.tools and "cd" in t.tools)
    assert trace.params is not None and set(trace.params) == trace.tools
    # as the function docs' schemas say: one, two or no required parameters
    assert (trace.params["cd"], trace.params["cp"], trace.params["du"]) == (
        ("folder",), ("source", "destination"), ())
    ((state, _step), *_rest) = list(replay(trace))
    assert state.params == trace.params  # a live session of it knows them too


@pytest.mark.skipif(not (SHARED / "toolbench-data-example").is_dir(), reason="needs ../shared")
def test_toolbench_sessions_carry_their_function_list_descriptions():
    result = load_folder(SHARED / "toolbench-data-example")
    described = [t for t in result.traces if t.docs]
    assert len(described) == len(result.traces) > 0
    for t in described:
        assert set(t.docs) <= t.tools
        assert all(isinstance(d, str) and d.strip() for d in t.docs.values())
