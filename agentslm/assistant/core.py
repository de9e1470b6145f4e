"""The assistant behind both front ends: the agent built from the config, one request at a time,
approvals that wait for the user, and a feed of messages (events, approvals, status) for live UIs."""

from __future__ import annotations

import itertools
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agentslm.agent import Agent, Session
from agentslm.errors import AgentslmError, UserError
from agentslm.events import AgentEvent, AnswerEvent, AskEvent, describe_event
from agentslm.models import load_model
from agentslm.registry import Tool
from agentslm.step_types import ToolCall
from agentslm.verify import Approver
from agentslm_tools import PackContext, build_registry

from .config import AssistantConfig
from .history import History

__all__ = ["Assistant", "AssistantBusy", "build_agent", "check_message"]


class AssistantBusy(UserError):
    """A request arrived while another one is running."""


def _claim(data_dir: Path) -> IO[str] | None:
    """An exclusive lock on ``data_dir`` for this process (POSIX), so a second assistant or chat cannot share its
    history (it would mark this one's running turn as interrupted). Released when the process ends."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here; one instance per data folder is on the user
        return None
    handle = (data_dir / "assistant.lock").open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise UserError(
            f"Another agentslm assistant or chat ({owner}) is using the data folder {data_dir}.",
            hint="close it, or start this one with another --data-dir.",
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    return handle


def check_message(text: str, limit: int) -> str:
    """The message stripped, or a :class:`UserError` that says what is wrong with it."""
    stripped = text.strip() if isinstance(text, str) else ""
    if not stripped:
        raise UserError("The message is empty.", hint="type what you want the assistant to do.")
    if len(stripped) > limit:
        raise UserError(
            f"The message has {len(stripped):,} characters; the limit is {limit:,}.",
            hint="shorten it, or save the text as a file in the workspace and ask about that file.",
        )
    return stripped


def _model_options(config: AssistantConfig, spec: str) -> dict[str, Any]:
    options: dict[str, Any] = {}
    local = not spec.startswith(("openai:", "transformers:"))
    if local and config.models.threads:
        options["n_threads"] = config.models.threads
    if local and config.models.lora and config.models.adapters:
        raise UserError("[models] sets both lora and adapters.", hint="list the lora file in adapters instead.")
    if local and config.models.lora:
        options["lora_path"] = config.models.lora
    if local and config.models.adapters:
        options["adapters"] = {role: path or None for role, path in config.models.adapters.items()}
    if local and config.models.extra_buffers != "auto":
        options["extra_buffers"] = config.models.extra_buffers
    return options


def build_agent(
    config: AssistantConfig,
    approve: Approver,
    *,
    audit: bool = True,
    ctx: PackContext | None = None,
    models: dict[str, Any] | None = None,
) -> Agent:
    """The agent for ``config``: its models (loaded once per distinct spec; ``models`` caches them across agents),
    tool packs (``ctx``: default from the config) and fallback."""
    if ctx is None:
        ctx = PackContext(data_dir=config.data_dir(), workspace=config.workspace(), timezone=config.tools.timezone or None)
    registry = build_registry(config.tools.packs, ctx)
    loaded: dict[str, Any] = models if models is not None else {}

    def model(spec: str) -> Any:
        if spec not in loaded:
            loaded[spec] = load_model(spec, **_model_options(config, spec))
        return loaded[spec]

    from agentslm.retrieval import QueryAdapter, RetrievalPolicy

    retrieval = RetrievalPolicy(
        k=config.retrieval.k,
        widen_k=max(15, config.retrieval.k),
        k_agreed=config.retrieval.k_agreed or None,
        adapter=QueryAdapter.load(Path(config.retrieval.adapter).expanduser()) if config.retrieval.adapter else None,
    )
    routing = None
    if config.fallback.routing:
        from agentslm.router import RoutingPolicy

        routing = RoutingPolicy.from_file(config.fallback.routing)
    return Agent(
        planner=model(config.role_model("planner")),
        caller=model(config.role_model("caller")),
        summarizer=model(config.role_model("summarizer")),
        tools=registry,
        approve=approve,
        audit_log=ctx.data_dir / "audit.jsonl" if audit else None,
        fallback=config.fallback.model or None,
        routing=routing,
        escalation_log=ctx.data_dir / "escalations.jsonl" if config.fallback.model else None,
        retrieval=retrieval,
    )


@dataclass
class _Approval:
    id: str
    tool: str
    arguments: dict[str, Any]
    done: threading.Event = field(default_factory=threading.Event)
    approved: bool = False


class Assistant:
    """Runs requests in a worker thread and publishes what happens as a numbered feed of messages.

    Message kinds: ``turn`` (a request started), ``event`` (an agent event, with its one-line text),
    ``approval`` (a call waits for Approve/Deny), ``approval_done``, ``done`` (the turn ended), ``error``.
    """

    def __init__(self, config: AssistantConfig, agent: Agent | None = None, *, approve: Approver | None = None) -> None:
        self.config = config
        data_dir = config.data_dir()
        data_dir.mkdir(parents=True, exist_ok=True)
        self._claim = _claim(data_dir)
        self.history = History(data_dir / "history.db")
        self.interrupted = self.history.recover()
        approver = approve if approve is not None else self._approve  # default: wait for the UI's Approve/Deny
        self.agent = agent if agent is not None else build_agent(config, approver)
        if agent is not None:
            agent.approve = approver  # each run's verifier asks the agent's approver
        self._lock = threading.Lock()
        self._feed: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        self._seq = itertools.count(1)
        self._approvals: dict[str, _Approval] = {}
        self._approvals_lock = threading.Lock()
        self._approval_ids = itertools.count(1)
        self.running: int | None = None
        self._worker: threading.Thread | None = None

    def close(self) -> None:
        """Close the agent (MCP connections, fallback) and release the data folder."""
        self.agent.close()
        if self._claim is not None:
            self._claim.close()
            self._claim = None

    # -- feed ------------------------------------------------------------------------------------
    def publish(self, message: dict[str, Any]) -> dict[str, Any]:
        with self._changed:
            message = {"id": next(self._seq), "time": time.time(), **message}
            self._feed.append(message)
            del self._feed[:-2000]
            self._changed.notify_all()
        return message

    def messages_after(self, last_id: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Messages newer than ``last_id``, waiting up to ``timeout`` seconds for one."""
        with self._changed:
            self._changed.wait_for(lambda: bool(self._feed) and self._feed[-1]["id"] > last_id, timeout=timeout)
            return [m for m in self._feed if m["id"] > last_id]

    def last_id(self) -> int:
        with self._changed:
            return self._feed[-1]["id"] if self._feed else 0

    # -- state -------------------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "busy": self.running is not None,
            "turn": self.running,
            "tools": self.agent.registry.names,
            "model": self.model_name(),
            "pending": [{"id": a.id, "tool": a.tool, "arguments": a.arguments} for a in self._pending()],
            "last_id": self.last_id(),
            "interrupted": self.interrupted,
        }

    def _pending(self) -> list[_Approval]:
        with self._approvals_lock:
            return list(self._approvals.values())

    def model_name(self) -> str:
        """The planner's model (the small one when routing to a fallback)."""
        planner = self.agent.planner
        small = getattr(planner, "small", planner)
        return str(getattr(getattr(small, "model", None), "name", "?"))

    # -- approvals -----------------------------------------------------------------------------------
    def _approve(self, call: ToolCall, tool: Tool) -> bool:
        approval = _Approval(id=f"a{next(self._approval_ids)}", tool=tool.name, arguments=dict(call.arguments))
        with self._approvals_lock:
            self._approvals[approval.id] = approval
        effects = sorted(e.value for e in tool.effects)
        self.publish(
            {"kind": "approval", "turn": self.running, "approval": approval.id, "tool": tool.name,
             "arguments": approval.arguments, "effects": effects}
        )  # fmt: skip
        approval.done.wait(self.config.server.approval_timeout)
        with self._approvals_lock:  # from here on no answer is taken: the first answer (or the timeout) stands
            self._approvals.pop(approval.id, None)
            answered = approval.done.is_set()
            decision = approval.approved if answered else False
        self.publish(
            {"kind": "approval_done", "turn": self.running, "approval": approval.id, "approved": decision,
             "timed_out": not answered}
        )  # fmt: skip
        return decision

    def decide(self, approval_id: str, approved: bool) -> None:
        """The user's answer to a pending approval."""
        with self._approvals_lock:  # the first answer wins; a second one (another tab) is refused
            approval = self._approvals.get(approval_id)
            if approval is None or approval.done.is_set():
                raise UserError(f"No call is waiting for approval {approval_id!r}.", hint="it was answered or timed out already.")
            approval.approved = bool(approved)
            approval.done.set()

    # -- requests ------------------------------------------------------------------------------------
    def submit(self, text: str) -> int:
        """Start a request in the background; returns its turn id. Busy, empty and oversized messages are refused."""
        message = check_message(text, self.config.server.max_message_chars)
        if not self._lock.acquire(blocking=False):
            raise AssistantBusy(
                f"The assistant is still working on turn {self.running}.", hint="wait for its answer (or answer its approval)."
            )
        try:
            turn = self.history.start(message)
        except BaseException:
            self._lock.release()
            raise
        self.running = turn
        self.publish({"kind": "turn", "turn": turn, "request": message})
        self._worker = threading.Thread(target=self._run, args=(turn, message), name=f"assistant-turn-{turn}", daemon=True)
        try:
            self._worker.start()
        except BaseException:
            self.running = None
            self._lock.release()
            raise
        return turn

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the running request (if any) to end."""
        if self._worker is not None:
            self._worker.join(timeout)

    def run_sync(self, text: str, on_event: Callable[[AgentEvent], None] | None = None) -> dict[str, Any]:
        """Run one request in this thread (terminal chat): same history and checks; returns the finished turn."""
        message = check_message(text, self.config.server.max_message_chars)
        with self._lock:
            turn = self.history.start(message)
            self.running = turn
            try:
                status, answer = self._execute(turn, message, on_event)
            finally:
                self.running = None
        self.publish({"kind": "done", "turn": turn, "status": status, "answer": answer})
        return self.history.turns(1)[-1]

    def _run(self, turn: int, message: str) -> None:
        status, answer = "failed", None
        try:
            status, answer = self._execute(turn, message, None)
        finally:
            self.running = None
            self._lock.release()  # free before "done" goes out, so a UI that sends on "done" is not refused
            self.publish({"kind": "done", "turn": turn, "status": status, "answer": answer})

    def _execute(self, turn: int, message: str, on_event: Callable[[AgentEvent], None] | None) -> tuple[str, str | None]:
        status, answer = "failed", None
        try:
            session: Session = self.history.session(self.config.models.history_turns)
            for event in self.agent.stream(message, session=session):
                text = describe_event(event)
                data = event.model_dump(mode="json")
                try:
                    self.history.add_event(turn, event.seq, event.type, text, data)
                except AgentslmError as exc:  # the history database is locked or damaged: the run goes on
                    self.publish({"kind": "error", "turn": turn, "message": f"this step was not saved in the history: {exc}"})
                self.publish({"kind": "event", "turn": turn, "type": event.type, "text": text, "event": data})
                if on_event is not None:
                    on_event(event)
                if isinstance(event, AnswerEvent):
                    answer = event.text
                elif isinstance(event, AskEvent):
                    answer = event.question
            last = session.turns[-1] if session.turns and session.turns[-1].request == message else None
            status = last.status if last is not None and last.status else ("answered" if answer else "failed")
            calls = last.calls if last is not None else []
        except AgentslmError as exc:
            self.publish({"kind": "error", "turn": turn, "message": str(exc)})
            answer, calls = f"Error: {exc}", []
        except Exception as exc:  # a bug or a backend crash: report it, keep the assistant usable
            self.publish({"kind": "error", "turn": turn, "message": f"{type(exc).__name__}: {exc}"})
            answer, calls = f"Internal error: {type(exc).__name__}: {exc}", []
        try:
            self.history.finish(turn, status, answer, calls)
        except AgentslmError as exc:  # the history database is locked or damaged: say so, keep going
            self.publish({"kind": "error", "turn": turn, "message": f"the history was not saved: {exc}"})
        return status, answer
