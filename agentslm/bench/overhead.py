"""Per-token cost of constrained decoding against unconstrained decoding of the *same* tokens.

For each case: decode the call under the grammar with fast-forward off (one model step per
token), then replay exactly those tokens without a constraint through the same loop (model
step + token choice + log-probability). The ratio of the per-token times is the constraint's
overhead. A second figure gives the effective per-token time with fast-forward on (forced
tokens fed in one batch), which is what users get by default.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from agentslm.bench.bfcl_data import BfclCase
from agentslm.constraints.call_schema import call_schema
from agentslm.models.local import LocalModel, _log_softmax_at
from agentslm.registry import ToolRegistry
from agentslm.roles.caller import RESPONSE_PREFIX, Caller

__all__ = ["OverheadRow", "measure_overhead"]


@dataclass(kw_only=True)
class OverheadRow:
    id: str
    tokens: int
    constrained_ms_per_token: float
    unconstrained_ms_per_token: float
    fast_forward_ms_per_token: float
    constraint_ms_per_token: float
    compile_ms: float

    @property
    def ratio(self) -> float:
        return self.constrained_ms_per_token / self.unconstrained_ms_per_token


def _replay(model: LocalModel, prompt: list[int], tokens: list[int]) -> float:
    """Seconds to decode ``tokens`` one by one without a constraint (same per-step work as the loop)."""
    logits = model._prefill(prompt)
    t0 = time.perf_counter()
    for tok in tokens:
        int(np.argmax(logits))
        _log_softmax_at(logits, tok)  # the same log-probability work the decode loop does per token
        model.token_text([tok])
        logits = model._step([tok])
    return time.perf_counter() - t0


def measure_overhead(model: LocalModel, cases: Iterable[BfclCase], *, engine: str | None = None) -> list[OverheadRow]:
    rows: list[OverheadRow] = []
    caller = Caller(model, engine=engine)
    for case in cases:
        tools = list(ToolRegistry.from_bfcl(case.functions))
        messages = caller.messages(case.messages[-1]["content"], tools, case.messages[:-1])
        prompt = model.chat_tokens(messages) + model.text_tokens(RESPONSE_PREFIX)
        t_compile = time.perf_counter()
        compiled = model.engine(engine).compile(call_schema(tools, caller.limits))
        compile_seconds = time.perf_counter() - t_compile
        model.generate_tokens(prompt, matcher=compiled.matcher(), max_tokens=caller.max_tokens, fast_forward=False)  # warm
        slow = model.generate_tokens(prompt, matcher=compiled.matcher(), max_tokens=caller.max_tokens, fast_forward=False)
        n = len(slow.tokens)
        if n < 2:
            continue
        decode_tokens = [t.token for t in slow.tokens][:-1]  # the last token needs no further model step
        replay = _replay(model, prompt, decode_tokens)
        fast = model.generate_tokens(prompt, matcher=compiled.matcher(), max_tokens=caller.max_tokens, fast_forward=True)
        rows.append(
            OverheadRow(
                id=case.id,
                tokens=n,
                constrained_ms_per_token=1000 * slow.decode_seconds / (n - 1),
                unconstrained_ms_per_token=1000 * replay / len(decode_tokens) if decode_tokens else float("nan"),
                fast_forward_ms_per_token=1000 * fast.decode_seconds / max(1, len(fast.tokens)),
                constraint_ms_per_token=1000 * slow.constraint_seconds / n,
                compile_ms=1000 * compile_seconds,
            )
        )
    return rows


def summarize_overhead(rows: list[OverheadRow]) -> dict[str, float]:
    total = sum(r.tokens for r in rows)
    c = sum(r.constrained_ms_per_token * r.tokens for r in rows) / total
    u = sum(r.unconstrained_ms_per_token * r.tokens for r in rows) / total
    f = sum(r.fast_forward_ms_per_token * r.tokens for r in rows) / total
    return {
        "cases": len(rows),
        "tokens": total,
        "constrained_ms_per_token": c,
        "unconstrained_ms_per_token": u,
        "ratio": c / u,
        "median_case_ratio": statistics.median(r.ratio for r in rows),
        "fast_forward_ms_per_token": f,
        "fast_forward_ratio": f / u,
        "constraint_ms_per_token": sum(r.constraint_ms_per_token * r.tokens for r in rows) / total,
        "median_compile_ms": statistics.median(r.compile_ms for r in rows),
    }


@dataclass(kw_only=True)
class NativeGrammarRow:
    id: str
    tokens: int
    grammar_ms_per_token: float
    free_ms_per_token: float
    valid: bool


def measure_llamacpp_gbnf(model: LocalModel, cases: Iterable[BfclCase]) -> tuple[list[NativeGrammarRow], list[str]]:
    """llama.cpp's own GBNF grammar (llama-cpp-python ``LlamaGrammar.from_json_schema``) in its native sampler.

    Per case: decode the call with the grammar, then decode the same number of tokens without it
    (end-of-text banned so the length matches); both runs start from a cached prompt. Returns the
    rows and the ids whose schema the GBNF converter rejected.
    """
    import json
    import warnings

    import jsonschema
    from llama_cpp import LlamaGrammar

    llm = model.llama  # type: ignore[attr-defined]
    caller = Caller(model)
    rows: list[NativeGrammarRow] = []
    failed: list[str] = []
    ban_eos = {t: -1e9 for t in model.eos_token_ids}
    for case in cases:
        tools = list(ToolRegistry.from_bfcl(case.functions))
        schema = call_schema(tools, caller.limits)
        prompt = model.chat_tokens(caller.messages(case.messages[-1]["content"], tools, case.messages[:-1]))
        prompt += model.text_tokens(RESPONSE_PREFIX)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                grammar = LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        except Exception:  # the converter rejects some schemas
            failed.append(case.id)
            continue
        opts = {"temperature": 0.0, "top_k": 1, "max_tokens": caller.max_tokens}
        llm.create_completion(prompt, grammar=grammar, **opts)  # warm: caches the prompt
        t0 = time.perf_counter()
        out = llm.create_completion(prompt, grammar=grammar, **opts)
        t_grammar = time.perf_counter() - t0
        n = int(out["usage"]["completion_tokens"])
        if n < 2:
            continue
        t0 = time.perf_counter()
        llm.create_completion(prompt, **{**opts, "max_tokens": n}, logit_bias=ban_eos)
        t_free = time.perf_counter() - t0
        try:
            jsonschema.validate(json.loads(out["choices"][0]["text"]), schema)
            valid = True
        except (ValueError, jsonschema.ValidationError):
            valid = False
        rows.append(
            NativeGrammarRow(
                id=case.id, tokens=n, grammar_ms_per_token=1000 * t_grammar / n, free_ms_per_token=1000 * t_free / n, valid=valid
            )
        )
    return rows, failed
