"""Hole types (paste.patterns.templates.hole_types / fits_type): a hole whose training leaf was
a number or a boolean only takes candidates of that JSON type, so a derived call never sets a
price to the stock symbol written beside it."""

import json

from paste.patterns.mining import mine
from paste.patterns.state import SessionState
from paste.patterns.store import SEP
from paste.patterns.templates import fits_type, hole_types
from paste.patterns.trace import Step, ToolCall, Trace


def test_hole_types_name_the_number_and_boolean_holes():
    key = ('[[["a"],["H",0,"str"]],[["b"],["H",1,"num"]],[["c"],["T",["x",2,"y"]]],'
           '[["d"],["H",3,"bool"]],[["e"],["L",5]],[["f"],["H",4,"json"]]]')
    assert hole_types(key) == (None, "num", None, "bool", None)


def test_fits_type_checks_the_json_type_of_the_value_key():
    assert [fits_type(v, "num") for v in ("150", "310.23", "-2", "1e3")] == [True] * 4
    assert [fits_type(v, "num") for v in ("AAPL", "$150", "true", '"150"', "", "[1]")] == \
        [False] * 6
    assert [fits_type(v, "bool") for v in ("true", "false", "1", "True")] == \
        [True, True, False, False]
    assert fits_type("AAPL", None) and fits_type("150", None)


def _session(i: int) -> Trace:
    """The agent reads a quote, then orders at the quoted price."""
    symbol, price = f"S{i}X", 100 + i
    steps = [Step(role="user", text=f"buy {symbol} please"),
             Step(role="tool", call=ToolCall("quote", {"symbol": symbol}),
                  output=json.dumps({"symbol": symbol, "price": price})),
             Step(role="tool", call=ToolCall("order", {"symbol": symbol, "price": price}),
                  output='{"ok": true}')]
    return Trace(session_id=f"s{i}", source="t", steps=steps)


def _price_hole(store) -> str:
    (hkey,) = [h for h in store.hole_rules if h.startswith("order" + SEP)
               and hole_types(h.split(SEP)[1])[int(h.split(SEP)[2])] == "num"]
    return hkey


def _after_quote(price: object) -> SessionState:
    state = SessionState()
    state.add_user("buy QQQ please")
    state.add_step(ToolCall("quote", {"symbol": "QQQ"}),
                   json.dumps({"symbol": "QQQ", "price": price}))
    return state


def test_a_number_hole_drops_the_candidates_that_are_not_numbers():
    store = mine([_session(i) for i in range(6)])
    hkey = _price_hole(store)
    assert store.candidates(hkey, _after_quote(205.5))[:1] == ["205.5"]
    # the quote's price field holds text this time: the rule reads it, the hole refuses it
    assert store.candidates(hkey, _after_quote("unknown")) == []
    assert store.candidates(hkey, _after_quote(True)) == []
