"""``agentslm bench latency`` on the real embedded model: one warm request, replayed on raw llama.cpp."""

from __future__ import annotations

import pytest

from agentslm.bench.latency import SCENARIOS, measure_latency, percentile
from agentslm.models.llamacpp import LlamaCppModel


def test_percentile() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == pytest.approx(1.95)
    with pytest.raises(ValueError):
        percentile([], 50)


def test_a_warm_request_reuses_the_cached_prefix_and_is_compared_with_raw_llama(embedded_model: LlamaCppModel) -> None:
    warm = [s for s in SCENARIOS if s.name == "single-warm"]
    result = measure_latency(embedded_model, scenarios=warm, repeats=1)
    (row,) = result["rows"]
    (run,) = result["runs"]
    assert row["scenario"] == "single-warm" and row["repeats"] == 1
    # what the model decided is not the point here (a near tie may go either way after other tests' steps): the
    # bench records every step, and the planner's first step found its system prompt + tools cached
    assert run["status"] in ("answered", "asked", "no_tool") and run["steps"], run
    first = run["steps"][0]
    assert first["adapter"] and first["cached_tokens"] >= first["prompt_tokens"] - 40, run["steps"]
    assert all(s["raw_prefill_seconds"] > 0 and s["raw_decode_seconds"] >= 0 for s in run["steps"])
    assert run["raw_seconds"] > 0 and row["ratio_p50"] == pytest.approx(
        run["seconds"] / run["raw_seconds"], abs=1e-3
    )  # rounded to 3 places
    assert row["evaluated_tokens_p50"] < row["prompt_tokens_p50"]
    memory = result["memory"]
    assert 0 < memory["prefix_cache_mb"] <= memory["prefix_cache_bound_mb"]


def test_latency_needs_a_llamacpp_model() -> None:
    from tests.roles.test_planner import Fixed

    with pytest.raises(TypeError, match=r"llama\.cpp"):
        measure_latency(Fixed("[]"))
