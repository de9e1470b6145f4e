"""The audit records a run writes (a call verified, refused or run; an idempotent call's ``intent``) and the
observation replayed from a completed one."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from agentslm.audit import AuditRecord
from agentslm.provenance import ArgumentSource
from agentslm.step_types import Observation, ToolCall

__all__ = ["call_record", "intent_record", "replayed"]


def _dumped(provenance: Mapping[str, ArgumentSource]) -> dict[str, Any]:
    return {k: v.model_dump(exclude_defaults=True) for k, v in provenance.items()}


def call_record(
    run_id: str,
    task_id: int,
    call: ToolCall,
    checks: list[Any],
    provenance: Mapping[str, ArgumentSource],
    *,
    approved: bool,
    observation: Observation | None = None,
    started: float | None = None,
    finished: float | None = None,
    key: str | None = None,
) -> AuditRecord:
    """A verified call: refused (``approved`` false, not executed) or run, with its outcome; under an idempotency
    ``key`` the ``done`` record keeps the output, so a retry replays it."""
    return AuditRecord(
        run_id=run_id,
        task_id=task_id,
        tool=call.name,
        arguments=call.arguments,
        checks=checks,
        approved=approved,
        executed=observation is not None,
        ok=observation.ok if observation else None,
        error=observation.error if observation else None,
        started=started,
        finished=finished,
        output_chars=len(observation.text) if observation else 0,
        idempotency_key=key,
        phase="done" if key is not None else None,
        output=observation.text if key is not None and observation is not None else None,
        provenance=_dumped(provenance),
    )


def intent_record(
    run_id: str, task_id: int, call: ToolCall, checks: list[Any], key: str, provenance: Mapping[str, ArgumentSource]
) -> AuditRecord:
    """Written before an approved call with an idempotency key runs: a crash from here on is detectable."""
    return AuditRecord(
        run_id=run_id,
        task_id=task_id,
        tool=call.name,
        arguments=call.arguments,
        checks=checks,
        approved=True,
        executed=False,
        started=time.time(),
        idempotency_key=key,
        phase="intent",
        provenance=_dumped(provenance),
    )


def replayed(record: AuditRecord) -> Observation:
    """The result of a call completed before under the same idempotency key (not run again)."""
    output = record.output or ""
    try:
        value: Any = json.loads(output)
    except ValueError:
        value = output
    return Observation(ok=True, text=output, value=value, replayed=True)
