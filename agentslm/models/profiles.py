"""Model profiles: a model family's own tool format, detected from the model's metadata and chat template.

A profile says how tools reach the model (the chat template's own ``tools`` rendering, or agentslm's APIGen-style
prompt), how the model writes a call (``<tool_call>\\n{"name": ..., "arguments": ...}\\n</tool_call>`` for Qwen and
Hermes-style templates, a bare ``{"name": ..., "parameters": ...}`` for Llama 3.x, ``<|tool_call|>...<|/tool_call|>``
for Phi-4-mini), how earlier calls and results are given back (the roles the template expects, converted where it
has none: Gemma has no system or tool role), and which tokens end a turn. The grammar still constrains what is inside
the call wrapper; the roles decode one call at a time in the native formats (the model's own choice of writing the
wrapper or ending its turn is the decision to call another tool).

The tests render each family's published chat template (``tests/data/chat_templates``, sources named there) with
tools, calls and results through :func:`template_messages`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "CALLS_TEXT",
    "listed_calls",
    "CallFormat",
    "ModelProfile",
    "PROFILES",
    "detect_profile",
    "fit_roles",
    "named_profile",
    "native_text",
    "template_messages",
]

CALLS_TEXT = re.compile(r"\A<tool_call>(\[.*\])</tool_call>\Z", re.S)
"""How a run gives back the calls it made, as assistant text (``<tool_call>[...]</tool_call>``, the APIGen list); a
native profile turns it into the template's structured ``tool_calls``."""


@dataclass(frozen=True, kw_only=True)
class CallFormat:
    """How a model family writes tool calls."""

    name: str
    """``apigen-list`` (agentslm's prompt: a JSON list after ``<tool_call>``), ``hermes``, ``llama3-json``, ``phi4``."""
    native: bool
    """Tools go through the chat template's ``tools``; calls are decoded one at a time inside ``call_open`` ...
    ``call_close``. False: agentslm's APIGen prompt and a JSON list of calls (``call_open`` + ``[...]``)."""
    call_open: str = "<tool_call>"
    """Text before a call (before the list in ``apigen-list``); ``""`` where a call starts with ``{``."""
    call_close: str = "</tool_call>"
    """Text after a call (after the list)."""
    arguments_key: str = "arguments"
    """The key of a call's arguments in the family's JSON (``parameters`` for Llama 3.x)."""
    many: bool = True
    """Several calls in one reply (Llama 3.x templates refuse more than one)."""
    special_texts: tuple[str, ...] = ()
    """Wrapper texts that are single control tokens in the family's vocabulary (``<tool_call>``): tokenized as such."""


@dataclass(frozen=True, kw_only=True)
class ModelProfile:
    """A model family's conventions (see the module docstring)."""

    family: str
    call_format: CallFormat
    end_of_turn: tuple[str, ...] = ()
    """Texts of the tokens that end the assistant's turn (added to the model's EOS from its metadata)."""
    system_role: bool = True
    """The template accepts a system message (Gemma's does not: it is folded into the first user message)."""
    tool_role: bool = True
    """The template renders ``tool`` messages (results); without it they become user messages."""
    tools_in_system_message: bool = False
    """The template reads the tools from the system message's ``tools`` field (a JSON string: Phi-4-mini's published
    template) rather than from its ``tools`` variable."""
    policy: Mapping[str, Any] = field(default_factory=dict)
    """Planner policy defaults for this family (:class:`~agentslm.roles.planner.PlannerPolicy` fields)."""


APIGEN = CallFormat(name="apigen-list", native=False)
HERMES = CallFormat(
    name="hermes",
    native=True,
    call_open="<tool_call>\n",
    call_close="\n</tool_call>",
    special_texts=("<tool_call>", "</tool_call>"),
)
LLAMA3 = CallFormat(name="llama3-json", native=True, call_open="", call_close="", arguments_key="parameters", many=False)
PHI4 = CallFormat(
    name="phi4",
    native=True,
    call_open="<|tool_call|>",
    call_close="<|/tool_call|>",
    special_texts=("<|tool_call|>", "<|/tool_call|>"),
)

