"""The outlines-core constraint engine: schema → regex → token index over an outlines ``Vocabulary``.

outlines-core's regex translation ignores keywords it does not know, so a keyword allow-list is checked first
(:func:`check_outlines_support`), and it builds its whole token index up front, so a cost estimate
(:func:`outlines_cost`) refuses schemas that would take too much time and memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentslm.constraints.bounds import iter_subschemas, resolve_local_ref
from agentslm.constraints.engines import CompiledConstraint, ConstraintEngine, Matcher
from agentslm.errors import SchemaCompileError

__all__ = ["OutlinesEngine", "check_outlines_support", "outlines_cost", "OUTLINES_MAX_COST"]

_ANNOTATIONS = frozenset(
    {
        "description",
        "title",
        "default",
        "examples",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$schema",
        "$id",
        "$anchor",
        "contentMediaType",
        "contentEncoding",
    }
)

# Keywords outlines-core's schema → regex translation enforces (others would be ignored).
_OUTLINES_KEYWORDS = (
    frozenset(
        {
            "type",
            "properties",
            "required",
            "additionalProperties",
            "items",
            "prefixItems",
            "enum",
            "const",
            "anyOf",
            "$ref",
            "$defs",
            "definitions",
            "minLength",
            "maxLength",
            "pattern",
            "minItems",
            "maxItems",
            "format",
        }
    )
    | _ANNOTATIONS
)
_OUTLINES_FORMATS = frozenset({"date-time", "date", "time", "uuid", "uri", "email"})


def check_outlines_support(schema: Mapping[str, Any]) -> None:
    """Raise :class:`SchemaCompileError` for keywords outlines-core would silently ignore."""
    for path, node in iter_subschemas(schema):
        for key in node:
            if key not in _OUTLINES_KEYWORDS:
                raise SchemaCompileError(
                    f"The outlines engine cannot enforce keyword {key!r} at {path}.",
                    hint="use engine='llguidance' or remove the keyword.",
                )
        if "format" in node and node["format"] not in _OUTLINES_FORMATS:
            raise SchemaCompileError(
                f"The outlines engine cannot enforce format {node['format']!r} at {path}.",
                hint="use engine='llguidance' or remove the format.",
            )
        ap = node.get("additionalProperties")
        if isinstance(ap, Mapping) or (ap is True and "properties" in node):
            raise SchemaCompileError(
                f"The outlines engine cannot enforce additionalProperties={ap!r} at {path}.", hint="use engine='llguidance'."
            )


OUTLINES_MAX_COST = 400
"""Largest :func:`outlines_cost` the outlines engine compiles. outlines-core builds its whole token index
up front, at about 0.6 MB and 3 ms per unit (SmolLM2's 49k-token vocabulary): 400 units stay under
about 250 MB and 2 s. Two strings of ``maxLength`` 255 (510 units) took 292 MB; ``maxLength`` 5000, 3 GB."""

_COUNTED_REPEAT = re.compile(r"\{(\d+)(?:,(\d*))?\}")
_UNBOUNDED_REPEAT = re.compile(r"(?<!\\)[*+]|\{\d+,\}")


def _pattern_cost(pattern: str) -> int:
    """Rough DFA size of a ``pattern``: its length, plus each counted repeat; a counted repeat after an
    unbounded one (``(a|b)*a(a|b){20}``) can need 2**count DFA states, so it costs that much."""
    cost = len(pattern)
    for match in _COUNTED_REPEAT.finditer(pattern):
        count = max(int(match.group(1)), int(match.group(2) or 0))
        unbounded_before = _UNBOUNDED_REPEAT.search(pattern, 0, match.start()) is not None
        cost += 2 ** min(count, 64) if unbounded_before else count
    return cost


def _count(node: Mapping[str, Any], *keys: str) -> int:
    values = [node.get(k) for k in keys]
    return max([v for v in values if isinstance(v, int) and not isinstance(v, bool)] or [0])


def _children(schema: Mapping[str, Any], node: Mapping[str, Any], top: bool, path: str) -> list[tuple[Any, bool, str]]:
    """The sub-schemas whose cost ``node``'s includes: (sub-schema, still at the top level, path)."""
    out: list[tuple[Any, bool, str]] = []
    ref = node.get("$ref")
    if isinstance(ref, str):
        found, target = resolve_local_ref(schema, ref)
        if found:
            out.append((target, top, ref))
    if isinstance(node.get("anyOf"), list):
        out += [(b, top, f"{path}/anyOf/{i}") for i, b in enumerate(node["anyOf"])]
    if isinstance(node.get("properties"), Mapping):
        out += [(v, False, f"{path}/properties/{k}") for k, v in node["properties"].items()]
    if isinstance(node.get("items"), Mapping):
        out.append((node["items"], False, f"{path}/items"))
    if isinstance(node.get("prefixItems"), list):
        out += [(v, False, f"{path}/prefixItems/{i}") for i, v in enumerate(node["prefixItems"])]
    return [c for c in out if isinstance(c[0], Mapping)]


def _types(node: Mapping[str, Any]) -> set[str]:
    kind = node.get("type")
    return {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else set()


def _own_cost(node: Mapping[str, Any], top: bool) -> int:
    """``node``'s own cost, its sub-schemas excluded: strings, enums, consts, property names and orders, scalars."""
    local = 0
    if isinstance(node.get("enum"), list):
        local += 1 + sum(len(json.dumps(v)) for v in node["enum"]) // 10
    if "const" in node:
        local += 1 + len(json.dumps(node["const"])) // 10
    types = _types(node)
    if "string" in types:
        length = _count(node, "minLength", "maxLength")
        local += (2 ** min(length - 4, 64) if top and length > 4 else length) or 1
        if isinstance(node.get("pattern"), str):
            local += _pattern_cost(node["pattern"])
        if "format" in node:
            local += 20
    if isinstance(node.get("properties"), Mapping):
        props = node["properties"]
        required = set(node.get("required") or []) if isinstance(node.get("required"), list) else set()
        optional = sum(1 for k in props if k not in required)
        local += sum(len(k) // 10 for k in props) + optional * optional // 20
    return local + len(types & {"number", "integer", "boolean", "null"})


def _sub_cost(schema: Mapping[str, Any], node: Mapping[str, Any], top: bool, cost_of: Any) -> int:
    """The cost ``node`` takes from its sub-schemas (``cost_of(sub, top)`` gives each one's, already computed)."""
    total = 0
    ref = node.get("$ref")
    if isinstance(ref, str):
        found, target = resolve_local_ref(schema, ref)
        total += cost_of(target, top) if found else 1
    if isinstance(node.get("anyOf"), list):
        total += sum(cost_of(b, top) for b in node["anyOf"])
    if "array" in _types(node):
        items = node.get("items")
        repeat = 2 + _count(node, "maxItems") if "maxItems" in node else 2 + _count(node, "minItems")
        total += repeat * cost_of(items, False) if isinstance(items, Mapping) else repeat
        if isinstance(node.get("prefixItems"), list):
            total += sum(cost_of(v, False) for v in node["prefixItems"])
    if isinstance(node.get("properties"), Mapping):
        total += sum(cost_of(v, False) for v in node["properties"].values())
    return total


def outlines_cost(schema: Mapping[str, Any]) -> tuple[int, str]:
    """Estimated cost of compiling ``schema`` with outlines-core, and the path of its costliest part.

    One unit is about one character position of a bounded string (``maxLength`` 300 is 300 units).
    Arrays repeat their items' cost ``2 + maxItems`` times (outlines writes the item regex twice per
    level, so nesting doubles it), enums cost a unit per 10 characters, optional properties add
    ``n**2/20`` (outlines lists their orders), and a bounded string at the top level (not inside an
    object or array) costs ``2**(maxLength-4)``: outlines-core takes time exponential in its length
    there (``maxLength`` 16: 4 s, 18: 19 s). Recursive ``$ref`` (outlines unrolls 3 levels) triples
    the total. Walks iteratively (children before parents); call after :func:`check_outlines_support`.
    """
    memo: dict[tuple[int, bool], int] = {}
    open_keys: set[tuple[int, bool]] = set()
    recursive = False
    worst = (0, "#")

    def cost_of(sub: Any, top: bool) -> int:
        return memo.get((id(sub), top), 1) if isinstance(sub, Mapping) else 1

    stack: list[tuple[Any, bool, str, bool]] = [(schema, True, "#", False)]
    while stack:
        node, top, path, expanded = stack.pop()
        key = (id(node), top)
        if not expanded:
            if key in memo:
                continue
            if key in open_keys:  # a $ref back to a node being costed: recursion
                recursive = True
                continue
            open_keys.add(key)
            stack.append((node, top, path, True))
            stack += [(sub, sub_top, sub_path, False) for sub, sub_top, sub_path in _children(schema, node, top, path)]
            continue
        open_keys.discard(key)
        local = _own_cost(node, top)
        if local > worst[0]:
            worst = (local, path)
        memo[key] = max(1, local + _sub_cost(schema, node, top, cost_of))
    return memo[(id(schema), True)] * (3 if recursive else 1), worst[1]


class _OutlinesMatcher:
    def __init__(self, guide: Any) -> None:
        self._g = guide

    def fill_bitmask(self, bitmask: NDArray[np.int32]) -> None:
        self._g.write_mask_into(bitmask.ctypes.data, bitmask.size, 4)

    def consume(self, token: int) -> bool:
        if not self._g.accepts_tokens([token]):
            return False
        self._g.advance(token_id=token, return_tokens=False)
        return True

    def is_finished(self) -> bool:
        return bool(self._g.is_finished())

    def forced_tokens(self) -> list[int]:
        return []


class _OutlinesCompiled(CompiledConstraint):
    def __init__(self, index: Any) -> None:
        self._index = index

    def matcher(self) -> Matcher:
        from outlines_core import Guide

        return _OutlinesMatcher(Guide(self._index))


class OutlinesEngine(ConstraintEngine):
    """outlines-core over an outlines ``Vocabulary`` (built by outlines from the model)."""

    name = "outlines"
    max_cost: int = OUTLINES_MAX_COST
    """Largest :func:`outlines_cost` compiled; beyond it the schema is refused (see :data:`OUTLINES_MAX_COST`)."""

    def __init__(self, vocabulary: Any, cache_size: int = 16) -> None:
        super().__init__(cache_size)
        self.vocabulary = vocabulary

    def _compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        from outlines_core import Index
        from outlines_core.json_schema import build_regex_from_schema

        check_outlines_support(schema)
        cost, where = outlines_cost(schema)
        if cost > self.max_cost:
            raise SchemaCompileError(
                f"The outlines engine would need too much time and memory for this schema: estimated cost {cost:,} "
                f"(limit {self.max_cost:,}; OutlinesEngine.max_cost), mostly from {where}. outlines-core builds its "
                "whole token index up front, so long maxLength/maxItems, big enums and nested arrays add up.",
                hint="use engine='llguidance' (it compiles lazily), or lower maxLength/maxItems.",
            )
        try:
            regex = build_regex_from_schema(json.dumps(schema), " ?")
            index = Index(regex, self.vocabulary)
        except Exception as exc:  # outlines_core raises plain ValueError/RuntimeError
            raise SchemaCompileError(f"outlines cannot compile this schema: {exc}", hint="use engine='llguidance'.") from exc
        return _OutlinesCompiled(index)
