"""Predictions do not depend on the interpreter's string hash seed: every float the predictor
sums over a set (offered kinds' probabilities, a message's words, a description's words) is
summed in a fixed order, so two runs of the same store on the same session rank ties the same
way (before, BFCL's seed-1 split read 106 or 107 call@3 hits depending on PYTHONHASHSEED)."""

import os
import subprocess
import sys
import textwrap

from paste.patterns.controlflow import ControlFlowModel
from paste.patterns.textevidence import TextEvidence

# Forty kinds with uneven counts after one context: their probabilities are floats whose sum
# rounds differently in different orders.
_SCRIPT = textwrap.dedent("""
    import random
    from paste.patterns.controlflow import ControlFlowModel
    from paste.patterns.textevidence import TextEvidence, doc_scores
    from paste.patterns.unknowntools import offered_distribution

    rng = random.Random(7)
    kinds = [f"tool_{i}_{'xyz'[i % 3]}" for i in range(40)]
    cf = ControlFlowModel(order=2)
    for _ in range(300):
        a, b = rng.choice(kinds), rng.choice(kinds)
        cf.observe(["<s>", a], b)
    cf.build()
    allowed = frozenset(kinds[:33])
    dist = offered_distribution(cf, ["<s>", kinds[3]], allowed, ("new_tool",), 0.137)
    text = TextEvidence()
    words = [f"w{i}ord" for i in range(60)]
    for _ in range(200):
        text.observe(frozenset(rng.sample(words, 9)), rng.choice(kinds))
    message = frozenset(rng.sample(words, 25))
    scores = [text.score(text.known(message), k) for k in kinds]
    docs = {k: " ".join(rng.sample(words, 12)) for k in kinds}
    about = doc_scores(frozenset(w[:8] for w in message), kinds, docs, lambda k: k)
    print(repr(dist), repr(scores), repr(sorted(about.items())))
""")


def _run(seed: int) -> str:
    env = dict(os.environ, PYTHONHASHSEED=str(seed))
    out = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True,
                         text=True, check=True, timeout=120)
    return out.stdout


def test_distribution_and_text_scores_are_bit_identical_across_hash_seeds():
    first = _run(0)
    assert first.startswith("[(")
    for seed in (1, 2, 3, 4, 5):
        assert _run(seed) == first


def test_offered_probabilities_are_summed_in_sorted_token_order():
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    cf = ControlFlowModel(order=1)
    for tok in reversed(letters):
        cf.observe(["<s>"], tok)
    cf.build()
    assert list(cf.probabilities(["<s>"], frozenset(letters))) == letters


def test_known_words_come_sorted():
    text = TextEvidence()
    text.observe(frozenset({"zeta", "alpha", "mid"}), "k")
    assert text.known(frozenset({"mid", "zeta", "alpha", "unseen"})) == ["alpha", "mid", "zeta"]
