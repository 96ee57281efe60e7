"""Conjunct swaps (patterns/swaps.py): the pairs of a user message, the swapped values of an
argument, the `swap` entries of SessionState, and the rule evidence that lets a one-hole
template's rule outrank the template's small share of the kind's calls."""

import json
from pathlib import Path

from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import SEP, PatternStore, rule_str
from paste.patterns.swaps import conjunct_pairs, locate_swaps, swapped
from paste.patterns.trace import Step, ToolCall, Trace


def test_pairs_of_names_joined_by_or_and_vs():
    assert conjunct_pairs("Who is older, Danny Green or James Worthy?") == (
        ((("Danny Green", False), ("Danny", True)), (("James Worthy", False), ("James", True))),)
    assert conjunct_pairs("Which genus has more species, Leitneria or Tricyrtis?") == (
        ((("Leitneria", False),), (("Tricyrtis", False),)),)
    # joiners stay inside a name, an abbreviation keeps its dots, an article is no first word
    assert conjunct_pairs("Is Bank of America or The Operation M.D. older?") == (
        ((("Is Bank of America", False), ("Bank of America", False)),
         (("The Operation M.D.", False),)),)
    assert conjunct_pairs("Please rank Apple Inc vs. Sony") == (
        ((("Apple Inc", False), ("Apple", True)), (("Sony", False),)),)


def test_a_name_that_starts_the_message_also_comes_without_its_first_word():
    assert conjunct_pairs("Was Talking Heads and Blondie formed further north?") == (
        ((("Was Talking Heads", False), ("Talking Heads", False)), (("Blondie", False),)),)


def test_quoted_conjuncts_are_whole_and_a_coordinator_inside_quotes_joins_nothing():
    text = 'Are the bands "Black Grape" and "Balance and Composure" from the same country?'
    assert conjunct_pairs(text) == ((((("Black Grape", False),), (("Balance and Composure",
                                                                     False),))),)
    assert conjunct_pairs("Is 'abc' or 'def' longer?") == (
        ((("abc", False),), (("def", False),)),)
    # a backslash in a conjunct is text, not a group reference of the substitution
    assert swapped("abc size", conjunct_pairs(r"Is 'abc' or 'd\1f' longer?")) == [r"d\1f size"]


def test_no_pairs_without_two_capitalised_conjuncts():
    assert conjunct_pairs("search for apples and oranges") == ()
    assert conjunct_pairs("Compare it or Paris") == ()  # "it" is no name
    assert conjunct_pairs("or Paris") == ()


def test_swapped_values_both_ways_whole_words_and_first_words():
    pairs = conjunct_pairs("Who is older, Danny Green or James Worthy?")
    assert swapped("Danny Green birth date", pairs) == ["James Worthy birth date"]
    assert swapped("James Worthy birth date", pairs) == ["Danny Green birth date"]
    assert swapped("Danny Greenfield birth date", pairs) == ["James Greenfield birth date"]
    assert swapped("Dannys Greenfield", pairs) == []  # no whole word of either side
    airports = conjunct_pairs("Which airport is closer: Wilmington International Airport, or "
                              "Texarkana Regional Airport?")
    assert swapped("distance from Wilmington to Atlantic Ocean", airports) == [
        "distance from Texarkana to Atlantic Ocean"]
    assert swapped("Wilmington International Airport location", airports) == [
        "Texarkana Regional Airport location"]


def test_locate_swaps_only_reads_argument_leaves():
    pairs = conjunct_pairs("Who is older, Danny Green or James Worthy?")
    locs = {"a:.query": "Danny Green birth date", "s:name:0": "Danny Green", "a:.n": "3"}
    assert locate_swaps(locs, pairs) == {"w:.query:0": "James Worthy birth date"}
    assert locate_swaps(locs, ()) == {}


def test_state_indexes_swaps_of_each_call_and_forks_keep_the_pairs():
    s = SessionState()
    s.add_user("Who is older, Danny Green or James Worthy?")
    s.add_step(ToolCall("search", {"query": "Danny Green birth date"}), "March 22, 1987")
    assert s.resolve(("swap", "b1", "w:.query:0")) == "James Worthy birth date"
    assert s.explain("James Worthy birth date") == {
        ("swap", "b1", "w:.query:0"), ("swap", "k=search", "w:.query:0")}
    fork = s.fork()
    fork.add_pending(ToolCall("search", {"query": "Danny Green height"}))
    assert fork.resolve(("swap", "b1", "w:.query:0")) == "James Worthy height"
    assert s.resolve(("swap", "b1", "w:.query:0")) == "James Worthy birth date"
    plain = SessionState()
    plain.add_user("How old is Danny Green?")
    plain.add_step(ToolCall("search", {"query": "Danny Green birth date"}), "1987")
    assert "swap" not in plain.by_source


