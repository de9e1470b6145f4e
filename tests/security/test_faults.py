"""Faults: tools that raise, hang or flood; a model backend that dies mid-generation; a fallback server that is down,
slow or wrong; a process killed mid-run. Each gives a clear error event and a defined outcome; nothing crashes,
nothing unverified runs, logs and databases stay readable, and a retried run does not repeat a completed
destructive call (idempotency keys)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agentslm import Agent, ToolRegistry
from agentslm.audit import read_audit_log
from agentslm.events import CallEvent, EscalationEvent, ResultEvent, VerdictEvent
from agentslm.models.base import Model
from agentslm.models.openai_compat import OpenAICompatModel
from agentslm.roles.planner import PlannerPolicy
from agentslm.router import RoutingPolicy
from agentslm.testing import ScriptedModel
from tests.test_router import PlanModel

ROOT = Path(__file__).resolve().parents[2]
FIVE_MB = "x" * (5 * 1024 * 1024)


class _Unserialisable:
    def __repr__(self) -> str:
        return "<Unserialisable>"


def _recursive() -> list[Any]:
    items: list[Any] = []
    items.append(items)
    return items


async def _async_hang() -> str:
    await asyncio.sleep(30)
    return "late"


def _faulty_tools() -> ToolRegistry:
    r = ToolRegistry()

    @r.tool(effects=["read"], timeout=1)
    def raises() -> str:
        """Raises."""
        raise ValueError("disk on fire")

    @r.tool(effects=["read"], timeout=0.5)
    def hangs() -> str:
        """Never returns in time."""
        time.sleep(30)
        return "late"

    @r.tool(effects=["read"], timeout=0.5)
    async def hangs_async() -> str:
        """Never returns in time (async)."""
        return await _async_hang()

    @r.tool(effects=["read"])
    def floods() -> str:
        """Returns 5 MB."""
        return FIVE_MB

    @r.tool(effects=["read"])
    def floods_json() -> list[dict[str, str]]:
        """Returns 5 MB of JSON."""
        return [{"row": FIVE_MB[:1000]} for _ in range(5000)]

    @r.tool(effects=["read"])
    def not_json() -> Any:
        """Returns an object JSON cannot encode."""
        return _Unserialisable()

    @r.tool(effects=["read"])
    def circular() -> Any:
        """Returns a list that contains itself."""
        return _recursive()

    @r.tool(effects=["read"])
    def binary() -> Any:
        """Returns bytes."""
        return b"\x00\xff\xfe binary"

    return r


TOOL_FAULTS = {
    "raises": (False, "ValueError: disk on fire"),
    "hangs": (False, "timed out after 0.5s"),
    "hangs_async": (False, "timed out after 0.5s"),
    "floods": (True, "truncated"),
    "floods_json": (True, "truncated"),
    "not_json": (True, "<Unserialisable>"),
    "circular": (True, "[[...]]"),
    "binary": (True, "binary"),
}


@pytest.mark.parametrize("tool", list(TOOL_FAULTS))
def test_a_faulty_tool_gives_a_clear_observation_and_the_run_goes_on(tool: str, record_property: Any) -> None:
    """A tool that raises, hangs (sync or async), returns 5 MB or something JSON cannot encode: the run finishes
    within the tool's timeout, the observation says what happened, its text is within the output budget."""
    model = ScriptedModel([[{"name": tool, "arguments": {}}], []], ["done"])
    agent = Agent(model, _faulty_tools(), retrieval=None, max_output_chars=8000)
    start = time.monotonic()
    run = agent.run(f"Call {tool}.")
    seconds = time.monotonic() - start
    ok, phrase = TOOL_FAULTS[tool]
    [result] = run.results
    record_property("seconds", round(seconds, 3))
    record_property("output_chars", len(result.observation.text))
    record_property("crashes", 0)
    assert result.observation.ok is ok and phrase in result.observation.text
    assert len(result.observation.text) <= 8000
    assert seconds < 5, "a hanging tool must not hold the run past its timeout"
    if not ok:
        assert any(e.kind == "tool_failed" and e.message for e in run.errors)
    tool_messages = [m["content"] for p in model.prompts for m in p if m["role"] == "tool"]
    assert all(len(t) <= agent.budgets.max_observation_chars + 200 for t in tool_messages)


def test_several_huge_results_fit_the_models_context(embedded_model: Model, record_property: Any) -> None:
    """Three tools each return 5 MB on the real model: each result is cut to the output budget and together to the
    observation budget, so the planner and summarizer prompts still fit the 4,096-token context."""
    r = ToolRegistry()

    def flood(label: str) -> Any:
        def read() -> str:
            return f"{label}: " + FIVE_MB

        return read

    for name in ("read_a", "read_b", "read_c"):
        r.add(flood(name), name=name, description=f"Read {name[-1]}.", effects=["read"])
    model = ScriptedModel([[{"name": n, "arguments": {}} for n in ("read_a", "read_b", "read_c")], []])
    prompts: list[int] = []

    class Measured(ScriptedModel):
        def generate(self, messages: Any, **kwargs: Any) -> Any:
            prompts.append(embedded_model.count_tokens(messages))
            return super().generate(messages, **kwargs)

    measured = Measured(model.plans, ["The three results are long."])
    run = Agent(measured, r, retrieval=None, policy=PlannerPolicy(grounding=False)).run("Read a, b and c.")
    record_property("largest_prompt_tokens", max(prompts))
    assert len(run.results) == 3 and all(e.observation.truncated for e in run.results)
    assert max(prompts) < 4096 - 384, f"prompt of {max(prompts)} tokens would not leave room to decode"
    assert run.status == "answered"


