"""JSON Schema normalisation: BFCL dialect → standard JSON Schema, title stripping, ``$defs`` hoisting.

Every function here returns a new schema and never mutates its input.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["normalize_bfcl_schema", "strip_extensions", "strip_titles", "hoist_defs", "map_subschemas", "SCHEMA_CHILD_KEYS"]

# Keywords whose value is one subschema, a list of subschemas, or a name → subschema mapping.
_SINGLE = (
    "items",
    "additionalProperties",
    "not",
    "contains",
    "propertyNames",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
)
_LIST = ("anyOf", "oneOf", "allOf", "prefixItems")
_MAP = ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas")
SCHEMA_CHILD_KEYS = _SINGLE + _LIST + _MAP
"""Keywords that hold subschemas (as a schema, a list of schemas or a mapping of schemas)."""

_BFCL_TYPES = {
    "dict": "object",
    "float": "number",
    "tuple": "array",
    "int": "integer",
    "bool": "boolean",
    "str": "string",
    "list": "array",
}


def map_subschemas(schema: Any, fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Any:
    """Apply ``fn`` to every schema node, bottom-up, knowing which keys hold subschemas.

    Property *names* are never touched (a property called ``title`` or ``type`` stays).
    """
    if not isinstance(schema, Mapping):
        return copy.deepcopy(schema)
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SINGLE and isinstance(value, Mapping):
            out[key] = map_subschemas(value, fn)
        elif key == "items" and isinstance(value, list):  # draft-04 tuple form
            out[key] = [map_subschemas(v, fn) for v in value]
        elif key in _LIST and isinstance(value, list):
            out[key] = [map_subschemas(v, fn) for v in value]
        elif key in _MAP and isinstance(value, Mapping):
            out[key] = {name: map_subschemas(v, fn) for name, v in value.items()}
        else:
            out[key] = copy.deepcopy(value)
    return fn(out)


def strip_titles(schema: Any) -> Any:
    """Remove the ``title`` annotations pydantic adds (they cost prompt tokens and mean nothing)."""

    def drop(node: dict[str, Any]) -> dict[str, Any]:
        if isinstance(node.get("title"), str):
            node.pop("title")
        return node

    return map_subschemas(schema, drop)


def strip_extensions(schema: Any) -> Any:
    """``schema`` without ``x-...`` extension keys (``x-free-text``: they cost prompt tokens and change no decision
    the model makes)."""

    def drop(node: dict[str, Any]) -> dict[str, Any]:
        for key in [k for k in node if isinstance(k, str) and k.startswith("x-")]:
            node.pop(key)
        return node

    return map_subschemas(schema, drop)


def normalize_bfcl_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Turn a BFCL parameter schema into standard JSON Schema.

    ``dict`` → ``object``, ``float`` → ``number``, ``tuple`` → ``array``, ``any`` → no type
    constraint; BFCL's non-standard ``optional`` flag is dropped (``required`` already says it).
    """

    def fix(node: dict[str, Any]) -> dict[str, Any]:
        t = node.get("type")
        if isinstance(t, str):
            lowered = t.lower()
            if lowered == "any":
                node.pop("type")
            else:
                node["type"] = _BFCL_TYPES.get(lowered, lowered)
        elif isinstance(t, list):
            node["type"] = [_BFCL_TYPES.get(str(x).lower(), str(x).lower()) for x in t if str(x).lower() != "any"]
            if not node["type"]:
                node.pop("type")
        node.pop("optional", None)
        if node.get("type") == "object" and "properties" in node and "required" in node:
            node["required"] = [r for r in node["required"] if r in node["properties"]]
        return node

    result = map_subschemas(dict(schema), fix)
    if "type" not in result and "properties" in result:
        result["type"] = "object"
    return result


def hoist_defs(schema: Mapping[str, Any], prefix: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split ``schema`` into (body, defs) with every local ``#/$defs/X`` renamed ``#/$defs/{prefix}X``.

    Used to nest several tools' schemas (each with its own ``$defs``) in one union schema.
    """
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            defs[f"{prefix}{name}"] = sub

    def rename(node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if isinstance(ref, str):
            for key in ("#/$defs/", "#/definitions/"):
                if ref.startswith(key):
                    node["$ref"] = f"#/$defs/{prefix}{ref[len(key) :]}"
        return node

    body = map_subschemas({k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema", "$id")}, rename)
    defs = {name: map_subschemas(sub, rename) for name, sub in defs.items()}
    return body, defs
