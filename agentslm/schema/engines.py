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
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from agentslm.errors import SchemaCompileError
from agentslm.schema.normalize import SCHEMA_CHILD_KEYS

__all__ = [
    "JSON_SEPARATORS",
    "Matcher",
    "CompiledConstraint",
    "ConstraintEngine",
    "LLGuidanceEngine",
    "OutlinesEngine",
    "ENGINES",
    "check_local_refs",
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

    def __init__(self, cache_size: int = 64) -> None:
        self._cache: OrderedDict[str, CompiledConstraint] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self.compile_count = 0
        """How many schemas were actually compiled (cache misses)."""

    def compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        """Compile ``schema`` (cached). Raises :class:`SchemaCompileError` if it cannot be enforced."""
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        check_local_refs(schema)
        compiled = self._compile(schema)
        with self._lock:
            self.compile_count += 1
            self._cache[key] = compiled
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return compiled

    @abstractmethod
    def _compile(self, schema: Mapping[str, Any]) -> CompiledConstraint: ...


def _walk(schema: Any, path: str = "#"):  # type: ignore[no-untyped-def]
    """Yield (path, node) for every schema node."""
    if not isinstance(schema, Mapping):
        return
    yield path, schema
    for key in SCHEMA_CHILD_KEYS:
        value = schema.get(key)
        if isinstance(value, Mapping) and key in ("properties", "$defs", "definitions", "patternProperties", "dependentSchemas"):
            for name, sub in value.items():
                yield from _walk(sub, f"{path}/{key}/{name}")
        elif isinstance(value, Mapping):
            yield from _walk(value, f"{path}/{key}")
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                yield from _walk(sub, f"{path}/{key}/{i}")


def check_local_refs(schema: Mapping[str, Any]) -> None:
    """Refuse ``$ref`` that points outside the schema (never fetched) or to a missing definition."""
    for path, node in _walk(schema):
        ref = node.get("$ref")
        if ref is None:
            continue
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise SchemaCompileError(
                f"Schema at {path} has a non-local $ref {ref!r}; agentslm never fetches remote schemas.",
                hint="inline the referenced schema under $defs and point to it as '#/$defs/Name'.",
            )
        target: Any = schema
        for part in ref.lstrip("#").strip("/").split("/") if ref not in ("#", "#/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or part not in target:
                raise SchemaCompileError(
                    f"Schema at {path} has a $ref {ref!r} that points nowhere.", hint="add the missing definition under $defs."
                )
            target = target[part]


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

    def __init__(self, vocabulary: Any, cache_size: int = 16) -> None:
        super().__init__(cache_size)
        self.vocabulary = vocabulary

    def _compile(self, schema: Mapping[str, Any]) -> CompiledConstraint:
        from outlines_core import Index
        from outlines_core.json_schema import build_regex_from_schema

        check_outlines_support(schema)
        try:
            regex = build_regex_from_schema(json.dumps(schema), " ?")
            index = Index(regex, self.vocabulary)
        except Exception as exc:  # outlines_core raises plain ValueError/RuntimeError
            raise SchemaCompileError(f"outlines cannot compile this schema: {exc}", hint="use engine='llguidance'.") from exc
        return _OutlinesCompiled(index)
