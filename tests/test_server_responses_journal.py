"""Stored responses and conversations across a server restart (`--response-dir`,
server/store_journal.py): GET, input items and previous_response_id chains come back; deleted
and evicted responses stay gone; a background response cut by the restart comes back failed;
conversations come back with their metadata and items as last changed; a damaged line is
reported and skipped; the file is rewritten with only what is stored; one server per file."""

from __future__ import annotations

import json

import pytest

from paste.server import ServerConfig
from paste.server.conversation_store import ConversationStore, conversation_journal
from paste.server.response_journal import response_journal
from paste.server.response_store import RESTARTED, ResponseStore, StoredResponse
from paste.server.session_journal import SessionJournal
from paste.server.store_journal import StoreJournalError
from test_server_responses_store import turn
from test_server_support import always, live_server, openai_client

FILE = "responses.log"


def stored(rid, messages, status="completed", cache_key=None, items=()):
    return StoredResponse({"id": rid, "object": "response", "status": status}, messages,
                          cache_key, input_items=list(items))


def user(text):
    return {"role": "user", "content": text}


def assistant(text):
    return {"role": "assistant", "content": text}


def reopened(folder, capacity=8):
    store = ResponseStore(capacity, response_journal(folder))
    return store, store.restore()


def lines(folder):
    return [json.loads(line) for line in (folder / FILE).read_text().splitlines()]


def test_a_restarted_store_has_the_chains_input_items_and_nothing_deleted(tmp_path):
    first = ResponseStore(3, response_journal(tmp_path))
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
    first = ResponseStore(8, response_journal(tmp_path))
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
    first = ResponseStore(8, response_journal(tmp_path))
    first.put(stored("bg", [user("a")], status="queued"))
    first.put(stored("bg", [user("a")], status="in_progress"))  # a later snapshot
    first.journal.close()
    store, _ = reopened(tmp_path)
    assert store.response("bg") == {
        "id": "bg", "object": "response", "status": "failed",
        "error": {"message": RESTARTED, "type": "server_error", "param": None, "code": None}}


def test_a_damaged_line_is_reported_and_skipped(tmp_path):
    first = ResponseStore(8, response_journal(tmp_path))
    first.put(stored("r1", [user("a")]))
    first.journal.close()
    with (tmp_path / FILE).open("a") as f:
        f.write('{"record": "put", "id": "r2", "respo\n')  # cut short by a crash
        f.write('{"record": "delete"}\n')
    store, problems = reopened(tmp_path)
    path = tmp_path / FILE
    assert problems == [f"{path}:2: not a valid record; skipped",
                        f"{path}:3: not a valid record; skipped"]
    assert store.ids() == ["r1"]


def test_one_server_per_folder_and_the_session_journal_beside_it(tmp_path):
    journal = response_journal(tmp_path)
    with pytest.raises(StoreJournalError, match=r"the responses folder .* is in use by "
                                                r"another server \(pid \d+\)"):
        response_journal(tmp_path)
    sessions = SessionJournal(tmp_path)  # its own lock file and files
    store = ResponseStore(8, journal)
    store.put(stored("r1", [user("a")]))
    assert sessions.load() == ([], [])
    journal.close()
    sessions.close()
    assert reopened(tmp_path)[0].ids() == ["r1"]


def test_a_folder_that_cannot_be_made_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreJournalError, match="cannot create the responses folder"):
        response_journal(tmp_path / "file" / "sub")


def test_a_write_that_fails_is_counted_and_the_store_goes_on(tmp_path):
    store = ResponseStore(8, response_journal(tmp_path / "folder"))
    (tmp_path / "folder" / FILE).mkdir()  # the file cannot be opened for appending
    store.put(stored("r1", [user("a")]))
    assert (store.ids(), store.journal.num_failed_writes) == (["r1"], 1)


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


def test_conversations_come_back_as_last_changed(tmp_path):
    first = ConversationStore(2, conversation_journal(tmp_path))
    a = first.create([{"id": "m1", "type": "message"}], {"topic": "x"})
    b = first.create([], {})
    first.update(a["id"], {"topic": "y"})
    first.add_items(a["id"], [{"id": "m2", "type": "message"}, {"id": "m3", "type": "message"}])
    assert first.delete_item(a["id"], "m2")
    gone = first.create([], {})
    assert first.delete(gone["id"])
    c = first.create([], {})  # capacity 2: b, the least recently used, is evicted
    first.journal.close()

    store = ConversationStore(2, conversation_journal(tmp_path))
    assert store.restore() == []
    assert store.get(a["id"]) == dict(a, metadata={"topic": "y"})
    assert store.items(a["id"]) == [{"id": "m1", "type": "message"},
                                    {"id": "m3", "type": "message"}]
    assert store.get(b["id"]) is None and store.get(gone["id"]) is None
    assert store.get(c["id"]) == c
    records = [json.loads(line) for line in
               (tmp_path / "conversations.log").read_text().splitlines()]
    assert [(r["record"], r["id"]) for r in records] == [("create", a["id"]),
                                                         ("create", c["id"])]


def test_a_conversation_record_of_an_unknown_conversation_is_reported(tmp_path):
    path = tmp_path / "conversations.log"
    path.write_text('{"record": "add_items", "id": "conv_x", "items": []}\n'
                    '{"record": "create", "id": "conv_y"}\n')
    store = ConversationStore(2, conversation_journal(tmp_path))
    assert store.restore() == [
        f"{path}:2: not a valid record; skipped",
        f"{path}: a add_items record of conversation conv_x, which is not stored; skipped"]
    assert len(store) == 0


def test_a_conversation_goes_on_over_http_after_the_server_restarts(engine, tmp_path):
    with engine.scripted(always("Hello there!")):
        with live_server(engine, response_dir=str(tmp_path)) as server:
            conv = openai_client(server).conversations.create(
                items=[{"type": "message", "role": "user", "content": "Hi!"}])
        with live_server(engine, response_dir=str(tmp_path)) as server:
            client = openai_client(server)
            assert client.conversations.retrieve(conv.id).id == conv.id
            client.responses.create(model="tiny", input="And then?", conversation=conv.id)
            items = client.conversations.items.list(conv.id, order="asc").data
    assert engine.prompts[-1] == (turn("user", "Hi!") + turn("user", "And then?")
                                  + "<|im_start|>assistant\n")
    assert [i.role for i in items] == ["user", "user", "assistant"]


def test_failed_journal_writes_are_on_metrics(engine, tmp_path):
    from test_server_metrics import scrape

    with engine.scripted(always("Hello there!")), \
            live_server(engine, response_dir=str(tmp_path)) as server:
        (tmp_path / FILE).unlink()
        (tmp_path / FILE).mkdir()  # the journal can no longer be appended to
        answer = openai_client(server).responses.create(model="tiny", input="Hi!")
        assert openai_client(server).responses.retrieve(answer.id).id == answer.id
        _, values = scrape(server.url)
    name = "paste_store_journal_failed_writes_total"
    assert (values[(name, (("store", "responses"),))],
            values[(name, (("store", "conversations"),))]) == (1.0, 0.0)
