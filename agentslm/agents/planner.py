"""The planner: decides the next step of a run under a grammar with explicit outcomes.

The model writes, after ``<tool_call>``, a JSON list under :func:`agentslm.schema.plan.plan_schema`
(SmolLM2's own function-calling format): tasks ``1..k`` whose arguments may reference earlier
results as ``"$N"``. The decision is read off that list and its probabilities:

* ``plan`` — one or more tasks to run (independent ones run in parallel);
* ``no_tool`` — the empty list on the first round: no available tool fits the request;
* ``done`` — after observations, the list holds nothing not already run: time to answer;
* ``ask`` — a task's values do not appear in the conversation (argument grounding): the agent
  asks the user for them instead of guessing;
* ``give_up`` — the output could not be used (budget ran out mid-list).

A confidence gate closes the list early where the decoder started a further task with low
probability (see :meth:`agentslm.calls.CallList.gated`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentslm.agents.caller import CALLS_PREFIX, parse_calls, signals_from_generation
from agentslm.agents.prompts import render_prompt, tools_json
from agentslm.calls import CallSignals, ToolCall
from agentslm.grounding import grounding_report
from agentslm.models.base import LocalModel, Message, Model
from agentslm.plan import REFERENCE, Plan, Task
from agentslm.registry import Tool
from agentslm.schema.call import DecodeLimits
from agentslm.schema.engines import JSON_SEPARATORS
from agentslm.schema.plan import plan_item_schema, plan_schema

__all__ = ["Decision", "Planner", "PlannerPolicy"]


@dataclass(frozen=True, kw_only=True)
class PlannerPolicy:
    """How a decoded list becomes a decision."""

    min_first: float = 0.0
    """Make no call unless the decoder started the first task with at least this probability."""
    min_more: float = 0.0
    """Close the plan where the decoder started a further task with less probability. Off by default: on
    BFCL live_* data this decision carries almost no signal (Youden J 0.03 at 0.67), and in agent runs
    a 0.67 gate cut correct dependent second steps (``list_orders($1)`` after ``find_user``)."""
    grounding: bool = True
    """Ask the user instead of calling when a value does not appear in the conversation."""
    drop_ungrounded_optional: bool = True
    """With ``grounding``: an optional argument (not required by the schema) whose value does not appear in the
    conversation is left out, so its default applies, instead of asking the user for it (e.g. a note's title the
    model invented for "save a note: pay the rent")."""
    max_tasks: int = 4
    """Largest plan the grammar admits."""
    probe_more: bool = True
    """After the decoded list, ask the model for one more task at a time (the list's text plus ``,`` as the
    reply's start) while it proposes a new call whose values all appear in the request. Small models
    that stop after one call then still plan independent calls together (run in parallel); a probed
    call must be new, grounded in the request and use at least one value no earlier call used, so a
    finished request usually yields a repeat and stops."""


class Decision(BaseModel):
    kind: Literal["plan", "no_tool", "done", "ask", "give_up"]
    plan: Plan = Field(default_factory=Plan)
    question: str = ""
    missing: list[str] = Field(default_factory=list)
    tool: str = ""
    reason: str = ""
    raw: str = ""
    signals: CallSignals = Field(default_factory=CallSignals)
    open_probabilities: list[float] = Field(default_factory=list)
    escalation: dict[str, Any] | None = None
    """Set by :class:`agentslm.router.RoutedPlanner` when the step went to the fallback model."""


def _drop_ungrounded_optional(arguments: dict[str, Any], tool: Tool, source: str) -> dict[str, Any]:
    """``arguments`` without the optional ones whose values do not appear in ``source`` (their defaults apply)."""
    plain = {k: v for k, v in arguments.items() if not (isinstance(v, str) and REFERENCE.match(v))}
    required = set(tool.parameters.get("required", []))
    dropped = {m for m in grounding_report(plain, tool.parameters, source) if m not in required}
    return {k: v for k, v in arguments.items() if k not in dropped}


def _call_key(name: str, arguments: Any) -> str:
    return name + "\x00" + json.dumps(arguments, sort_keys=True, default=str)


class Planner:
    """Decodes plans on ``model`` (its own lock serialises calls)."""

    def __init__(
        self,
        model: Model,
        *,
        policy: PlannerPolicy | None = None,
        max_tokens: int = 384,
        limits: DecodeLimits | None = None,
        engine: str | None = None,
    ) -> None:
        self.model = model
        self.policy = policy or PlannerPolicy()
        self.max_tokens = max_tokens
        self.limits = limits or DecodeLimits()
        self.engine = engine

    def messages(self, tools: Sequence[Tool], conversation: Sequence[Message]) -> list[Message]:
        system = render_prompt("calls", tools_json=tools_json(list(tools)))
        return [{"role": "system", "content": system}, *conversation]

    def decide(
        self,
        tools: Sequence[Tool],
        conversation: Sequence[Message],
        *,
        executed: Sequence[tuple[int, ToolCall, ToolCall]] = (),
        next_id: int = 1,
    ) -> Decision:
        """The next step for ``conversation`` (user turns, earlier calls and their results).

        ``executed`` lists the calls already handled in this run as ``(task id, call as planned with
        run-wide references, call as run)``; the plan's tasks are numbered from ``next_id`` and its
        references point to run-wide task ids (a reference to a re-emitted earlier call points to that
        call's task).
        """
        if not tools:
            return Decision(kind="no_tool", reason="the agent has no tools")
        schema = plan_schema(tools, self.limits, max_tasks=self.policy.max_tasks)
        messages = self.messages(tools, conversation)
        if isinstance(self.model, LocalModel):
            gen = self.model.generate(
                messages, schema=schema, max_tokens=self.max_tokens, engine=self.engine, response_prefix=CALLS_PREFIX
            )
        else:
            gen = self.model.generate(messages, schema=schema, max_tokens=self.max_tokens)
        listed = parse_calls(gen)
        base = Decision(kind="give_up", raw=listed.raw, signals=listed.signals, open_probabilities=listed.open_probabilities)

        def decision(kind: str, **fields: Any) -> Decision:
            return base.model_copy(update={"kind": kind, **fields})

        if listed.parse_error is not None:
            return decision("give_up", reason=listed.parse_error)
        gated = listed.gated(min_first=self.policy.min_first, min_more=self.policy.min_more, dedupe=False)
        calls = list(gated.calls)
        if self.policy.probe_more and calls and len(calls) == len(listed.calls):
            calls += self._probe(tools, messages, conversation, calls)
        known: dict[str, int] = {}
        for task_id, planned, actual in executed:
            known.setdefault(_call_key(planned.name, planned.arguments), task_id)
            known.setdefault(_call_key(actual.name, actual.arguments), task_id)
        position_ids: dict[int, int] = {}  # position in the decoded list -> run-wide task id
        fresh: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        source = "\n".join(m["content"] for m in conversation)
        by_name = {t.name: t for t in tools}
        for position, call in enumerate(calls, 1):
            arguments = _point(call.arguments, position_ids)
            tool = by_name.get(call.name)
            if self.policy.grounding and self.policy.drop_ungrounded_optional and tool is not None:
                arguments = _drop_ungrounded_optional(arguments, tool, source)  # before the repeat check
            key = _call_key(call.name, arguments)
            if key in known:
                position_ids[position] = known[key]
            elif key in seen:
                position_ids[position] = seen[key]
            else:
                task_id = next_id + len(fresh)
                position_ids[position] = seen[key] = task_id
                fresh.append({"id": task_id, "name": call.name, "arguments": arguments})
        if not fresh:
            if executed:
                return decision("done", reason="no new call after the results")
            reason = "the model chose no tool" if not listed.calls else "the model was unsure that any tool fits"
            return decision("no_tool", reason=reason)
        if self.policy.grounding:
            for item in fresh:
                tool = by_name.get(item["name"])
                if tool is None:
                    continue
                plain = {k: v for k, v in item["arguments"].items() if not (isinstance(v, str) and REFERENCE.match(v))}
                missing = grounding_report(plain, tool.parameters, source)
                if missing:
                    question = f"To use {item['name']} I need {', '.join(missing)}: which value should I use?"
                    return decision("ask", question=question, missing=missing, tool=item["name"])
        plan = Plan(tasks=[Task(id=f["id"], tool=f["name"], arguments=f["arguments"]) for f in fresh])
        return decision("plan", plan=plan)

    def _probe(
        self, tools: Sequence[Tool], messages: list[Message], conversation: Sequence[Message], calls: list[ToolCall]
    ) -> list[ToolCall]:
        """Further tasks the model proposes when its list is continued with ``,`` (see ``probe_more``)."""
        if not isinstance(self.model, LocalModel):
            return []
        source = "\n".join(m["content"] for m in conversation if m["role"] == "user")
        by_name = {t.name: t for t in tools}
        keys = {_call_key(c.name, c.arguments) for c in calls}
        extra: list[ToolCall] = []
        while len(calls) + len(extra) < self.policy.max_tasks:
            position = len(calls) + len(extra) + 1
            so_far = [{"name": c.name, "arguments": c.arguments} for c in [*calls, *extra]]
            prefix = (
                CALLS_PREFIX
                + json.dumps(so_far, separators=JSON_SEPARATORS, ensure_ascii=False)[:-1]
                + JSON_SEPARATORS[0].rstrip()
            )
            schema = plan_item_schema(tools, self.limits, position=position, max_tasks=self.policy.max_tasks)
            gen = self.model.generate(
                messages, schema=schema, max_tokens=self.max_tokens, engine=self.engine, response_prefix=prefix
            )
            try:
                item = json.loads(gen.text)
            except json.JSONDecodeError:
                break
            tool = by_name.get(item.get("name", "")) if isinstance(item, dict) else None
            if tool is None or _call_key(item["name"], item["arguments"]) in keys:
                break
            plain = {k: v for k, v in item["arguments"].items() if not (isinstance(v, str) and REFERENCE.match(v))}
            if not item["arguments"] or grounding_report(plain, tool.parameters, source):
                break
            used = {_value_key(v) for c in [*calls, *extra] for v in c.arguments.values()}
            if all(_value_key(v) in used for v in item["arguments"].values()):
                break  # the same values again (e.g. another tool on the same city): not a new part of the request
            keys.add(_call_key(item["name"], item["arguments"]))
            extra.append(
                ToolCall(name=item["name"], arguments=item["arguments"], raw=gen.text, signals=signals_from_generation(gen))
            )
        return extra


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str).lower()


def _point(value: Any, position_ids: dict[int, int]) -> Any:
    """Re-point ``$N`` (a position in the decoded list) to run-wide task ids; unknown positions to ``$0``."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            return f"${position_ids.get(int(match.group(1)), 0)}{match.group(2)}"
        return value
    if isinstance(value, dict):
        return {k: _point(v, position_ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_point(v, position_ids) for v in value]
    return value
