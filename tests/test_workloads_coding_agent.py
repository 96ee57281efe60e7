"""Coding workload (paste.workloads): the scripted coding agent in live paste sessions."""

from __future__ import annotations

from paste.workloads.environment import LiveEnvironment
from paste.workloads.repo import MUTATIONS, CodingTask
from paste.workloads.tasks import LiveTask
from test_session_support import shared_tiny_folder
from test_workloads_support import run_one, sim_engine, thoughts


def test_coding_agent_session_exact_calls_serial_and_paste(tmp_path_factory, tmp_path):
    """A probe task in serial mode (training traces), then paste mode with the predictor mined
    on them: the same calls and transcript, and no side_effect tool ever ran speculatively."""
    from paste.workloads.live import mine_predictors

    engine = sim_engine(shared_tiny_folder(tmp_path_factory))
    task = LiveTask("coding", CodingTask("c-1", 2, True, False))
    with LiveEnvironment(["coding"]) as env:
        serial = run_one(engine, env, task, trace_dir=tmp_path)
        predictors = mine_predictors(tmp_path, ["coding"], min_groups=1)
        paste = run_one(engine, env, task, "paste", predictors)
    m = MUTATIONS[2]
    expected = [
        ("grep", {"pattern": r"def top_words\b"}),
        ("view", {"path": "textkit/words.py", "start": 19, "end": 33}),
        ("run_python", {"code": m.probe}),
        ("edit", {"path": "textkit/words.py", "line": 22, "old": m.bad, "new": m.good}),
        ("pytest", {"target": "tests/test_words.py"}),
    ]
    assert serial.calls["c-1"] == expected == paste.calls["c-1"]
    assert serial.answers["c-1"] == "Fixed top_words in textkit/words.py line 22. Tests: 2 passed."
    assert serial.run.sessions[0].transcript == paste.run.sessions[0].transcript
    assert "coding" in predictors
    runs = paste.run.sessions[0].tool_runs
    # Side-effecting calls ran speculatively only as transactions, committed once per hit.
    staged = [r.canonical for r in runs if r.speculative and r.effect == "side_effect"]
    assert staged == [r.canonical for r in runs if r.commit]
    assert thoughts(serial, "c-1") == [
        'The bug report says: "top_words() must list the most frequent words first." So the '
        "function to look at is top_words. I do not know yet which module of textkit defines "
        "it, and I want to read its code before changing anything, so I will search the "
        "repository's Python files for its definition line, def top_words, to get the file "
        "and the line number.",
        'grep found the definition in textkit/words.py at line 19: "def top_words(text, n=3):". '
        "I will read that file from line 19 to 33: fifteen lines should cover the docstring "
        "and the whole body of top_words, so I can see which line causes the reported "
        "behaviour before I change it.",
        "Lines 19 to 22 of textkit/words.py show top_words; its docstring promises: \"The n "
        'most frequent words as (word, count), most frequent first, ties alphabetical". Line '
        '22 reads "return sorted(counts.items(), key=lambda kv: (kv_1_, kv_0_))_:n_", the '
        "likely culprit. Before editing I want to see the bug myself, so I will run a "
        "one-line script that prints top_words('b a b c b a', 2) and compare the result with "
        "what the report expects.",
        "The probe printed \"_('c', 1), ('a', 2)_\" (exit code 0), which is not what the "
        'report asks for: "top_words() must list the most frequent words first." That '
        'behaviour comes from line 22 of textkit/words.py: "return sorted(counts.items(), '
        'key=lambda kv: (kv_1_, kv_0_))_:n_". I will replace "key=lambda kv: (kv_1_, kv_0_)" '
        'with "key=lambda kv: (-kv_1_, kv_0_)" in that line only and leave the rest of the '
        "function as it is.",
        'The edit was applied: "edited textkit/words.py:22: return sorted(counts.items(), '
        'key=lambda kv: (-kv_1_, kv_0_))_:n_". Now I need evidence that it fixes the bug '
        "without breaking anything. The tests of this module are in tests/test_words.py; "
        "running just that file first is quicker than the whole suite and shows at once "
        "whether the fixed behaviour is what the tests expect.",
    ]
