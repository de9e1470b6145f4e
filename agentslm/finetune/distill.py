"""Distillation: planner records labelled by a larger model, kept only when its calls pass verification.

The requests come from records (synthesised from the catalog or from a user's registry by ``agentslm train data``,
or an escalation log); each is planned again by the teacher (any model spec: ``openai:URL#MODEL`` for a served one,
or a local GGUF such as ``qwen2.5-coder-1.5b``) through agentslm's own :class:`~agentslm.roles.planner.Planner`, so
the teacher works under the same grammar, gate and provenance rules as the agent. A teacher's plan becomes a record
only when every call names an offered tool, validates against its schema and has every value grounded in the
conversation (:func:`~agentslm.grounding.grounding_report`); a no-call decision is kept as ``[]``. Where the input
record has a label of its own (a catalog template's), the teacher's agreement with it is counted, and a disagreement
is dropped unless ``keep_disagreements`` (the template is right by construction; a disagreement marks a hard case or
a teacher error, worth inspecting but not training on).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from agentslm.grounding import grounding_report
from agentslm.models.base import Model
from agentslm.plan import REFERENCE
from agentslm.records import RecordCall, TrainingRecord, check_record
from agentslm.registry import Tool, ToolRegistry

__all__ = ["DistillStats", "distill_records"]


@dataclass
class DistillStats:
    """What happened to each input record."""

    seen: int = 0
    kept: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    """``agreed`` / ``new`` (kept), ``disagreed`` / ``unverified`` / ``ungrounded`` / ``unsure`` / ``not_planner``."""

    def as_dict(self) -> dict[str, Any]:
        return {"seen": self.seen, "kept": self.kept, "outcomes": dict(sorted(self.outcomes.items()))}


def _tools(record: TrainingRecord) -> list[Tool]:
    specs = [{"type": "function", "function": t.model_dump()} for t in record.tools]
    return list(ToolRegistry.from_openai(specs))


def _calls_key(calls: Iterable[RecordCall]) -> list[str]:
    import json

    return sorted(json.dumps({"name": c.name, "arguments": c.arguments}, sort_keys=True) for c in calls)


def _problem(calls: list[RecordCall], tools: dict[str, Tool], source: str) -> str | None:
    """Why the teacher's calls may not become a target (None: they may)."""
    for call in calls:
        tool = tools.get(call.name)
        if tool is None:
            return "unverified"
        plain = {k: v for k, v in call.arguments.items() if not (isinstance(v, str) and REFERENCE.match(v))}
        try:
            jsonschema.validate(plain, {**tool.parameters, "required": []})
        except jsonschema.ValidationError:
            return "unverified"
        if grounding_report(plain, tool.parameters, source):
            return "ungrounded"
    return None


def distill_records(
    records: Iterable[TrainingRecord],
    teacher: Model,
    *,
    keep_disagreements: bool = False,
    on_record: Callable[[TrainingRecord, str], None] | None = None,
) -> tuple[list[TrainingRecord], DistillStats]:
    """Records relabelled by ``teacher`` (planner records only; others are skipped) and what happened to each."""
    from agentslm.roles.planner import Planner

    planner = Planner(teacher)
    stats = DistillStats()
    out: list[TrainingRecord] = []
    for record in records:
        stats.seen += 1
        outcome, kept = _distill_one(planner, record, keep_disagreements)
        stats.outcomes[outcome] += 1
        if kept is not None:
            out.append(kept)
            stats.kept += 1
        if on_record is not None:
            on_record(record, outcome)
    return out, stats


def _distill_one(planner: Any, record: TrainingRecord, keep_disagreements: bool) -> tuple[str, TrainingRecord | None]:
    if record.role != "planner" or any(m["role"] != "user" for m in record.messages):
        return "not_planner", None  # first-round planning only: later rounds need the results' values (the chains)
    tools = _tools(record)
    decision = planner.decide(tools, [dict(m) for m in record.messages])
    if decision.kind == "plan":
        calls = [RecordCall(name=t.tool, arguments=dict(t.arguments)) for t in decision.plan.tasks]
    elif decision.kind in ("no_tool", "ask"):
        calls = []
    else:
        return "unsure", None
    source = "\n".join(m["content"] for m in record.messages)
    problem = _problem(calls, {t.name: t for t in tools}, source)
    if problem is not None:
        return problem, None
    labelled = record.target_calls is not None and record.source != "escalation"
    agreed = labelled and _calls_key(calls) == _calls_key(record.target_calls or [])
    if labelled and not agreed and not keep_disagreements:
        return "disagreed", None
    teacher_name = str(getattr(planner.model, "name", "teacher"))
    distilled = record.model_copy(
        update={
            "target_calls": calls,
            "source": "distilled",
            "meta": {**record.meta, "teacher": teacher_name, "agreed_with_label": agreed if labelled else None},
        }
    )
    if check_record(distilled):
        return "unverified", None
    return ("agreed" if agreed else "new"), distilled