def test_the_model_backend_failing_mid_generation(
    embedded_model: Model, monkeypatch: pytest.MonkeyPatch, record_property: Any
) -> None:
    """The real model's decode raises after a few tokens (a backend crash mid-generation): the run ends with a
    `model` error event and nothing half-decoded runs; the model is usable again right after (its lock released)."""
    from tests.sample_tools import registry as sample_registry

    original = embedded_model._step  # type: ignore[attr-defined]
    steps = {"n": 0}

    def failing(tokens: list[int]) -> Any:
        steps["n"] += 1
        if steps["n"] >= 3:
            raise RuntimeError("llama_decode returned -1")
        return original(tokens)

    monkeypatch.setattr(embedded_model, "_step", failing)
    agent = Agent(embedded_model, sample_registry, retrieval=None)
    run = agent.run("What is the weather in Paris?")
    record_property("crashes", 0)
    assert run.status == "failed" and not run.results and not [e for e in run.events if isinstance(e, CallEvent)]
    assert any(e.kind == "model" and "llama_decode returned -1" in e.message for e in run.errors)
    monkeypatch.setattr(embedded_model, "_step", original)
    again = agent.run("What is the weather in Paris?")
    assert again.status == "answered" and again.results


class _Fallback:
    """A scripted OpenAI-compatible server for the fallback model."""

    def __init__(self) -> None:
        self.mode = "ok"
        self.hits = 0


@pytest.fixture()
def fallback() -> Iterator[tuple[_Fallback, str]]:
    script = _Fallback()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            script.hits += 1
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            mode = script.mode
            if mode == "slow":
                time.sleep(3)
            if mode == "drop":  # the connection dies mid-response
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "500")
                self.end_headers()
                self.wfile.write(b'{"choices": [{"mess')
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            status = {"4xx": 400, "auth": 401}.get(mode, 200)
            content = {
                "malformed": "{not json",
                "schema-invalid": json.dumps([{"name": "get_weather", "arguments": {"town": 3}}]),
            }.get(mode, json.dumps([{"name": "get_weather", "arguments": {"city": "Paris"}}]))
            body = (
                {"error": {"message": "bad request: unsupported field"}}
                if status != 200
                else {
                    "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5},
                }
            )
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("mode", ["down", "slow", "drop", "malformed", "schema-invalid", "4xx", "auth"])
@pytest.mark.parametrize("on_error", ["keep_slm", pytest.param("fail", marks=pytest.mark.slow)])
def test_fallback_faults_have_a_defined_outcome(
    mode: str, on_error: str, fallback: tuple[_Fallback, str], record_property: Any
) -> None:
    """The fallback server is down, slow (timeout), drops the connection, returns malformed or schema-invalid JSON,
    a 4xx or 401: an escalation event says `fallback_failed` with the reason; per policy the step keeps the small
    model's answer (which the verifier still checks) or fails; every call that ran was verified."""
    from tests.sample_tools import registry as sample_registry

    script, url = fallback
    script.mode = mode
    if mode == "down":
        url = "http://127.0.0.1:9/v1"
    plan = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    agent = Agent(
        PlanModel(plan, 0.4),
        sample_registry,
        fallback=OpenAICompatModel(url, "big", timeout=1.0, max_retries=1),
        routing=RoutingPolicy(threshold=0.9, on_fallback_error=on_error),  # type: ignore[arg-type]
        retrieval=None,
    )
    start = time.monotonic()
    with agent:
        run = agent.run("What is the weather in Paris?")
    seconds = time.monotonic() - start
    escalations = [e for e in run.events if isinstance(e, EscalationEvent)]
    verified = {e.task_id for e in run.events if isinstance(e, VerdictEvent) and e.verdict.approved}
    record_property("outcome", f"{run.status}; {escalations[0].outcome if escalations else '-'}")
    record_property("seconds", round(seconds, 2))
    record_property("crashes", 0)
    assert escalations and escalations[0].outcome == "fallback_failed" and escalations[0].error
    assert all(e.task_id in verified for e in run.events if isinstance(e, ResultEvent)), "an unverified call ran"
    if on_error == "keep_slm":
        assert run.status == "answered" and [c.name for c in run.calls] == ["get_weather"]
    else:
        assert run.status == "failed" and not run.calls
    assert seconds < 15


