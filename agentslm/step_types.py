"""Value objects of one step: the call the model made, the verifier's verdict, the tool's observation."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["ToolCall", "CallList", "CallSignals", "Check", "Verdict", "Observation"]


class CallSignals(BaseModel):
    """Raw confidence signals of a constrained call, from the decoder's token probabilities."""

    name_margin: float | None = None
    """Smallest p(best) - p(second best) among the tokens that chose the tool name (1.0 if forced)."""
    name_logprob: float | None = None
    """Sum of the model's own log-probabilities of the tool-name tokens it chose."""
    min_argument_logprob: float | None = None
    """Weakest model log-probability of a token the model chose inside the arguments."""
    mean_logprob: float | None = None
    """Mean model log-probability over the tokens the model chose (forced tokens excluded)."""
    first_choice_probability: float | None = None
    """Probability (renormalised over what the grammar allowed) of the first free choice of the output: in a
    call list, whether to call at all (``{``) or not (``]``)."""
    completion_tokens: int = 0
    """Tokens in the output, forced ones included."""
    model_steps: int = 0
    """Times the model was asked for next-token logits."""
    seconds: float = 0.0
    """Wall time of the generation."""


class ToolCall(BaseModel):
    """One tool call decoded from the model (not yet verified or run)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Tool name ('' if the output did not parse)."""
    arguments: dict[str, Any] = Field(default_factory=dict)
    """Arguments as decoded JSON."""
    raw: str = ""
    """The model's output text."""
    parse_error: str | None = None
    """Why the output is not a call (budget ran out, invalid JSON); ``None`` when it parsed."""
    signals: CallSignals = Field(default_factory=CallSignals)
    """Confidence signals."""
    escalation: dict[str, Any] | None = None
    """Set when SLM-first routing redid this call on the fallback model (outcome, reason, confidence)."""


class CallList(BaseModel):
    """Zero or more calls decoded from one reply; an empty, parsed list means the model found no tool that fits."""

    model_config = ConfigDict(extra="forbid")

    calls: list[ToolCall] = Field(default_factory=list)
    raw: str = ""
    """The model's output text."""
    parse_error: str | None = None
    """Why the output is not a list of calls; ``None`` when it parsed."""
    signals: CallSignals = Field(default_factory=CallSignals)
    """Confidence signals over the whole reply (every tool-name choice and argument token)."""
    open_probabilities: list[float] = Field(default_factory=list)
    """For each call ``i``: the probability (renormalised over what the grammar allowed) with which the
    decoder chose to start call ``i`` rather than close the list (1.0 when the grammar forced it)."""

    def gated(self, *, min_first: float = 0.0, min_more: float = 0.0, dedupe: bool = True) -> CallList:
        """The list as if the decoder had closed it at the first call it started with less confidence than
        ``min_first`` (the first call) or ``min_more`` (each further call); identical calls are dropped when
        ``dedupe``. Thresholds below 0.5 change nothing (greedy decoding already took that branch)."""
        kept: list[ToolCall] = []
        seen: set[str] = set()
        for i, call in enumerate(self.calls):
            p = self.open_probabilities[i] if i < len(self.open_probabilities) else 1.0
            if p < (min_first if i == 0 else min_more):
                break
            key = call.name + "\x00" + json.dumps(call.arguments, sort_keys=True)
            if dedupe and key in seen:
                continue
            seen.add(key)
            kept.append(call)
        return self.model_copy(update={"calls": kept})

    @property
    def abstained(self) -> bool:
        """True if the reply parsed and holds no call."""
        return self.parse_error is None and not self.calls


class Check(BaseModel):
    """One stage of verification."""

    stage: Literal["parse", "tool", "schema", "types", "grounding", "policy", "approval", "validator"]
    ok: bool
    reason: str = ""


class Verdict(BaseModel):
    """The verifier's decision. Only an approved call is executed."""

    approved: bool
    checks: list[Check] = Field(default_factory=list)
    arguments: dict[str, Any] | None = Field(default=None, exclude=True)
    """Validated, typed arguments (pydantic-coerced) to execute with; set when approved."""

    @property
    def reasons(self) -> list[str]:
        """Reasons of the failed checks."""
        return [f"{c.stage}: {c.reason}" for c in self.checks if not c.ok]


class Observation(BaseModel):
    """What running a tool produced."""

    ok: bool
    """False if the tool raised, timed out or could not run."""
    text: str
    """The result rendered as text for the model (truncated to the output budget)."""
    value: Any = Field(default=None, exclude=True)
    """The Python value returned (not serialised)."""
    error: str | None = None
    """Error type and message when not ok."""
    truncated: bool = False
    """True if ``text`` was cut to the output budget."""
    replayed: bool = False
    """True if the tool did not run again: the same side-effecting call already completed under this run's
    idempotency key, and this is the result the audit log recorded then."""
    seconds: float = 0.0
