"""OpenTelemetry spans for runs, model steps and tool calls, following the GenAI semantic conventions.

With ``opentelemetry-api`` installed (``pip install 'agentslm[otel]'`` brings the SDK too) every run is a span
``invoke_agent agentslm`` whose children are its model steps (``chat <model>``) and its tool calls
(``execute_tool <tool>``); the run's span is a child of whatever span is current where ``Agent.run`` / ``stream`` /
``arun`` / ``astream`` is called, so it nests in the application's own traces. Nothing is exported unless the
application configures a tracer provider (``opentelemetry.trace.set_tracer_provider``); without the package this
module does nothing.

Attributes follow https://opentelemetry.io/docs/specs/semconv/gen-ai/ (``gen_ai.operation.name``,
``gen_ai.provider.name``, ``gen_ai.request.model``, ``gen_ai.usage.input_tokens`` / ``output_tokens``,
``gen_ai.response.finish_reasons``, ``gen_ai.tool.name``, ``gen_ai.tool.call.id``, ``gen_ai.tool.type``,
``gen_ai.agent.name``, ``gen_ai.conversation.id``, ``error.type``) plus a few under ``agentslm.*``. Message text,
tool arguments and results are not recorded (the conventions make content opt-in; the audit log holds it).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from agentslm.models.base import Generation

__all__ = ["RunSpan", "model_step_span", "start_run_span", "tool_failed", "tool_span"]

_AGENT_NAME = "agentslm"


@cache
def _tracer() -> Any:
    """agentslm's tracer, or None where opentelemetry-api is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("agentslm")
    except PackageNotFoundError:  # run from a source tree that is not installed
        release = None
    return trace.get_tracer("agentslm", release)


def _current_context() -> Any:
    from opentelemetry import context

    return context.get_current()


@dataclass
class RunSpan:
    """One run's span and the context its children (model steps, tool calls) are started in."""

    span: Any
    context: Any
    ended: bool = field(default=False)

    def event(self, name: str, attributes: dict[str, Any]) -> None:
        """Add a span event (an error, a refused call) to the run's span."""
        self.span.add_event(name, {k: v for k, v in attributes.items() if v is not None})

    def end(self, status: str, *, input_tokens: int, output_tokens: int, calls: int) -> None:
        """Close the run's span with its outcome (a second call does nothing)."""
        if self.ended:
            return
        self.ended = True
        from opentelemetry.trace import Status, StatusCode

        self.span.set_attribute("agentslm.run.status", status)
        self.span.set_attribute("gen_ai.usage.input_tokens", input_tokens)
        self.span.set_attribute("gen_ai.usage.output_tokens", output_tokens)
        self.span.set_attribute("agentslm.run.calls", calls)
        if status in ("error", "abandoned"):
            self.span.set_attribute("error.type", status)
            self.span.set_status(Status(StatusCode.ERROR, status))
        self.span.end()


def start_run_span(run_id: str, *, model: str, conversation_id: str | None = None) -> RunSpan | None:
    """Start a run's span as a child of the caller's current span (None without opentelemetry)."""
    tracer = _tracer()
    if tracer is None:
        return None
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": _AGENT_NAME,
        "gen_ai.request.model": model,
        "agentslm.run.id": run_id,
    }
    if conversation_id is not None:
        attributes["gen_ai.conversation.id"] = conversation_id
    span = tracer.start_span(
        f"invoke_agent {_AGENT_NAME}", context=_current_context(), kind=SpanKind.INTERNAL, attributes=attributes
    )
    return RunSpan(span=span, context=trace.set_span_in_context(span))


def model_step_span(generation: Generation, *, model: str, provider: str, role: str, parent: RunSpan) -> None:
    """Record one finished generation as a ``chat`` span under its run (started ``generation.seconds`` ago)."""
    tracer = _tracer()
    if tracer is None:
        return
    from opentelemetry.trace import SpanKind

    end = time.time_ns()
    start = end - int(generation.seconds * 1e9)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": generation.prompt_tokens,
        "gen_ai.usage.output_tokens": generation.completion_tokens,
        "gen_ai.response.finish_reasons": [generation.finish_reason],
        "agentslm.role": role,
        "agentslm.cached_input_tokens": generation.cached_tokens,
    }
    kind = SpanKind.CLIENT if provider == "openai" else SpanKind.INTERNAL
    span = tracer.start_span(f"chat {model}", context=parent.context, kind=kind, attributes=attributes, start_time=start)
    span.end(end_time=end)


@contextmanager
def tool_span(name: str, *, call_id: str, effects: Iterable[str], parent: RunSpan | None) -> Iterator[Any]:
    """A span around one tool call; the caller marks a failed call with :func:`tool_failed`. Yields None without
    opentelemetry or outside a traced run."""
    tracer = _tracer()
    if tracer is None or parent is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": name,
        "gen_ai.tool.call.id": call_id,
        "gen_ai.tool.type": "function",
        "agentslm.tool.effects": sorted(str(e) for e in effects),
    }
    span = tracer.start_span(f"execute_tool {name}", context=parent.context, kind=SpanKind.INTERNAL, attributes=attributes)
    try:
        yield span
    finally:
        span.end()


def tool_failed(span: Any, error: str) -> None:
    """Mark a tool call's span as failed (``error`` is the observation's error kind or text, cut short)."""
    if span is None:
        return
    from opentelemetry.trace import Status, StatusCode

    span.set_attribute("error.type", "tool_error")
    span.set_status(Status(StatusCode.ERROR, error[:200]))