# ----------------------------------------------------------------------------- killed processes


def _child(tmp: Path, key: str, stall: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.security.crash_child", str(tmp / "notes.db"), str(tmp / "audit.jsonl"), key, stall],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def _wait_for(proc: subprocess.Popen[str], marker: str) -> None:
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        if marker in line:
            return
        assert time.monotonic() < deadline
    raise AssertionError(f"child ended before {marker}: {proc.stderr.read() if proc.stderr else ''}")


def _state(tmp: Path) -> tuple[list[int], int, str]:
    con = sqlite3.connect(tmp / "notes.db")
    try:
        ids = [row[0] for row in con.execute("SELECT id FROM notes ORDER BY id")]
        executions = con.execute("SELECT count(*) FROM executions").fetchone()[0]
        integrity = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    return ids, executions, integrity


@pytest.mark.parametrize("stall", ["after_tool", "in_tool"])
def test_killed_mid_run_then_retried_with_the_same_key(stall: str, tmp_path: Path, record_property: Any) -> None:
    """SIGKILL during a run, after an approved delete completed (`after_tool`) or while it ran (`in_tool`); the
    audit log and the database stay readable and consistent; the same request retried with the same idempotency
    key does not delete again — a completed call is replayed from the log, an unfinished one is reported as
    `unknown_outcome` and not repeated."""
    proc = _child(tmp_path, "request-42", stall)
    _wait_for(proc, stall.upper())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)  # reaps it and closes the pipes
    assert proc.returncode == -signal.SIGKILL
    ids, executions, integrity = _state(tmp_path)
    records = read_audit_log(tmp_path / "audit.jsonl")
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    corrupted = int(integrity != "ok") + sum(1 for line in lines if not line.strip().startswith("{"))
    assert integrity == "ok" and ids == [1] and executions == 1
    assert len(records) == len(lines), "every audit line parses"
    phases = [(r.tool, r.phase) for r in records]
    assert phases == (
        [("delete_note", "intent"), ("delete_note", "done")] if stall == "after_tool" else [("delete_note", "intent")]
    )

    retry = _child(tmp_path, "request-42", "none")
    out, err = retry.communicate(timeout=60)
    assert retry.returncode == 0, err
    ids, executions, integrity = _state(tmp_path)
    duplicates = executions - 1
    record_property("duplicate_destructive_calls", duplicates)
    record_property("corrupted_records", corrupted + int(integrity != "ok"))
    record_property("crashes", 0)
    assert executions == 1 and ids == [1], "the retried run deleted again"
    if stall == "after_tool":
        assert "REPLAYED [True]" in out and "unknown_outcome" not in out
    else:
        assert "unknown_outcome" in out and "REPLAYED []" in out

    fresh = _child(tmp_path, "request-43", "none")  # a new key is a new request: the delete runs (nothing to delete)
    out, err = fresh.communicate(timeout=60)
    assert fresh.returncode == 0 and "REPLAYED [False]" in out, err
    assert _state(tmp_path)[1] == 2


@pytest.mark.parametrize("seed", [pytest.param(s, marks=() if s == 0 else pytest.mark.slow) for s in range(5)])
def test_random_kills_leave_history_notes_and_audit_consistent(seed: int, tmp_path: Path, record_property: Any) -> None:
    """A process writing like the assistant (history turn + events, a note through the notes pack, an audit record)
    is SIGKILLed at a random moment, 3 times in a row on the same files: every SQLite file passes
    `PRAGMA integrity_check`, every audit line but a torn last one parses, each note is whole, the history reopens
    (turns left running are marked interrupted)."""
    import random

    from agentslm.assistant.history import History

    rng = random.Random(seed)
    corrupted = 0
    for _kill in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.security.kill_child", str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        _wait_for(proc, "READY")
        time.sleep(rng.uniform(0.05, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=10)
        for db in (tmp_path / "history.db", tmp_path / "packs" / "notes.db"):
            con = sqlite3.connect(db)
            try:
                corrupted += int(con.execute("PRAGMA integrity_check").fetchone()[0] != "ok")
                if db.name == "notes.db":
                    texts = [row[0] for row in con.execute("SELECT text FROM notes")]
                    corrupted += sum(1 for t in texts if not t.endswith("y" * 500))
            finally:
                con.close()
        lines = (tmp_path / "audit.jsonl").read_bytes().splitlines()
        parsed = len(read_audit_log(tmp_path / "audit.jsonl"))
        corrupted += max(0, len(lines) - parsed - 1)  # only a torn last line may fail to parse
        history = History(tmp_path / "history.db")
        history.recover()
        assert all(t["status"] != "running" for t in history.turns())
    notes = sqlite3.connect(tmp_path / "packs" / "notes.db")
    count = notes.execute("SELECT count(*) FROM notes").fetchone()[0]
    notes.close()
    record_property("notes_written", count)
    record_property("corrupted_records", corrupted)
    record_property("crashes", 0)
    assert corrupted == 0 and count > 0
