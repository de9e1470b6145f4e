"""Typed events of an agent run (published as ``schemas/event.schema.json``).

Every step of :meth:`agentslm.Agent.stream` yields one of these; ``run`` and ``arun`` collect them.
Each carries the run id, a sequence number and a wall-clock timestamp; ``type`` tells them apart.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from agentslm.provenance import ArgumentSource
from agentslm.step_types import CallSignals, Observation, ToolCall, Verdict

__all__ = [
    "AgentEvent",
    "AnswerEvent",
    "ApprovalRequestEvent",
    "AskEvent",
    "CallEvent",
    "ErrorEvent",
    "EscalationEvent",
    "EventBase",
    "NoToolEvent",
    "PlanEvent",
    "PlannedTask",
    "ResultEvent",
    "RetrievalEvent",
    "VerdictEvent",
    "describe_event",
    "describe_source",
    "event_adapter",
]


class EventBase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    seq: int = 0
    """Position of the event in its run (0, 1, 2, ...)."""
    time: float = Field(default_factory=time.time)
    """Unix time the event was emitted."""


class PlannedTask(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: int
    """1-based task number; arguments may reference earlier tasks as ``"$N"`` or ``"$N.field"``."""
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    depends_on: list[int] = Field(default_factory=list)


class PlanEvent(EventBase):
    type: Literal["plan"] = "plan"
    step: int
    """Planning round (replans count up)."""
    tasks: list[PlannedTask]
    thought: str = ""
    signals: CallSignals = Field(default_factory=CallSignals)


class CallEvent(EventBase):
    type: Literal["call"] = "call"
    task_id: int
    call: ToolCall
    """The call with references substituted: exactly what is verified and, if approved, run."""
    provenance: dict[str, ArgumentSource] = Field(default_factory=dict)
    """Where each argument value came from (:mod:`agentslm.provenance`): the request, a result, a reference, the
    schema, a free text, or ``unsupported`` (an identifier that is not an exact copy of a source is not run)."""


class VerdictEvent(EventBase):
    type: Literal["verdict"] = "verdict"
    task_id: int
    tool: str
    verdict: Verdict


class ApprovalRequestEvent(EventBase):
    type: Literal["approval_request"] = "approval_request"
    task_id: int
    tool: str
    arguments: dict[str, Any]
    """The exact arguments the tool would run with."""


class ResultEvent(EventBase):
    type: Literal["result"] = "result"
    task_id: int
    tool: str
    observation: Observation
    started: float
    finished: float


class EscalationEvent(EventBase):
    type: Literal["escalation"] = "escalation"
    role: Literal["planner", "caller", "summarizer"]
    reason: str
    to_model: str
    outcome: Literal["escalated", "fallback_failed", "fallback_unusable"] = "escalated"
    """``escalated``: the fallback's answer is used; otherwise it failed and the step kept the small model's
    answer or gave up (per the routing policy)."""
    confidence: dict[str, Any] = Field(default_factory=dict)
    """The small model's confidence: chosen score, every raw signal, and why it was forced to 0 (if so)."""
    error: str | None = None
    seconds: float = 0.0
    """Time spent in the fallback."""


class RetrievalEvent(EventBase):
    type: Literal["retrieval"] = "retrieval"
    retriever: str
    tools: list[str]
    """The tools offered to the model for this request, best first."""
    of: int
    """How many tools the registry has."""
    widened: bool = False
    """True for the second, wider search after no offered tool fitted."""
    agreed: bool | None = None
    """With ``RetrievalPolicy(k_agreed=N)``: whether the lexical and embedding rankings put the same tool first
    (then only N tools were offered); ``None`` when the policy did not ask."""


class AskEvent(EventBase):
    type: Literal["ask"] = "ask"
    question: str
    missing: list[str] = Field(default_factory=list)
    tool: str = ""


class NoToolEvent(EventBase):
    type: Literal["no_tool"] = "no_tool"
    reason: str


