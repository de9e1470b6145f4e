"""Constraint engines: compile a JSON Schema to a token-level matcher for one tokenizer.

Two engines, chosen per backend by measurement (see docs/DECODING.md):

* ``llguidance`` - lazy Earley/lexer masks; compiles in about a millisecond; the default on
  llama.cpp.
* ``outlines`` - outlines-core: schema → regex → token index (slower to compile, cached); the
  default on transformers, where outlines drives constrained decoding.

Both produce a 32-bit bitmask per step and are strict: a keyword an engine cannot enforce is
a :class:`~agentslm.errors.SchemaCompileError`, never a silently looser grammar.
"""

from __future__ import annotations

import json
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from agentslm.errors import SchemaCompileError
from agentslm.schema.bounds import (
    DEFAULT_BOUNDS,
    SchemaBounds,
    check_ref_cycles,
    check_schema_bounds,
    iter_subschemas,
    resolve_local_ref,
)

__all__ = [
    "JSON_SEPARATORS",
    "Matcher",
    "CompiledConstraint",
    "ConstraintEngine",
    "LLGuidanceEngine",
    "OutlinesEngine",
    "ENGINES",
    "check_local_refs",
    "check_schema_safe",
    "outlines_cost",
    "OUTLINES_MAX_COST",
]

JSON_SEPARATORS = (", ", ": ")
"""Item and key separators of the JSON the grammars admit: the spacing the models write by themselves
(``{"a": 1, "b": 2}``). Forcing compact JSON (``{"a":1}``) pushes the model off its own tokenization
(``": 36"`` becomes ``":"`` + ``"36"``) and cost accuracy: BFCL simple_python, 30 cases, SmolLM2-135M,
compact 10/30 vs spaced 14/30 (docs/benchmarks/README.md). outlines-core gets an optional single space."""

ENGINES = ("llguidance", "outlines")

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


class Matcher(Protocol):
    """Tracks one decode against a compiled constraint."""

    def fill_bitmask(self, bitmask: NDArray[np.int32]) -> None:
        """Write the allowed next tokens (bit ``t % 32`` of word ``t // 32``)."""

    def consume(self, token: int) -> bool:
        """Advance by ``token``; false if the token was not allowed."""

    def is_finished(self) -> bool:
        """True once the output is complete (only end-of-output is allowed)."""

    def forced_tokens(self) -> list[int]:
        """Tokens the grammar forces next (may be empty)."""


class CompiledConstraint(ABC):
    """A schema compiled for one tokenizer; hands out fresh matchers."""

    @abstractmethod
    def matcher(self) -> Matcher:
        """A new matcher at the start of the output."""


class ConstraintEngine(ABC):
    """Compiles schemas for one tokenizer, with an LRU cache keyed by the canonical schema JSON."""

    name: str = ""
    bounds: SchemaBounds = DEFAULT_BOUNDS
    """Size limits checked before compiling (see :mod:`agentslm.schema.bounds`)."""

    def __init__(self, cache_size: int = 64) -> None:
        self._cache: OrderedDict[str, CompiledConstraint] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.compile_count = 0
        """How many schemas were actually compiled (cache misses)."""

    def compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        """Compile ``schema`` (cached). Raises :class:`SchemaCompileError` if it cannot be enforced.

        Before any engine sees it the schema must be within :attr:`bounds`, its ``$ref`` must be local
        and resolvable (nothing is ever fetched) and its recursion must have a way out.
        """
        check_schema_bounds(schema, self.bounds)  # first: it also makes json.dumps below safe (depth, JSON types)
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        check_local_refs(schema)
        check_ref_cycles(schema)
        compiled = self._compile(schema)
        with self._lock:
            self.compile_count += 1
            self._cache[key] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    @abstractmethod
    def _compile(self, schema: Mapping[str, Any]) -> CompiledConstraint: ...


