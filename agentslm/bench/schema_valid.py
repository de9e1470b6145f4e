"""Schema-valid rate of calls on a BFCL category: constrained (agentslm) vs unconstrained prompting
of the same model with the same prompt, side by side.

A call is *schema-valid* if it names one of the case's functions and its arguments validate
against that function's JSON Schema (jsonschema). Unconstrained output is parsed leniently:
the first JSON object with ``name`` and ``arguments`` anywhere in the text counts.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from agentslm.bench.bfcl_data import BfclCase
from agentslm.models.local import LocalModel
from agentslm.registry import ToolRegistry
from agentslm.roles.caller import RESPONSE_PREFIX, Caller
from agentslm.step_types import ToolCall
from agentslm.verify import Verifier

__all__ = ["CaseResult", "lenient_parse", "schema_valid", "run_schema_valid", "summarize"]


@dataclass(kw_only=True)
class CaseResult:
    id: str
    system: str
    valid: bool
    reason: str
    output: str
    seconds: float
    completion_tokens: int
    extra: dict[str, Any] = field(default_factory=dict)


def lenient_parse(text: str) -> ToolCall:
    """The first ``{"name": str, "arguments": dict}`` object in ``text`` (also inside a list)."""
    from agentslm.bench.systems import lenient_calls

    calls = lenient_calls(text)
    if not calls:
        return ToolCall(name="", raw=text, parse_error="no JSON call found in the output")
    return calls[0].model_copy(update={"raw": text})


def schema_valid(call: ToolCall, registry: ToolRegistry) -> tuple[bool, str]:
    """True if ``call`` names a tool of ``registry`` and its arguments validate against the schema."""
    verdict = Verifier(registry, approve=lambda c, t: True).verify(call)
    failed = [c for c in verdict.checks if not c.ok and c.stage in ("parse", "tool", "schema")]
    return (not failed, failed[0].stage + ": " + failed[0].reason if failed else "ok")


def run_schema_valid(
    model: LocalModel,
    cases: Iterable[BfclCase],
    *,
    systems: tuple[str, ...] = ("constrained", "unconstrained"),
    max_tokens: int = 384,
    engine: str | None = None,
    on_result: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    """Run every case through each system; returns one :class:`CaseResult` per case and system."""
    results: list[CaseResult] = []
    caller = Caller(model, max_tokens=max_tokens, engine=engine)
    for case in cases:
        registry = ToolRegistry.from_bfcl(case.functions)
        tools = list(registry)
        request = case.messages[-1]["content"]
        context = case.messages[:-1]
        for system in systems:
            t0 = time.perf_counter()
            if system == "constrained":
                call = caller.call(request, tools, context)
                tokens = call.signals.completion_tokens
            else:
                messages = caller.messages(request, tools, context)
                gen = model.generate(messages, max_tokens=max_tokens, response_prefix=RESPONSE_PREFIX)
                call = lenient_parse(gen.text)
                tokens = gen.completion_tokens
            ok, reason = schema_valid(call, registry)
            result = CaseResult(
                id=case.id,
                system=system,
                valid=ok,
                reason=reason,
                output=call.raw,
                seconds=time.perf_counter() - t0,
                completion_tokens=tokens,
            )
            results.append(result)
            if on_result:
                on_result(result)
    return results


def summarize(results: list[CaseResult]) -> dict[str, dict[str, float]]:
    """Per system: cases, schema-valid rate, p50/p95 seconds, mean completion tokens."""
    out: dict[str, dict[str, float]] = {}
    for system in dict.fromkeys(r.system for r in results):
        rows = [r for r in results if r.system == system]
        secs = sorted(r.seconds for r in rows)
        out[system] = {
            "cases": len(rows),
            "valid": sum(r.valid for r in rows),
            "valid_rate": sum(r.valid for r in rows) / len(rows),
            "p50_s": statistics.median(secs),
            "p95_s": secs[min(len(secs) - 1, round(0.95 * (len(secs) - 1)))],
            "mean_completion_tokens": statistics.fmean(r.completion_tokens for r in rows),
        }
    return out
