from __future__ import annotations

import asyncio
import threading
import time

from agentslm import Executor, ToolRegistry


def test_result_error_timeout_and_truncation() -> None:
    registry = ToolRegistry()
    release = threading.Event()

    @registry.tool
    def ok(x: int) -> dict[str, int]:
        return {"x": x}

    @registry.tool
    def boom() -> None:
        raise ValueError("disk on fire")

    @registry.tool(timeout=0.3)
    def hang() -> None:
        release.wait(30)

    @registry.tool
    def big() -> str:
        return "x" * 100_000

    ex = Executor(max_output_chars=1000)
    obs = ex.execute(registry["ok"], {"x": 3})
    assert obs.ok and obs.text == '{"x": 3}' and obs.value == {"x": 3}

    obs = ex.execute(registry["boom"], {})
    assert not obs.ok and obs.error == "ValueError: disk on fire" and "disk on fire" in obs.text

    start = time.perf_counter()
    obs = ex.execute(registry["hang"], {})
    assert not obs.ok and "timed out after 0.3s" in obs.text
    assert time.perf_counter() - start < 5
    release.set()

    obs = ex.execute(registry["big"], {})
    assert obs.ok and obs.truncated and len(obs.text) == 1000 and "truncated 99" in obs.text


def test_async_tools_and_async_timeout() -> None:
    registry = ToolRegistry()

    @registry.tool
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    @registry.tool(timeout=0.2)
    async def stuck() -> None:
        await asyncio.sleep(30)

    ex = Executor()
    assert ex.execute(registry["fetch"], {"n": 4}).value == 8
    obs = ex.execute(registry["stuck"], {})
    assert not obs.ok and "timed out" in obs.text


def test_spec_only_tool_cannot_run() -> None:
    registry = ToolRegistry.from_openai([{"name": "remote"}])
    obs = Executor().execute(registry["remote"], {})
    assert not obs.ok and "no handler" in obs.text