PROFILES: dict[str, ModelProfile] = {
    "generic": ModelProfile(family="generic", call_format=APIGEN),
    "smollm": ModelProfile(family="smollm", call_format=APIGEN, end_of_turn=("<|im_end|>", "<|endoftext|>")),
    "qwen": ModelProfile(
        family="qwen",
        call_format=HERMES,
        end_of_turn=("<|im_end|>", "<|endoftext|>"),
        # calibrated on Qwen2.5-Coder-1.5B (BFCL, 20 seeded cases x 5 categories, docs/MODELS.md): it normalises values
        # itself (USD for "US dollars"), so one stated value ties a call to the request
        policy={"grounding_scope": "any"},
    ),
    "hermes": ModelProfile(family="hermes", call_format=HERMES, end_of_turn=("<|im_end|>",)),
    "granite": ModelProfile(family="granite", call_format=HERMES, end_of_turn=("<|end_of_text|>",)),
    "llama3": ModelProfile(family="llama3", call_format=LLAMA3, end_of_turn=("<|eot_id|>", "<|eom_id|>")),
    "phi4": ModelProfile(family="phi4", call_format=PHI4, end_of_turn=("<|end|>",), tools_in_system_message=True),
    "gemma": ModelProfile(family="gemma", call_format=APIGEN, end_of_turn=("<end_of_turn>",), system_role=False, tool_role=False),
}
"""The known families. ``generic`` (agentslm's APIGen prompt inside the model's own template) is the fallback."""


def named_profile(name: str) -> ModelProfile:
    """The profile called ``name`` (a :class:`UserError` naming the known ones otherwise)."""
    if name not in PROFILES:
        from agentslm.errors import UserError

        raise UserError(f"Unknown model profile {name!r}.", hint=f"use one of {', '.join(PROFILES)}.")
    return PROFILES[name]


def detect_profile(metadata: Mapping[str, Any], template: str | None) -> ModelProfile:
    """The profile of a model from its GGUF metadata (``general.architecture``, ``general.name``) and chat template.

    The template decides the format where it shows one (it is what the model was trained to read): ``<tool_call>`` with
    a ``tools`` block → Hermes style (Qwen2.5/3, Granite 4, Hermes); Llama 3.x's ``ipython`` role → ``llama3``;
    ``<|tool_call|>`` on a Phi model → ``phi4``; Gemma's turn markers → ``gemma`` (no native tools). Anything else,
    SmolLM2's plain ChatML included, keeps agentslm's APIGen prompt."""
    arch = str(metadata.get("general.architecture", "")).lower()
    name = " ".join(str(metadata.get(k, "")) for k in ("general.name", "general.basename")).lower()
    text = template or ""
    if "<tool_call>" in text and "tools" in text and "<function=" not in text:  # (Qwen3.5's XML calls: not JSON)
        if arch.startswith("qwen") or "qwen" in name:
            return PROFILES["qwen"]
        if "granite" in arch or "granite" in name or "<|start_of_role|>" in text:
            return PROFILES["granite"]
        return PROFILES["hermes"]
    if "<|start_header_id|>" in text and "ipython" in text and "tools" in text:
        return PROFILES["llama3"]
    if ("<|tool_call|>" in text or "<|tool|>" in text) and (arch.startswith("phi") or "phi" in name):
        return PROFILES["phi4"]
    if "<start_of_turn>" in text:
        return PROFILES["gemma"]
    if "smollm" in name and "<|im_start|>" in text:
        return PROFILES["smollm"]
    return PROFILES["generic"]


def fit_roles(profile: ModelProfile, render: Callable[[list[dict[str, Any]]], str]) -> ModelProfile:
    """``profile`` with the roles the chat template really renders: ``render(messages)`` is tried with a system message
    and with a tool result; a role that raises or does not show its text is converted (Phi-3.5, Mistral and Gemma 4
    drop a bare ``tool`` message silently; Gemma 2 refuses a system message)."""
    marker = "agentslm role probe 7f3a"

    def shows(messages: list[dict[str, Any]]) -> bool:
        try:
            return marker in render(messages)
        except Exception:
            return False

    system = profile.system_role and shows([{"role": "system", "content": marker}, {"role": "user", "content": "Hi"}])
    exchange = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]
    tool = profile.tool_role and shows([*exchange, {"role": "tool", "content": marker}])
    if (system, tool) == (profile.system_role, profile.tool_role):
        return profile
    return replace(profile, system_role=system, tool_role=tool)


