"""How the planner asks a model for calls, in the model's own tool format (its :class:`~agentslm.models.profiles.ModelProfile`).

``apigen-list`` (agentslm's prompt, SmolLM2's own format, and the fallback for unknown models): the system prompt lists
the tools; the reply is ``<tool_call>`` + a JSON list of calls decoded under the plan grammar (``[]``: no tool fits).

Native formats (Qwen/Hermes ``<tool_call>``, Llama 3.x JSON, Phi-4-mini ``<|tool_call|>``): the chat template renders
the tools itself; the model's first token decides between a call (the wrapper) and a text answer, which is what these
models were trained to do; each call is decoded inside the wrapper under the grammar of one plan task; after a call,
the model's choice between another wrapper and the end of its turn decides whether more calls follow. The probabilities
of these choices are the list's ``open_probabilities``.

A served model in its own format (``OpenAICompatModel(tool_calls="native")``): the server's chat template renders the
tools and the earlier calls, and the reply is the call list under the plan grammar, sent as ``response_format``
(the server cannot continue a reply, so the first-token choice is not available; the list may be empty instead).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from agentslm.models.base import Generation, Message, Model, ToolCompletionModel
from agentslm.models.profiles import CallFormat
from agentslm.registry import Tool
from agentslm.roles.caller import CALLS_PREFIX, parse_calls, signals_from_generation
from agentslm.roles.prompts import render_prompt, template_tools, tools_json
from agentslm.step_types import CallList, ToolCall

if TYPE_CHECKING:
    from agentslm.models.local import LocalModel  # numpy: not in the core install

__all__ = ["CallWriter", "Prompt", "template_tools", "ungrouped"]

JSON_SEPARATORS = (", ", ": ")


class Prompt(list[Message]):
    """A role's messages, and the tool specs the chat template renders itself (native formats; None otherwise)."""

    tools: list[dict[str, Any]] | None = None


_GROUPED = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d]|,\d)")


def ungrouped(text: str) -> str:
    """``text`` with its numbers' thousands separators removed: "$500,000" -> "$500000" ("1,5 and 10 years", "5, 20"
    stay). A model copies a grouped number up to its first comma (``loan_amount=500``), where the JSON grammar
    ends the number; the request itself, which grounding checks values against, keeps the user's writing."""
    return _GROUPED.sub(lambda m: m.group(0).replace(",", ""), text)


