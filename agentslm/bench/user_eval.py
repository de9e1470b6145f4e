"""Evaluate your own tools on your own labelled requests with BFCL's checker (``agentslm eval``).

Cases file: JSON Lines, one object per request::

    {"id": "weather-1", "request": "Weather in Paris in celsius?",
     "expected": [{"name": "get_weather", "arguments": {"city": "Paris", "unit": ["celsius", "c"]}}]}

* ``request`` (text) or ``messages`` (a chat: ``[{"role": "user", "content": ...}]``);
* ``expected``: the calls that answer it, in any order; ``[]`` means no tool fits. An argument's
  value may be a list of acceptable values (BFCL's possible-answer form); write a list of lists
  for a list-valued argument. Optional parameters you leave out may be omitted by the model
  or set to their default;
* optional ``tools``: names of the registry's tools offered for this case (default: all).

Each case is scored as the BFCL category its shape implies: ``irrelevance`` (no call expected),
``simple`` (one call, one tool offered), ``multiple`` (one call, several tools), ``parallel``
(several calls of one tool) or ``parallel_multiple``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentslm.bench.bfcl_data import BfclCase, read_jsonl
from agentslm.errors import UserError
from agentslm.registry import Tool, ToolRegistry

__all__ = ["bfcl_function", "case_category", "load_user_cases"]

_TYPES = {"string": "string", "integer": "integer", "number": "float", "boolean": "boolean", "array": "array", "object": "dict"}


def _bfcl_param(schema: dict[str, Any]) -> dict[str, Any]:
    types = schema.get("type")
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), "string")
    if types is None:
        options = schema.get("anyOf") or schema.get("oneOf") or []
        non_null = [o for o in options if o.get("type") != "null"]
        if len(non_null) == 1:
            return _bfcl_param({**non_null[0], **{k: v for k, v in schema.items() if k not in ("anyOf", "oneOf")}})
        types = "string" if "enum" in schema else "any"
    out: dict[str, Any] = {"type": _TYPES.get(str(types), "any")}
    for key in ("description", "enum", "default"):
        if key in schema:
            out[key] = schema[key]
    if types == "array" and isinstance(schema.get("items"), dict):
        out["items"] = _bfcl_param(schema["items"])
    if types == "object" and isinstance(schema.get("properties"), dict):
        out["properties"] = {k: _bfcl_param(v) for k, v in schema["properties"].items()}
    return out


def bfcl_function(tool: Tool) -> dict[str, Any]:
    """``tool`` as a BFCL function document (BFCL's type names: ``float``, ``dict``, ...)."""
    params = tool.parameters
    props = params.get("properties", {})
    if "$defs" in params or "$ref" in json.dumps(params):
        from agentslm.constraints.normalize import hoist_defs

        body, _ = hoist_defs(params, prefix="")
        if "$ref" in json.dumps(body):
            raise UserError(
                f"Tool {tool.name!r} uses $ref in its parameters; `agentslm eval` cannot score it with BFCL's checker.",
                hint="inline the referenced models for evaluation, or evaluate that tool separately.",
            )
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": {
            "type": "dict",
            "properties": {k: _bfcl_param(v) for k, v in props.items()},
            "required": list(params.get("required", [])),
        },
    }


def case_category(expected: list[dict[str, Any]], n_tools: int) -> str:
    """The BFCL category a case's shape implies."""
    if not expected:
        return "irrelevance"
    if len(expected) == 1:
        return "simple" if n_tools == 1 else "multiple"
    return "parallel" if len({c["name"] for c in expected}) == 1 and n_tools == 1 else "parallel_multiple"


def _possible(value: Any, param: dict[str, Any]) -> list[Any]:
    if isinstance(value, list) and (param.get("type") != "array" or (value and isinstance(value[0], list))):
        return value
    return [value]


def load_user_cases(path: str | Path, registry: ToolRegistry) -> dict[str, list[BfclCase]]:
    """Cases of a user's JSONL file as BFCL cases, grouped by the category their shape implies."""
    file = Path(path)
    if not file.is_file():
        raise UserError(f"No cases file at {str(file)!r}.", hint="pass a JSON Lines file (see `agentslm eval --help`).")
    docs = {t.name: bfcl_function(t) for t in registry}
    out: dict[str, list[BfclCase]] = {}
    for lineno, row in read_jsonl(file):
        where = f"{file}:{lineno}"
        if "messages" in row:
            messages = row["messages"]
        elif isinstance(row.get("request"), str):
            messages = [{"role": "user", "content": row["request"]}]
        else:
            raise UserError(f"{where}: needs 'request' (text) or 'messages'.")
        expected = row.get("expected")
        if not isinstance(expected, list):
            raise UserError(f"{where}: 'expected' must be a list of calls ([] when no tool fits).")
        names = row.get("tools") or list(docs)
        unknown = [n for n in names if n not in docs] + [c.get("name") for c in expected if c.get("name") not in docs]
        if unknown:
            raise UserError(f"{where}: unknown tools {unknown}.", hint=f"the registry has: {', '.join(docs)}.")
        functions = [docs[n] for n in names]
        answer = []
        for call in expected:
            if not isinstance(call.get("arguments", {}), dict):
                raise UserError(f"{where}: 'arguments' of {call.get('name')!r} must be an object.")
            doc = docs[call["name"]]
            props = doc["parameters"]["properties"]
            unknown_args = [a for a in call.get("arguments", {}) if a not in props]
            if unknown_args:
                raise UserError(f"{where}: {call['name']} has no parameters {unknown_args}.")
            args = {a: _possible(v, props[a]) for a, v in call.get("arguments", {}).items()}
            for name, param in props.items():
                if name not in args and name not in doc["parameters"]["required"]:
                    args[name] = ["", param["default"]] if "default" in param else [""]
            answer.append({call["name"]: args})
        category = case_category(expected, len(functions))
        case = BfclCase(
            id=str(row.get("id", f"line{lineno}")),
            messages=messages,
            functions=functions,
            answer=answer or None,
            registry=registry.subset(names),
        )
        out.setdefault(category, []).append(case)
    if not out:
        raise UserError(f"{file} holds no cases.")
    return out