def template_messages(
    messages: Sequence[Mapping[str, Any]],
    profile: ModelProfile,
    tools: Sequence[Mapping[str, Any]] | None = None,
    *,
    structured_calls: bool = True,
) -> list[dict[str, Any]]:
    """``messages`` in the shape ``profile``'s chat template expects (``tools``: the specs the template renders).

    Native formats: an assistant message that holds the run's calls as ``<tool_call>[...]</tool_call>`` becomes a
    message with structured ``tool_calls`` (arguments as objects: several templates encode a string twice), so the
    template writes them in the family's own format; where the template has no ``tool_calls`` (``structured_calls``
    false: Phi-4-mini's published one), the calls are written as text in that format. Templates without a system role get the system text at the
    start of the first user message; without a tool role, results become user messages; consecutive messages of one
    role are merged so the roles alternate (Gemma raises otherwise). Where the template reads the tools from the system
    message (Phi-4-mini), they are put there as a JSON string."""
    out: list[dict[str, Any]] = []
    system: list[str] = []
    for m in messages:
        msg = dict(m)
        role = msg.get("role", "")
        if role == "system" and not profile.system_role:
            system.append(str(msg.get("content", "")))
            continue
        if role == "assistant" and profile.call_format.native:
            listed = CALLS_TEXT.match(str(msg.get("content", "")))
            calls = _calls(listed.group(1)) if listed else None
            if calls is not None and structured_calls:
                msg = {"role": "assistant", "content": "", "tool_calls": calls}
            elif calls is not None:
                msg = {"role": "assistant", "content": native_text(profile.call_format, [c["function"] for c in calls])}
        if role == "tool" and not profile.tool_role:
            msg = {"role": "user", "content": "Tool results:\n" + str(msg.get("content", ""))}
        if role == "tool" and profile.call_format.name == "llama3-json":
            msg.setdefault("name", "tool")
        out.append(msg)
    if system:
        first_user = next((m for m in out if m["role"] == "user"), None)
        text = "\n\n".join(s for s in system if s)
        if first_user is None:
            out.insert(0, {"role": "user", "content": text})
        elif text:
            first_user["content"] = f"{text}\n\n{first_user['content']}"
    if not profile.system_role or not profile.tool_role:
        out = _alternating(out)
    if tools and profile.tools_in_system_message:
        specs = json.dumps([dict(t.get("function", t)) for t in tools], ensure_ascii=False)
        if out and out[0]["role"] == "system":
            out[0] = {**out[0], "tools": specs}
        else:
            out.insert(0, {"role": "system", "content": "You are a helpful assistant with some tools.", "tools": specs})
    return out


def native_text(fmt: CallFormat, calls: Sequence[Mapping[str, Any]]) -> str:
    """``calls`` (``{"name", "arguments"}``) as a reply in ``fmt``: each call in its wrapper, one per line."""
    return "\n".join(
        fmt.call_open + json.dumps({"name": c["name"], fmt.arguments_key: c["arguments"]}, ensure_ascii=False) + fmt.call_close
        for c in calls
    )


def listed_calls(listed: str) -> list[dict[str, Any]] | None:
    """The calls of a run's ``<tool_call>[...]</tool_call>`` text (:data:`CALLS_TEXT`'s group), ``{"name", "arguments"}``
    each, or None when it is not such a list."""
    try:
        data = json.loads(listed)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, list) or not all(isinstance(c, dict) and isinstance(c.get("name"), str) for c in data):
        return None
    return data


def _calls(listed: str) -> list[dict[str, Any]] | None:
    data = listed_calls(listed)
    if data is None:
        return None
    return [
        {"type": "function", "id": f"call{i}", "function": {"name": c["name"], "arguments": c.get("arguments") or {}}}
        for i, c in enumerate(data, 1)
    ]


def _alternating(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Consecutive messages of one role merged into one (their texts joined), structured calls kept as text."""
    merged: list[dict[str, Any]] = []
    for m in messages:
        if "tool_calls" in m:
            m = {"role": m["role"], "content": json.dumps([c["function"] for c in m["tool_calls"]], ensure_ascii=False)}
        if merged and merged[-1]["role"] == m["role"]:
            merged[-1] = {**merged[-1], "content": f"{merged[-1]['content']}\n\n{m['content']}"}
        else:
            merged.append(dict(m))
    return merged