class AnswerEvent(EventBase):
    type: Literal["answer"] = "answer"
    text: str
    cited: list[int] = Field(default_factory=list)
    """Task ids whose results the answer used."""
    replaced: list[str] = Field(default_factory=list)
    """What the answer check found unsupported in the summarizer's text (e.g. "'sunny' (weather) is in no
    result"); when not empty, ``text`` is the results themselves instead."""


class ErrorEvent(EventBase):
    type: Literal["error"] = "error"
    kind: Literal[
        "bad_plan",
        "reference",
        "budget",
        "timeout",
        "tool_failed",
        "refused",
        "provenance",
        "model",
        "give_up",
        "internal",
        "unknown_outcome",
    ]
    message: str
    task_id: int | None = None


AgentEvent = Annotated[
    PlanEvent
    | CallEvent
    | VerdictEvent
    | ApprovalRequestEvent
    | ResultEvent
    | EscalationEvent
    | RetrievalEvent
    | AskEvent
    | NoToolEvent
    | AnswerEvent
    | ErrorEvent,
    Field(discriminator="type"),
]

event_adapter: TypeAdapter[Any] = TypeAdapter(AgentEvent)
"""Validates/parses any event from JSON: ``event_adapter.validate_json(line)``."""


def _args(arguments: dict[str, Any]) -> str:
    import json

    return json.dumps(arguments, ensure_ascii=False, default=str)


def describe_source(source: ArgumentSource) -> str:
    """A few words on where an argument value came from: ``request``, ``result of task 2``, ``$2.email`` ..."""
    if source.source == "result":
        return f"result of {source.detail}" if source.detail else "a result"
    if source.source == "reference":
        return f"reference {source.detail}"
    if source.source == "unsupported":
        return f"UNSUPPORTED ({source.detail})"
    if source.source == "free_text":
        return "free text"
    return source.source


def describe_event(event: EventBase) -> str:
    """One line of plain text for an event (for terminals and logs)."""
    if isinstance(event, PlanEvent):
        tasks = "; ".join(f"[{t.id}] {t.tool}({_args(t.arguments)})" for t in event.tasks)
        return f"plan    round {event.step}: {tasks}"
    if isinstance(event, CallEvent):
        line = f"call    [{event.task_id}] {event.call.name}({_args(event.call.arguments)})"
        if event.provenance:
            line += "  <- " + ", ".join(f"{k}: {describe_source(v)}" for k, v in event.provenance.items())
        return line
    if isinstance(event, VerdictEvent):
        if event.verdict.approved:
            return f"verdict [{event.task_id}] approved ({', '.join(c.stage for c in event.verdict.checks)})"
        return f"verdict [{event.task_id}] refused: {'; '.join(event.verdict.reasons)}"
    if isinstance(event, ApprovalRequestEvent):
        return f"approve [{event.task_id}] {event.tool}({_args(event.arguments)})?"
    if isinstance(event, ResultEvent):
        status = "ok" if event.observation.ok else "failed"
        return f"result  [{event.task_id}] {status} in {event.finished - event.started:.2f}s: {event.observation.text[:300]}"
    if isinstance(event, EscalationEvent):
        text = f"escalate {event.role} to {event.to_model}: {event.reason}"
        return text if event.outcome == "escalated" else f"{text} -> {event.outcome}: {event.error}"
    if isinstance(event, RetrievalEvent):
        wider = "widened, " if event.widened else ""
        agreed = {True: " (rankings agreed)", False: " (rankings differed)", None: ""}[event.agreed]
        return f"tools   {wider}{len(event.tools)} of {event.of} by {event.retriever}{agreed}: {', '.join(event.tools)}"
    if isinstance(event, AskEvent):
        return f"ask     {event.question}"
    if isinstance(event, NoToolEvent):
        return f"no tool {event.reason}"
    if isinstance(event, AnswerEvent):
        cited = f" (from results {event.cited})" if event.cited else ""
        checked = f"  (the model's wording was replaced: {'; '.join(event.replaced)})" if event.replaced else ""
        return f"answer  {event.text}{cited}{checked}"
    if isinstance(event, ErrorEvent):
        where = f" [{event.task_id}]" if event.task_id is not None else ""
        return f"error   {event.kind}{where}: {event.message}"
    return repr(event)
