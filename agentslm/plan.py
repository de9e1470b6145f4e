"""Plans of calls (a DAG): numbered tasks whose arguments may reference earlier results.

A reference is a whole string argument value ``"$N"`` (the result of task N) or ``"$N.field"``
(a field of it; ``"$N.a.b"`` nests). References may only point to *earlier* tasks, so a valid
plan is acyclic by construction; :func:`check_plan` also rejects plans from other sources that
break this (a missing task, a self- or forward reference, a cycle), unknown tools, too many
tasks, and references whose producing tool's return type does not fit the parameter.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentslm.registry import ToolRegistry

__all__ = ["REFERENCE", "Plan", "PlanProblem", "Task", "check_plan", "levels", "references", "resolve", "substitute"]

REFERENCE = re.compile(r"^\$(\d+)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
"""A reference string: ``$N`` or ``$N.field[.field...]``."""


class Task(BaseModel):
    """One call in a plan."""

    model_config = ConfigDict(extra="forbid")

    id: int
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)

    @property
    def depends_on(self) -> list[int]:
        """Task ids this task references (in this plan or, in an agent run, earlier ones)."""
        return sorted({ref for ref, _ in references(self.arguments)})


class Plan(BaseModel):
    """Tasks in order; a task may reference the results of earlier ones."""

    model_config = ConfigDict(extra="forbid")

    tasks: list[Task] = Field(default_factory=list)

    @classmethod
    def from_calls(cls, calls: Sequence[Mapping[str, Any]]) -> Plan:
        """A plan from ``[{"name": ..., "arguments": ...}, ...]`` (task ids 1, 2, ...)."""
        return cls(tasks=[Task(id=i, tool=c["name"], arguments=dict(c.get("arguments", {}))) for i, c in enumerate(calls, 1)])


class PlanProblem(BaseModel):
    """Why a plan cannot run as it is."""

    task_id: int | None
    kind: str
    """``unknown_tool``, ``missing_task``, ``forward_reference``, ``cycle``, ``duplicate_id``, ``too_many_tasks`` or ``type``."""
    message: str


def references(value: Any) -> list[tuple[int, list[str]]]:
    """All references inside an argument value: ``(task id, field path)``."""
    found: list[tuple[int, list[str]]] = []
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            found.append((int(match.group(1)), [p for p in match.group(2).split(".") if p]))
    elif isinstance(value, Mapping):
        for v in value.values():
            found += references(v)
    elif isinstance(value, list):
        for v in value:
            found += references(v)
    return found


def _schema_at(schema: Mapping[str, Any] | None, path: list[str]) -> Mapping[str, Any] | None:
    node = schema
    for part in path:
        if not isinstance(node, Mapping):
            return None
        props = node.get("properties")
        if not isinstance(props, Mapping) or part not in props:
            return None
        node = props[part]
    return node


def _types(schema: Mapping[str, Any]) -> set[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return {t}
    if isinstance(t, list):
        return set(t)
    found: set[str] = set()
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key, []) or []:
            if isinstance(sub, Mapping):
                found |= _types(sub)
    return found


def _fits(produced: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """Loose JSON-type compatibility: some produced type is accepted by the parameter (int fits number)."""
    have, want = _types(produced), _types(expected)
    if not have or not want:
        return True  # unknown on either side: checked by the verifier after substitution
    if "integer" in have and "number" in want:
        return True
    return bool(have & want)


def check_plan(
    plan: Plan, registry: ToolRegistry, *, max_tasks: int = 8, earlier: Mapping[int, str] | None = None
) -> list[PlanProblem]:
    """Everything that keeps ``plan`` from running; empty when it may run.

    ``earlier`` maps the ids of tasks that already ran in this run (their results are available)
    to their tool names: references to them are valid and type-checked like the plan's own."""
    earlier = dict(earlier or {})
    problems: list[PlanProblem] = []
    if len(plan.tasks) > max_tasks:
        problems.append(PlanProblem(task_id=None, kind="too_many_tasks", message=f"{len(plan.tasks)} tasks; at most {max_tasks}"))
    seen: set[int] = set()
    for t in plan.tasks:
        if t.id in seen:
            problems.append(PlanProblem(task_id=t.id, kind="duplicate_id", message=f"task id {t.id} is used twice"))
        seen.add(t.id)
    by_id = {t.id: t for t in plan.tasks}
    position = {t.id: i for i, t in enumerate(plan.tasks)}
    for t in plan.tasks:
        tool = registry.get(t.tool)
        if tool is None:
            problems.append(PlanProblem(task_id=t.id, kind="unknown_tool", message=f"task {t.id}: unknown tool {t.tool!r}"))
        for name, value in t.arguments.items():
            for ref, path in references(value):
                if ref not in by_id and ref not in earlier:
                    problems.append(PlanProblem(task_id=t.id, kind="missing_task", message=f"task {t.id}: ${ref} names no task"))
                    continue
                if ref in by_id and position[ref] >= position[t.id]:
                    kind = "cycle" if _reaches(by_id, ref, t.id) else "forward_reference"
                    problems.append(PlanProblem(task_id=t.id, kind=kind, message=f"task {t.id}: ${ref} is not an earlier task"))
                    continue
                producer = registry.get(by_id[ref].tool if ref in by_id else earlier[ref])
                if tool is None or producer is None or not isinstance(value, str):
                    continue
                produced = _schema_at(producer.returns, path) if producer.returns is not None else None
                expected = tool.parameters.get("properties", {}).get(name)
                if producer.returns is not None and path and produced is None:
                    problems.append(
                        PlanProblem(
                            task_id=t.id,
                            kind="type",
                            message=f"task {t.id}: {producer.name} returns no field {'.'.join(path)!r}",
                        )
                    )
                elif produced is not None and isinstance(expected, Mapping) and not _fits(produced, expected):
                    problems.append(
                        PlanProblem(
                            task_id=t.id,
                            kind="type",
                            message=(
                                f"task {t.id}: {name} expects {sorted(_types(expected))} but ${ref}"
                                f"{'.' + '.'.join(path) if path else ''} is {sorted(_types(produced))}"
                            ),
                        )
                    )
    return problems


