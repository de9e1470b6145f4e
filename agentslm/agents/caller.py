"""The caller: one tool call decoded under the grammar of the candidate tools."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from agentslm.agents.prompts import render_prompt, tools_json
from agentslm.calls import CallSignals, ToolCall
from agentslm.models.base import Generation, LocalModel, Message, Model
from agentslm.registry import Tool
from agentslm.schema.call import DecodeLimits, call_schema

__all__ = ["RESPONSE_PREFIX", "Caller", "parse_call", "signals_from_generation"]

RESPONSE_PREFIX = "<tool_call>["
"""Text placed at the start of the reply before constrained decoding (the format the model was tuned on)."""


class Caller:
    """Builds the caller prompt, decodes one call under the union grammar and parses it.

    Args:
        model: the model (its own lock serialises calls).
        max_tokens: token budget of one call.
        limits: bounds added to the decoding grammar (string and array lengths).
        engine: constraint engine name (default: the model's preferred one).
    """

    def __init__(
        self, model: Model, *, max_tokens: int = 384, limits: DecodeLimits | None = None, engine: str | None = None
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens
        self.limits = limits or DecodeLimits()
        self.engine = engine

    def messages(self, request: str, tools: Sequence[Tool], context: Sequence[Message] = ()) -> list[Message]:
        """The chat messages for ``request`` (system prompt lists ``tools``; stable across requests)."""
        system = render_prompt("caller", tools_json=tools_json(list(tools)))
        return [{"role": "system", "content": system}, *context, {"role": "user", "content": request}]

    def call(self, request: str, tools: Sequence[Tool], context: Sequence[Message] = ()) -> ToolCall:
        """Decode one call to one of ``tools``."""
        schema = call_schema(tools, self.limits)
        messages = self.messages(request, tools, context)
        if isinstance(self.model, LocalModel):
            gen = self.model.generate(
                messages, schema=schema, max_tokens=self.max_tokens, engine=self.engine, response_prefix=RESPONSE_PREFIX
            )
        else:
            gen = self.model.generate(messages, schema=schema, max_tokens=self.max_tokens)
        return parse_call(gen)


def parse_call(gen: Generation) -> ToolCall:
    """Turn a constrained generation into a :class:`ToolCall` (with ``parse_error`` if it is not one)."""
    signals = signals_from_generation(gen)
    if gen.finish_reason == "length":
        return ToolCall(
            name="",
            raw=gen.text,
            signals=signals,
            parse_error=f"the token budget ran out after {gen.completion_tokens} tokens before the call was complete",
        )
    try:
        data: Any = json.loads(gen.text)
    except json.JSONDecodeError as exc:
        return ToolCall(name="", raw=gen.text, signals=signals, parse_error=f"invalid JSON: {exc}")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str) or not isinstance(data.get("arguments"), dict):
        return ToolCall(name="", raw=gen.text, signals=signals, parse_error='expected {"name": str, "arguments": object}')
    return ToolCall(name=data["name"], arguments=data["arguments"], raw=gen.text, signals=signals)


def signals_from_generation(gen: Generation) -> CallSignals:
    """Confidence signals: tool-name margin and log-probability, weakest argument token."""
    text = gen.text
    name_start = text.find('"name":"') + len('"name":"') if '"name":"' in text else -1
    name_end = text.find('"', name_start) if name_start >= 0 else -1
    args_start = text.find('"arguments":')
    pos = 0
    name_margins: list[float] = []
    name_lp = 0.0
    arg_lps: list[float] = []
    chosen: list[float] = []
    for tok in gen.tokens:
        start, pos = pos, pos + len(tok.text)
        if tok.logprob is not None and not tok.forced:
            chosen.append(tok.logprob)
        if name_start >= 0 and start < name_end and pos > name_start:
            if tok.margin is not None:
                name_margins.append(tok.margin)
            if tok.logprob is not None:
                name_lp += tok.logprob
        elif args_start >= 0 and start >= args_start and tok.logprob is not None and not tok.forced:
            arg_lps.append(tok.logprob)
    return CallSignals(
        name_margin=min(name_margins) if name_margins else None,
        name_logprob=name_lp if name_margins else None,
        min_argument_logprob=min(arg_lps) if arg_lps else None,
        mean_logprob=sum(chosen) / len(chosen) if chosen else None,
        completion_tokens=gen.completion_tokens,
        model_steps=gen.model_steps,
        seconds=gen.seconds,
    )
