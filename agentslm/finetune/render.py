"""Records → the exact prompt the runtime builds, plus the target the model should write after it.

The prompt comes from the runtime's own builders (:class:`~agentslm.roles.planner.Planner`,
:class:`~agentslm.roles.caller.Caller`, :class:`~agentslm.roles.summarizer.Summarizer`) with the
same response prefix the runtime places before decoding, so a fine-tune learns the text it will see.
Targets use the JSON spacing the decoding grammar admits (:data:`~agentslm.constraints.engines.JSON_SEPARATORS`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from agentslm.constraints.engines import JSON_SEPARATORS
from agentslm.models.base import Message
from agentslm.models.local import LocalModel
from agentslm.records import DatasetError, TrainingRecord
from agentslm.registry import Tool, ToolRegistry
from agentslm.roles.caller import CALLS_PREFIX, RESPONSE_PREFIX
from agentslm.roles.prompts import render_prompt, tools_json
from agentslm.roles.summarizer import ResultForAnswer, Summarizer

__all__ = ["CALL_END", "Rendered", "TokenizedExample", "render_record", "tokenize_records"]

CALL_END = "</tool_call>"
"""Written after the call list (the format's closing tag); decoding under the grammar stops at ``]``."""


@dataclass(frozen=True)
class Rendered:
    messages: list[Message]
    """Chat messages as the runtime builds them (system prompt with the tools first)."""
    prefix: str
    """Text the runtime places at the start of the reply before decoding."""
    target: str
    """What the model should write after ``prefix``."""


@dataclass(frozen=True)
class TokenizedExample:
    id: str
    input_ids: list[int]
    n_prompt: int
    """The first ``n_prompt`` tokens are the prompt (no loss); the rest is the target (+ end of turn)."""

    def to_json(self) -> str:
        return json.dumps({"id": self.id, "input_ids": self.input_ids, "n_prompt": self.n_prompt})


def _tools(record: TrainingRecord) -> list[Tool]:
    specs = [{"type": "function", "function": t.model_dump()} for t in record.tools]
    return list(ToolRegistry.from_openai(specs))


def _calls_json(record: TrainingRecord) -> str:
    calls = [{"name": c.name, "arguments": c.arguments} for c in record.target_calls or []]
    return json.dumps(calls, ensure_ascii=False, separators=JSON_SEPARATORS)


def render_record(record: TrainingRecord) -> Rendered:
    """The runtime prompt and the target text of ``record``."""
    conversation: list[Message] = [dict(m) for m in record.messages]
    if record.role == "planner":
        system = render_prompt("calls", tools_json=tools_json(_tools(record)))
        messages: list[Message] = [{"role": "system", "content": system}, *conversation]
        return Rendered(messages, CALLS_PREFIX, _calls_json(record) + CALL_END)
    if record.role == "caller":
        system = render_prompt("caller", tools_json=tools_json(_tools(record)))
        if not record.target_calls:
            raise DatasetError(f"caller record {record.id or '?'} has no target call.")
        first = record.target_calls[0]
        text = json.dumps({"name": first.name, "arguments": first.arguments}, ensure_ascii=False, separators=JSON_SEPARATORS)
        # the runtime's prefix opens the list ("<tool_call>["); the caller's grammar covers one call object
        return Rendered([{"role": "system", "content": system}, *conversation], RESPONSE_PREFIX, text + "]" + CALL_END)
    request = next((m["content"] for m in conversation if m["role"] == "user"), None)
    if request is None:
        raise DatasetError(f"summarizer record {record.id or '?'} has no user message.")
    results: list[ResultForAnswer] = []
    for m in conversation:
        if m["role"] == "tool":
            shown, _, output = m["content"].partition(" -> ")
            results.append(ResultForAnswer(id=len(results) + 1, call=shown, text=output))
    messages = Summarizer.__new__(Summarizer).messages(request, results)
    return Rendered(messages, "", record.target_text or "")


def tokenize_records(model: LocalModel, records: Iterable[TrainingRecord], *, max_length: int = 2048) -> list[TokenizedExample]:
    """Token ids of each record's prompt + target with ``model``'s chat template and tokenizer (the runtime's
    tokenization: chat tokens, then the prefix, then the target, then an end-of-turn token). Records longer
    than ``max_length`` tokens raise :class:`DatasetError` (a silently cut target would teach a broken call)."""
    out: list[TokenizedExample] = []
    end = _end_token(model)
    for record in records:
        r = render_record(record)
        prompt = model.chat_tokens(r.messages) + (model.text_tokens(r.prefix) if r.prefix else [])
        ids = prompt + model.text_tokens(r.target) + [end]
        if len(ids) > max_length:
            raise DatasetError(
                f"record {record.id} is {len(ids)} tokens, over max_length={max_length}.",
                hint="offer fewer tools in it, or raise --max-length.",
            )
        out.append(TokenizedExample(record.id, ids, len(prompt)))
    return out


def _end_token(model: LocalModel) -> int:
    """The end-of-turn token of the chat template (``<|im_end|>`` for ChatML models), else the EOS token."""
    llama = getattr(model, "llama", None)
    if llama is not None:
        ids = llama.tokenize(b"<|im_end|>", add_bos=False, special=True)
        if len(ids) == 1:
            return int(ids[0])
        return int(llama.token_eos())
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        tid = tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(tid, int) and tid != tokenizer.unk_token_id:
            return tid
        return int(tokenizer.eos_token_id)
    return min(model.eos_token_ids)


def example_summary(examples: Sequence[TokenizedExample]) -> dict[str, Any]:
    """Token counts of a tokenized set (for logs and docs)."""
    lengths = sorted(len(e.input_ids) for e in examples)
    targets = [len(e.input_ids) - e.n_prompt for e in examples]
    if not lengths:
        return {"examples": 0}
    return {
        "examples": len(lengths),
        "tokens": sum(lengths),
        "target_tokens": sum(targets),
        "max_length": lengths[-1],
        "median_length": lengths[len(lengths) // 2],
    }
