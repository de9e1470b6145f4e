"""``agentslm bench latency``: an agent's wall time per request and per model step, next to raw llama.cpp.

Scenarios on the demo's four tools (weather, temperature conversion, notes):

* ``single-cold``: a one-call request right after the model's context and prefix cache were emptied;
* ``single-warm``: a one-call request after earlier requests (a different city each time);
* ``two-step``: a dependent request (the weather, then a note holding it: a round after results);
* ``no-tool``: a request no tool fits;
* ``ask``: a request missing a required value (the agent asks for the city).

Every model step is recorded with its prompt tokens (:func:`agentslm.usage.recording_steps`). After the agent's runs,
each step is replayed on a raw ``llama_cpp.Llama`` of the same file (and adapter, switched on or off as the step
had it): the prompt tokens the agent evaluated (those not reused from a cache) are evaluated in one batch
(*raw prefill*), then the step's completion tokens are fed one at a time with an argmax over the logits (*raw decode*,
a plain greedy loop without a grammar). The ratio agent / raw is what the framework adds around llama.cpp for the
same tokens: grammar masks, Python, tool execution, answer checks, state restores.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

__all__ = ["SCENARIOS", "Scenario", "measure_latency", "percentile"]


@dataclass(frozen=True)
class Scenario:
    name: str
    requests: tuple[str, ...]
    """One request per repeat, cycled."""
    cold: bool = False
    """Empty the model's context and prefix cache before each request."""


_CITIES = ("Paris", "London", "Tokyo", "Madrid", "Berlin", "Rome", "Lisbon", "Oslo")

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("single-cold", tuple(f"What's the weather in {c}?" for c in _CITIES), cold=True),
    Scenario("single-warm", tuple(f"What's the weather in {c}?" for c in _CITIES)),
    Scenario("two-step", tuple(f"Get the weather in {c} and save it as a note." for c in _CITIES)),
    Scenario("no-tool", ("Tell me a joke about cats.", "Who wrote Hamlet?", "What is the capital of Peru?")),
    Scenario("ask", ("What's the weather?", "Convert the temperature to fahrenheit.")),
)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, linear between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _rss_mb() -> float:
    return float(psutil.Process().memory_info().rss) / 2**20


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset(model: Any) -> None:
    """Empty the context and the saved prefixes (a cold start without reloading the weights)."""
    model.prefix_cache.clear()
    with model.lock:
        model.llama.n_tokens = 0


def _run_agent(
    model: Any, scenarios: Sequence[Scenario], repeats: int, progress: Callable[[str], None], stop_when_covered: bool
) -> list[dict[str, Any]]:
    from agentslm.agent import Agent
    from agentslm.demo import NOTES, demo_registry
    from agentslm.roles.planner import PlannerPolicy
    from agentslm.usage import recording_steps

    policy = PlannerPolicy(min_no_tool=model.no_tool_threshold, stop_when_covered=stop_when_covered)
    agent = Agent(model, demo_registry(), approve=lambda call, tool: True, policy=policy)
    agent.run("What's the weather in Paris?")  # grammars compiled, first prefixes cached: not measured
    runs = []
    for scenario in scenarios:
        for i in range(repeats):
            request = scenario.requests[i % len(scenario.requests)]
            if scenario.cold:
                _reset(model)
            NOTES.clear()
            with recording_steps() as steps:
                t0 = time.perf_counter()
                run = agent.run(request)
                seconds = time.perf_counter() - t0
            progress(f"{scenario.name} {i + 1}/{repeats}: {seconds:.2f} s")
            runs.append(
                {
                    "scenario": scenario.name,
                    "request": request,
                    "status": run.status,
                    "calls": [f"{c.name}({c.arguments})" for c in run.calls],
                    "answer": run.answer or run.question,
                    "seconds": seconds,
                    "steps": [
                        {
                            "model": s.model,
                            "adapter": "+lora:" in s.model,
                            "prompt_tokens": len(s.prompt),
                            "cached_tokens": s.generation.cached_tokens,
                            "completion_tokens": len(s.generation.tokens),
                            "seconds": s.generation.seconds,
                            "prefill_seconds": s.generation.prefill_seconds,
                            "decode_seconds": s.generation.decode_seconds,
                            "_prompt": s.prompt,
                            "_completion": [t.token for t in s.generation.tokens],
                        }
                        for s in steps
                    ],
                }
            )
    return runs


