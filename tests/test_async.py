"""asyncio applications: ``Agent.astream`` / ``arun`` hand events over as they happen and await async tools on the
application's event loop, so a tool can share the application's ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx

from agentslm import Agent, ToolRegistry
from agentslm.events import ResultEvent
from agentslm.testing import ScriptedModel


def _app() -> tuple[ToolRegistry, httpx.AsyncClient, list[int]]:
    """A registry whose async tool calls a web API through the application's client (served in-process)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"city": request.url.params["city"], "sky": "sunny"})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://weather.test")
    loops: list[int] = []
    registry = ToolRegistry()

    @registry.tool
    async def get_weather(city: str) -> str:
        """The weather in a city."""
        loops.append(id(asyncio.get_running_loop()))
        response = await client.get("/now", params={"city": city})  # bound to the application's loop
        return f"{response.json()['sky']} in {response.json()['city']}"

    return registry, client, loops


def test_astream_awaits_async_tools_on_the_applications_loop_with_its_client() -> None:
    registry, client, loops = _app()
    model = ScriptedModel(
        plans=[[{"name": "get_weather", "arguments": {"city": "Paris"}}, {"name": "get_weather", "arguments": {"city": "Oslo"}}]],
        answers=["Sunny in Paris and Oslo."],
    )
    agent = Agent(model, registry)

    async def main() -> tuple[list[str], int, int]:
        ticks = 0

        async def heartbeat() -> None:  # the loop stays free while the run goes on
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0.001)

        beat = asyncio.create_task(heartbeat())
        kinds = []
        async with client:
            async for event in agent.astream("What's the weather in Paris and in Oslo?"):
                kinds.append(event.type)
                if isinstance(event, ResultEvent):
                    assert event.observation.ok, event.observation.text
        beat.cancel()
        return kinds, id(asyncio.get_running_loop()), ticks

    kinds, app_loop, ticks = asyncio.run(main())
    assert kinds.count("result") == 2 and kinds[-1] == "answer"
    assert loops == [app_loop, app_loop]  # both tools ran on the application's loop, sharing its client
    assert ticks > 0


def test_arun_returns_the_run_and_a_slow_async_tool_times_out_on_the_loop() -> None:
    registry = ToolRegistry()
    cancelled = threading.Event()

    @registry.tool(timeout=0.2)
    async def slow(x: int) -> int:
        """Take a long time."""
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return x

    agent = Agent(ScriptedModel(plans=[[{"name": "slow", "arguments": {"x": 1}}]]), registry)

    async def main() -> object:
        return await agent.arun("Run slow with 1")

    run = asyncio.run(main())
    results = run.results  # type: ignore[attr-defined]
    assert len(results) == 1 and not results[0].observation.ok and "timed out" in results[0].observation.text
    assert cancelled.wait(2)  # cancelled on the application's loop, not left running


def test_a_sync_run_still_gives_async_tools_a_loop_of_their_own() -> None:
    registry, _client, loops = _app()
    agent = Agent(ScriptedModel(plans=[[{"name": "get_weather", "arguments": {"city": "Rome"}}]], answers=["ok"]), registry)
    run = agent.run("Weather in Rome?")
    assert run.results[0].observation.text == "sunny in Rome" and len(loops) == 1


def _served_model(delay: float) -> tuple[Any, list[str], list[Any]]:
    """A served model (OpenAICompatModel) whose server (an in-process mock transport) answers after ``delay`` s:
    a plan of one call, then the summary; each request records the thread it was sent from."""
    from agentslm.models.openai_compat import OpenAICompatModel

    threads: list[str] = []
    bodies: list[Any] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        threads.append(threading.current_thread().name)
        body = json.loads(request.content)
        bodies.append(body)
        await asyncio.sleep(delay)  # on the application's loop: other tasks run meanwhile
        content = '[{"name": "get_weather", "arguments": {"city": "Paris"}}]' if "response_format" in body else "Sunny in Paris."
        message = {"role": "assistant", "content": content}
        return httpx.Response(200, json={"choices": [{"message": message, "finish_reason": "stop"}], "usage": {}})

    model = OpenAICompatModel("http://model.test/v1", "m", transport=httpx.MockTransport(handler), logprobs=False)
    return model, threads, bodies


def test_arun_on_a_served_model_needs_no_worker_thread() -> None:
    """Every model step of a run on a served model is awaited on the application's loop (``httpx.AsyncClient``): the
    requests go out from the loop's own thread, and two runs overlap on one thread (two 0.3 s replies each take about
    0.6 s together, not 1.2 s)."""
    registry, client, loops = _app()
    model, threads, _bodies = _served_model(0.3)
    agent = Agent(model, registry)

    async def main() -> tuple[float, list[Any]]:
        start = asyncio.get_running_loop().time()
        async with client:
            runs = await asyncio.gather(agent.arun("Weather in Paris?"), agent.arun("Weather in Paris?"))
        return asyncio.get_running_loop().time() - start, list(runs)

    seconds, runs = asyncio.run(main())
    assert [r.status for r in runs] == ["answered", "answered"]
    assert all(r.answer == "Sunny in Paris." for r in runs)
    assert len(threads) == 4 and set(threads) == {threading.main_thread().name}
    assert seconds < 1.0, seconds
    assert len(loops) == 2


def test_a_local_models_steps_run_in_a_worker_thread_one_step_at_a_time() -> None:
    """A local (CPU-bound) model's decode must not hold the loop: each step runs in a worker thread."""
    registry, client, _loops = _app()
    seen: list[str] = []

    class Recording(ScriptedModel):
        def generate(self, *args: Any, **kwargs: Any) -> Any:
            seen.append(threading.current_thread().name)
            return super().generate(*args, **kwargs)

    model = Recording(plans=[[{"name": "get_weather", "arguments": {"city": "Paris"}}]], answers=["Sunny in Paris."])

    async def main() -> Any:
        async with client:
            return await Agent(model, registry).arun("Weather in Paris?")

    run = asyncio.run(main())
    assert run.status == "answered"
    assert seen and threading.main_thread().name not in seen


def test_leaving_astream_early_stops_the_run() -> None:
    """A consumer that stops listening after the plan: the run ends where it waits (no further model request, no
    error), and the loop is left clean."""
    registry, client, _loops = _app()
    model, threads, _bodies = _served_model(0.0)
    agent = Agent(model, registry)

    async def main() -> list[str]:
        kinds: list[str] = []
        async with client:
            stream = agent.astream("Weather in Paris?")
            async for event in stream:
                kinds.append(event.type)
                if event.type == "plan":
                    break
            await stream.aclose()
        return kinds

    kinds = asyncio.run(main())
    assert kinds[-1] == "plan"
    assert len(threads) == 1  # the summary was never asked for
