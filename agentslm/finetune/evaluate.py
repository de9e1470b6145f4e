"""Held-out evaluation of planner records on the runtime: the model decodes each record's call list on the prompt the
record renders to (first rounds and later rounds with earlier calls and results) under the plan grammar (references to
earlier calls admitted, as the agent's planner decodes) and the calls are compared with the target (same calls, any
order; numbers compared by value; a reference counts as written)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentslm.constraints.call_schema import DecodeLimits
from agentslm.constraints.plan_schema import plan_schema
from agentslm.finetune.render import render_record
from agentslm.models.local import LocalModel
from agentslm.records import TrainingRecord
from agentslm.registry import ToolRegistry
from agentslm.roles.caller import parse_calls

_MAX_TASKS = 6
"""Calls a decoded list may hold (the longest targets: four parallel calls, or two lookups and a write)."""

__all__ = ["HeldOutResult", "evaluate_records", "same_calls"]


def _canon(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return {k: _canon(v) for k, v in sorted(value.items())}
    return value


def same_calls(predicted: Sequence[tuple[str, dict[str, Any]]], target: Sequence[tuple[str, dict[str, Any]]]) -> bool:
    """True if both lists hold the same calls (order ignored; ``2`` equals ``2.0``)."""
    key: Callable[[tuple[str, dict[str, Any]]], str] = lambda c: json.dumps([c[0], _canon(c[1])], sort_keys=True)  # noqa: E731
    return sorted(map(key, predicted)) == sorted(map(key, target))


@dataclass
class HeldOutResult:
    model: str
    cases: int
    exact: int
    by_kind: dict[str, list[int]] = field(default_factory=dict)
    """kind → [exact, cases]."""
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.exact / self.cases if self.cases else 0.0


def evaluate_records(
    model: LocalModel, records: Sequence[TrainingRecord], *, max_tokens: int = 384, on_case: Callable[[], None] | None = None
) -> HeldOutResult:
    """Exact-match accuracy of ``model`` on planner ``records`` (greedy, constrained, no gate)."""
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows: list[dict[str, Any]] = []
    exact = 0
    t0 = time.perf_counter()
    for record in records:
        if record.role != "planner" or record.target_calls is None:
            continue
        tools = list(ToolRegistry.from_openai([{"type": "function", "function": t.model_dump()} for t in record.tools]))
        rendered = render_record(record)  # the runtime's prompt, later rounds' earlier calls and results included
        schema = plan_schema(tools, DecodeLimits(), max_tasks=_MAX_TASKS)  # references to earlier calls admitted
        gen = model.generate(rendered.messages, schema=schema, max_tokens=max_tokens, response_prefix=rendered.prefix)
        listed = parse_calls(gen)
        predicted = [(c.name, c.arguments) for c in listed.calls]
        target = [(c.name, c.arguments) for c in record.target_calls]
        ok = listed.parse_error is None and same_calls(predicted, target)
        exact += ok
        by_kind[record.kind or "other"][0] += ok
        by_kind[record.kind or "other"][1] += 1
        rows.append({"id": record.id, "kind": record.kind, "ok": ok, "predicted": predicted, "target": target})
        if on_case is not None:
            on_case()
    return HeldOutResult(model.name, len(rows), exact, dict(by_kind), time.perf_counter() - t0, rows)
