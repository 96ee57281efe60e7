"""Stored responses across a server restart (`--response-dir`, server/response_journal.py):
GET, input items and previous_response_id chains come back; deleted and evicted responses stay
gone; a background response cut by the restart comes back failed; a damaged line is reported
and skipped; the file is rewritten with only what is stored; one server per folder."""

from __future__ import annotations

import json

import pytest

from paste.server import ServerConfig
from paste.server.response_journal import FILE, ResponseJournal, ResponseJournalError
from paste.server.response_store import RESTARTED, ResponseStore, StoredResponse
from paste.server.session_journal import SessionJournal
from test_server_responses_store import turn
from test_server_support import always, live_server, openai_client


def stored(rid, messages, status="completed", cache_key=None, items=()):
    return StoredResponse({"id": rid, "object": "response", "status": status}, messages,
                          cache_key, input_items=list(items))


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def reopened(folder, capacity=8):
    store = ResponseStore(capacity, ResponseJournal(folder))
    return store, store.restore()


def lines(folder):
    return [json.loads(line) for line in (folder / FILE).read_text().splitlines()]


def test_a_restarted_store_has_the_chains_input_items_and_nothing_deleted(tmp_path):
    first = ResponseStore(3, ResponseJournal(tmp_path))
    first.put(stored("r1", [user("a"), assistant("b")], cache_key="k",
                     items=[{"id": "i1", "type": "message"}]))
    first.put(stored("r2", [user("a"), assistant("b"), user("c"), assistant("d")]),
              parent="r1")
    first.put(stored("gone", [user("x")]))
    assert first.delete("gone")
    first.put(stored("r3", [user("e")]))
    first.put(stored("r4", [user("f")]))  # capacity 3: r1 (least recently used) is evicted
    assert first.ids() == ["r2", "r3", "r4"]
    first.journal.close()

    store, problems = reopened(tmp_path)
    assert problems == []
    assert store.ids() == ["r2", "r3", "r4"]
    assert store.get("r2") is None  # its chain lost r1 to the eviction, as before the restart
    assert store.get("r3") == stored("r3", [user("e")])
    # the file now holds exactly the stored responses, one put each
    assert [(r["record"], r["id"]) for r in lines(tmp_path)] == [
        ("put", "r2"), ("put", "r3"), ("put", "r4")]


def test_a_chain_and_its_input_items_come_back_whole(tmp_path):
    first = ResponseStore(8, ResponseJournal(tmp_path))
    first.put(stored("r1", [user("a"), assistant("b")], cache_key="k",
                     items=[{"id": "i1", "type": "message"}]))
    first.put(stored("r2", [user("a"), assistant("b"), user("c"), assistant("d")], "completed",
                     "k"), parent="r1")
    want = first.get("r2")
    first.journal.close()
    store, _ = reopened(tmp_path)
    assert store.get("r2") == want
    assert store.input_items("r1") == [{"id": "i1", "type": "message"}]
    assert store.num_messages() == 4  # the chain is still held once


def test_a_response_cut_by_the_restart_comes_back_failed(tmp_path):
    first = ResponseStore(8, ResponseJournal(tmp_path))
    first.put(stored("bg", [user("a")], status="queued"))
    first.put(stored("bg", [user("a")], status="in_progress"))  # a later snapshot
    first.journal.close()
    store, _ = reopened(tmp_path)
    assert store.response("bg") == {
        "id": "bg", "object": "response", "status": "failed",
        "error": {"message": RESTARTED, "type": "server_error", "param": None, "code": None}}


def test_a_damaged_line_is_reported_and_skipped(tmp_path):
    first = ResponseStore(8, ResponseJournal(tmp_path))
    first.put(stored("r1", [user("a")]))
    first.journal.close()
    with (tmp_path / FILE).open("a") as f:
        f.write('{"record": "put", "id": "r2", "respo\n')  # cut short by a crash
        f.write('{"record": "delete"}\n')
    store, problems = reopened(tmp_path)
    path = tmp_path / FILE
    assert problems == [f"{path}:2: not a response record; skipped",
                        f"{path}:3: not a response record; skipped"]
    assert store.ids() == ["r1"]


def test_one_server_per_folder_and_the_session_journal_beside_it(tmp_path):
    journal = ResponseJournal(tmp_path)
    with pytest.raises(ResponseJournalError, match=r"the response folder .* is in use by "
                                                   r"another server \(pid \d+\)"):
        ResponseJournal(tmp_path)
    sessions = SessionJournal(tmp_path)  # its own lock file and files
    store = ResponseStore(8, journal)
    store.put(stored("r1", [user("a")]))
    assert sessions.load() == ([], [])
    journal.close()
    sessions.close()
    assert reopened(tmp_path)[0].ids() == ["r1"]


def test_a_folder_that_cannot_be_made_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ResponseJournalError, match="cannot create the response folder"):
        ResponseJournal(tmp_path / "file" / "sub")


def test_a_write_that_fails_is_counted_and_the_store_goes_on(tmp_path):
    store = ResponseStore(8, ResponseJournal(tmp_path / "folder"))
    (tmp_path / "folder" / FILE).mkdir()  # the file cannot be opened for appending
    store.put(stored("r1", [user("a")]))
    assert (store.ids(), store.num_failed_writes) == (["r1"], 1)


def test_the_flags_and_bad_settings():
    from paste.cli import build_parser
    from paste.cli.serve_cmd import server_options
    from paste.errors import InvalidArgumentError

    args = build_parser().parse_args(["serve", "m", "--response-dir", "d", "--response-fsync"])
    assert (server_options(args)["response_dir"], server_options(args)["response_fsync"]) == (
        "d", True)
    with pytest.raises(InvalidArgumentError, match="response_fsync needs a response_dir"):
        ServerConfig(model_id="m", response_fsync=True)
    with pytest.raises(InvalidArgumentError, match="response_dir must be a non-empty path"):
        ServerConfig(model_id="m", response_dir="")


def test_a_chain_goes_on_over_http_after_the_server_restarts(engine, tmp_path):
    with engine.scripted(always("Hello there!")):
        with live_server(engine, response_dir=str(tmp_path)) as server:
            client = openai_client(server)
            first = client.responses.create(model="tiny", input="Hi!")
        with live_server(engine, response_dir=str(tmp_path)) as server:
            client = openai_client(server)
            assert client.responses.retrieve(first.id).model_dump() == first.model_dump()
            second = client.responses.create(model="tiny", input="And then?",
                                             previous_response_id=first.id)
    assert second.previous_response_id == first.id
    assert engine.prompts[-1] == (turn("user", "Hi!") + turn("assistant", "Hello there!")
                                  + turn("user", "And then?") + "<|im_start|>assistant\n")