class _RawLlama:
    """A plain ``llama_cpp.Llama`` replaying steps: the baseline of the same tokens without the framework."""

    def __init__(self, path: Path, adapter: Path | None, threads: int) -> None:
        import llama_cpp

        from agentslm.models.cpu_buffers import decide_extra_buffers, llama_extra_buffers

        with llama_extra_buffers(decide_extra_buffers().enabled):
            self.llm = llama_cpp.Llama(
                model_path=str(path),
                lora_path=str(adapter) if adapter else None,
                n_ctx=4096,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        self.adapter_on = adapter is not None

    def _adapter(self, on: bool) -> None:
        from agentslm.models.llamacpp import set_lora_adapter

        if on == self.adapter_on:
            return
        if set_lora_adapter(self.llm, on):
            raise RuntimeError(f"llama.cpp could not switch the raw model's adapter {'on' if on else 'off'}")
        self.adapter_on = on
        self.llm.n_tokens = 0

    def replay(self, step: dict[str, Any]) -> tuple[float, float]:
        """(prefill seconds, decode seconds) of the step's evaluated prompt tokens and completion tokens."""
        import llama_cpp
        import numpy as np

        from agentslm.models.prefix_cache import common_prefix

        llm = self.llm
        self._adapter(step["adapter"])
        prompt: list[int] = list(step["_prompt"])
        cached = step["cached_tokens"]
        common = common_prefix(llm.input_ids[: llm.n_tokens].tolist(), prompt[:cached])
        llm.n_tokens = common
        if common < cached:
            llm.eval(prompt[common:cached])  # the part the agent took from its cache: set up, not timed
        t0 = time.perf_counter()
        llm.eval(prompt[cached:])
        prefill = time.perf_counter() - t0
        n_vocab = llm.n_vocab()
        t0 = time.perf_counter()
        for token in step["_completion"][:-1]:
            int(np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(n_vocab,)).argmax())
            llm.eval([token])
        decode = time.perf_counter() - t0
        return prefill, decode


def _summarise(runs: list[dict[str, Any]], scenarios: Sequence[Scenario]) -> list[dict[str, Any]]:
    rows = []
    for scenario in scenarios:
        mine = [r for r in runs if r["scenario"] == scenario.name]
        if not mine:
            continue
        totals = [r["seconds"] for r in mine]
        raw = [r["raw_seconds"] for r in mine]
        ratios = [r["seconds"] / r["raw_seconds"] for r in mine if r["raw_seconds"] > 0]
        rows.append(
            {
                "scenario": scenario.name,
                "repeats": len(mine),
                "p50_s": round(statistics.median(totals), 3),
                "p95_s": round(percentile(totals, 95), 3),
                "raw_p50_s": round(statistics.median(raw), 3),
                "ratio_p50": round(statistics.median(ratios), 3) if ratios else None,
                "steps_p50": statistics.median(len(r["steps"]) for r in mine),
                "prompt_tokens_p50": statistics.median(sum(s["prompt_tokens"] for s in r["steps"]) for r in mine),
                "evaluated_tokens_p50": statistics.median(
                    sum(s["prompt_tokens"] - s["cached_tokens"] for s in r["steps"]) for r in mine
                ),
                "statuses": sorted({r["status"] for r in mine}),
            }
        )
    return rows


def measure_latency(
    model: Any,
    *,
    scenarios: Sequence[Scenario] = SCENARIOS,
    repeats: int = 5,
    stop_when_covered: bool = True,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the scenarios on ``model`` (a :class:`~agentslm.models.llamacpp.LlamaCppModel`), replay every step on raw
    llama.cpp, and return the runs, per-scenario rows (p50/p95, raw p50, ratio) and memory figures.
    ``stop_when_covered``: the planner policy of that name (off: a round after results on every request)."""
    from agentslm.models.llamacpp import LlamaCppModel

    if not isinstance(model, LlamaCppModel):
        raise TypeError("bench latency compares with raw llama.cpp: pass a llama.cpp (GGUF) model.")
    if repeats < 1:
        raise ValueError(f"repeats={repeats} must be at least 1")
    rss_loaded = _rss_mb()
    runs = _run_agent(model, scenarios, repeats, progress, stop_when_covered)
    memory = {
        "rss_after_load_mb": round(rss_loaded, 1),
        "rss_after_runs_mb": round(_rss_mb(), 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "prefix_cache_mb": round(model.prefix_cache.nbytes / 2**20, 1),
        "prefix_cache_entries": len(model.prefix_cache),
        "prefix_cache_bound_mb": round(model.prefix_cache.max_bytes / 2**20, 1),
    }
    raw = _RawLlama(model.path, model.lora_path, model.n_threads)
    try:
        for run in runs:
            for step in run["steps"]:
                step["raw_prefill_seconds"], step["raw_decode_seconds"] = raw.replay(step)
            run["raw_seconds"] = sum(s["raw_prefill_seconds"] + s["raw_decode_seconds"] for s in run["steps"])
    finally:
        raw.llm.close()
    for run in runs:
        for step in run["steps"]:
            del step["_prompt"], step["_completion"]
    settings = {"prefix_cache_mb": round(model.prefix_cache.max_bytes / 2**20, 1), "stop_when_covered": stop_when_covered}
    return {
        "model": model.name,
        "repeats": repeats,
        "settings": settings,
        "rows": _summarise(runs, scenarios),
        "memory": memory,
        "runs": runs,
    }
