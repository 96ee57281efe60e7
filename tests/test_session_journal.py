"""Native sessions survive a server restart (`paste serve --session-dir`): the journal's
records, read back exactly; a transcript cut off by a crash is answered; bad lines and files
are reported, never silently dropped; Session.restore continues a conversation exactly (the
model sees the same prompt); over HTTP, and with `paste serve` killed by SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from paste.errors import InvalidArgumentError
from paste.server.session_journal import SessionJournal
from paste.session.restore import (
    INTERRUPTED_RESULT,
    highest_call_number,
    tool_history,
    unanswered_calls,
)
from paste.tools import ToolRegistry
from test_server_support import HANG_GUARD_S, live_server, wait_until

HEADER = {"id": "acme-0123", "tenant": "acme", "tools": ["get_weather"], "system": "Be brief.",
          "max_turns": 8, "max_tokens": 64, "environment": {"city": "Paris"}, "priority": 2,
          "created_at": 1700000000}
CALL = '{"name": "get_weather", "arguments": {"city": "Paris"}}'
ANSWER = "It is 22 C in Paris."
ASSISTANT = {"role": "assistant", "content": "", "tool_calls": [
    {"id": "call_1", "type": "function",
     "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}


def weather_script(prompt: str) -> str:
    """Call get_weather until its result follows the last user message, then answer."""
    return ANSWER if "<|im_start|>tool\n" in prompt.rsplit("<|im_start|>user", 1)[-1] else CALL


@pytest.fixture(scope="module")
def registry():
    reg = ToolRegistry()

    @reg.tool(effect="read_only", timeout_s=HANG_GUARD_S)
    def get_weather(city: str) -> str:
        """Weather of a city."""
        return f"22 C in {city}"

    yield reg
    reg.close()


# ----- the journal ---------------------------------------------------------------------------
def test_the_journal_reads_back_what_it_wrote(tmp_path):
    journal = SessionJournal(tmp_path / "sessions")
    journal.create(HEADER)
    journal.append("acme-0123", {"role": "system", "content": "Be brief."})
    journal.append("acme-0123", {"role": "user", "content": "Weather?"})
    journal.append("acme-0123", ASSISTANT, raw=CALL)
    journal.append("acme-0123", {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
                                 "content": "boom"}, ok=False)
    (session,), problems = journal.load()
    assert problems == []
    assert session.header == dict(HEADER, lora=None)  # written without one: the base model
    assert [m["role"] for m in session.messages] == ["system", "user", "assistant", "tool"]
    assert session.messages[2] == ASSISTANT
    assert (session.raw_texts, session.failed_call_ids) == ({2: CALL}, {"call_1"})
    with pytest.raises(OSError, match="cannot write"):  # a session file is never overwritten
        journal.create(HEADER)
    journal.delete("acme-0123")
    journal.delete("acme-0123")  # idempotent
    journal.append("acme-0123", {"role": "user", "content": "late"})  # a run still going
    assert journal.load() == ([], [])
    assert [p.name for p in (tmp_path / "sessions").iterdir()] == [".lock"]


def test_with_fsync_every_write_reaches_the_disk_before_it_returns(tmp_path, monkeypatch):
    synced: list[str] = []  # a fake os.fsync: records what it was asked to sync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(os.readlink(f"/proc/self/fd/{fd}")))
    folder = tmp_path / "sessions"
    plain = SessionJournal(folder)
    plain.create({**HEADER, "id": "plain"})
    plain.append("plain", {"role": "user", "content": "Weather?"})
    plain.delete("plain")
    plain.close()
    assert synced == []  # off by default
    journal = SessionJournal(folder, fsync=True)
    file = str(folder / "acme-0123.jsonl")
    journal.create(HEADER)
    assert synced == [file, str(folder)]  # the file's data, then the folder's new entry
    journal.append("acme-0123", {"role": "user", "content": "Weather?"})
    journal.append("acme-0123", ASSISTANT, raw=CALL)
    assert synced == [file, str(folder), file, file]
    (session,), _ = journal.load()
    assert [m["role"] for m in session.messages] == ["user", "assistant"]
    journal.delete("acme-0123")
    assert synced[-1] == str(folder)  # the entry's removal
    journal.delete("acme-0123")  # idempotent: nothing to sync
    assert len(synced) == 5
    journal.close()


def test_a_sync_that_fails_is_a_journal_error(tmp_path, monkeypatch):
    def failing_fsync(fd):  # a fake: the disk reports an I/O error
        raise OSError(5, "Input/output error")

    journal = SessionJournal(tmp_path / "sessions", fsync=True)
    journal.create(HEADER)
    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="cannot write .*acme-0123.jsonl: .*Input/output error"):
        journal.append("acme-0123", {"role": "user", "content": "Weather?"})
    with pytest.raises(OSError, match="cannot sync .*Input/output error"):
        journal.delete("acme-0123")
    journal.close()


def test_bad_lines_and_files_are_reported_with_their_place(tmp_path):
    journal = SessionJournal(tmp_path)
    journal.create(HEADER)
    journal.append("acme-0123", {"role": "user", "content": "Weather?"})
    with journal.path("acme-0123").open("a") as f:
        f.write('{"record": "message", "message": {"content": "no role"}}\n')
        f.write('{"record": "message", "message": {"role": "user", "cont')  # cut by a crash
    (tmp_path / "other.jsonl").write_text('{"record": "message"}\n')
    (tmp_path / "empty.jsonl").write_text("")
    (session,), problems = journal.load()
    assert session.messages == [{"role": "user", "content": "Weather?"}]
    path = journal.path("acme-0123")
    assert problems == [
        f"{path}:3: not a message record; skipped",
        f"{path}:4: not a message record; skipped",
        f"{tmp_path / 'empty.jsonl'}:1: empty; the file is not restored",
        f"{tmp_path / 'other.jsonl'}:1: not a session record; the file is not restored",
    ]
    with pytest.raises(InvalidArgumentError):
        journal.path("../escape")


def test_one_server_at_a_time_owns_a_session_folder(tmp_path):
    first = SessionJournal(tmp_path)
    with pytest.raises(OSError, match=rf"is in use by another server \(pid {os.getpid()}\)"):
        SessionJournal(tmp_path)
    first.close()
    first.close()  # idempotent
    SessionJournal(tmp_path).close()  # free again


def test_a_folder_that_cannot_be_made_is_a_typed_error(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match="cannot create the session folder"):
        SessionJournal(tmp_path / "file" / "sessions")


# ----- transcripts cut off by a crash --------------------------------------------------------
def test_restore_helpers_on_a_transcript_cut_off_mid_calls():
    second = {"id": "call_7", "type": "function",
              "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}}
    messages = [{"role": "user", "content": "Weather?"},
                dict(ASSISTANT, tool_calls=[ASSISTANT["tool_calls"][0], second]),
                {"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
                 "content": "22 C in Paris"}]
    assert unanswered_calls(messages) == [("call_7", "get_weather")]
    assert highest_call_number(messages) == 7
    assert list(tool_history(messages, {"call_1"})) == [
        ("user", "Weather?"),
        ("result", ("get_weather", {"city": "Paris"}, "22 C in Paris", False))]
    assert unanswered_calls(messages[:1]) == []


# ----- Session.restore on a real engine ------------------------------------------------------
def test_a_restored_session_continues_with_the_same_prompt(engine, registry):
    from paste.session import open_session

    with engine.scripted(weather_script):
        first = open_session(engine, tools=registry, system="Be brief.", parser="json")
        assert first.run("Weather in Paris?").final_text == ANSWER
        raw = {i: t for i, t in first._raw_texts.items()}
        again = open_session(engine, tools=registry, system="Be brief.", parser="json")
        assert again.restore(first.messages, raw, set()) == []
        assert again.messages == first.messages
        assert again.prompt_ids() == first.prompt_ids()  # the model sees the same prompt
        result = again.run("And in Rome?")
    assert result.status == "completed"
    calls = [m["tool_calls"][0]["id"] for m in again.messages if m.get("tool_calls")]
    assert calls == ["call_1", "call_2"]  # ids go on from the restored ones
    with pytest.raises(InvalidArgumentError, match="already has a conversation"):
        again.restore(first.messages, raw, set())
    first.close()
    again.close()


def test_a_restored_session_answers_the_calls_a_crash_left_open(engine, registry):
    from paste.session import open_session

    cut = [{"role": "user", "content": "Weather in Paris?"}, ASSISTANT]
    session = open_session(engine, tools=registry, parser="json")
    added = session.restore(cut, {1: CALL}, set())
    assert added == [{"role": "tool", "tool_call_id": "call_1", "name": "get_weather",
                      "content": INTERRUPTED_RESULT}]
    assert session.messages == cut + added
    assert session.trace()["messages"][-1]["status"] == "error"  # a failed call in its trace
    with pytest.raises(InvalidArgumentError, match="message 0 must be an object"):
        open_session(engine, tools=registry, parser="json").restore([{"role": "x"}], {}, set())
    session.close()


# ----- over HTTP -----------------------------------------------------------------------------
def test_a_new_server_on_the_same_folder_restores_its_sessions(engine, registry, tmp_path):
    folder = tmp_path / "sessions"
    with engine.scripted(weather_script), live_server(engine, tools=registry,
                                                      session_dir=str(folder)) as server:
        created = httpx.post(server.url + "/v1/sessions",
                             json={"tools": ["get_weather"], "system": "Be brief."}).json()
        sid = created["id"]
        done = httpx.post(server.url + f"/v1/sessions/{sid}/messages",
                          json={"content": "Weather in Paris?", "stream": False},
                          timeout=HANG_GUARD_S).json()
        assert done["text"] == ANSWER
        before = httpx.get(server.url + f"/v1/sessions/{sid}").json()
        gone = httpx.post(server.url + "/v1/sessions", json={"tools": []}).json()["id"]
        httpx.delete(server.url + f"/v1/sessions/{gone}")
    assert sorted(p.name for p in folder.glob("*.jsonl")) == [f"{sid}.jsonl"]
    with engine.scripted(weather_script), live_server(engine, tools=registry,
                                                      session_dir=str(folder)) as server:
        after = httpx.get(server.url + f"/v1/sessions/{sid}").json()
        metrics = httpx.get(server.url + "/metrics").text.splitlines()
        assert "paste_sessions_restored_total 1.0" in metrics
        assert "paste_session_journal_failed_writes_total 0.0" in metrics
        assert (after["messages"], after["tools"], after["tenant"]) == (
            before["messages"], ["get_weather"], "default")
        assert [m["role"] for m in after["messages"]] == ["system", "user", "assistant", "tool",
                                                          "assistant"]
        again = httpx.post(server.url + f"/v1/sessions/{sid}/messages",
                           json={"content": "And in Rome?", "stream": False},
                           timeout=HANG_GUARD_S).json()
        assert again["status"] == "completed"
        assert httpx.get(server.url + f"/v1/sessions/{gone}").status_code == 404
    with engine.scripted(weather_script), live_server(engine, tools=ToolRegistry(),
                                                      session_dir=str(folder)) as server:
        # a server without the session's tools does not restore it (and keeps its file)
        assert httpx.get(server.url + f"/v1/sessions/{sid}").status_code == 404
    assert [p.name for p in folder.glob("*.jsonl")] == [f"{sid}.jsonl"]
    lines = (folder / f"{sid}.jsonl").read_text().splitlines()
    # the header, then system, user, call, result, answer; user, call, result, answer
    assert [json.loads(line)["record"] for line in lines] == ["session"] + ["message"] * 9
    assert [json.loads(line)["message"]["role"] for line in lines[1:]] == [
        "system", "user", "assistant", "tool", "assistant", "user", "assistant", "tool",
        "assistant"]


def test_paste_serve_killed_by_sigkill_keeps_its_sessions(tmp_path_factory, tmp_path):
    from test_server_cli import free_port
    from test_session_support import shared_tiny_folder

    folder = shared_tiny_folder(tmp_path_factory)
    sessions = tmp_path / "sessions"

    def serve(port, log):
        code = "import sys; from paste.cli import main; sys.exit(main())"
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-c", code, "serve", "--model", str(folder), "--port",
                 str(port), "--attention-backend", "torch", "--num-blocks", "512",
                 "--session-dir", str(sessions), "--no-speculation"],
                stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"

        def up():
            try:
                return httpx.get(url + "/health").status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        assert wait_until(up, interval_s=0.2) and proc.poll() is None, log.read_text()
        return proc, url

    proc, url = serve(free_port(), tmp_path / "first.log")
    try:
        sid = httpx.post(url + "/v1/sessions", json={"max_tokens": 6}).json()["id"]
        done = httpx.post(url + f"/v1/sessions/{sid}/messages", timeout=HANG_GUARD_S,
                          json={"content": "Hello", "stream": False}).json()
        before = httpx.get(url + f"/v1/sessions/{sid}").json()["messages"]
    finally:
        proc.send_signal(signal.SIGKILL)  # no shutdown of any kind
        proc.wait(HANG_GUARD_S)
    assert [m["role"] for m in before] == ["user", "assistant"]
    assert before[1]["content"] == done["text"]
    proc, url = serve(free_port(), tmp_path / "second.log")
    try:
        assert httpx.get(url + f"/v1/sessions/{sid}").json()["messages"] == before
        again = httpx.post(url + f"/v1/sessions/{sid}/messages", timeout=HANG_GUARD_S,
                           json={"content": "Again", "stream": False}).json()
        assert again["status"] == "completed"
        after = httpx.get(url + f"/v1/sessions/{sid}").json()["messages"]
        assert after[:2] == before and [m["role"] for m in after[2:]] == ["user", "assistant"]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(HANG_GUARD_S) == 0


def test_a_session_that_cannot_open_leaves_no_file(engine, registry, tmp_path):
    from paste.server.session_store import SessionStore

    store = SessionStore(engine, registry, "json", journal=SessionJournal(tmp_path))
    with pytest.raises(InvalidArgumentError, match="environment"):
        store.create(None, "acme", None, 4, 16, environment={"x": float("nan")})
    assert (list(tmp_path.glob("*.jsonl")), len(store)) == ([], 0)
    session = store.create(None, "acme", "Be brief.", 4, 16)
    assert store.restore() == []  # its own live sessions are not restored twice: no problem
    store.close()
    (entry,), problems = SessionJournal(tmp_path).load()
    assert (entry.header["id"], entry.messages, problems) == (
        session.session_id, [{"role": "system", "content": "Be brief."}], [])


def test_an_empty_session_dir_is_refused():
    from paste.server.config import ServerConfig

    with pytest.raises(InvalidArgumentError, match="session_dir must be a non-empty path"):
        ServerConfig(model_id="m", session_dir="")
    with pytest.raises(InvalidArgumentError, match="session_fsync needs a session_dir"):
        ServerConfig(model_id="m", session_fsync=True)


def test_a_journal_write_that_fails_is_counted_and_the_session_goes_on(engine, registry,
                                                                        tmp_path):
    from paste.server.session_store import SessionStore

    store = SessionStore(engine, registry, "json", journal=SessionJournal(tmp_path))
    try:
        session = store.create([], "acme", None, 4, 16)
        path = store.journal.path(session.session_id)
        path.unlink()
        path.mkdir()  # every later write of this session fails
        with engine.scripted(lambda _prompt: "Hello."):
            result = session.run("Hi")
        assert (result.status, result.final_text) == ("completed", "Hello.")
        assert [m["role"] for m in session.messages] == ["user", "assistant"]
        assert store.num_failed_writes == 2  # the user message and the answer
    finally:
        store.close()


def test_a_journaled_transcript_that_is_not_one_is_reported_and_the_rest_restored(
        engine, registry, tmp_path):
    from paste.server.session_store import SessionStore

    journal = SessionJournal(tmp_path)
    journal.create(dict(HEADER, id="acme-good"))
    journal.append("acme-good", {"role": "user", "content": "Weather?"})
    journal.create(dict(HEADER, id="acme-bad"))
    journal.append("acme-bad", {"role": "user", "content": "Weather?"})
    journal.append("acme-bad", {"role": "assistant", "content": "", "tool_calls": [{"id": 1}]})
    store = SessionStore(engine, registry, "json", journal=journal)
    try:
        assert store.restore() == [
            "acme-bad: message 1 has tool_calls that are not [{id, function: {name, "
            "arguments}}, ...]; the session is not restored"]
        assert store.num_restored == 1
        assert store.get("acme-good").messages == [{"role": "user", "content": "Weather?"}]
        with pytest.raises(Exception, match="no session 'acme-bad'"):
            store.get("acme-bad")
    finally:
        store.close()
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == ["acme-bad.jsonl",
                                                               "acme-good.jsonl"]
