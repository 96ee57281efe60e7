"""`paste patterns update`: a store file learns completed sessions (paste JSONL records of
other tenants skipped, other formats taken as the store's tenant), its next-tool model is
refitted, and bad input is a typed error that leaves the store file as it was."""

from pathlib import Path

from paste.cli import main
from paste.patterns.loaders import load_folder
from paste.patterns.loaders.paste_jsonl import write_traces
from paste.patterns.mining import mine
from paste.patterns.store import PatternStore
from test_patterns_cli import FIXTURES, _fails
from test_patterns_toolmodel import _trace, _traces


def _store(tmp_path: Path) -> Path:
    path = tmp_path / "store.json"
    mine(_traces(), calibrate=False).save(path)
    return path


def test_update_learns_the_stores_tenants_sessions_and_refits_the_model(tmp_path, capsys):
    store = _store(tmp_path)
    runs = [_trace(20, "gamma", "after_gamma"), _trace(21, "gamma", "after_gamma"),
            _trace(22, "delta", "after_delta")]
    runs[2].tenant = "other"  # never learned by this tenant's store
    (tmp_path / "runs").mkdir()
    write_traces(runs, tmp_path / "runs" / "sessions.jsonl")
    assert main(["patterns", "update", "--store", str(store), "--traces",
                 str(tmp_path / "runs")]) == 0
    captured = capsys.readouterr()
    assert captured.out == (f"updated {store} with 2 sessions into {store} (18 sessions in "
                            "all; next-tool model fits: 1, weight 0.75)\n")
    assert captured.err == "skipped 1 sessions of other tenants than 'default'\n"
    back = PatternStore.load(store)
    assert back.num_sessions == 18 and back.history is not None
    assert back.history.fitted == 18 and back.tool_model is not None
    assert "after_gamma" in back.tool_model.kinds and "after_delta" not in back.tool_model.kinds
    assert "delta" not in back.templates
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, then renamed


def test_update_takes_a_sourceless_formats_sessions_as_the_stores_tenant(tmp_path, capsys):
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    store, out = tmp_path / "s.json", tmp_path / "updated.json"
    assert main(["patterns", "mine", "--train", d, "--out", str(store), "--tenant", "t1"]) == 0
    n = len(load_folder(FIXTURES / "tau-bench-gpt4o-airline").traces)
    before = store.read_bytes()
    capsys.readouterr()
    assert main(["patterns", "update", "--store", str(store), "--traces", d,
                 "--out", str(out)]) == 0
    # the weight is chosen again at 8 sessions: 0 here (4 sessions of 4 tasks, twice)
    assert capsys.readouterr().out == (f"updated {store} with {n} sessions into {out} "
                                       f"({2 * n} sessions in all; next-tool model fits: 0, "
                                       "weight 0)\n")
    assert store.read_bytes() == before  # --out: the input store is left as it was
    back = PatternStore.load(out)
    assert (back.tenant, back.num_sessions) == ("t1", 2 * n)


def test_update_errors_are_typed_and_leave_the_store_as_it_was(tmp_path, capsys):
    store = _store(tmp_path)
    before = store.read_bytes()
    d = str(FIXTURES / "tau-bench-gpt4o-airline")
    out = tmp_path / "missing" / "s.json"
    assert _fails(["patterns", "update", "--store", str(store), "--traces", d, "--out",
                   str(out)], capsys) == (2, f"error: --out {out}: folder {out.parent} does "
                                             "not exist\n")
    missing = tmp_path / "nope"
    assert _fails(["patterns", "update", "--store", str(store), "--traces", str(missing)],
                  capsys) == (2, f"error: {missing}: not a directory\n")
    (tmp_path / "bad.json").write_text("{")
    code, err = _fails(["patterns", "update", "--store", str(tmp_path / "bad.json"),
                        "--traces", d], capsys)
    assert code == 1 and err.startswith(f"error: {tmp_path / 'bad.json'}: cannot read pattern "
                                        "store")
    code, err = _fails(["patterns", "update", "--store", str(store), "--traces", d, "--out",
                        str(tmp_path)], capsys)  # a folder: cannot be written as a file
    assert code == 1 and err.startswith(f"error: cannot write {tmp_path}: ")
    assert store.read_bytes() == before
    assert not list(tmp_path.parent.glob(f".{tmp_path.name}.tmp"))  # its temporary is gone
