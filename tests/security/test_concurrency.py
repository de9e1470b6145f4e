"""Load and concurrency: N agent runs at once (threads and asyncio) sharing one Agent and one local model.

No crashes, no cross-talk between runs (each run's calls, results and answer are about its own city; its audit
records carry its own run id), the model's llama.cpp context used by one decode at a time (the model's lock),
throughput and latency per N reported."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agentslm import Agent, AgentRun
from agentslm.audit import read_audit_log
from agentslm.models.base import Model
from tests.sample_tools import registry as sample_registry

CITIES = ["Paris", "Oslo", "Rome", "Tokyo", "Lima", "Cairo", "Delhi", "Quito"]


def _check(runs: dict[str, AgentRun], audit: Path) -> tuple[int, int]:
    """(runs that called get_weather for their own city, runs that mention another run's city)."""
    ok = cross = 0
    records = read_audit_log(audit)
    for city, run in runs.items():
        others = [c for c in runs if c != city]
        texts = [str(c.arguments) for c in run.calls] + [e.observation.text for e in run.results] + [run.answer or ""]
        if any(o in t for o in others for t in texts):
            cross += 1
        mine = [r for r in records if r.run_id == run.run_id]
        if any(o in str(r.arguments) for o in others for r in mine):
            cross += 1
        ok += any(c.name == "get_weather" and c.arguments.get("city") == city for c in run.calls)
    return ok, cross


def _measure(agent: Agent, mode: str, n: int, cities: list[str]) -> tuple[dict[str, AgentRun], list[float], float]:
    latencies: list[float] = []
    runs: dict[str, AgentRun] = {}
    lock = threading.Lock()

    def one(city: str) -> None:
        start = time.perf_counter()
        run = agent.run(f"What is the weather in {city}?")
        with lock:
            latencies.append(time.perf_counter() - start)
            runs[city] = run

    start = time.perf_counter()
    if mode == "threads":
        with ThreadPoolExecutor(max_workers=n) as pool:
            list(pool.map(one, cities))
    else:

        async def main() -> None:
            gate = asyncio.Semaphore(n)

            async def task(city: str) -> None:
                async with gate:
                    t0 = time.perf_counter()
                    run = await agent.arun(f"What is the weather in {city}?")
                    latencies.append(time.perf_counter() - t0)
                    runs[city] = run

            await asyncio.gather(*(task(c) for c in cities))

        asyncio.run(main())
    return runs, latencies, time.perf_counter() - start


def _row(
    mode: str, n: int, runs: dict[str, AgentRun], latencies: list[float], wall: float, ok: int, cross: int
) -> dict[str, Any]:
    ordered = sorted(latencies)
    return {
        "mode": mode,
        "n": n,
        "runs": len(runs),
        "ok": ok,
        "throughput": len(runs) / wall,
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "cross_talk": cross,
    }


def _load(embedded_model: Model, tmp_path: Path, configs: list[tuple[str, int]], per_config: int) -> list[dict[str, Any]]:
    rows = []
    for mode, n in configs:
        audit = tmp_path / f"audit-{mode}-{n}.jsonl"
        agent = Agent(embedded_model, sample_registry, retrieval=None, audit_log=audit)
        runs, latencies, wall = _measure(agent, mode, n, CITIES[:per_config])
        ok, cross = _check(runs, audit)
        rows.append(_row(mode, n, runs, latencies, wall, ok, cross))
    return rows


def test_concurrent_runs_share_one_model_without_cross_talk(embedded_model: Model, tmp_path: Path, record_property: Any) -> None:
    """4 runs at once in threads and 4 in asyncio tasks on one Agent and the real model: all finish, none crashes,
    none sees another's city; throughput and latency recorded."""
    rows = _load(embedded_model, tmp_path, [("threads", 4), ("asyncio", 4)], per_config=4)
    record_property("load", rows)
    record_property("crashes", 0)
    record_property("cross_talk", sum(r["cross_talk"] for r in rows))
    assert all(r["runs"] == 4 for r in rows)
    assert sum(r["cross_talk"] for r in rows) == 0
    assert sum(r["ok"] for r in rows) >= 6  # the 135M model gets the weather call right for nearly every city


@pytest.mark.slow
def test_load_curve_n_1_2_4_8(embedded_model: Model, tmp_path: Path, record_property: Any) -> None:
    """N = 1, 2, 4, 8 concurrent runs (8 requests each), threads and asyncio, one Agent and the real model:
    throughput (runs/s) and p50/p95 latency per N; no crash, no cross-talk."""
    configs = [(mode, n) for mode in ("threads", "asyncio") for n in (1, 2, 4, 8)]
    rows = _load(embedded_model, tmp_path, configs, per_config=8)
    record_property("load", rows)
    record_property("crashes", 0)
    record_property("cross_talk", sum(r["cross_talk"] for r in rows))
    assert all(r["runs"] == 8 for r in rows) and sum(r["cross_talk"] for r in rows) == 0


def test_the_model_lock_serialises_decodes(embedded_model: Model, monkeypatch: pytest.MonkeyPatch, record_property: Any) -> None:
    """While 6 threads decode on one model, the llama.cpp context is never entered by two decodes at once."""
    inside = {"now": 0, "max": 0}
    guard = threading.Lock()
    original = embedded_model._prefill  # type: ignore[attr-defined]

    def prefill(tokens: list[int]) -> Any:
        with guard:
            inside["now"] += 1
            inside["max"] = max(inside["max"], inside["now"])
        try:
            time.sleep(0.01)
            return original(tokens)
        finally:
            with guard:
                inside["now"] -= 1

    monkeypatch.setattr(embedded_model, "_prefill", prefill)
    with ThreadPoolExecutor(max_workers=6) as pool:
        outs = list(
            pool.map(lambda i: embedded_model.generate([{"role": "user", "content": f"Count to {i}"}], max_tokens=8), range(6))
        )
    record_property("max_concurrent_decodes", inside["max"])
    assert inside["max"] == 1 and all(o.completion_tokens > 0 for o in outs)
