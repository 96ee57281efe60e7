"""TenantPredictors with a pattern directory: online-learned stores saved per tenant and
loaded by the next server; file names for any tenant; typed errors for bad directories; a
store that cannot be saved stays learned (and is counted)."""

from __future__ import annotations

import json

import pytest

from paste.errors import InvalidArgumentError
from paste.patterns.errors import PatternStoreError
from paste.patterns.store import PatternStore
from paste.server.config import ServerConfig
from paste.server.predictors import TenantPredictors
from test_server_support import wait_until


class FakeSession:
    """What TenantPredictors.learn reads from a session: its trace record."""

    def __init__(self, sid: str, tenant: str, path: str) -> None:
        call = {"id": "c1", "type": "function",
                "function": {"name": "read_file", "arguments": json.dumps({"path": path})}}
        self.record = {"session_id": sid, "tenant": tenant, "messages": [
            {"role": "user", "content": f"Read {path} please."},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": f"contents of {path}"},
            {"role": "assistant", "content": "done"},
        ]}  # fmt: skip

    def trace(self) -> dict:
        return self.record


def learn(predictors: TenantPredictors, sid: str, tenant: str, path: str) -> bool:
    future = predictors.learn(FakeSession(sid, tenant, path), 0)
    assert future is not None
    return future.result(30)


def test_learned_stores_are_saved_and_loaded_by_the_next_server(tmp_path):
    first = TenantPredictors(store_dir=tmp_path / "stores")  # created when missing
    try:
        assert learn(first, "s1", "acme", "a.txt") and learn(first, "s2", "acme", "b.txt")
        assert learn(first, "s3", "beta", "c.txt")
    finally:
        first.close()
    assert sorted(p.name for p in (tmp_path / "stores").iterdir()) == ["acme.json", "beta.json"]
    second = TenantPredictors(store_dir=tmp_path / "stores")
    try:
        assert second.tenants() == ["acme", "beta"]
        acme = PatternStore.load(tmp_path / "stores" / "acme.json")
        assert (acme.tenant, acme.num_sessions) == ("acme", 2)
        assert learn(second, "s4", "acme", "d.txt")  # keeps learning on top of the saved store
        assert PatternStore.load(second.store_file("acme")).num_sessions == 3
        assert (second.num_learned_runs, second.num_failed_saves) == (1, 0)
    finally:
        second.close()


def test_runs_learned_within_the_interval_are_saved_at_close(tmp_path):
    p = TenantPredictors(store_dir=tmp_path, save_interval_s=3600)
    try:
        assert learn(p, "s1", "acme", "a.txt") and learn(p, "s2", "acme", "b.txt")
        assert PatternStore.load(tmp_path / "acme.json").num_sessions == 1  # the first, at once
        assert learn(p, "s3", "beta", "c.txt")  # another tenant's first run: saved at once
        assert PatternStore.load(tmp_path / "beta.json").num_sessions == 1
    finally:
        p.close()
    assert PatternStore.load(tmp_path / "acme.json").num_sessions == 2


def test_a_flush_saves_the_runs_left_unsaved_once_the_interval_passed(tmp_path):
    p = TenantPredictors(store_dir=tmp_path, save_interval_s=0.3)
    try:
        assert learn(p, "s1", "acme", "a.txt") and learn(p, "s2", "acme", "b.txt")
        assert wait_until(lambda: PatternStore.load(tmp_path / "acme.json").num_sessions == 2)
        assert p.num_failed_saves == 0
    finally:
        p.close()


def test_an_interval_of_0_saves_after_every_run(tmp_path):
    p = TenantPredictors(store_dir=tmp_path, save_interval_s=0)
    try:
        for i, name in enumerate(("a.txt", "b.txt", "c.txt")):
            assert learn(p, f"s{i}", "acme", name)
            assert PatternStore.load(tmp_path / "acme.json").num_sessions == i + 1
    finally:
        p.close()


def test_a_failed_save_is_tried_again_by_the_next_run(tmp_path):
    p = TenantPredictors(store_dir=tmp_path, save_interval_s=3600)
    try:
        (tmp_path / "acme.json").mkdir()  # the rename onto it fails
        assert learn(p, "s1", "acme", "a.txt") and p.num_failed_saves == 1
        (tmp_path / "acme.json").rmdir()
        assert learn(p, "s2", "acme", "b.txt")  # no save yet: tried at once
        assert PatternStore.load(tmp_path / "acme.json").num_sessions == 2
        assert p.num_failed_saves == 1
    finally:
        p.close()


def test_the_save_interval_is_checked():
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(InvalidArgumentError, match="pattern_save_interval"):
            ServerConfig(model_id="m", pattern_save_interval=bad)


def test_file_names_for_any_tenant(tmp_path):
    p = TenantPredictors(store_dir=tmp_path)
    try:
        assert p.store_file("acme") == tmp_path / "acme.json"
        assert p.store_file("a/b c") == tmp_path / "a%2Fb%20c.json"
        hidden = p.store_file(".x")
        assert hidden is not None and hidden.name.startswith("t-") and hidden.parent == tmp_path
        assert len(p.store_file("x" * 500).name) < 100
        assert TenantPredictors().store_file("acme") is None  # no directory: nothing saved
    finally:
        p.close()


def test_a_store_that_cannot_be_saved_stays_learned(tmp_path):
    p = TenantPredictors(store_dir=tmp_path)
    try:
        (tmp_path / "acme.json").mkdir()  # the save's rename onto it fails
        assert learn(p, "s1", "acme", "a.txt")
        assert (p.num_learned_runs, p.num_failed_saves, p.tenants()) == (1, 1, ["acme"])
        assert "acme.json" in (p.last_error or "")
        assert learn(p, "s2", "beta", "b.txt") and p.num_failed_saves == 1
    finally:
        p.close()


def test_bad_directories_are_typed_errors(tmp_path):
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text("{not json")
    with pytest.raises(PatternStoreError, match="x.json"):
        TenantPredictors(store_dir=tmp_path / "bad")
    (tmp_path / "twice").mkdir()
    PatternStore("acme").save(tmp_path / "twice" / "a.json")
    PatternStore("acme").save(tmp_path / "twice" / "b.json")
    with pytest.raises(PatternStoreError, match="already defined"):
        TenantPredictors(store_dir=tmp_path / "twice")
    (tmp_path / "file").write_text("")
    with pytest.raises(PatternStoreError, match="cannot create"):
        TenantPredictors(store_dir=tmp_path / "file" / "sub")
    with pytest.raises(InvalidArgumentError, match="pattern_dir"):
        ServerConfig(model_id="m", pattern_dir="")


def test_the_directory_replaces_the_store_files_tenant(tmp_path):
    mined = PatternStore("acme")
    mined.save(tmp_path / "mined.json")
    saved = PatternStore("acme")
    saved.num_sessions = 7
    (tmp_path / "dir").mkdir()
    saved.save(tmp_path / "dir" / "acme.json")
    p = TenantPredictors(tmp_path / "mined.json", store_dir=tmp_path / "dir")
    try:
        entry = p.predictor_for("acme")
        assert entry is not None and entry.predictor.store.num_sessions == 7
    finally:
        p.close()
