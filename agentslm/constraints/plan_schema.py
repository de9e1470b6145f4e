"""The planner's output schema: a list of up to ``max_tasks`` calls where task ``k`` may reference
the results of tasks ``1..k-1`` (``"$N"`` / ``"$N.field"``) in place of any top-level argument.

Positions are spelled out with ``prefixItems``, so for non-string parameters the grammar itself
only admits references to earlier tasks, and a plan never holds more than ``max_tasks`` tasks.
(A string parameter can always hold text such as ``"$3"``; :func:`agentslm.plan.check_plan`
rejects a reference to a missing or later task before anything runs.) Types of references are checked after decoding
(:func:`agentslm.plan.check_plan`), against the producing tool's return schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentslm.constraints.call_schema import DecodeLimits, bound_schema
from agentslm.constraints.normalize import hoist_defs
from agentslm.errors import UserError

if TYPE_CHECKING:
    from agentslm.registry import Tool

__all__ = ["MAX_PLAN_TASKS", "plan_item_schema", "plan_schema", "reference_pattern"]

MAX_PLAN_TASKS = 9


def reference_pattern(position: int) -> str:
    """Regex of the references task ``position`` (1-based) may use: ``$1`` .. ``$(position-1)``."""
    if position < 2:
        raise ValueError("the first task cannot reference anything")
    ids = "1" if position == 2 else f"[1-{position - 1}]"
    return rf"^\${ids}(\.[A-Za-z_][A-Za-z0-9_]{{0,39}}){{0,3}}$"


def _with_references(arguments: dict[str, Any], position: int) -> dict[str, Any]:
    if position < 2 or not isinstance(arguments.get("properties"), dict):
        return arguments
    ref = {"type": "string", "pattern": reference_pattern(position)}
    props = {name: {"anyOf": [ref, sub]} for name, sub in arguments["properties"].items()}
    return {**arguments, "properties": props}


def plan_schema(tools: Sequence[Tool], limits: DecodeLimits | None = None, *, max_tasks: int = 4) -> dict[str, Any]:
    """JSON Schema of a plan of 0..``max_tasks`` calls to ``tools`` with references to earlier tasks."""
    if not tools:
        raise UserError("No tools to plan with.", hint="register at least one tool.")
    if not 1 <= max_tasks <= MAX_PLAN_TASKS:
        raise UserError(f"max_tasks must be 1..{MAX_PLAN_TASKS}, got {max_tasks}.")
    limits = limits or DecodeLimits()
    bodies: list[dict[str, Any]] = []
    all_defs: dict[str, Any] = {}
    for i, t in enumerate(tools):
        body, defs = hoist_defs(t.parameters, prefix=f"t{i}_")
        bodies.append(bound_schema(body, limits))
        all_defs.update({name: bound_schema(sub, limits) for name, sub in defs.items()})
    positions: list[dict[str, Any]] = []
    for position in range(1, max_tasks + 1):
        branches = [
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": _with_references(body, position)},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
            for t, body in zip(tools, bodies, strict=True)
        ]
        positions.append(branches[0] if len(branches) == 1 else {"anyOf": branches})
    schema: dict[str, Any] = {"type": "array", "prefixItems": positions, "items": False, "maxItems": max_tasks}
    if all_defs:
        schema["$defs"] = all_defs
    return schema


def plan_item_schema(
    tools: Sequence[Tool], limits: DecodeLimits | None = None, *, position: int, max_tasks: int = 4
) -> dict[str, Any]:
    """JSON Schema of task ``position`` alone (references to ``1..position-1``), with the plan's ``$defs``."""
    whole = plan_schema(tools, limits, max_tasks=max(max_tasks, position))
    item: dict[str, Any] = dict(whole["prefixItems"][position - 1])
    if "$defs" in whole:
        item["$defs"] = whole["$defs"]
    return item