class CallWriter:
    """The call format of ``model`` (its profile's, where the model can continue a reply; else ``apigen-list``)."""

    def __init__(self, model: Model) -> None:
        fmt = model.profile.call_format
        self.format: CallFormat = fmt
        self.native = fmt.native and model.continues_reply and hasattr(model, "token_probability")
        self.served = isinstance(model, ToolCompletionModel) and model.native_tools
        """A served model in its own tool format (``tool_calls="native"``): the server's chat template renders the
        tools, and the reply is the call list under the plan grammar (``response_format``), as for ``apigen-list``."""

    def prompt(self, tools: Sequence[Tool], conversation: Sequence[Message]) -> Prompt:
        """The messages that ask for calls; the user's numbers written without thousands separators
        (:func:`ungrouped`)."""
        conversation = [{**m, "content": ungrouped(m["content"])} if m["role"] == "user" else m for m in conversation]
        if not self.native and not self.served:
            system = render_prompt("calls", tools_json=tools_json(list(tools)))
            return Prompt([{"role": "system", "content": system}, *conversation])
        prompt = Prompt(conversation)
        prompt.tools = template_tools(tools)
        return prompt

    # -- the decoded forms ----------------------------------------------------------------------------------------
    def one_call_prefix(self) -> str:
        """The reply's start before a single call's JSON object."""
        return self.format.call_open if self.native else CALLS_PREFIX + "["

    def continued_prefix(self, calls: Sequence[Mapping[str, Any]]) -> str | None:
        """The reply's start before one more call after ``calls`` (``{"name", "arguments"}``); None where the format
        holds one call per reply."""
        if not self.native:
            return CALLS_PREFIX + json.dumps(list(calls), separators=JSON_SEPARATORS, ensure_ascii=False)[:-1] + ","
        if not self.format.many:
            return None
        return self._written(calls) + self.format.call_open

    def item_schema(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """A plan task's schema with the format's key for the arguments (``parameters`` for Llama 3.x)."""
        key = self.format.arguments_key if self.native else "arguments"
        if key == "arguments":
            return dict(schema)
        branches = schema.get("anyOf", [schema])
        renamed = [_renamed(b, "arguments", key) for b in branches]
        out = {k: v for k, v in schema.items() if k not in ("anyOf", "properties", "required", "type", "additionalProperties")}
        return {**out, "anyOf": renamed} if "anyOf" in schema else {**out, **renamed[0]}

    def parse_item(self, text: str) -> dict[str, Any] | None:
        """One decoded call as ``{"name", "arguments"}``, or None."""
        try:
            item = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(item, dict):
            return None
        key = self.format.arguments_key if self.native else "arguments"
        if key != "arguments" and key in item:
            item = {"name": item.get("name"), "arguments": item[key]}
        if not isinstance(item.get("name"), str) or not isinstance(item.get("arguments"), dict):
            return None
        return item

    # -- a whole round's list ---------------------------------------------------------------------------------------
    def decode_list(
        self,
        model: Model,
        prompt: Prompt,
        *,
        list_schema: Mapping[str, Any],
        item_schema: Any,
        max_tasks: int,
        max_tokens: int,
        engine: str | None,
    ) -> tuple[CallList, Generation | None]:
        """The round's calls. ``item_schema(position)``: the schema of task ``position`` (native formats)."""
        if self.served:
            return self._served_list(model, prompt, list_schema, item_schema, max_tokens)
        if not self.native:
            gen = model.generate(prompt, schema=list_schema, max_tokens=max_tokens, engine=engine, response_prefix=CALLS_PREFIX)
            return parse_calls(gen), gen
        local = cast("LocalModel", model)
        if list_schema.get("maxItems") == 0:
            return CallList(), None
        opens = self._open_tokens(local)
        p_call = local.token_probability(prompt, opens, tools=prompt.tools)
        probabilities = [round(p_call, 5)]
        calls: list[ToolCall] = []
        first: Generation | None = None
        written: list[dict[str, Any]] = []
        while p_call >= 0.5 and len(calls) < max_tasks:
            schema = self.item_schema(item_schema(len(calls) + 1))
            prefix = self._written(written) + self.format.call_open
            gen = model.generate(
                prompt, schema=schema, max_tokens=max_tokens, engine=engine, response_prefix=prefix, tools=prompt.tools
            )
            first = first or gen
            item = self.parse_item(gen.text)
            if gen.finish_reason == "length" or item is None:
                error = "the token budget ran out inside a call" if gen.finish_reason == "length" else "invalid call JSON"
                return CallList(raw=gen.text, signals=signals_from_generation(gen), parse_error=error), gen
            written.append(item)
            calls.append(
                ToolCall(name=item["name"], arguments=item["arguments"], raw=gen.text, signals=signals_from_generation(gen))
            )
            if not self.format.many or len(calls) >= max_tasks:
                break
            # after a call the model goes on (another wrapper, a JSON object after a blank line) or ends its turn
            ends = local.token_probability(
                prompt, sorted(local.eos_token_ids), response_prefix=self._written(written), tools=prompt.tools
            )
            p_call = 1.0 - ends
            probabilities.append(round(p_call, 5))
        raw = self._written(written)
        signals = signals_from_generation(first) if first is not None else CallList().signals
        return CallList(calls=calls, raw=raw, signals=signals, open_probabilities=probabilities), first

    def _served_list(
        self, model: Model, prompt: Prompt, list_schema: Mapping[str, Any], item_schema: Any, max_tokens: int
    ) -> tuple[CallList, Generation | None]:
        """A served model's calls in its own format: the server renders the tools, and the reply is one call object
        (what these models write inside their wrapper) or a list of calls, under the plan grammar either way."""
        if list_schema.get("maxItems") == 0:
            return CallList(), None
        one_or_list = {"anyOf": [dict(item_schema(1)), dict(list_schema)]}
        gen = model.generate(prompt, schema=one_or_list, max_tokens=max_tokens, tools=prompt.tools)
        if gen.text.lstrip().startswith("{"):
            gen = replace(gen, text=f"[{gen.text.strip()}]")
        return parse_calls(gen), gen

    def _written(self, calls: Sequence[Mapping[str, Any]]) -> str:
        """The reply text of ``calls`` in the native format, each followed by the separator before another call."""
        key = self.format.arguments_key
        out = ""
        for c in calls:
            body = json.dumps({"name": c["name"], key: c["arguments"]}, separators=JSON_SEPARATORS, ensure_ascii=False)
            out += self.format.call_open + body + self.format.call_close + "\n"
        return out

    def _open_tokens(self, model: LocalModel) -> list[int]:
        """The tokens with which a reply starts a call: the wrapper's first token, and the starts of a JSON code block
        or a bare JSON object (models whose template shows a wrapper they never learned write those: Qwen2.5-Coder
        answers ```json for every request under Qwen's tool prompt; the grammar then writes the wrapper)."""
        starts = {model.text_tokens(text)[0] for text in ("```", '{"', "{")}
        if self.format.call_open:
            starts.add(model.prefix_tokens(self.format.call_open)[0])
        return sorted(starts)


def _renamed(branch: Mapping[str, Any], old: str, new: str) -> dict[str, Any]:
    props = {(new if k == old else k): v for k, v in branch.get("properties", {}).items()}
    required = [new if k == old else k for k in branch.get("required", [])]
    return {**branch, "properties": props, "required": required}
