"""OpenTelemetry spans (GenAI semantic conventions): a run is ``invoke_agent agentslm``, nested under the application's
current span; its model steps (``chat <model>``) and tool calls (``execute_tool <tool>``) are its children."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentslm import Agent, ToolRegistry
from agentslm.testing import ScriptedModel

_EXPORTER = InMemorySpanExporter()


@pytest.fixture()
def spans() -> Iterator[InMemorySpanExporter]:
    if not isinstance(trace.get_tracer_provider(), TracerProvider):  # the global provider can be set once per process
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def _registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"18 C, cloudy in {city}"

    @registry.tool(effects=["write"])
    def save_note(text: str) -> str:
        """Save a note."""
        raise OSError("disk full")

    return registry


def _by_name(spans: tuple[ReadableSpan, ...], prefix: str) -> list[ReadableSpan]:
    return [s for s in spans if s.name.startswith(prefix)]


def test_a_run_is_a_span_tree_under_the_applications_span(spans: InMemorySpanExporter) -> None:
    model = ScriptedModel(
        plans=[
            [
                {"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "save_note", "arguments": {"text": "Paris"}},
            ]
        ],
        answers=["18 C, cloudy in Paris; the note was not saved."],
        name="scripted-model",
    )
    agent = Agent(model, _registry())
    with trace.get_tracer("app").start_as_current_span("handle request") as app:
        run = agent.run("Weather in Paris, and save a note saying Paris.")
    assert run.status == "answered"

    finished = spans.get_finished_spans()
    (root,) = _by_name(finished, "invoke_agent")
    assert root.name == "invoke_agent agentslm"
    assert root.parent is not None and root.parent.span_id == app.get_span_context().span_id
    attributes = dict(root.attributes or {})
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.agent.name"] == "agentslm"
    assert attributes["gen_ai.request.model"] == "scripted-model"
    assert attributes["agentslm.run.status"] == "answered"
    assert attributes["agentslm.run.id"] == run.run_id
    assert attributes["agentslm.run.calls"] == 2
    # the failed tool call shows on the run's span as an event
    assert [e.name for e in root.events] == ["agentslm.error"]
    assert dict(root.events[0].attributes or {})["kind"] == "tool_failed"

    chats = _by_name(finished, "chat ")
    roles = [dict(s.attributes or {})["agentslm.role"] for s in chats]
    planning_steps = sum(1 for schema in model.schemas if schema is not None)
    assert roles == ["planner"] * planning_steps + ["summarizer"], roles  # each planning step, then the answer
    for chat in chats:
        a = dict(chat.attributes or {})
        assert chat.name == "chat scripted-model"
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "scripted-model"
        assert a["gen_ai.response.finish_reasons"] == ("stop",)
        assert chat.parent is not None and chat.parent.span_id == root.context.span_id
        assert chat.start_time is not None and chat.end_time is not None and chat.start_time <= chat.end_time

    tools = {dict(s.attributes or {})["gen_ai.tool.name"]: s for s in _by_name(finished, "execute_tool ")}
    assert set(tools) == {"get_weather", "save_note"}
    for name, span in tools.items():
        a = dict(span.attributes or {})
        assert span.name == f"execute_tool {name}"
        assert a["gen_ai.operation.name"] == "execute_tool" and a["gen_ai.tool.type"] == "function"
        assert str(a["gen_ai.tool.call.id"]).startswith(run.run_id + "-")
        assert span.parent is not None and span.parent.span_id == root.context.span_id
    assert tools["get_weather"].status.status_code is StatusCode.UNSET
    assert tools["save_note"].status.status_code is StatusCode.ERROR
    assert dict(tools["save_note"].attributes or {})["agentslm.tool.effects"] == ("write",)
    assert dict(tools["save_note"].attributes or {})["error.type"] == "tool_error"
    # nothing of the request, arguments or results is recorded (content is opt-in in the conventions)
    recorded = " ".join(str(v) for s in finished for v in dict(s.attributes or {}).values())
    assert "Paris" not in recorded


def test_a_stream_left_early_still_ends_its_span(spans: InMemorySpanExporter) -> None:
    model = ScriptedModel(plans=[[{"name": "get_weather", "arguments": {"city": "Oslo"}}]], answers=["Cloudy in Oslo."])
    events = Agent(model, _registry()).stream("Weather in Oslo?")
    next(events)
    events.close()  # the application stops reading after the first event
    (root,) = _by_name(spans.get_finished_spans(), "invoke_agent")
    assert dict(root.attributes or {})["agentslm.run.status"] == "abandoned"
    assert root.status.status_code is StatusCode.ERROR


def test_embedded_model_steps_are_traced_with_their_token_counts(spans: InMemorySpanExporter) -> None:
    """The real default model: every llama.cpp step is a ``chat`` span with the tokens it read and wrote."""
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return f"18 C, cloudy in {city}"

    run = Agent(tools=registry).run("What's the weather in Paris?")
    finished = spans.get_finished_spans()
    (root,) = _by_name(finished, "invoke_agent")
    chats = _by_name(finished, "chat ")
    assert chats, "no model step was traced"
    for chat in chats:
        a = dict(chat.attributes or {})
        assert a["gen_ai.provider.name"] == "llama.cpp"
        assert int(str(a["gen_ai.usage.input_tokens"])) > 0 and int(str(a["gen_ai.usage.output_tokens"])) > 0
        assert chat.parent is not None and chat.parent.span_id == root.context.span_id
    root_attributes = dict(root.attributes or {})
    assert root_attributes["gen_ai.usage.output_tokens"] == run.generated_tokens
    assert root_attributes["gen_ai.usage.output_tokens"] == sum(
        int(str(dict(c.attributes or {})["gen_ai.usage.output_tokens"])) for c in chats
    )
    assert root_attributes["agentslm.run.status"] == run.status
    assert len(_by_name(finished, "execute_tool get_weather")) == len(run.results)


def test_astream_nests_its_run_under_the_applications_async_span(spans: InMemorySpanExporter) -> None:
    """In an asyncio application the run's span is a child of the span current in the calling task, although the
    model steps run in a worker thread; async tools are awaited on the application's loop inside their span."""
    import asyncio

    registry = ToolRegistry()

    @registry.tool
    async def get_weather(city: str) -> str:
        """The weather in a city."""
        await asyncio.sleep(0)
        return f"cloudy in {city}"

    model = ScriptedModel(
        plans=[[{"name": "get_weather", "arguments": {"city": "Oslo"}}, {"name": "get_weather", "arguments": {"city": "Rome"}}]],
        answers=["Cloudy in Oslo and Rome."],
    )
    agent = Agent(model, registry)

    async def main() -> int:
        with trace.get_tracer("app").start_as_current_span("async handler") as app:
            async for _ in agent.astream("Weather in Oslo and Rome?"):
                pass
            return app.get_span_context().span_id

    app_span = asyncio.run(main())
    finished = spans.get_finished_spans()
    (root,) = _by_name(finished, "invoke_agent")
    assert root.parent is not None and root.parent.span_id == app_span
    assert dict(root.attributes or {})["agentslm.run.status"] == "answered"
    tools = _by_name(finished, "execute_tool get_weather")
    assert len(tools) == 2 and all(t.parent is not None and t.parent.span_id == root.context.span_id for t in tools)
    assert {dict(t.attributes or {})["gen_ai.tool.call.id"] for t in tools} == {
        f"{dict(root.attributes or {})['agentslm.run.id']}-1",
        f"{dict(root.attributes or {})['agentslm.run.id']}-2",
    }
