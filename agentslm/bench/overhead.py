"""Per-token cost of constrained decoding against unconstrained decoding of the *same* tokens.

For each case: decode the call under the grammar with fast-forward off (one model step per
token), then replay exactly those tokens without a constraint through the same loop (model
step + token choice + log-probability). The ratio of the per-token times is the constraint's
overhead. A second figure gives the effective per-token time with fast-forward on (forced
tokens fed in one batch), which is what users get by default.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from agentslm.agents.caller import RESPONSE_PREFIX, Caller
from agentslm.bench.bfcl_data import BfclCase
from agentslm.models.base import LocalModel
from agentslm.registry import ToolRegistry
from agentslm.schema.call import call_schema

__all__ = ["OverheadRow", "measure_overhead"]


@dataclass(kw_only=True)
class OverheadRow:
    id: str
    tokens: int
    constrained_ms_per_token: float
    unconstrained_ms_per_token: float
    fast_forward_ms_per_token: float
    constraint_ms_per_token: float

    @property
    def ratio(self) -> float:
        return self.constrained_ms_per_token / self.unconstrained_ms_per_token


def _replay(model: LocalModel, prompt: list[int], tokens: list[int]) -> float:
    """Seconds to decode ``tokens`` one by one without a constraint (same per-step work as the loop)."""
    logits = model._prefill(prompt)
    t0 = time.perf_counter()
    for tok in tokens:
        int(np.argmax(logits))
        m = float(logits.max())
        _ = float(logits[tok]) - (m + math.log(float(np.exp(logits - m).sum())))
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
        compiled = model.engine(engine).compile(call_schema(tools, caller.limits))
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
    }