def check_schema_safe(schema: Any, bounds: SchemaBounds = DEFAULT_BOUNDS) -> None:
    """The engine-independent checks of :meth:`ConstraintEngine.compile`: within ``bounds``, only local
    resolvable ``$ref``, recursion with a way out. Tool registration runs them too, so a hostile schema
    is refused before jsonschema (the verifier) could recurse on it or fetch a remote ``$ref``."""
    check_schema_bounds(schema, bounds)
    check_local_refs(schema)
    check_ref_cycles(schema)


def _walk(schema: Any, path: str = "#") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (path, node) for every schema node (iteratively: a deep schema cannot exhaust the stack)."""
    return iter_subschemas(schema, path)


_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def check_local_refs(schema: Mapping[str, Any]) -> None:
    """Refuse ``$ref`` that points outside the schema (never fetched) or to a missing definition.

    ``$dynamicRef``/``$recursiveRef`` must be local too: jsonschema (the verifier) would fetch a remote one.
    """
    for path, node in _walk(schema):
        for keyword in _REF_KEYWORDS:
            ref = node.get(keyword)
            if ref is None:
                continue
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise SchemaCompileError(
                    f"Schema at {path} has a non-local {keyword} {ref!r}; agentslm never fetches remote schemas.",
                    hint="inline the referenced schema under $defs and point to it as '#/$defs/Name'.",
                )
            if keyword == "$ref" and not resolve_local_ref(schema, ref)[0]:
                raise SchemaCompileError(
                    f"Schema at {path} has a $ref {ref!r} that points nowhere.", hint="add the missing definition under $defs."
                )


# ---------------------------------------------------------------------------------------------
# llguidance
# ---------------------------------------------------------------------------------------------
class _LLGuidanceMatcher:
    def __init__(self, matcher: Any) -> None:
        self._m = matcher

    def fill_bitmask(self, bitmask: NDArray[np.int32]) -> None:
        self._m.unsafe_compute_mask_ptr(bitmask.ctypes.data, bitmask.size * 4)

    def consume(self, token: int) -> bool:
        return bool(self._m.consume_token(token))

    def is_finished(self) -> bool:
        return bool(self._m.is_stopped())

    def forced_tokens(self) -> list[int]:
        return list(self._m.compute_ff_tokens())


class _LLGuidanceCompiled(CompiledConstraint):
    def __init__(self, prototype: Any) -> None:
        self._prototype = prototype

    def matcher(self) -> Matcher:
        return _LLGuidanceMatcher(self._prototype.deep_copy())


class LLGuidanceEngine(ConstraintEngine):
    """llguidance over an ``LLTokenizer`` (strict: unknown keywords are errors)."""

    name = "llguidance"

    def __init__(self, tokenizer: Any, cache_size: int = 64) -> None:
        super().__init__(cache_size)
        self.tokenizer = tokenizer

    def _compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        import llguidance

        grammar = llguidance.LLMatcher.grammar_from_json_schema(
            json.dumps(schema),
            defaults={
                "whitespace_flexible": False,
                "lenient": False,
                "item_separator": JSON_SEPARATORS[0],
                "key_separator": JSON_SEPARATORS[1],
            },
        )
        is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar, self.tokenizer)
        if is_error:
            raise SchemaCompileError(
                f"llguidance cannot compile this schema: {messages[0]}",
                hint="remove or rewrite the unsupported keyword; agentslm will not loosen the constraint.",
            )
        if messages:
            raise SchemaCompileError(
                f"llguidance would not enforce all of this schema: {'; '.join(messages)}",
                hint="remove or rewrite the keyword it ignores; agentslm will not loosen the constraint.",
            )
        prototype = llguidance.LLMatcher(self.tokenizer, grammar, log_level=0)
        if prototype.is_error():
            raise SchemaCompileError(f"llguidance cannot compile this schema: {prototype.get_error()}")
        return _LLGuidanceCompiled(prototype)


# ---------------------------------------------------------------------------------------------
# outlines-core
# ---------------------------------------------------------------------------------------------
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
    for path, node in _walk(schema):
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


def outlines_cost(schema: Mapping[str, Any]) -> tuple[int, str]:  # noqa: C901 - complexity exception, issue 22
    """Estimated cost of compiling ``schema`` with outlines-core, and the path of its costliest part.

    One unit is about one character position of a bounded string (``maxLength`` 300 is 300 units).
    Arrays repeat their items' cost ``2 + maxItems`` times (outlines writes the item regex twice per
    level, so nesting doubles it), enums cost a unit per 10 characters, optional properties add
    ``n**2/20`` (outlines lists their orders), and a bounded string at the top level (not inside an
    object or array) costs ``2**(maxLength-4)``: outlines-core takes time exponential in its length
    there (``maxLength`` 16: 4 s, 18: 19 s). Recursive ``$ref`` (outlines unrolls 3 levels) triples
    the total. Walks iteratively; call after :func:`check_outlines_support`.
    """
    memo: dict[tuple[int, bool], int] = {}
    open_keys: set[tuple[int, bool]] = set()
    recursive = False
    worst = (0, "#")

    def key_of(sub: Any, top: bool) -> tuple[int, bool]:
        return (id(sub), top)

    def cost_of(sub: Any, top: bool) -> int:
        return memo.get(key_of(sub, top), 1) if isinstance(sub, Mapping) else 1

    def children(node: Mapping[str, Any], top: bool, path: str) -> list[tuple[Any, bool, str]]:
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

    stack: list[tuple[Any, bool, str, bool]] = [(schema, True, "#", False)]
    while stack:
        node, top, path, expanded = stack.pop()
        key = key_of(node, top)
        if not expanded:
            if key in memo:
                continue
            if key in open_keys:  # a $ref back to a node being costed: recursion
                recursive = True
                continue
            open_keys.add(key)
            stack.append((node, top, path, True))
            stack += [(sub, sub_top, sub_path, False) for sub, sub_top, sub_path in children(node, top, path)]
            continue
        open_keys.discard(key)
        local = 0  # this node's own cost, children excluded
        total = 0
        ref = node.get("$ref")
        if isinstance(ref, str):
            found, target = resolve_local_ref(schema, ref)
            total += cost_of(target, top) if found else 1
        if isinstance(node.get("anyOf"), list):
            total += sum(cost_of(b, top) for b in node["anyOf"])
        if isinstance(node.get("enum"), list):
            local += 1 + sum(len(json.dumps(v)) for v in node["enum"]) // 10
        if "const" in node:
            local += 1 + len(json.dumps(node["const"])) // 10
        kind = node.get("type")
        types = {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else set()
        if "string" in types:
            length = _count(node, "minLength", "maxLength")
            local += (2 ** min(length - 4, 64) if top and length > 4 else length) or 1
            if isinstance(node.get("pattern"), str):
                local += _pattern_cost(node["pattern"])
            if "format" in node:
                local += 20
        if "array" in types:
            items = node.get("items")
            repeat = 2 + _count(node, "maxItems") if "maxItems" in node else 2 + _count(node, "minItems")
            total += repeat * cost_of(items, False) if isinstance(items, Mapping) else repeat
            if isinstance(node.get("prefixItems"), list):
                total += sum(cost_of(v, False) for v in node["prefixItems"])
        if isinstance(node.get("properties"), Mapping):
            props = node["properties"]
            required = set(node.get("required") or []) if isinstance(node.get("required"), list) else set()
            optional = sum(1 for k in props if k not in required)
            local += sum(len(k) // 10 for k in props) + optional * optional // 20
            total += sum(cost_of(v, False) for v in props.values())
        local += len(types & {"number", "integer", "boolean", "null"})
        if local > worst[0]:
            worst = (local, path)
        memo[key] = max(1, local + total)
    total_cost = memo[key_of(schema, True)] * (3 if recursive else 1)
    return total_cost, worst[1]


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
