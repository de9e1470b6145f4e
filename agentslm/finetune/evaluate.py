"""Held-out evaluation of planner records on the runtime: the model decodes each record's call list under
the registry grammar (exactly as the agent's planner and ``agentslm bench`` do) and the calls are compared
with the target (same calls, any order; numbers compared by value)."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentslm.models.local import LocalModel
from agentslm.records import TrainingRecord
from agentslm.registry import ToolRegistry
from agentslm.roles.caller import Caller

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
    caller = Caller(model, max_tokens=max_tokens)
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    rows: list[dict[str, Any]] = []
    exact = 0
    t0 = time.perf_counter()
    for record in records:
        if record.role != "planner" or record.target_calls is None:
            continue
        tools = list(ToolRegistry.from_openai([{"type": "function", "function": t.model_dump()} for t in record.tools]))
        context = [dict(m) for m in record.messages[:-1]]
        listed = caller.calls(record.messages[-1]["content"], tools, context)
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
