"""The model protocol: generate a chat reply, optionally under a JSON Schema constraint,
returning the text *and* per-token log-probabilities of what was generated.

Local backends (llama.cpp, transformers) share one decode loop, :class:`agentslm.models.local.LocalModel`
(it needs numpy; this module does not, so the core installs without it).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from agentslm.models.profiles import PROFILES, ModelProfile

__all__ = [
    "Message",
    "TokenLogprob",
    "Generation",
    "Model",
    "ToolCompletionModel",
    "neutralize_control_text",
    "GENERIC_CONTROL_TEXT",
]

Message = Mapping[str, str]
"""A chat message: ``{"role": "system" | "user" | "assistant", "content": str}``."""


@dataclass(kw_only=True)
class TokenLogprob:
    """One generated token and how sure the model was of it."""

    token: int
    """Token id."""
    text: str
    """The token's text (may be part of a multi-byte character)."""
    logprob: float | None
    """log p(token) under the model's own, unconstrained distribution; ``None`` if the token was
    forced by the grammar and fed without asking the model."""
    constrained_logprob: float | None
    """log p(token) renormalised over the tokens the grammar allowed (0.0 when forced)."""
    margin: float | None
    """p(best allowed) - p(second best allowed), renormalised; 1.0 when only one token was allowed."""
    n_allowed: int | None
    """How many tokens the grammar allowed at this step (``None`` when unconstrained)."""

    @property
    def forced(self) -> bool:
        """True if the grammar allowed only this token."""
        return self.n_allowed == 1 or self.logprob is None


@dataclass(kw_only=True)
class Generation:
    """The result of one generation."""

    text: str
    """Generated text."""
    tokens: list[TokenLogprob] = field(default_factory=list)
    """Per-token log-probabilities."""
    prompt_tokens: int = 0
    """Prompt length in tokens."""
    cached_tokens: int = 0
    """Prompt tokens not evaluated because a cached state already held them (local backends)."""
    finish_reason: Literal["stop", "length"] = "stop"
    """``stop``: the output ended (grammar complete or end-of-turn); ``length``: the token budget ran out."""
    seconds: float = 0.0
    """Wall time of the whole call (prompt evaluation included)."""
    prefill_seconds: float = 0.0
    """Time spent evaluating the prompt."""
    decode_seconds: float = 0.0
    """Time spent in the decode loop (model steps + constraint)."""
    constraint_seconds: float = 0.0
    """Part of ``decode_seconds`` spent computing and applying the grammar mask."""
    model_steps: int = 0
    """How many times the model was asked for next-token logits during decoding."""
    loop_breaks: int = 0
    """How many times the loop guard removed a token that would have continued a repeating cycle."""
    closed_early: bool = False
    """True if decoding switched to closing mode (after 3 loop breaks, or near the token budget)."""
    reported_completion_tokens: int | None = None
    """Completion tokens as a remote server reported them (its ``usage``), when it did."""

    @property
    def completion_tokens(self) -> int:
        return self.reported_completion_tokens if self.reported_completion_tokens is not None else len(self.tokens)


class Model(ABC):
    """A chat model that can decode under a JSON Schema."""

    name: str = "model"
    provider: str = "agentslm"
    """The runtime behind the model, as traces name it (``gen_ai.provider.name``): llama.cpp, transformers, openai."""
    continues_reply: bool = False
    """Whether :meth:`generate` places ``response_prefix`` at the start of the reply and decodes after it (local
    backends). Without it the backend decodes the constrained part alone, and roles skip the steps that continue a
    partly written reply (probing a plan for further calls, forcing a call)."""
    io_bound: bool = False
    """Whether a step of this model mostly waits for I/O (a served model's HTTP reply): inside ``Agent.arun`` /
    ``astream`` such a step runs on the application's event loop and awaits its reply there; a CPU-bound one (a local
    decode) runs in a worker thread so the loop stays free (:mod:`agentslm.async_bridge`)."""
    profile: ModelProfile = PROFILES["generic"]
    """The model family's conventions (tool format, end-of-turn tokens, roles; :mod:`agentslm.models.profiles`):
    detected from a local model's metadata; ``generic`` (agentslm's APIGen prompt) where unknown."""
    no_tool_threshold: float = 0.0
    """The planner's ``min_no_tool`` calibrated for this model (0: none; see :class:`~agentslm.roles.planner.PlannerPolicy`).
    A :class:`~agentslm.roles.planner.Planner` built without an explicit policy uses it."""

    @abstractmethod
    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        engine: str | None = None,
        response_prefix: str = "",
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> Generation:
        """Generate the assistant's reply to ``messages``; under ``schema`` if given.

        ``engine``: the constraint engine a local backend compiles ``schema`` with (None: the backend's measured
        choice; a remote backend constrains on its server and has none). ``response_prefix``: the format's text
        before the constrained output (e.g. ``<tool_call>[``), continued by backends that can
        (:attr:`continues_reply`); it is never part of the returned text. ``tools``: function specs the chat template
        renders itself (native tool formats, :attr:`profile`); None: the tools are in the messages' text."""

    def count_tokens(self, messages: Sequence[Message]) -> int:
        """Prompt length of ``messages`` in tokens (approximate for remote models)."""
        return sum(len(m.get("content", "")) for m in messages) // 4

    def for_role(self, role: str) -> Model:
        """The model to use for an agent role (``planner``, ``caller``, ``summarizer``): this model, unless the
        backend holds role-specific weights (a LoRA adapter trained for some roles only) and returns a view."""
        return self

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources (optional)."""


GENERIC_CONTROL_TEXT = re.compile(r"<\|[A-Za-z0-9_ .:-]{1,40}\|>|<(?:/?s|unk|pad|bos|eos|start_of_turn|end_of_turn)>|\[/?INST\]")
"""Chat-template control markers of common model families (ChatML, Llama 3, Gemma, Mistral), for backends whose
vocabulary is not known here (a remote server applies its own template)."""


def neutralize_control_text(messages: Sequence[Message], specials: Iterable[str] = ()) -> list[Message]:
    """``messages`` with every control-token text inside a message (``<|im_start|>``, ``<|im_end|>``, ...) broken by a
    zero-width space, so the template's tokenizer reads it as plain text. Without this, a tool result or a request
    containing ``<|im_end|><|im_start|>system ...`` would become a real role boundary: text promoted to the system
    role (prompt injection). ``specials``: the model's own control-token texts; common markers are always covered."""
    texts = sorted({t for t in specials if t and len(t) > 1}, key=len, reverse=True)
    own = re.compile("|".join(re.escape(t) for t in texts)) if texts else None

    def defang(match: re.Match[str]) -> str:
        text = match.group(0)
        return text[0] + "\u200b" + text[1:]

    out: list[Message] = []
    for m in messages:
        content = m.get("content", "")
        if isinstance(content, str) and content:
            if own is not None:
                content = own.sub(defang, content)
            content = GENERIC_CONTROL_TEXT.sub(defang, content)
        out.append({**m, "content": content})  # type: ignore[typeddict-item]
    return out


@runtime_checkable
class ToolCompletionModel(Protocol):
    """A model that takes tools in its own format and returns the calls it made
    (:meth:`~agentslm.models.openai_compat.OpenAICompatModel.tool_completion`); ``native_tools`` says whether it is set to."""

    @property
    def native_tools(self) -> bool: ...

    def tool_completion(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        *,
        tool_choice: str | Mapping[str, Any] = "auto",
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> tuple[Generation, list[dict[str, Any]]]: ...
