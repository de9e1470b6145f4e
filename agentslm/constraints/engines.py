"""Constraint engines: compile a JSON Schema to a token-level matcher for one tokenizer.

This module holds what every engine shares: the :class:`Matcher` protocol, :class:`ConstraintEngine`
(bounds, local ``$ref`` and recursion checks, an LRU cache per canonical schema) and the JSON spacing the
grammars admit. One module per engine, each built from its backend's tokenizer (see docs/DECODING.md):

* :mod:`agentslm.constraints.llguidance_engine` - lazy Earley/lexer masks; compiles in about a
  millisecond; the default on llama.cpp.
* :mod:`agentslm.constraints.outlines_engine` - outlines-core: schema → regex → token index (slower to
  compile, cached); the default on transformers, where outlines drives constrained decoding.

Both produce a 32-bit bitmask per step and are strict: a keyword an engine cannot enforce is
a :class:`~agentslm.errors.SchemaCompileError`, never a silently looser grammar.
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from agentslm.constraints.bounds import (
    DEFAULT_BOUNDS,
    SchemaBounds,
    check_ref_cycles,
    check_schema_bounds,
    iter_subschemas,
    resolve_local_ref,
)
from agentslm.errors import SchemaCompileError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "JSON_SEPARATORS",
    "Matcher",
    "CompiledConstraint",
    "ConstraintEngine",
    "ENGINES",
    "check_local_refs",
    "check_schema_safe",
]

JSON_SEPARATORS = (", ", ": ")
"""Item and key separators of the JSON the grammars admit: the spacing the models write by themselves
(``{"a": 1, "b": 2}``). Forcing compact JSON (``{"a":1}``) pushes the model off its own tokenization
(``": 36"`` becomes ``":"`` + ``"36"``) and cost accuracy: BFCL simple_python, 30 cases, SmolLM2-135M,
compact 10/30 vs spaced 14/30 (docs/benchmarks/README.md). outlines-core gets an optional single space."""

ENGINES = ("llguidance", "outlines")


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
    """Size limits checked before compiling (see :mod:`agentslm.constraints.bounds`)."""

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


_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def check_local_refs(schema: Mapping[str, Any]) -> None:
    """Refuse ``$ref`` that points outside the schema (never fetched) or to a missing definition.

    ``$dynamicRef``/``$recursiveRef`` must be local too: jsonschema (the verifier) would fetch a remote one.
    """
    for path, node in iter_subschemas(schema):
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
