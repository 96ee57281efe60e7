"""Speculative decoding in the SimulatedEngine (sim_engine.decode_steps): the step in which
each forced token is committed when a step also commits the prompt-lookup drafts the forced
output continues with, and the paste-drafts / serial-drafts replay modes."""

from __future__ import annotations

from paste.bench.modes import MODES, parse_modes
from paste.bench.script import TeacherForcedTurns
from paste.bench.sim_engine import decode_steps


def test_without_drafts_token_i_is_step_i():
    assert decode_steps([1, 2, 3], (4, 5, 6, 7), 0) == [0, 1, 2, 3]


def test_a_step_commits_the_accepted_drafts_and_one_token():
    # the prompt ends with (7, 8), seen before followed by 9 1 2 3: the draft; the forced
    # output goes 9 1 2 then 5, so step 0 commits 9 1 2 (accepted) + 5, step 1 the last token
    prompt = [7, 8, 9, 1, 2, 3, 4, 7, 8]
    assert decode_steps(prompt, (9, 1, 2, 5, 6), 4) == [0, 0, 0, 0, 1]
    # at most 2 drafts per step: 9 1 + 2, then the draft after (1, 2) is 3 4 (rejected): 5
    assert decode_steps(prompt, (9, 1, 2, 5, 6), 2) == [0, 0, 0, 1, 2]


def test_a_draft_never_runs_past_the_turn():
    prompt = [5, 6, 7, 8, 5, 6]
    steps = decode_steps(prompt, (7, 8), 4)  # the draft 7 8 5 6 is capped at 1 token
    assert steps == [0, 0]


def test_modes_that_draft():
    assert MODES["paste-drafts"].drafts and MODES["paste-drafts"].speculation
    assert MODES["serial-drafts"].drafts and not MODES["serial-drafts"].speculation
    assert not MODES["serial-drafts"].kv_retention and not MODES["serial-drafts"].coscheduling
    assert MODES["oracle-drafts"].drafts and MODES["oracle-drafts"].oracle
    assert not any(m.drafts for n, m in MODES.items() if n not in ("paste-drafts",
                                                                   "serial-drafts",
                                                                   "oracle-drafts"))
    assert [m.name for m in parse_modes("serial-drafts,paste-drafts")] == [
        "serial-drafts", "paste-drafts"]


def test_teacher_forced_turns_carry_the_draft_setting():
    class FakeRun:
        def __init__(self, turns):
            self.turns = turns

    class FakeTurn:
        def __init__(self, text):
            self.text = text

    class FakeScript:
        runs = [FakeRun([FakeTurn("ab"), FakeTurn("c")])]

    def encode(text):
        return [ord(c) for c in text]

    messages = [{"role": "user", "content": "q"}]
    for drafts in (0, 3):
        params = TeacherForcedTurns(FakeScript(), encode, 0, drafts)(messages)
        assert params.forced_tokens == (97, 98, 0) and params.num_draft_tokens == drafts


def test_a_predicted_call_drafts_the_call_in_the_simulated_engine(tmp_path_factory):
    """Inside the call a candidate matches, each step commits its next 4 tokens plus one
    (CallWatch over the forced tokens); prompt lookup alone finds far fewer."""
    from paste.bench.sim_engine import SimulatedEngine
    from paste.engine.request import GenerationParams
    from paste.speculation.rendering import render_candidate, scan_for_format
    from test_session_support import shared_tiny_folder

    engine = SimulatedEngine(str(shared_tiny_folder(tmp_path_factory)), 1e5, 1e7)
    text = render_candidate("json", "get_weather", {"city": "Paris", "unit": "celsius"})
    call = engine.encode(text)
    forced = tuple(engine.encode("Let me check.\n") + call)
    prompt = engine.chat_prompt([{"role": "user", "content": "weather?"}])
    scan = scan_for_format("json")
    with_call = GenerationParams(forced_tokens=forced, call_scan=scan,
                                 call_candidates=((5, tuple(call)),), num_draft_tokens=4)
    steps = engine.decode_steps(prompt, forced, 4, with_call)
    plain = engine.decode_steps(prompt, forced, 4, GenerationParams(forced_tokens=forced))
    assert len(steps) == len(plain) == len(forced)
    start = len(forced) - len(call)  # the call's first token opens it; the rest is drafted
    call_steps = steps[start + 1:]
    assert len(set(call_steps)) == -(-(len(call) - 1) // 5)  # 4 drafts + 1 token per step
    assert steps[-1] < plain[-1]
    assert steps[: start + 1] == plain[: start + 1]
