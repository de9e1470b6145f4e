"""Calls written freely in a reply's text: a model's own tool format (``<tool_call>{...}</tool_call>``, a JSON
object or list, a code block), read without a grammar. Used where nothing constrained the reply (an
unconstrained baseline, a server that renders tools natively but does not parse the calls it gets back)."""

from __future__ import annotations

import json

from agentslm.step_types import ToolCall

__all__ = ["lenient_calls"]


def lenient_calls(text: str) -> list[ToolCall] | None:
    """Every ``{"name": str, "arguments"/"parameters": object}`` found in ``text`` (also inside lists);
    ``[]`` if the text starts with an empty JSON list; ``None`` if nothing call-like is found."""
    decoder = json.JSONDecoder()
    stripped = text.lstrip()
    if stripped.startswith("[]"):
        return []
    calls: list[ToolCall] = []
    i = 0
    while i < len(text):
        if text[i] not in "{[":
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i += 1
            continue
        found = False
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                args = item.get("arguments", item.get("parameters", {}))
                if isinstance(args, str):
                    try:
                        args = json.loads(args)
                    except json.JSONDecodeError:
                        continue
                if isinstance(args, dict):
                    calls.append(ToolCall(name=item["name"], arguments=args, raw=json.dumps(item)))
                    found = True
        i = end if found else i + 1
    return calls or None