PEOPLE = [("Ann Lee", "Bob Ray"), ("Cy Dunn", "Di Fox"), ("Ed Gray", "Flo Hart"),
          ("Gus Ives", "Hal Jay"), ("Ida Kerr", "Jo Lamb"), ("Kim Moss", "Lou Nash")]


def _comparison(i: int, a: str, b: str) -> Trace:
    return Trace(f"c{i}", "fake", [
        Step("user", text=f"Who is older, {a} or {b}?"),
        Step("tool", call=ToolCall("search", {"query": f"{a} birth date"}), output="1980"),
        Step("tool", call=ToolCall("search", {"query": f"{b} birth date"}), output="1970"),
    ], group=f"c{i}")


def _lookup(i: int) -> Trace:
    return Trace(f"l{i}", "fake", [
        Step("user", text=f"What does topic number {i} mean?"),
        Step("tool", call=ToolCall("search", {"query": f"meaning of topic {i}"}), output="x"),
        Step("tool", call=ToolCall("search", {"query": f"topic {i} history"}), output="y"),
    ], group=f"l{i}")


def _traces() -> list[Trace]:
    return [_comparison(i, a, b) for i, (a, b) in enumerate(PEOPLE)] + [
        _lookup(i) for i in range(18)]


def test_rule_evidence_counts_every_call_of_the_kind_where_the_rule_fires():
    store = mine(_traces(), calibrate=False)
    swap = f"search{SEP}{_key([[['query'], ['H', 0, 'str']]])}{SEP}0"
    name = f"search{SEP}{_key([[['query'], ['T', [0, ' birth date']]]])}{SEP}0"
    assert store.evidence_holes("search") == [swap, name]  # 6 calls each, then by key
    # the swap rules fire at the second search of each comparison (6 calls, 6 hits) and
    # nowhere else: the first search has no earlier call, a lookup's message no pair
    assert store.rule_evidence[swap] == {
        rule_str(("swap", "b1", "w:.query:0")): [6, 6],
        rule_str(("swap", "k=search", "w:.query:0")): [6, 6],
    }
    # the user's first name fires at both searches of a comparison, right at the first only
    assert store.rule_evidence[name] == {
        rule_str(("user", "b1", "s:name:0")): [12, 6],
        rule_str(("user", "first", "s:name:0")): [12, 6],
    }


def test_a_firing_rule_with_evidence_outranks_the_templates_small_share(tmp_path):
    store = mine(_traces(), calibrate=False)
    state = SessionState()
    state.add_user("Who is older, Mia Park or Ned Quinn?")
    state.add_step(ToolCall("search", {"query": "Mia Park birth date"}), "1990")
    top = Predictor(store).predict(state, 1)
    assert [p.canonical for p in top] == ['search{"query":"Ned Quinn birth date"}']
    # the template is 6 of the 48 searches: without the evidence its share caps the call
    hkey = store.evidence_holes("search")[0]
    share = 6 / 48
    without = PatternStore.load(_saved(store, tmp_path))
    without.rule_evidence = {}
    plain = Predictor(without).predict(state, 1)
    assert [p.canonical for p in plain] == [top[0].canonical]
    assert plain[0].probability <= share < top[0].probability
    # saved and loaded, the evidence is the same
    again = PatternStore.load(_saved(store, tmp_path))
    assert again.rule_evidence[hkey] == store.rule_evidence[hkey]
    assert Predictor(again).predict(state, 1)[0].probability == top[0].probability


def test_a_store_saved_before_rule_evidence_loads_without_it(tmp_path):
    path = _saved(mine(_traces(), calibrate=False), tmp_path)
    data = json.loads(path.read_text())
    del data["rule_evidence"]
    path.write_text(json.dumps(data))
    assert PatternStore.load(path).rule_evidence == {}


def _key(template: list) -> str:
    return json.dumps(template, sort_keys=True, separators=(",", ":"))


def _saved(store: PatternStore, tmp_path: Path) -> Path:
    path = tmp_path / "store.json"
    store.save(path)
    return path
