"""The caller: one tool call decoded under the grammar of the candidate tools."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from agentslm.constraints.call_schema import DecodeLimits, call_schema, calls_schema
from agentslm.errors import UserError
from agentslm.models.base import Generation, Message, Model, ToolCompletionModel
from agentslm.registry import Tool
from agentslm.roles.prompts import render_prompt, template_tools, tools_json
from agentslm.step_types import CallList, CallSignals, ToolCall

__all__ = ["CALLS_PREFIX", "RESPONSE_PREFIX", "Caller", "parse_call", "parse_calls", "signals_from_generation"]

RESPONSE_PREFIX = "<tool_call>["
"""Text placed at the start of the reply before constrained decoding (the format the model was tuned on)."""

CALLS_PREFIX = "<tool_call>"
"""Response prefix of :meth:`Caller.calls`: the model then writes a JSON list of calls (``[]`` for none)."""


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
        gen = self.model.generate(
            messages, schema=schema, max_tokens=self.max_tokens, engine=self.engine, response_prefix=RESPONSE_PREFIX
        )
        return parse_call(gen)

    def calls_messages(self, request: str, tools: Sequence[Tool], context: Sequence[Message] = ()) -> list[Message]:
        """The chat messages of :meth:`calls` (SmolLM2's own prompt: zero or more calls, ``[]`` if none fits)."""
        system = render_prompt("calls", tools_json=tools_json(list(tools)))
        return [{"role": "system", "content": system}, *context, {"role": "user", "content": request}]

    def calls(self, request: str, tools: Sequence[Tool], context: Sequence[Message] = (), *, max_calls: int = 8) -> CallList:
        """Decode a list of 0..``max_calls`` calls to ``tools``; an empty list means that no tool fits.

        A served model set to its own tool format (``OpenAICompatModel(tool_calls="native")``) gets the tools
        natively instead (see :meth:`native_calls`)."""
        if isinstance(self.model, ToolCompletionModel) and self.model.native_tools:
            return self.native_calls(request, tools, context, max_calls=max_calls)
        schema = calls_schema(tools, self.limits, max_calls=max_calls)
        messages = self.calls_messages(request, tools, context)
        gen = self.model.generate(
            messages, schema=schema, max_tokens=self.max_tokens, engine=self.engine, response_prefix=CALLS_PREFIX
        )
        return parse_calls(gen)

    def native_calls(
        self, request: str, tools: Sequence[Tool], context: Sequence[Message] = (), *, max_calls: int = 8
    ) -> CallList:
        """Calls in the served model's own tool format: the tools go to the server as ``tools`` (its chat template
        renders them; the prompt is the conversation alone), and every call that comes back (parsed by the server, or
        written in the reply's text where the server does not parse calls) must match its tool's grammar (the same
        schema, limits included, that constrains a local decode). A call whose arguments break it is decoded again
        with ``tool_choice`` naming its tool, which the server constrains to the tool's parameters; a call to an
        unknown tool, or one that still breaks its schema, makes the reply unusable (``parse_error``). A reply in
        plain text is the model's answer that no tool fits (an empty list)."""
        from agentslm.roles.served_calls import served_calls  # it reads the caller's signals

        model = self.model
        if not isinstance(model, ToolCompletionModel):
            raise UserError(
                f"{model.name} cannot take tools in its own format.",
                hint="use a served model with tool_calls='native' (OpenAICompatModel), or Caller.calls.",
            )
        by_name = {t.name: t for t in tools}
        return served_calls(
            model,
            [*context, {"role": "user", "content": request}],
            template_tools(tools),
            lambda name, _position: call_schema([by_name[name]], self.limits),
            max_calls=max_calls,
            max_tokens=self.max_tokens,
        )


def parse_calls(gen: Generation) -> CallList:
    """Turn a constrained generation of a call list into a :class:`CallList`."""
    signals = signals_from_generation(gen)
    if gen.finish_reason == "length":
        error = f"the token budget ran out after {gen.completion_tokens} tokens before the list was complete"
        return CallList(raw=gen.text, signals=signals, parse_error=error)
    try:
        data: Any = json.loads(gen.text)
    except json.JSONDecodeError as exc:
        return CallList(raw=gen.text, signals=signals, parse_error=f"invalid JSON: {exc}")
    if not isinstance(data, list):
        return CallList(raw=gen.text, signals=signals, parse_error="expected a JSON list of calls")
    calls: list[ToolCall] = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("arguments"), dict):
            return CallList(raw=gen.text, signals=signals, parse_error='expected items {"name": str, "arguments": object}')
        calls.append(ToolCall(name=item["name"], arguments=item["arguments"], raw=json.dumps(item), signals=signals))
    return CallList(calls=calls, raw=gen.text, signals=signals, open_probabilities=_open_probabilities(gen))


def _open_probabilities(gen: Generation) -> list[float]:
    """Probability of each decision to start another call: at the first character after ``[`` and after
    each ``,`` between calls (the token covering that character, renormalised over the grammar's choices)."""
    text = gen.text
    starts: list[int] = []
    depth = 0
    in_string = escaped = False
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            continue
        if ch == '"':
            in_string = True
        elif ch == "," and depth == 1:
            starts.append(i)  # the decision to write another call is taken at the comma
        elif ch in "[{":
            if ch == "{" and depth == 1 and not starts:
                starts.append(i)
            depth += 1
        elif ch in "]}":
            depth -= 1
    probabilities: list[float] = []
    pos = 0
    spans = []
    for tok in gen.tokens:
        spans.append((pos, pos + len(tok.text), tok))
        pos += len(tok.text)
    for start in starts:
        chosen = next((t for a, b, t in spans if a <= start < b), None)
        if chosen is None or chosen.forced or chosen.constrained_logprob is None:
            probabilities.append(1.0)
        else:
            probabilities.append(math.exp(chosen.constrained_logprob))
    return probabilities


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


_NAME_VALUE = re.compile(r'"name"\s*:\s*"([^"]*)')


def signals_from_generation(gen: Generation) -> CallSignals:
    """Confidence signals: tool-name margin and log-probability, weakest argument token."""
    text = gen.text
    name_spans: list[tuple[int, int]] = []
    for match in _NAME_VALUE.finditer(text):  # the tool name's characters (any JSON spacing)
        name_spans.append((match.start(1), match.end(1)))
    args_start = text.find('"arguments"')
    pos = 0
    name_margins: list[float] = []
    name_lp = 0.0
    arg_lps: list[float] = []
    chosen: list[float] = []
    first = next((t for t in gen.tokens if not t.forced and t.constrained_logprob is not None), None)
    for tok in gen.tokens:
        start, pos = pos, pos + len(tok.text)
        if tok.logprob is not None and not tok.forced:
            chosen.append(tok.logprob)
        if any(start < end and pos > begin for begin, end in name_spans):
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
        first_choice_probability=math.exp(first.constrained_logprob) if first and first.constrained_logprob is not None else None,
        completion_tokens=gen.completion_tokens,
        model_steps=gen.model_steps,
        seconds=gen.seconds,
    )
