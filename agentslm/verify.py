"""Verification before execution: parse → tool → JSON Schema → types → (grounding) → policy → approval → validators.

Each stage yields a :class:`~agentslm.step_types.Check`; the first failure stops the pipeline
and the call is refused. Approval is default-deny: a tool that requires approval runs only
if an approval callback returns ``True``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jsonschema
import referencing.exceptions
from pydantic import ValidationError

from agentslm.constraints.validation import schema_validator
from agentslm.grounding import scoped_grounding_report
from agentslm.registry import Tool, ToolRegistry
from agentslm.step_types import Check, ToolCall, Verdict

__all__ = ["Approver", "Validator", "Verifier"]

Approver = Callable[[ToolCall, Tool], bool]
"""Asked before a tool that requires approval runs; return True to allow. Sees the exact arguments."""

Validator = Callable[[ToolCall, Tool], "str | bool | None"]
"""A custom check: return ``None``/``True`` to pass, ``False`` or a reason string to refuse."""


class Verifier:
    """Runs the verification pipeline for calls against ``registry``.

    Args:
        registry: the tools.
        approve: approval callback for tools with ``requires_approval``; ``None`` denies them all.
        validators: custom checks run on every call, or a mapping tool name → checks.
        allow: if given, only these tool names may run (an allow-list).
        grounding: refuse calls whose free-text or numeric argument values do not appear in the
            conversation (see :mod:`agentslm.grounding`); needs ``source`` in :meth:`verify`.
        grounding_scope: ``every`` value must appear, or ``any``: one stated value ties the call to the request
            (the per-model ``PlannerPolicy.grounding_scope``; :func:`agentslm.grounding.scoped_grounding_report`).
    """

    def __init__(
        self,
        registry: ToolRegistry,
        *,
        approve: Approver | None = None,
        validators: Sequence[Validator] | Mapping[str, Sequence[Validator]] = (),
        allow: Iterable[str] | None = None,
        grounding: bool = False,
        grounding_scope: str = "every",
    ) -> None:
        self.registry = registry
        self.approve = approve
        self._global: list[Validator] = list(validators) if not isinstance(validators, Mapping) else []
        self._per_tool: dict[str, list[Validator]] = (
            {k: list(v) for k, v in validators.items()} if isinstance(validators, Mapping) else {}
        )
        self.allow = frozenset(allow) if allow is not None else None
        self.grounding = grounding
        self.grounding_scope = grounding_scope

    def verify(self, call: ToolCall, *, source: str | None = None) -> Verdict:  # noqa: C901 - complexity exception, issue 22
        """Run the pipeline; ``source`` is the conversation text arguments are grounded in."""
        checks: list[Check] = []

        def refuse(stage: Any, reason: str) -> Verdict:
            checks.append(Check(stage=stage, ok=False, reason=reason))
            return Verdict(approved=False, checks=checks)

        if call.parse_error is not None:
            return refuse("parse", call.parse_error)
        checks.append(Check(stage="parse", ok=True))
        tool = self.registry.get(call.name)
        if tool is None:
            return refuse("tool", f"unknown tool {call.name!r}")
        checks.append(Check(stage="tool", ok=True))
        try:
            validator = schema_validator(tool.parameters)
            errors = sorted(validator.iter_errors(call.arguments), key=lambda e: list(e.absolute_path))
        except jsonschema.SchemaError as exc:
            return refuse("schema", f"the tool's schema is invalid: {exc.message}")
        except referencing.exceptions.Unresolvable as exc:  # never fetched: see agentslm.constraints.validation
            return refuse("schema", f"the tool's schema has a $ref that does not resolve locally: {exc}")
        if errors:
            return refuse(
                "schema", "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5])
            )
        checks.append(Check(stage="schema", ok=True))
        try:
            typed = tool.parse_arguments(call.arguments)
        except ValidationError as exc:
            return refuse("types", "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]))
        checks.append(Check(stage="types", ok=True))
        if self.grounding and source is not None:
            missing = scoped_grounding_report(call.arguments, tool.parameters, source, scope=self.grounding_scope)
            if missing:
                return refuse("grounding", f"values of {missing} do not appear in the request (ask the user for them)")
            checks.append(Check(stage="grounding", ok=True))
        if self.allow is not None and tool.name not in self.allow:
            return refuse("policy", f"tool {tool.name!r} is not on the allow-list")
        checks.append(Check(stage="policy", ok=True, reason=f"effects: {sorted(e.value for e in tool.effects)}"))
        if tool.requires_approval:
            if self.approve is None:
                return refuse("approval", f"{tool.name!r} requires approval and no approver is configured (default deny)")
            try:
                granted = bool(self.approve(call, tool))
            except Exception as exc:  # an approver that fails denies
                return refuse("approval", f"the approver raised {type(exc).__name__}: {exc}")
            if not granted:
                return refuse("approval", f"approval denied for {tool.name}({json.dumps(call.arguments)})")
            checks.append(Check(stage="approval", ok=True, reason="approved"))
        for check in [*self._global, *self._per_tool.get(tool.name, [])]:
            try:
                outcome = check(call, tool)
            except Exception as exc:
                return refuse("validator", f"{getattr(check, '__name__', 'validator')} raised {type(exc).__name__}: {exc}")
            if outcome is False or isinstance(outcome, str):
                return refuse(
                    "validator", outcome if isinstance(outcome, str) else f"{getattr(check, '__name__', 'validator')} refused"
                )
        if self._global or self._per_tool.get(tool.name):
            checks.append(Check(stage="validator", ok=True))
        return Verdict(approved=True, checks=checks, arguments=typed)