def _reaches(by_id: Mapping[int, Task], start: int, target: int) -> bool:
    """True if task ``start`` depends (transitively) on ``target``."""
    stack, seen = [start], set()
    while stack:
        current = stack.pop()
        if current == target:
            return True
        if current in seen or current not in by_id:
            continue
        seen.add(current)
        stack += by_id[current].depends_on
    return False


def levels(plan: Plan) -> list[list[Task]]:
    """Tasks grouped into waves: each wave depends only on earlier waves (run a wave in parallel).
    References to ids outside the plan (results of earlier rounds) do not order anything."""
    ids = {t.id for t in plan.tasks}
    done: set[int] = set()
    remaining = list(plan.tasks)
    waves: list[list[Task]] = []
    while remaining:
        wave = [t for t in remaining if set(t.depends_on) & ids <= done]
        if not wave:
            raise ValueError("the plan has a cycle or a missing task; check it with check_plan first")
        waves.append(wave)
        done |= {t.id for t in wave}
        remaining = [t for t in remaining if t.id not in done]
    return waves


def resolve(ref: int, path: list[str], results: Mapping[int, Any]) -> Any:
    """The value a reference stands for (``KeyError`` with a message if it is missing)."""
    if ref not in results:
        raise KeyError(f"${ref} has no result")
    value = results[ref]
    for part in path:
        if isinstance(value, BaseModel):
            value = value.model_dump()
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif hasattr(value, part):
            value = getattr(value, part)
        else:
            raise KeyError(f"${ref} has no field {part!r}")
    return value


def substitute(value: Any, results: Mapping[int, Any]) -> Any:
    """``value`` with every reference replaced by the referenced result."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            return resolve(int(match.group(1)), [p for p in match.group(2).split(".") if p], results)
        return value
    if isinstance(value, Mapping):
        return {k: substitute(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, results) for v in value]
    return value
