"""The assistant's HTTP API and core with a scripted fake model (orchestration only; the real model runs in
test_web_ui.py and test_chat_terminal.py): approvals, timeouts, busy/empty/oversized requests, the
cross-site and Host checks, history recovery after a crash, config errors."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from agentslm import Agent
from agentslm.assistant.config import AssistantConfig, load_config
from agentslm.assistant.core import Assistant
from agentslm.assistant.history import History
from agentslm.assistant.web import create_app
from agentslm.errors import UserError
from agentslm.testing import ScriptedModel
from agentslm_tools import PackContext, build_registry
from tests.test_agent import call

JSON = {"Content-Type": "application/json"}
_OPEN: list[Assistant] = []


@pytest.fixture(autouse=True)
def _close_assistants() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def make(tmp_path: Path, plans: list[object], **server: object) -> tuple[Assistant, TestClient]:
    config = AssistantConfig.model_validate(
        {"tools": {"packs": ["notes"], "data_dir": str(tmp_path / "data"), "workspace": str(tmp_path / "ws")}, "server": server}
    )
    tools = build_registry(["notes"], PackContext(data_dir=tmp_path / "data", workspace=tmp_path / "ws"))
    assistant = Assistant(config, agent=Agent(ScriptedModel(plans, ["done"] * 5), tools))
    _OPEN.append(assistant)
    client = TestClient(create_app(assistant, allowed_hosts=["testserver"]))
    return assistant, client


def wait_for(assistant: Assistant, kind: str, timeout: float = 10.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last = 0
    while time.monotonic() < deadline:
        for message in assistant.messages_after(last, 0.2):
            last = int(message["id"])
            if message["kind"] == kind:
                return message
    raise AssertionError(f"no {kind!r} message")


def note_count(tmp_path: Path) -> int:
    with sqlite3.connect(tmp_path / "data" / "notes.db") as db:
        return int(db.execute("SELECT count(*) FROM notes").fetchone()[0])


def test_approval_deny_then_busy_and_bad_requests(tmp_path: Path) -> None:
    assistant, client = make(tmp_path, [[call("add_note", text="buy milk")], "[]", [call("delete_note", note_id=1)], "[]"])
    assert client.post("/api/messages", json={"text": "Save a note: buy milk"}).status_code == 202
    assistant.wait(10)
    assert note_count(tmp_path) == 1

    assert client.post("/api/messages", json={"text": "Delete note 1"}).json() == {"turn": 2}
    pending = wait_for(assistant, "approval")
    assert pending["tool"] == "delete_note" and pending["arguments"] == {"note_id": 1} and pending["effects"] == ["destructive"]
    busy = client.post("/api/messages", json={"text": "another"})
    assert busy.status_code == 409 and "still working on turn 2" in busy.json()["error"]
    assert client.get("/api/state").json()["pending"] == [
        {"id": pending["approval"], "tool": "delete_note", "arguments": {"note_id": 1}}
    ]
    assert client.post(f"/api/approvals/{pending['approval']}", json={"approve": "yes"}).status_code == 400
    assert client.post(f"/api/approvals/{pending['approval']}", json={"approve": False}).json() == {"ok": True}
    second = client.post(f"/api/approvals/{pending['approval']}", json={"approve": True})  # e.g. another tab, at once
    assert second.status_code == 404 and "answered or timed out already" in second.json()["error"]  # the first answer won
    assistant.wait(10)
    assert note_count(tmp_path) == 1  # denied: nothing changed
    assert client.post(f"/api/approvals/{pending['approval']}", json={"approve": True}).status_code == 404  # answered already
    turns = client.get("/api/history").json()["turns"]
    assert [t["status"] for t in turns] == ["answered", "answered"]
    assert any(e["kind"] == "error" and "approval denied" in e["text"] for e in turns[1]["events"])

    empty = client.post("/api/messages", json={"text": "  \n"})
    assert empty.status_code == 400 and "empty" in empty.json()["error"]
    huge = client.post("/api/messages", json={"text": "x" * 5000})
    assert huge.status_code == 413 and "5,000 characters; the limit is 4,000" in huge.json()["error"]
    assert client.post("/api/messages", content=b"{not json", headers=JSON).status_code == 400
    assert client.post("/api/messages", json={"message": "wrong key"}).status_code == 400
    assert len(client.get("/api/history").json()["turns"]) == 2  # none of those started a turn


def test_unanswered_approval_times_out_as_deny(tmp_path: Path) -> None:
    assistant, client = make(
        tmp_path, [[call("add_note", text="x")], "[]", [call("delete_note", note_id=1)], "[]"], approval_timeout=0.3
    )
    client.post("/api/messages", json={"text": "Save a note: x"})
    assistant.wait(10)
    client.post("/api/messages", json={"text": "Delete note 1"})
    done = wait_for(assistant, "approval_done")
    assert done["approved"] is False and done["timed_out"] is True
    assistant.wait(10)
    assert note_count(tmp_path) == 1


def test_cross_site_and_host_checks(tmp_path: Path) -> None:
    assistant, client = make(tmp_path, [])
    form = client.post("/api/messages", content=b'{"text": "hi"}', headers={"Content-Type": "text/plain"})
    assert form.status_code == 415  # a cross-site form/no-cors POST cannot use application/json
    other = client.post("/api/messages", json={"text": "hi"}, headers={"Origin": "http://evil.example"})
    assert other.status_code == 403 and "evil.example" in other.json()["error"]
    rebinding = client.get("/api/state", headers={"Host": "evil.example:8000"})
    assert rebinding.status_code == 403
    same = client.post("/api/messages", json={"text": "hi"}, headers={"Origin": "http://testserver"})
    assert same.status_code == 202
    assistant.wait(10)
    assert client.get("/").headers["content-type"].startswith("text/html")
    assert "EventSource" in client.get("/static/app.js").text  # assets ship with the package
    assert client.get("/static/.hidden").status_code == 404
    assert client.get("/static/missing.js").status_code == 404


def test_crash_mid_run_is_recovered_as_interrupted(tmp_path: Path) -> None:
    history = History(tmp_path / "data" / "history.db")
    turn = history.start("Delete note 1")
    history.add_event(turn, 0, "plan", "plan    round 1: [1] delete_note", {})
    # the process dies here; a new assistant starts on the same data folder
    assistant, client = make(tmp_path, [])
    assert assistant.interrupted == 1
    turns = client.get("/api/history").json()["turns"]
    assert [(t["status"], len(t["events"])) for t in turns] == [("interrupted", 1)]
    assert assistant.history.session(5).turns == []  # an interrupted turn is not shown to the planner


def test_tool_errors_reach_the_ui_and_the_assistant_stays_usable(tmp_path: Path) -> None:
    assistant, client = make(tmp_path, [[call("add_note", text="a")], "[]", [call("add_note", text="b")], "[]"])
    (tmp_path / "data").mkdir(parents=True, exist_ok=True)
    damaged = b"garbage" * 200
    (tmp_path / "data" / "notes.db").write_bytes(damaged)
    client.post("/api/messages", json={"text": "Save a note: a"})
    assistant.wait(10)
    turn = client.get("/api/history").json()["turns"][-1]
    assert any("damaged" in e["text"] and "left untouched" in e["text"] for e in turn["events"])
    assert (tmp_path / "data" / "notes.db").read_bytes() == damaged
    (tmp_path / "data" / "notes.db").unlink()
    assert client.post("/api/messages", json={"text": "Save a note: b"}).status_code == 202
    assistant.wait(10)
    assert note_count(tmp_path) == 1


def test_config_file_errors_say_where(tmp_path: Path) -> None:
    bad = tmp_path / "a.toml"
    bad.write_text("[models\nmodel = 1")
    with pytest.raises(UserError, match=r"a.toml is not valid TOML"):
        load_config(bad)
    bad.write_text('[tools]\npacks = ["notes", "mail"]\n[server]\nprot = 8000\n')
    with pytest.raises(UserError, match=r"\[tools.packs\].*unknown tool packs \['mail'\].*\[server.prot\] Extra inputs"):
        load_config(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "missing.toml")
    good = tmp_path / "b.toml"
    good.write_text('[models]\nthreads = 1\n[tools]\npacks = ["calc"]\ntimezone = "Europe/Madrid"\n')
    config = load_config(good)
    assert (config.models.threads, config.tools.packs, config.server.port, config.source) == (1, ["calc"], 0, good)


def test_retrieval_section_reaches_the_agent(tmp_path: Path) -> None:
    import numpy as np

    from agentslm.assistant.core import build_agent
    from agentslm.retrieval import QueryAdapter

    adapter = QueryAdapter(matrix=np.zeros((384, 384), dtype=np.float32)).save(tmp_path / "adapter.npz")
    places = f'[tools]\ndata_dir = "{tmp_path / "data"}"\nworkspace = "{tmp_path / "ws"}"\n'
    file = tmp_path / "c.toml"
    file.write_text(places + f'[retrieval]\nk = 4\nk_agreed = 1\nadapter = "{adapter}"\n')
    models = {"embedded": ScriptedModel([])}
    agent = build_agent(load_config(file), lambda *_: False, audit=False, models=models)
    assert agent.selector is not None
    policy = agent.selector.policy
    assert (policy.k, policy.k_agreed, policy.widen_k, isinstance(policy.adapter, QueryAdapter)) == (4, 1, 15, True)
    (tmp_path / "d.toml").write_text(places)
    defaults = build_agent(load_config(tmp_path / "d.toml"), lambda *_: False, audit=False, models=models)
    assert defaults.selector is not None
    assert (defaults.selector.policy.k, defaults.selector.policy.k_agreed, defaults.selector.policy.adapter) == (5, None, None)
    file.write_text("[retrieval]\nk = 3\nk_agreed = 4\n")
    with pytest.raises(UserError, match=r"\[retrieval.k_agreed\].*must not exceed k"):
        load_config(file)
    file.write_text(places + f'[retrieval]\nadapter = "{tmp_path / "missing.npz"}"\n')
    with pytest.raises(UserError, match="No query adapter"):
        build_agent(load_config(file), lambda *_: False, audit=False, models=models)


def test_a_locked_history_is_a_clear_503_and_loses_nothing(tmp_path: Path) -> None:
    assistant, client = make(tmp_path, [[call("add_note", text="a")], "[]"])
    assistant.history.store.timeout = 0.2
    holder = sqlite3.connect(tmp_path / "data" / "history.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        locked = client.post("/api/messages", json={"text": "Save a note: a"})
        assert locked.status_code == 503 and "history database" in locked.json()["error"]
        assert client.get("/api/history").status_code == 503
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert client.post("/api/messages", json={"text": "Save a note: a"}).status_code == 202  # usable again
    assistant.wait(10)
    assert note_count(tmp_path) == 1 and [t["status"] for t in client.get("/api/history").json()["turns"]] == ["answered"]


def test_one_assistant_per_data_folder(tmp_path: Path) -> None:
    first, _ = make(tmp_path, [])
    with pytest.raises(UserError, match=r"Another agentslm assistant or chat \(pid \d+\) is using the data folder"):
        make(tmp_path, [])
    first.close()
    make(tmp_path, [])  # free again


def _sse_messages(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-Sent Events from a response's lines: each a dict of its fields (``event``, ``id``, ``data``...)."""
    fields: dict[str, str] = {}
    for line in lines:
        if not line:
            if fields:
                yield fields
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def test_the_event_feed_streams_a_turn_over_sse_and_resumes_after_an_id(tmp_path: Path) -> None:
    """A real server (uvicorn): the feed opens with ``hello`` (the state, a retry hint), then one SSE message per
    published message with its id; ``Last-Event-ID`` resumes after that id."""
    import json
    import threading

    import httpx
    import uvicorn

    from agentslm.assistant.web import free_port

    assistant, _ = make(tmp_path, [[call("add_note", text="buy milk")]])
    port = free_port()
    app = create_app(assistant, allowed_hosts=[f"127.0.0.1:{port}"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        base = f"http://127.0.0.1:{port}"
        seen: list[dict[str, str]] = []
        with httpx.Client(base_url=base, timeout=20) as client, client.stream("GET", "/api/events") as feed:
            assert feed.headers["content-type"].startswith("text/event-stream")
            messages = _sse_messages(feed.iter_lines())
            hello = next(messages)
            assert hello["event"] == "hello" and hello["retry"] == "1000" and "busy" in json.loads(hello["data"])
            posted = client.post("/api/messages", json={"text": "Save a note: buy milk"}, headers={"Origin": base})
            assert posted.status_code == 202
            for message in messages:
                seen.append(message)
                if json.loads(message["data"])["kind"] == "done":
                    break
        kinds = [json.loads(m["data"])["kind"] for m in seen]
        assert kinds[0] == "turn" and kinds[-1] == "done" and "event" in kinds
        assert [int(m["id"]) for m in seen] == sorted(int(m["id"]) for m in seen)
        assert note_count(tmp_path) == 1
        # resume after the turn's first message: the rest of the turn comes again, nothing before it
        with (
            httpx.Client(base_url=base, timeout=20) as client,
            client.stream("GET", "/api/events", headers={"Last-Event-ID": seen[0]["id"]}) as feed,
        ):
            messages = _sse_messages(feed.iter_lines())
            assert next(messages)["event"] == "hello"
            again = [next(messages) for _ in seen[1:]]
        assert [m["id"] for m in again] == [m["id"] for m in seen[1:]]
    finally:
        server.should_exit = True
        thread.join(10)
