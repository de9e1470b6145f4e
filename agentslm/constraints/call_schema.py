"""The caller's output schema: a union of ``{"name": <tool>, "arguments": <its schema>}``.

The decoding schema is a *tightened* copy of each tool's schema: strings and arrays get
length bounds (a 135M model can otherwise repeat inside a value until the token budget runs
out) and objects that list their properties admit no others. Validation after decoding
uses the tool's original schema, so the bounds only ever narrow what the model may emit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agentslm.constraints.normalize import hoist_defs, map_subschemas

if TYPE_CHECKING:
    from agentslm.registry import Tool

__all__ = ["DecodeLimits", "bound_schema", "call_schema", "calls_schema"]


@dataclass(frozen=True, kw_only=True)
class DecodeLimits:
    """Bounds added to the decoding grammar where a schema sets none."""

    max_string_length: int = 256
    """``maxLength`` for strings without one."""
    max_array_items: int = 32
    """``maxItems`` for arrays without one."""
    close_objects: bool = True
    """Add ``additionalProperties: false`` to objects that list ``properties`` and say nothing else."""
    nonempty_required_strings: bool = True
    """Give required string properties without a length bound ``minLength: 1``: a small model otherwise
    answers a value it cannot find with ``""``, which is never a useful required argument."""


def bound_schema(schema: Any, limits: DecodeLimits) -> Any:
    """Return ``schema`` with the bounds of ``limits`` added where absent."""

    def tighten(node: dict[str, Any]) -> dict[str, Any]:
        for key in [k for k in node if isinstance(k, str) and k.startswith("x-")]:
            node.pop(key)  # extension keys (x-free-text, x-identifier) mean nothing to a grammar engine
        types = node.get("type")
        type_set = set(types) if isinstance(types, list) else {types} if types else set()
        if "string" in type_set and "maxLength" not in node and "enum" not in node and "const" not in node:
            node["maxLength"] = max(limits.max_string_length, int(node.get("minLength", 0)))
        if "array" in type_set and "maxItems" not in node:
            node["maxItems"] = max(limits.max_array_items, int(node.get("minItems", 0)))
        if (
            limits.close_objects
            and "properties" in node
            and "additionalProperties" not in node
            and "patternProperties" not in node
        ):
            node["additionalProperties"] = False
        props = node.get("properties")
        if limits.nonempty_required_strings and isinstance(props, dict) and isinstance(node.get("required"), list):
            for name in node["required"]:
                prop = props.get(name)
                if (
                    isinstance(prop, dict)
                    and prop.get("type") == "string"
                    and not {"minLength", "enum", "const", "pattern", "format"} & prop.keys()
                ):
                    props[name] = {**prop, "minLength": 1}
        return node

    return map_subschemas(schema, tighten)


def call_schema(tools: Sequence[Tool], limits: DecodeLimits | None = None) -> dict[str, Any]:
    """The JSON Schema of one call to any of ``tools`` (properties in order: name, arguments)."""
    limits = limits or DecodeLimits()
    branches: list[dict[str, Any]] = []
    all_defs: dict[str, Any] = {}
    for i, t in enumerate(tools):
        body, defs = hoist_defs(t.parameters, prefix=f"t{i}_")
        branches.append(
            {
                "type": "object",
                "properties": {"name": {"const": t.name}, "arguments": bound_schema(body, limits)},
                "required": ["name", "arguments"],
                "additionalProperties": False,
            }
        )
        all_defs.update({name: bound_schema(sub, limits) for name, sub in defs.items()})
    if not branches:
        from agentslm.errors import UserError

        raise UserError("No tools to call.", hint="register at least one tool.")
    schema: dict[str, Any] = dict(branches[0]) if len(branches) == 1 else {"anyOf": branches}
    if all_defs:
        schema["$defs"] = all_defs
    return schema


def calls_schema(tools: Sequence[Tool], limits: DecodeLimits | None = None, *, max_calls: int = 8) -> dict[str, Any]:
    """The JSON Schema of a list of 0..``max_calls`` calls to ``tools`` (an empty list means: no tool fits)."""
    if max_calls < 1:
        from agentslm.errors import UserError

        raise UserError(f"max_calls must be at least 1, got {max_calls}.", hint="pass max_calls=1 or more.")
    one = call_schema(tools, limits)
    defs = one.pop("$defs", None)
    schema: dict[str, Any] = {"type": "array", "items": one, "maxItems": max_calls}
    if defs:
        schema["$defs"] = defs
    return schema
