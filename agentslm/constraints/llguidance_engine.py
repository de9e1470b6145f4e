"""The llguidance constraint engine: lazy Earley/lexer masks over an ``LLTokenizer`` (the llama.cpp default)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agentslm.constraints.engines import JSON_SEPARATORS, CompiledConstraint, ConstraintEngine, Matcher
from agentslm.errors import SchemaCompileError

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["LLGuidanceEngine"]


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
