"""SLM-first routing: each step runs on the small model; a step whose confidence is below the calibrated
threshold, or that the verifier refused, is done again by a fallback model (any :class:`~agentslm.models.Model`,
typically an OpenAI-compatible server with a larger model).

Escalation wraps a step — :class:`RoutedPlanner` has the planner's interface — instead of being an exception
path in the agent loop. Every escalation is reported on the step (``Decision.escalation``, shown as an
``EscalationEvent``) and, when the fallback's answer is usable and passes the checks, appended to the
escalation log as a training record (``schemas/training_record.schema.json``) with the small model's attempt,
ready for ``agentslm train data --records``.

When the fallback fails (server down, timeout, malformed or schema-invalid output, an HTTP error), the step
follows ``on_fallback_error``: ``keep_slm`` keeps the small model's answer (which the agent still verifies before
anything runs) or ``fail`` makes the step give up. Nothing the fallback proposes runs unverified either: its
calls go through the same verifier as the small model's.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from agentslm.confidence import Confidence, step_confidence
from agentslm.errors import AgentslmError, UserError
from agentslm.models.base import Message
from agentslm.records import RecordCall, RecordTool, TrainingRecord, check_record
from agentslm.registry import Tool

__all__ = ["EscalationLog", "Routed", "RoutedPlanner", "RoutingPolicy", "route", "read_escalations"]

T = TypeVar("T")


class RoutingPolicy(BaseModel):
    """When a step escalates. ``agentslm calibrate`` writes one (JSON) with the measured threshold."""

    signal: Literal["combined", "first_choice", "name_margin", "min_argument", "mean_token"] = "combined"
    """Confidence signal compared with ``threshold`` (see :mod:`agentslm.confidence`)."""
    threshold: float = 0.5
    """Escalate a step whose confidence is below this."""
    escalate_refused: bool = True
    """Escalate a step whose output was unusable or whose values were not grounded, whatever its probabilities."""
    on_fallback_error: Literal["keep_slm", "fail"] = "keep_slm"
    """What a step does when the fallback fails: keep the small model's answer, or fail the step."""
    calibration: dict[str, Any] = Field(default_factory=dict)
    """Where the threshold came from (set by ``agentslm calibrate``)."""

    def to_file(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> RoutingPolicy:
        p = Path(path)
        if not p.is_file():
            raise UserError(f"No routing policy at {str(p)!r}.", hint="write one with `agentslm calibrate`.")
        try:
            return cls.model_validate_json(p.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise UserError(f"{p} is not a routing policy: {str(exc).splitlines()[0]}.") from None

    def reason(self, confidence: Confidence) -> str | None:
        """Why this step escalates, or None to accept the small model's answer."""
        if confidence.problems:
            return "; ".join(confidence.problems) if self.escalate_refused else None
        if confidence.score < self.threshold:
            return f"{confidence.signal} confidence {confidence.score:.3f} < {self.threshold:.3f}"
        return None


@dataclass
class Routed(Generic[T]):
    """A step's outcome under routing."""

    result: T
    confidence: Confidence
    outcome: Literal["accepted", "escalated", "fallback_failed", "fallback_unusable"]
    reason: str | None = None
    error: str | None = None
    seconds: float = 0.0
    """Time spent in the fallback."""
    slm_result: T | None = None

    @property
    def escalated(self) -> bool:
        return self.outcome != "accepted"

    def describe(self, fallback_model: Any) -> dict[str, Any]:
        """The escalation as the step reports it (``Decision.escalation``, ``ToolCall.escalation``, ``EscalationEvent``)."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "to_model": getattr(fallback_model, "name", "fallback"),
            "confidence": self.confidence.as_dict(),
            "error": self.error,
            "seconds": round(self.seconds, 3),
        }


def route(
    slm_result: T,
    confidence: Confidence,
    policy: RoutingPolicy,
    fallback: Callable[[], T],
    usable: Callable[[T], bool],
    fail: Callable[[str], T],
) -> Routed[T]:
    """Accept ``slm_result`` or redo the step with ``fallback()``. A fallback result that is not ``usable`` (or an
    error) keeps the small model's result or fails the step (``fail(reason)``), per ``policy.on_fallback_error``."""
    reason = policy.reason(confidence)
    if reason is None:
        return Routed(slm_result, confidence, "accepted")
    t0 = time.perf_counter()
    try:
        result = fallback()
    except AgentslmError as exc:
        error = str(exc)
        kept = slm_result if policy.on_fallback_error == "keep_slm" else fail(f"fallback failed: {error}")
        return Routed(kept, confidence, "fallback_failed", reason, error, time.perf_counter() - t0, slm_result)
    seconds = time.perf_counter() - t0
    if not usable(result):
        kept = slm_result if policy.on_fallback_error == "keep_slm" else fail("the fallback's output was unusable")
        return Routed(kept, confidence, "fallback_unusable", reason, "the fallback's output was unusable", seconds, slm_result)
    return Routed(result, confidence, "escalated", reason, None, seconds, slm_result)


class EscalationLog:
    """Append-only JSONL of escalated steps as training records (one ``write`` + ``fsync`` per record)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, record: TrainingRecord) -> None:
        from agentslm.audit import append_line

        with self._lock:
            append_line(self.path, record.model_dump_json(exclude_none=True))


def read_escalations(path: str | os.PathLike[str]) -> list[TrainingRecord]:
    """Records of an escalation log; a torn line (a crash mid-write) is skipped."""
    out: list[TrainingRecord] = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                out.append(TrainingRecord.model_validate_json(line))
            except ValueError:
                continue
    return out


def escalation_record(
    tools: Sequence[Tool], conversation: Sequence[Message], calls: Sequence[tuple[str, dict[str, Any]]], meta: dict[str, Any]
) -> TrainingRecord | None:
    """A planner training record of the fallback's answer, or None if it does not validate (e.g. ``$N`` references)."""
    record = TrainingRecord(
        role="planner",
        tools=[RecordTool(name=t.name, description=t.description, parameters=dict(t.parameters)) for t in tools],
        messages=[{"role": m["role"], "content": m["content"]} for m in conversation],
        target_calls=[RecordCall(name=n, arguments=a) for n, a in calls],
        source="escalation",
        kind="escalation",
        meta=meta,
    )
    return None if check_record(record) else record


class RoutedPlanner:
    """The planner's interface over a small-model planner and a fallback planner.

    ``decide`` runs the small model; if :class:`RoutingPolicy` says so, the fallback decides the same step and
    its decision is used (``Decision.escalation`` describes what happened, and the agent emits it as an event).
    """

    def __init__(self, small: Any, fallback: Any, policy: RoutingPolicy | None = None, log: EscalationLog | None = None) -> None:
        self.small = small
        self.fallback = fallback
        self.routing = policy or RoutingPolicy()
        self.log = log
        self.policy = small.policy  # the agent reads plan bounds from here

    @property
    def model(self) -> Any:
        return self.small.model

    def decide(self, tools: Sequence[Tool], conversation: Sequence[Message], **kwargs: Any) -> Any:
        from agentslm.roles.planner import Decision

        slm = self.small.decide(tools, conversation, **kwargs)
        if slm.kind == "done" and not slm.raw:
            return slm  # decided by the planner's policy without a model step: nothing to be unsure of
        refusals = [slm.reason or "values not grounded"] if slm.kind == "ask" else []
        parse_error = slm.reason if slm.kind == "give_up" else None
        confidence = step_confidence(slm.signals, signal=self.routing.signal, parse_error=parse_error, refusals=refusals)
        routed = route(
            slm,
            confidence,
            self.routing,
            fallback=lambda: self.fallback.decide(tools, conversation, **kwargs),
            usable=lambda d: d.kind != "give_up",
            fail=lambda why: Decision(kind="give_up", reason=why),
        )
        result = routed.result
        if routed.escalated:
            escalation = routed.describe(self.fallback.model)
            result = result.model_copy(update={"escalation": escalation})
            if routed.outcome == "escalated" and self.log is not None and result.kind in ("plan", "no_tool"):
                calls = [(t.tool, t.arguments) for t in result.plan.tasks] if result.kind == "plan" else []
                meta = {"slm_attempt": {"kind": slm.kind, "raw": slm.raw, "reason": slm.reason}, **escalation}
                record = escalation_record(tools, conversation, calls, json.loads(json.dumps(meta, default=str)))
                if record is not None:
                    self.log.append(record)
        return result

    def route_call(self, call: Any, request: str, tools: Sequence[Tool], fallback_caller: Any) -> Any:
        """The call step (``Agent.call``) under the same policy: schema and grounding refusals or low confidence
        send the request to ``fallback_caller``; its call is returned with ``escalation`` set."""
        from agentslm.registry import ToolRegistry
        from agentslm.verify import Verifier

        refusals: list[str] = []
        if call.parse_error is None:
            verifier = Verifier(ToolRegistry(list(tools)), grounding=True, approve=lambda c, t: True)
            failed = [c for c in verifier.verify(call, source=request).checks if not c.ok and c.stage != "approval"]
            refusals = [f"{c.stage}: {c.reason}" for c in failed]
        confidence = step_confidence(call.signals, signal=self.routing.signal, parse_error=call.parse_error, refusals=refusals)
        routed = route(
            call,
            confidence,
            self.routing,
            fallback=lambda: fallback_caller.call(request, tools),
            usable=lambda c: c.parse_error is None,
            fail=lambda why: call.model_copy(update={"name": "", "arguments": {}, "parse_error": why}),
        )
        if not routed.escalated:
            return routed.result
        return routed.result.model_copy(update={"escalation": routed.describe(fallback_caller.model)})
