"""BFCL's official AST checker, loaded from the ``bfcl-eval`` package through a small import shim.

Why a shim: ``bfcl_eval.eval_checker.ast_eval.ast_checker`` imports
``bfcl_eval.constants.model_config`` only to read ``MODEL_CONFIG_MAPPING[model].underscore_to_dot``
(whether a model's function names had ``.`` replaced by ``_``). That module imports every model
handler BFCL ships (OpenAI, Anthropic, Google, vLLM clients, ...), so importing it needs dozens of
heavy packages we install with ``--no-deps`` precisely to avoid. Before importing the checker we
register a stand-in module whose mapping answers ``underscore_to_dot=False`` for any model: agentslm
keeps function names verbatim (dots included), which is what that flag means. Nothing else in the
checker is replaced: the scoring code is BFCL's own.

Relevance categories (``irrelevance``, ``live_irrelevance``, ``live_relevance``) have no possible
answers; BFCL scores them by whether the output holds any function call
(``eval_runner._evaluate_single_relevance_entry``), which :func:`check_case` reproduces.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from agentslm.errors import MissingExtraError
from agentslm.step_types import ToolCall

__all__ = ["CheckResult", "check_case", "is_relevance_category", "load_ast_checker"]

MODEL_NAME = "agentslm"


@dataclass(frozen=True)
class _ModelConfig:
    underscore_to_dot: bool = False


class _AnyModel(dict[str, _ModelConfig]):
    def __missing__(self, key: str) -> _ModelConfig:
        return _ModelConfig()


_checker: Callable[..., dict[str, Any]] | None = None
_language: Any = None


def load_ast_checker() -> tuple[Callable[..., dict[str, Any]], Any]:
    """``(ast_checker, Language)`` from bfcl-eval, importing it behind the ``model_config`` shim."""
    global _checker, _language
    if _checker is None:
        name = "bfcl_eval.constants.model_config"
        if name not in sys.modules:
            shim = types.ModuleType(name)
            shim.__doc__ = "agentslm stand-in: every model keeps dots in function names (see agentslm.bench.bfcl_checker)."
            shim.MODEL_CONFIG_MAPPING = _AnyModel()  # type: ignore[attr-defined]
            sys.modules[name] = shim
        try:
            from bfcl_eval.constants.enums import Language
            from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker
        except ImportError as exc:
            raise MissingExtraError(
                f"The BFCL checker could not be imported ({exc}).", hint="pip install --no-deps 'bfcl-eval==2026.3.23'"
            ) from exc
        _checker, _language = ast_checker, Language
    return _checker, _language


def is_relevance_category(category: str) -> bool:
    """True for categories scored by whether any call was made (no possible answers)."""
    return "irrelevance" in category or category.endswith("relevance")


@dataclass(frozen=True)
class CheckResult:
    valid: bool
    error: str = ""
    error_type: str = ""


def check_case(
    category: str,
    functions: list[dict[str, Any]],
    calls: Sequence[ToolCall] | None,
    answer: list[dict[str, Any]] | None,
) -> CheckResult:
    """Score one case with BFCL's checker. ``calls=None`` means the output did not decode to calls."""
    made_call = bool(calls)
    if is_relevance_category(category):
        if "irrelevance" in category:
            return CheckResult(True) if not made_call else CheckResult(False, "made a call", "irrelevance_error:decoder_success")
        return CheckResult(True) if made_call else CheckResult(False, "made no call", "relevance_error:decoder_failed")
    if answer is None:
        raise ValueError(f"category {category!r} needs possible answers")
    if calls is None:
        return CheckResult(False, "output is not a list of calls", "ast_decoder:decoder_failed")
    checker, language = load_ast_checker()
    lang = (
        language.JAVA
        if "java" in category and "javascript" not in category
        else language.JAVASCRIPT
        if "javascript" in category
        else language.PYTHON
    )
    output = [{c.name: dict(c.arguments)} for c in calls]
    try:
        result = checker(functions, output, answer, lang, category, MODEL_NAME)
    except Exception as exc:  # the checker raises on some malformed outputs; BFCL counts those as failures
        return CheckResult(False, f"checker raised {type(exc).__name__}: {exc}", "checker:exception")
    errors = result.get("error") or []
    return CheckResult(bool(result["valid"]), "; ".join(map(str, errors))[:500], str(result.get("error_type", "")))
