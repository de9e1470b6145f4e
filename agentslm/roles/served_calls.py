"""Calls from a served model in its own tool format (``OpenAICompatModel(tool_calls="native")``), held to the same
schemas that constrain a local decode.

The tools go to the server as ``tools``: its chat template renders them, and the reply's calls come back parsed by
the server or written in the reply's text (read by :func:`~agentslm.roles.reply_calls.lenient_calls`). Each call must
match the schema of its place in the reply (``schema_of(name, position)``: the caller's one-tool call schema, or the
planner's task schema at that position, references included). A call that breaks it is decoded again with
``tool_choice`` naming its tool (the server then constrains the arguments to the tool's parameters) and checked
again; a call to a tool that is not offered, or one that still breaks its schema, makes the reply unusable
(``parse_error``). A reply in plain text is the model's answer that no tool fits (an empty list).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jsonschema

from agentslm.constraints.validation import validate
from agentslm.models.base import Message, ToolCompletionModel
from agentslm.roles.caller import signals_from_generation
from agentslm.roles.reply_calls import lenient_calls
from agentslm.step_types import CallList, ToolCall

__all__ = ["served_calls"]


def served_calls(
    model: ToolCompletionModel,
    messages: Sequence[Message],
    specs: Sequence[Mapping[str, Any]],
    schema_of: Callable[[str, int], Mapping[str, Any] | None],
    *,
    max_calls: int,
    max_tokens: int,
    tool_choice: str | Mapping[str, Any] = "auto",
) -> CallList:
    """Up to ``max_calls`` calls from one reply of ``model`` to ``messages`` with the tools ``specs`` (OpenAI function
    specs); ``schema_of(name, position)`` (1-based) is the schema ``{"name", "arguments"}`` must match, or None where
    the tool may not be called at that point (the call is left out, as a local grammar would not have offered it)."""
    gen, parsed = model.tool_completion(messages, specs, tool_choice=tool_choice, max_tokens=max_tokens)
    signals = signals_from_generation(gen)
    found: list[tuple[str, Any]] = [(c["name"], c["arguments"]) for c in parsed]
    if not found:
        written = lenient_calls(gen.text)
        found = [(c.name, c.arguments) for c in written or []]
    raw = gen.text or json.dumps([{"name": n, "arguments": a} for n, a in found])
    if gen.finish_reason == "length":
        error = f"the token budget ran out after {gen.completion_tokens} tokens before the reply was complete"
        return CallList(raw=raw, signals=signals, parse_error=error)
    offered = {str(s.get("function", s).get("name")): s for s in specs}
    calls: list[ToolCall] = []
    for name, arguments in found:
        if len(calls) >= max_calls:
            break
        if name not in offered:
            return CallList(raw=raw, signals=signals, parse_error=f"the reply calls {name!r}, which is not one of the tools")
        schema = schema_of(name, len(calls) + 1)
        if schema is None:
            continue
        if not _valid({"name": name, "arguments": arguments}, schema):
            choice = {"type": "function", "function": {"name": name}}
            _again, redone = model.tool_completion(messages, [offered[name]], tool_choice=choice, max_tokens=max_tokens)
            arguments = redone[0]["arguments"] if redone else None
            if not _valid({"name": name, "arguments": arguments}, schema):
                error = f"the arguments of {name!r} break its schema, also when decoded again under its grammar"
                return CallList(raw=raw, signals=signals, parse_error=error)
        item = {"name": name, "arguments": arguments}
        calls.append(ToolCall(name=name, arguments=arguments, raw=json.dumps(item), signals=signals))
    return CallList(calls=calls, raw=raw, signals=signals, open_probabilities=[1.0] * len(calls))


def _valid(item: Mapping[str, Any], schema: Mapping[str, Any]) -> bool:
    try:
        validate(item, schema)
    except jsonschema.ValidationError:
        return False
    return True
