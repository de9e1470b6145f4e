"""The OpenTelemetry spans of one agent run on the embedded model, printed as a tree (docs/TRACING.md shows the output).

Run: .venv/bin/python examples/tracing.py ["your request"]

Needs ``pip install 'agentslm[otel,llamacpp]'``. An application sends the same spans to its collector by adding an
OTLP exporter (``opentelemetry-exporter-otlp``) to its tracer provider instead of the in-memory one used here.
"""

from __future__ import annotations

import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentslm import Agent, ToolRegistry

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)

tools = ToolRegistry()


@tools.tool
def get_weather(city: str) -> str:
    """Get the current weather for a city."""
    return f"18 C, cloudy in {city}"


@tools.tool(effects=["write"])
def save_note(text: str) -> str:
    """Save a note."""
    return "saved"


request = sys.argv[1] if len(sys.argv) > 1 else "What's the weather in Paris?"
with trace.get_tracer("my-app").start_as_current_span("handle request"):
    run = Agent(tools=tools).run(request)
print(f"run: {run.status}, calls: {[c.name for c in run.calls]}\n")

spans = sorted(exporter.get_finished_spans(), key=lambda s: s.start_time or 0)
children: dict[int | None, list[ReadableSpan]] = {}
for span in spans:
    children.setdefault(span.parent.span_id if span.parent else None, []).append(span)


def show(span: ReadableSpan, depth: int) -> None:
    ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    status = "" if span.status.is_unset else f" [{span.status.status_code.name}]"
    print(f"{'  ' * depth}{span.name}  ({ms:.0f} ms){status}")
    for key, value in (span.attributes or {}).items():
        print(f"{'  ' * depth}    {key} = {list(value) if isinstance(value, tuple) else value}")
    for event in span.events:
        print(f"{'  ' * depth}    event {event.name}: {dict(event.attributes or {})}")
    for child in children.get(span.context.span_id, []):
        show(child, depth + 1)


for root in children[None]:
    show(root, 0)
