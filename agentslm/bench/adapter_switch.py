"""What per-role LoRA adapters cost on one llama.cpp base: memory with the adapters loaded, and time per agent step
when every step switches adapter (planner -> caller -> summarizer) against the same steps on one adapter.

Each setting runs in a child process (a clean peak RSS). The steps are the runtime's own prompts (planner and caller
prompts over the demo tools, the summarizer's over a result) for the demo requests, each decoding a few tokens.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["measure_switching", "run_setting"]

_ROLES = ("planner", "caller", "summarizer")


def _prompts() -> list[tuple[str, list[dict[str, str]]]]:
    """(role, messages) of one agent cycle per demo request."""
    from agentslm.demo import DEMO_REQUESTS, demo_registry
    from agentslm.roles.prompts import render_prompt, tools_json
    from agentslm.roles.summarizer import ResultForAnswer, Summarizer

    tools = list(demo_registry())
    steps: list[tuple[str, list[dict[str, str]]]] = []
    for request in DEMO_REQUESTS:
        user = {"role": "user", "content": request}
        steps.append(("planner", [{"role": "system", "content": render_prompt("calls", tools_json=tools_json(tools))}, user]))
        steps.append(("caller", [{"role": "system", "content": render_prompt("caller", tools_json=tools_json(tools))}, user]))
        result = ResultForAnswer(1, "get_weather(city='Paris')", '{"city": "Paris", "temperature": 18, "sky": "cloudy"}')
        steps.append(("summarizer", [dict(m) for m in Summarizer.__new__(Summarizer).messages(request, [result])]))
    return steps


def run_setting(
    model_path: str, adapters: Mapping[str, str | None], *, rounds: int, max_tokens: int, threads: int
) -> dict[str, Any]:
    """One setting in this process: load, run ``rounds`` passes over the steps, report times and memory."""
    import psutil

    from agentslm.models.llamacpp import LlamaCppModel, set_adapter

    process = psutil.Process()
    t0 = time.perf_counter()
    model = LlamaCppModel(model_path, adapters=dict(adapters), n_ctx=2048, n_threads=threads)
    load_s = time.perf_counter() - t0
    rss_loaded = process.memory_info().rss
    steps = _prompts()
    views = {role: model.for_role(role) for role in _ROLES}
    for role, messages in steps:  # warm-up pass: grammars compiled, system prompts saved in the prefix cache
        views[role].generate(messages, max_tokens=max_tokens)
    switches_before = model.switches
    times: list[float] = []
    for _ in range(rounds):
        for role, messages in steps:
            t = time.perf_counter()
            views[role].generate(messages, max_tokens=max_tokens)
            times.append(time.perf_counter() - t)
    set_us: list[float] = []
    handles = list(model._handles.values())
    with model.lock:
        for i in range(200):  # the llama.cpp call alone
            t = time.perf_counter()
            set_adapter(model.llama, handles[i % len(handles)] if handles else None)
            set_us.append((time.perf_counter() - t) * 1e6)
    peak = _peak_rss_mb()
    model.close()
    return {
        "adapters": {role: Path(p).name if p else None for role, p in adapters.items()},
        "files": len({p for p in adapters.values() if p}),
        "load_s": round(load_s, 3),
        "steps": len(times),
        "switches": model.switches - switches_before,
        "step_ms_mean": round(1000 * sum(times) / len(times), 1),
        "step_ms_median": round(1000 * sorted(times)[len(times) // 2], 1),
        "set_call_us_median": round(sorted(set_us)[len(set_us) // 2], 1),
        "rss_loaded_mb": round(rss_loaded / 2**20, 1),
        "peak_rss_mb": round(peak, 1),
    }


def _peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_switching(
    model_path: str | os.PathLike[str],
    adapters: Mapping[str, str | os.PathLike[str] | None],
    *,
    rounds: int = 3,
    max_tokens: int = 8,
    threads: int = 2,
) -> dict[str, Any]:
    """Three settings, each in a child process: ``adapters`` per role (switching at every step), the planner's
    adapter for every role (no switch), and the base alone (memory without adapters)."""
    per_role = {role: str(p) if p else None for role, p in adapters.items()}
    planner = per_role.get("planner") or next((p for p in per_role.values() if p), None)
    settings = {
        "per-role": per_role,
        "one adapter": {"*": planner},
        "base": {},
    }
    rows = {}
    for name, setting in settings.items():
        rows[name] = _child(str(model_path), setting, rounds=rounds, max_tokens=max_tokens, threads=threads)
    switching, single = rows["per-role"], rows["one adapter"]
    return {
        "rows": rows,
        "switch_cost_ms_per_step": round(switching["step_ms_mean"] - single["step_ms_mean"], 1),
        "adapters_rss_mb": round(switching["rss_loaded_mb"] - rows["base"]["rss_loaded_mb"], 1),
    }


def _child(model_path: str, adapters: Mapping[str, str | None], **options: Any) -> dict[str, Any]:
    code = (
        "import json, sys; from agentslm.bench.adapter_switch import run_setting; "
        "a = json.loads(sys.argv[1]); print(json.dumps(run_setting(a['model'], a['adapters'], **a['options'])))"
    )
    arg = json.dumps({"model": model_path, "adapters": dict(adapters), "options": options})
    done = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the adapter-switching child failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))
