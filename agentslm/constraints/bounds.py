"""Size and shape limits a JSON Schema must meet before it is compiled to a decoding grammar.

Tool schemas may come from untrusted places (an MCP server, an OpenAI tool JSON file). Compiling
one is work proportional to its size, and for some shapes much more, so a hostile schema could
exhaust time or memory (OWASP LLM10, unbounded consumption). :func:`check_schema_bounds` refuses
such schemas first, with a :class:`~agentslm.errors.SchemaCompileError` naming the limit, where
the schema exceeds it and what to do instead. It walks the schema with an explicit stack (no
Python recursion), so even a schema nested 100,000 deep is refused in microseconds instead of
raising ``RecursionError``.

:func:`check_ref_cycles` refuses ``$ref`` recursion that never bottoms out (``{"$ref": "#"}``, or
an object that requires another of itself): no finite JSON value matches such a schema, and the
engines would otherwise hand out an empty grammar (llguidance) or hit an internal limit (outlines).
Recursion with a way out (a linked list whose ``next`` may be ``null``) is fine.

Nothing here ever fetches a ``$ref``; :func:`resolve_local_ref` follows only ``#...`` pointers.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from agentslm.constraints.normalize import _LIST as _NORMALIZE_LIST
from agentslm.constraints.normalize import _MAP as _NORMALIZE_MAP
from agentslm.constraints.normalize import _SINGLE as _NORMALIZE_SINGLE
from agentslm.errors import SchemaCompileError

__all__ = [
    "SchemaBounds",
    "DEFAULT_BOUNDS",
    "COUNT_KEYWORDS",
    "check_schema_bounds",
    "check_ref_cycles",
    "iter_subschemas",
    "resolve_local_ref",
]

# The subschema keywords of agentslm.constraints.normalize, by the shape of their value
# (``items`` may also be a list: the draft-04 tuple form).
_SINGLE = frozenset(_NORMALIZE_SINGLE)
_LIST = frozenset(_NORMALIZE_LIST)
_MAP = frozenset(_NORMALIZE_MAP)

COUNT_KEYWORDS = (
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "minContains",
    "maxContains",
)
"""Keywords whose value is a count that grammar compilers expand into repetitions."""

_SCALAR_TYPES = frozenset({"string", "number", "integer", "boolean", "null"})


@dataclass(frozen=True)
class SchemaBounds:
    """Limits on one schema compiled to a grammar. Every default is far above what real tool schemas
    need (the largest of BFCL's 3,364 distinct functions: 4 levels deep, 43 subschemas, an enum of 35,
    7,811 characters of JSON; the agentslm tool packs: ``maxLength`` 100,000, a 20-character
    ``pattern``) and far below what makes llguidance slow (outlines-core, which builds its whole index
    up front, has a tighter cost limit of its own: :data:`agentslm.constraints.outlines_engine.OUTLINES_MAX_COST`)."""

    max_depth: int = 32
    """Nesting of subschemas (``properties``/``items``/``anyOf``/... each add one level)."""
    max_json_depth: int = 100
    """Nesting of JSON containers anywhere in the schema, ``default``/``enum`` values included.
    Both engines parse the schema with serde_json, which stops at 128."""
    max_nodes: int = 5000
    """Subschemas in the whole schema."""
    max_enum: int = 2000
    """Values of one ``enum``."""
    max_alternatives: int = 256
    """Branches of one ``anyOf``/``oneOf``/``allOf`` (and entries of ``prefixItems``)."""
    max_json_chars: int = 200_000
    """Characters of the schema as JSON (estimated while walking: string lengths, keys, numbers)."""
    max_pattern_chars: int = 1000
    """Characters of one ``pattern`` (or ``patternProperties`` key) regular expression."""
    max_count: int = 1_000_000
    """Value of a count keyword (``maxLength``, ``minItems``, ... see :data:`COUNT_KEYWORDS`)."""


DEFAULT_BOUNDS = SchemaBounds()
"""The bounds every :class:`~agentslm.constraints.engines.ConstraintEngine` applies."""


def _key_chars(key: object, path: str) -> int:
    """The JSON size of an object key (quotes, colon, comma); a non-string key is refused."""
    if not isinstance(key, str):
        raise SchemaCompileError(
            f"Schema at {_show(path)} has a non-string key {key!r}; JSON object keys are strings.",
            hint="convert the key to a string.",
        )
    return len(key) + 4


def _show(path: str) -> str:
    return path if len(path) <= 120 else f"{path[:60]}...{path[-50:]}"


def _refuse(path: str, what: str, limit: int, field: str, hint: str) -> SchemaCompileError:
    return SchemaCompileError(f"Schema {what}, over the limit of {limit:,} (SchemaBounds.{field}), at {_show(path)}.", hint=hint)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _check_keywords(node: Mapping[str, Any], path: str, bounds: SchemaBounds) -> None:
    """The per-node limits (counted before the node's children are walked)."""
    enum = node.get("enum")
    if isinstance(enum, list) and len(enum) > bounds.max_enum:
        raise _refuse(
            path,
            f"has an enum of {len(enum):,} values",
            bounds.max_enum,
            "max_enum",
            'use {"type": "string"} and check the value in the tool, or split the tool by category.',
        )
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        value = node.get(key)
        if isinstance(value, list) and len(value) > bounds.max_alternatives:
            raise _refuse(
                path,
                f"has {len(value):,} {key} entries",
                bounds.max_alternatives,
                "max_alternatives",
                "merge the alternatives (an enum of constants, one object with optional properties) or split the tool.",
            )
    patterns = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
    if isinstance(node.get("patternProperties"), Mapping):
        patterns += [k for k in node["patternProperties"] if isinstance(k, str)]
    for pattern in patterns:
        if len(pattern) > bounds.max_pattern_chars:
            raise _refuse(
                path,
                f"has a pattern of {len(pattern):,} characters",
                bounds.max_pattern_chars,
                "max_pattern_chars",
                "use a shorter regular expression (or an enum) and check the rest in the tool.",
            )
    for key in COUNT_KEYWORDS:
        value = node.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > bounds.max_count:
            raise _refuse(
                path,
                f"has {key} {value:,}",
                bounds.max_count,
                "max_count",
                f"lower {key}; a tool argument that large should be a file path or an ID instead.",
            )


_Pending = tuple[Any, str, int, int, bool]
"""A value still to check: (value, path, subschema depth, JSON depth, is the value a subschema)."""


def _check_depth(value: Any, path: str, depth: int, json_depth: int, is_schema: bool, bounds: SchemaBounds) -> None:
    if is_schema and depth > bounds.max_depth:
        raise _refuse(
            path,
            f"nests subschemas {depth:,} deep",
            bounds.max_depth,
            "max_depth",
            "flatten the parameters (tool arguments rarely need more than a few levels).",
        )
    if isinstance(value, Mapping | list) and json_depth > bounds.max_json_depth:
        raise _refuse(
            path,
            f"nests JSON {json_depth:,} levels deep",
            bounds.max_json_depth,
            "max_json_depth",
            "flatten the schema and its default/enum values.",
        )


def _expand_mapping(item: _Pending, bounds: SchemaBounds, stack: list[_Pending]) -> int:
    """Push a mapping's values (subschemas one level deeper where its keyword holds them); its JSON characters."""
    value, path, depth, json_depth, is_schema = item
    chars = 2
    if is_schema:
        _check_keywords(value, path, bounds)
    for key, sub in value.items():
        chars += _key_chars(key, path)
        sub_path = f"{path}/{_escape(key)}"
        if is_schema and key in _MAP and isinstance(sub, Mapping):
            chars += 2
            for name, entry in sub.items():
                chars += _key_chars(name, sub_path)
                stack.append((entry, f"{sub_path}/{_escape(name)}", depth + 1, json_depth + 2, True))
        elif is_schema and (key in _LIST or key == "items") and isinstance(sub, list):
            chars += 2 + len(sub)
            stack += [(entry, f"{sub_path}/{i}", depth + 1, json_depth + 2, True) for i, entry in enumerate(sub)]
        elif is_schema and key in _SINGLE and isinstance(sub, Mapping | bool):
            stack.append((sub, sub_path, depth + 1, json_depth + 1, True))
        else:
            stack.append((sub, sub_path, depth, json_depth + 1, False))
    return chars


def _scalar_chars(value: Any, path: str) -> int:
    """The JSON characters of a scalar; what JSON cannot hold is refused."""
    if isinstance(value, str):
        return len(value) + 2
    if value is None or isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return value.bit_length() // 3 + 2  # about the decimal digits
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SchemaCompileError(
                f"Schema at {_show(path)} has the number {value!r}, which JSON cannot represent.",
                hint="use a finite number or drop the keyword.",
            )
        return 24
    raise SchemaCompileError(
        f"Schema at {_show(path)} holds a {type(value).__name__}, which is not JSON.",
        hint="use only dicts, lists, strings, numbers, booleans and None.",
    )


def check_schema_bounds(schema: Any, bounds: SchemaBounds = DEFAULT_BOUNDS) -> None:
    """Raise :class:`SchemaCompileError` if ``schema`` is not a JSON object within ``bounds``.

    Also refuses what is not JSON (non-string keys, NaN or infinite numbers, other Python objects).
    Walks iteratively and stops at the first limit exceeded, so the cost is bounded by the limits,
    not by the schema.
    """
    if not isinstance(schema, Mapping):
        raise SchemaCompileError(
            f"A schema must be a JSON object (a dict), not {type(schema).__name__}.",
            hint='pass a dict such as {"type": "object", "properties": {...}}.',
        )
    chars = 0
    nodes = 0
    stack: list[_Pending] = [(schema, "#", 1, 1, True)]
    while stack:
        item = stack.pop()
        value, path, depth, json_depth, is_schema = item
        nodes += is_schema
        if nodes > bounds.max_nodes:
            raise _refuse(
                path,
                f"has more than {bounds.max_nodes:,} subschemas",
                bounds.max_nodes,
                "max_nodes",
                "split the tool into smaller tools or simplify its parameters.",
            )
        _check_depth(value, path, depth, json_depth, is_schema, bounds)
        if isinstance(value, Mapping):
            chars += _expand_mapping(item, bounds, stack)
        elif isinstance(value, list):
            chars += 2 + len(value)
            stack += [(entry, f"{path}/{i}", depth, json_depth + 1, False) for i, entry in enumerate(value)]
        else:
            chars += _scalar_chars(value, path)
        if chars > bounds.max_json_chars:
            raise _refuse(
                path,
                f"reaches {chars:,} characters of JSON",
                bounds.max_json_chars,
                "max_json_chars",
                "shorten descriptions and enums, or split the tool.",
            )


def iter_subschemas(schema: Any, path: str = "#") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield ``(path, node)`` for every object subschema, parents first, without recursion."""
    stack: list[tuple[Any, str]] = [(schema, path)]
    while stack:
        node, where = stack.pop()
        if not isinstance(node, Mapping):
            continue
        yield where, node
        children: list[tuple[Any, str]] = []
        for key, value in node.items():
            if key in _MAP and isinstance(value, Mapping):
                children += [(sub, f"{where}/{key}/{_escape(name)}") for name, sub in value.items()]
            elif (key in _LIST or key == "items") and isinstance(value, list):
                children += [(sub, f"{where}/{key}/{i}") for i, sub in enumerate(value)]
            elif key in _SINGLE and isinstance(value, Mapping):
                children.append((value, f"{where}/{key}"))
        stack.extend(reversed(children))


def resolve_local_ref(schema: Mapping[str, Any], ref: str) -> tuple[bool, Any]:
    """Follow a local ``$ref`` (``#``, ``#/$defs/Name``, ...) inside ``schema``; never fetches anything.

    Returns ``(True, target)``, or ``(False, None)`` when the pointer leads nowhere.
    """
    target: Any = schema
    pointer = ref[1:] if ref.startswith("#") else ref
    for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(target, Mapping) and part in target:
            target = target[part]
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
        else:
            return False, None
    return True, target


class _Gates:
    """AND/OR gates over "has a finite value" facts, solved by unit propagation (linear time)."""

    def __init__(self) -> None:
        self.need: list[int] = []  # children still missing (AND), or 1 (OR: any one child; an empty OR never holds)
        self.parents: list[list[int]] = []

    def add(self, kind: str, children: list[int]) -> int:
        gate = len(self.need)
        self.need.append(len(children) if kind == "and" else 1)
        self.parents.append([])
        for child in children:
            self.parents[child].append(gate)
        return gate

    def solve(self) -> list[bool]:
        done = [n == 0 for n in self.need]
        queue = [g for g, ok in enumerate(done) if ok]
        while queue:
            gate = queue.pop()
            for parent in self.parents[gate]:
                if not done[parent]:
                    self.need[parent] -= 1
                    if self.need[parent] <= 0:
                        done[parent] = True
                        queue.append(parent)
        return done


def check_ref_cycles(schema: Mapping[str, Any]) -> None:
    """Refuse ``$ref`` recursion without a way out (no finite JSON value could match).

    ``{"$ref": "#"}``, two definitions pointing at each other, or an object that *requires* a property
    of its own type are refused; a recursive property that is optional, or an ``anyOf`` with a
    non-recursive branch (``{"type": "null"}``), is a way out. Call after the refs are known to be
    local and resolvable. Everything else (``false`` subschemas, contradictions) is left to the engines.
    """
    nodes = list(iter_subschemas(schema))
    gates = _Gates()
    true = gates.add("and", [])
    index: dict[int, int] = {}
    pending: list[tuple[int, Mapping[str, Any]]] = []
    for _, node in nodes:
        if id(node) not in index:
            index[id(node)] = len(gates.need)
            gates.add("and", [])  # its parts are wired in below, once every node has a gate
            pending.append((index[id(node)], node))

    def gate_of(sub: Any) -> int:
        return index.get(id(sub), true) if isinstance(sub, Mapping) else true

    # A node's gate is the AND of its parts: the $ref target, allOf, one of anyOf/oneOf, a value of its own type.
    for gate, node in pending:
        parts: list[int] = []
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            found, target = resolve_local_ref(schema, ref)
            if found:
                parts.append(gate_of(target))
        if isinstance(node.get("allOf"), list):
            parts += [gate_of(sub) for sub in node["allOf"]]
        for key in ("anyOf", "oneOf"):
            branches = node.get(key)
            if isinstance(branches, list) and branches:
                parts.append(gates.add("or", [gate_of(b) for b in branches]))
        structural = _structural(node, gates, gate_of, true)
        if structural is not None:
            parts.append(structural)
        gates.need[gate] = len(parts)
        for part in parts:
            gates.parents[part].append(gate)
    productive = gates.solve()
    stuck = [(path, node["$ref"]) for path, node in nodes if "$ref" in node and not productive[index[id(node)]]]
    if stuck:
        path, ref = stuck[0]
        others = "" if len(stuck) == 1 else f" (also {', '.join(p for p, _ in stuck[1:4])}{', ...' if len(stuck) > 4 else ''})"
        raise SchemaCompileError(
            f"Schema at {_show(path)} has a $ref cycle with no way out: {ref!r} leads back to itself with no base case{others}, "
            "so no finite JSON value matches it.",
            hint="give the recursion a base case: make the recursive property optional, or allow "
            '{"type": "null"} next to the $ref in an anyOf.',
        )


def _structural(node: Mapping[str, Any], gates: _Gates, gate_of: Any, true: int) -> int | None:
    """The gate of "a value of this node's own type exists", or None when one trivially does."""
    if "enum" in node or "const" in node:
        return None
    kind = node.get("type")
    types = {kind} if isinstance(kind, str) else {t for t in kind if isinstance(t, str)} if isinstance(kind, list) else None
    if types is None or types & _SCALAR_TYPES or not types & {"object", "array"}:
        return None
    options: list[int] = []
    if "object" in types:
        props: Mapping[str, Any] = node["properties"] if isinstance(node.get("properties"), Mapping) else {}
        extra = node.get("additionalProperties")
        required = [r for r in node["required"] if isinstance(r, str)] if isinstance(node.get("required"), list) else []
        options.append(gates.add("and", [gate_of(props[r]) if r in props else gate_of(extra) for r in required]))
    if "array" in types:
        least = node.get("minItems")
        least = least if isinstance(least, int) and not isinstance(least, bool) else 0
        prefix: list[Any] = []
        if isinstance(node.get("prefixItems"), list):
            prefix = node["prefixItems"]
        elif isinstance(node.get("items"), list):  # draft-04 tuple form
            prefix = node["items"]
        needs = [gate_of(sub) for sub in prefix[:least]]
        if least > len(prefix) and isinstance(node.get("items"), Mapping):
            needs.append(gate_of(node["items"]))
        options.append(gates.add("and", needs))
    return gates.add("or", options)
