"""asyncio applications: ``Agent.astream`` / ``arun`` hand events over as they happen and await async tools on the
application's event loop, so a tool can share the application's ``httpx.AsyncClient``."""

from __future__ import annotations

import asyncio
import threading

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
