"""The store file (paste.patterns.storefile): version 2 writes each template key once, loads
to the same tables as version 1 (which still loads), shares each key between the tables it
keys, and is written a table entry at a time with the bytes json.dumps gives. (A packed key
that names no template is among test_patterns_store's damaged files.)"""

import io
import json

import pytest

from paste.patterns.errors import PatternStoreError
from paste.patterns.mining import mine
from paste.patterns.predictor import Predictor
from paste.patterns.state import SessionState
from paste.patterns.store import SEP, PatternStore
from paste.patterns.storefile import FORMAT_VERSION, KEYED, to_data, write_json
from paste.patterns.trace import Step, ToolCall, Trace

LONG = "cd /repo && python -m pytest tests/test_parser.py -x -q --tb=short"  # a literal


def _session(i: int) -> Trace:
    path = f"src/mod{i}.py"
    steps = [Step(role="user", text=f"fix the bug in {path}"),
             Step(role="tool", call=ToolCall("view", {"path": path, "note": LONG}),
                  output=f"def f{i}(): pass"),
             Step(role="tool", call=ToolCall("edit", {"path": path, "old": f"f{i}",
                                                      "new": f"g{i}", "note": LONG}),
                  output="ok")]
    return Trace(session_id=f"s{i}", source="t", steps=steps, group=f"g{i}")


@pytest.fixture(scope="module")
def store() -> PatternStore:
    return mine([_session(i) for i in range(8)])


def _live() -> SessionState:
    state = SessionState()
    state.add_user("fix the bug in src/mod42.py")
    return state


def test_version_2_lists_each_template_key_once_and_loads_the_same_tables(store, tmp_path):
    assert FORMAT_VERSION == 2
    store.save(tmp_path / "v2.json")
    data = json.loads((tmp_path / "v2.json").read_text())
    unpacked = to_data(store, version=1)
    templates = sorted(f"{kind}{SEP}{tkey}" for kind, counts in store.templates.items()
                       for tkey in counts)
    assert sorted(data["template_keys"]) == templates
    for name in KEYED:
        assert len(data[name]) == len(unpacked[name])
        for key in data[name]:
            index, _, rest = key.partition(SEP)
            assert 0 <= int(index) < len(templates)
            full = data["template_keys"][int(index)] + (SEP + rest if rest else "")
            assert data[name][key] == json.loads(json.dumps(unpacked[name][full]))
    back = PatternStore.load(tmp_path / "v2.json")
    assert to_data(back, version=1) == unpacked
    assert Predictor(back).predict(_live(), 5) == Predictor(store).predict(_live(), 5)
    (tmp_path / "v1.json").write_text(json.dumps(unpacked))
    assert (tmp_path / "v2.json").stat().st_size < (tmp_path / "v1.json").stat().st_size


def test_a_version_1_file_loads_as_it_is(store, tmp_path):
    unpacked = to_data(store, version=1)
    assert unpacked["version"] == 1 and "template_keys" not in unpacked
    (tmp_path / "v1.json").write_text(json.dumps(unpacked))
    back = PatternStore.load(tmp_path / "v1.json")
    assert to_data(back, version=1) == unpacked
    assert to_data(back) == to_data(store)


def test_loaded_tables_share_each_key(store, tmp_path):
    store.save(tmp_path / "v2.json")
    back = PatternStore.load(tmp_path / "v2.json")
    for hkey in back.hole_rules:
        assert next(k for k in back.rank_stats if k == hkey) is next(
            k for k in back.hole_rules if k == hkey)
        assert next(k for k in back.hole_shapes if k == hkey) is next(
            k for k in back.hole_rules if k == hkey)


def test_write_json_gives_the_bytes_of_json_dumps(store):
    data = to_data(store)
    data["odd"] = {1: [1.5, None], "x": {"é": True}}  # a table with a non-string key
    out = io.StringIO()
    write_json(data, out)
    assert out.getvalue() == json.dumps(data)
    small = io.StringIO()
    write_json({}, small)
    assert small.getvalue() == "{}"


def test_an_unknown_version_is_refused(store):
    with pytest.raises(ValueError, match="version 3"):
        to_data(store, version=3)


def test_a_file_of_another_version_is_refused_naming_both(tmp_path):
    (tmp_path / "v9.json").write_text('{"version": 9}')
    with pytest.raises(PatternStoreError, match=r"v9\.json: not a pattern store of version 1 or 2"):
        PatternStore.load(tmp_path / "v9.json")
