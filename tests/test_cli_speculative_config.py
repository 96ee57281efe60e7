"""vLLM's --speculative-config for paste's prompt-lookup drafts (cli/speculative_config.py):
the mapping to EngineConfig's draft fields, vLLM's one-sided lookup bound, and every refusal."""

from __future__ import annotations

import pytest

from paste.cli import build_parser
from paste.cli.engine_args import engine_options
from paste.cli.speculative_config import speculative_options
from paste.errors import InvalidArgumentError


def options(*flags: str) -> dict[str, object]:
    return engine_options(build_parser().parse_args(["serve", *flags]))


def test_ngram_config_sets_the_draft_fields() -> None:
    assert options("--speculative-config", '{"method": "ngram", "num_speculative_tokens": 3, '
                   '"prompt_lookup_max": 5, "prompt_lookup_min": 2}') == {
        "num_draft_tokens": 3, "draft_ngram_max": 5, "draft_ngram_min": 2}
    assert options() == {}


def test_a_lookup_bound_given_alone_sets_the_other_as_in_vllm() -> None:
    spec = '{{"method": "ngram", "num_speculative_tokens": 4, "{key}": {n}}}'
    assert speculative_options(spec.format(key="prompt_lookup_max", n=3), {}) == {
        "num_draft_tokens": 4, "draft_ngram_max": 3, "draft_ngram_min": 3}
    assert speculative_options(spec.format(key="prompt_lookup_min", n=2), {}) == {
        "num_draft_tokens": 4, "draft_ngram_max": 2, "draft_ngram_min": 2}
    assert speculative_options('{"method": "ngram", "num_speculative_tokens": 2}', {}) == {
        "num_draft_tokens": 2}  # paste's own bounds (4 and 2) hold


@pytest.mark.parametrize(("text", "message"), [
    ("{", "not JSON"),
    ("[1]", "must be a JSON object"),
    ('{"method": "eagle", "num_speculative_tokens": 3}', "method must be 'ngram'"),
    ('{"model": "draft-1b", "num_speculative_tokens": 3}', "model not supported: paste drafts "
     "by prompt lookup only"),
    ('{"num_speculative_tokens": 3}', "method must be 'ngram'"),
    ('{"method": "ngram"}', "num_speculative_tokens is required"),
    ('{"method": "ngram", "num_speculative_tokens": 0}', "num_speculative_tokens must be an "
     "integer >= 1, got 0"),
    ('{"method": "ngram", "num_speculative_tokens": true}',
     "num_speculative_tokens must be an integer >= 1, got True"),
    ('{"method": "ngram", "num_speculative_tokens": 2, "prompt_lookup_max": "4"}',
     "prompt_lookup_max must be an integer >= 1, got '4'"),
])
def test_refusals_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=f"--speculative-config: {message}"):
        speculative_options(text, {})


def test_the_same_knob_from_two_flags_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    from paste.cli import main

    with pytest.raises(InvalidArgumentError, match="also given by --num-draft-tokens"):
        options("--num-draft-tokens", "2", "--speculative-config",
                '{"method": "ngram", "num_speculative_tokens": 3}')
    assert main(["serve", "--model", "m", "--speculative-config", '{"method": "medusa"}']) == 2
    assert "--speculative-config: method must be 'ngram'" in capsys.readouterr().err


def test_the_engine_runs_with_the_drafts_it_sets(tmp_path) -> None:
    from paste.engine.request import GenerationParams
    from tiny_model import build_tiny_model, make_tiny_engine

    overrides = options("--speculative-config", '{"method": "ngram", '
                        '"num_speculative_tokens": 3, "prompt_lookup_max": 3}')
    engine = make_tiny_engine(build_tiny_model(tmp_path / "m"), **overrides)
    try:
        assert (engine.config.num_draft_tokens, engine.config.draft_ngram_max,
                engine.config.draft_ngram_min) == (3, 3, 3)
        ids = engine.encode("def add(a, b):\n    return a + b\n" * 3)
        engine.generate([ids], GenerationParams(max_tokens=12, ignore_eos=True))
        assert engine.stats().num_draft_tokens > 0  # the repeated text was drafted from
    finally:
        engine.shutdown()
