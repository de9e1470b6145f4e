"""The systems a benchmark compares, all on the same loaded model.

* ``agentslm`` — the constrained caller in list mode (zero or more calls under the registry's
  grammar) with its confidence gate: a call is only started when the decoder chose to start it
  with probability >= ``min_first`` (first call) / ``min_more`` (further calls); identical calls
  in one reply are merged.
* ``unconstrained`` — the same model, the same prompt and response prefix, no grammar; the
  output is parsed leniently (any JSON call objects found in it count).
* ``agent`` (opt-in: ``--system agent``) — the full agent's planner on the case (its tasks are the calls).
* ``llamacpp-chatml-fc`` — llama-cpp-python's own ``chatml-function-calling`` chat handler with
  ``tools`` and ``tool_choice="auto"`` (its prompt; it constrains the function name and then each
  call's arguments with llama.cpp GBNF grammars). Its template shows the tools only inside a
  system message, so a case without one gets :data:`HANDLER_SYSTEM_PROMPT`.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from agentslm.errors import UserError
from agentslm.models.base import Message, Model
from agentslm.models.local import LocalModel
from agentslm.registry import Tool
from agentslm.roles.call_format import template_tools
from agentslm.roles.caller import CALLS_PREFIX, Caller
from agentslm.roles.reply_calls import lenient_calls
from agentslm.step_types import ToolCall

if TYPE_CHECKING:
    from agentslm.router import RoutingPolicy

__all__ = [
    "DEFAULT_GATE",
    "decide",
    "SYSTEMS",
    "AgentPlannerSystem",
    "AgentslmSystem",
    "Gate",
    "LlamaCppHandlerSystem",
    "RoutedSystem",
    "System",
    "SystemOutput",
    "UnconstrainedSystem",
    "lenient_calls",
    "make_system",
]


@dataclass(frozen=True, kw_only=True)
class Gate:
    """Decision policy of the agentslm caller on top of greedy constrained decoding.

    ``min_first``/``min_more``: confidence gate (see :meth:`agentslm.step_types.CallList.gated`);
    ``grounding``: if any call's values do not appear in the conversation (see
    :mod:`agentslm.grounding`), make no call (the agent would ask the user for the value).
    """

    min_first: float = 0.0
    min_more: float = 0.0
    grounding: bool = False
    grounding_scope: str = "every"
    """The model's ``PlannerPolicy.grounding_scope`` (the agent's planner applies the same rule)."""


DEFAULT_GATE = Gate(min_first=0.0, min_more=0.67, grounding=True)
"""Policy used by ``agentslm bench``, chosen on BFCL live_* categories, which the report does not score
(docs/benchmarks/README.md): grounding on; ``min_more`` at the Youden-optimal point of the decision to
add a call; no first-call gate (with grounding on it only cost answerable cases)."""


def decide(
    calls: Sequence[ToolCall], open_probabilities: Sequence[float], gate: Gate, tools: Sequence[Tool], source: str
) -> tuple[list[ToolCall], list[str]]:
    """The calls the agentslm policy makes from a decoded list; also the grounding refusals (if any)."""
    from agentslm.registry import ToolRegistry
    from agentslm.step_types import CallList
    from agentslm.verify import Verifier

    kept = CallList(calls=list(calls), open_probabilities=list(open_probabilities))
    kept = kept.gated(min_first=gate.min_first, min_more=gate.min_more)
    if not gate.grounding:
        return kept.calls, []
    verifier = Verifier(
        ToolRegistry([t for t in tools]), grounding=True, grounding_scope=gate.grounding_scope, approve=lambda c, t: True
    )
    refusals = [
        f"{c.name}: {check.reason}"
        for c in kept.calls
        for check in verifier.verify(c, source=source).checks
        if check.stage == "grounding" and not check.ok
    ]
    return ([] if refusals else kept.calls), refusals


@dataclass(kw_only=True)
class SystemOutput:
    calls: list[ToolCall] | None
    """The calls made (``[]``: none); ``None`` when the output could not be decoded as calls."""
    raw: str
    seconds: float
    completion_tokens: int
    prompt_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class System(Protocol):
    name: str

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput: ...


class AgentslmSystem:
    """The agentslm caller on ``model`` (a local model, or a remote one: then ``name`` is ``llm``)."""

    name = "agentslm"

    def __init__(
        self,
        model: Model,
        *,
        gate: Gate = DEFAULT_GATE,
        max_tokens: int = 384,
        max_calls: int = 8,
        name: str | None = None,
        memo: int = 0,
    ) -> None:
        self.memo_size = memo
        """Remember the last ``memo`` outputs by case (``llm`` alone and ``agentslm+fallback`` run the fallback on the same
        case: it decodes once, and both report the time that decode took)."""
        self._memo: dict[str, SystemOutput] = {}
        self.caller = Caller(model, max_tokens=max_tokens)
        self.model = model
        self.gate = gate
        self.max_calls = max_calls
        if name is not None:
            self.name = name

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        if not self.memo_size:
            return self._run(messages, tools)
        key = json.dumps([list(messages), [t.name for t in tools]], sort_keys=True, default=str)
        if key not in self._memo:
            self._memo[key] = self._run(messages, tools)
            while len(self._memo) > self.memo_size:
                self._memo.pop(next(iter(self._memo)))
        return self._memo[key]

    def _run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        if not tools:  # nothing to call: the agent answers that no tool fits without asking the model
            return SystemOutput(calls=[], raw="[]", seconds=0.0, completion_tokens=0, extra={"no_tools": True})
        usage = dict(getattr(self.model, "usage", {}))
        t0 = time.perf_counter()
        listed = self.caller.calls(messages[-1]["content"], tools, messages[:-1], max_calls=self.max_calls)
        seconds = time.perf_counter() - t0
        source = "\n".join(m["content"] for m in messages if m["role"] in ("user", "system"))
        calls, refusals = decide(listed.calls, listed.open_probabilities, self.gate, tools, source)
        remote = {k: v - usage.get(k, 0) for k, v in getattr(self.model, "usage", {}).items()}
        prompt = remote.get("prompt_tokens") or self.model.count_tokens(
            self.caller.calls_messages(messages[-1]["content"], tools, messages[:-1])
        )
        return SystemOutput(
            calls=None if listed.parse_error else calls,
            raw=listed.raw,
            seconds=seconds,
            completion_tokens=listed.signals.completion_tokens,
            prompt_tokens=prompt,
            extra={
                "open_probabilities": [round(p, 5) for p in listed.open_probabilities],
                "ungated": [{"name": c.name, "arguments": c.arguments} for c in listed.calls],
                "parse_error": listed.parse_error,
                "grounding_refusals": refusals,
                "name_margin": listed.signals.name_margin,
                "min_argument_logprob": listed.signals.min_argument_logprob,
                "signals": listed.signals.model_dump(exclude={"seconds"}),
                **({"usage": remote} if remote else {}),
            },
        )


class RoutedSystem:
    """SLM first, fallback when unsure: the agentslm system on the small model; a case whose confidence is below
    the routing policy's threshold, whose output did not parse or whose calls were refused by argument grounding
    is redone by the same system on the fallback model (the decision :class:`agentslm.router.RoutedPlanner` makes)."""

    name = "agentslm+fallback"

    def __init__(self, slm: AgentslmSystem, llm: AgentslmSystem, policy: RoutingPolicy) -> None:
        self.slm = slm
        self.llm = llm
        self.policy = policy

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        from agentslm.confidence import step_confidence
        from agentslm.router import route
        from agentslm.step_types import CallSignals

        small = self.slm.run(messages, tools)
        if small.extra.get("no_tools"):
            return small
        confidence = step_confidence(
            CallSignals.model_validate(small.extra.get("signals", {})),
            signal=self.policy.signal,
            parse_error=small.extra.get("parse_error"),
            refusals=small.extra.get("grounding_refusals", []),
        )
        routed = route(
            small,
            confidence,
            self.policy,
            fallback=lambda: self.llm.run(messages, tools),
            usable=lambda out: out.calls is not None and not out.extra.get("system_error"),
            fail=lambda why: SystemOutput(calls=None, raw=why, seconds=0.0, completion_tokens=0),
        )
        out = routed.result
        escalated = routed.outcome == "escalated"
        return SystemOutput(
            calls=out.calls,
            raw=out.raw,
            seconds=small.seconds + (out.seconds if escalated else routed.seconds),
            completion_tokens=out.completion_tokens,
            prompt_tokens=out.prompt_tokens,
            extra={
                "outcome": routed.outcome,
                "reason": routed.reason,
                "error": routed.error,
                "confidence": confidence.as_dict(),
                "slm_calls": None if small.calls is None else [{"name": c.name, "arguments": c.arguments} for c in small.calls],
                "llm_usage": out.extra.get("usage", {}) if escalated else {},
                "llm_seconds": round(routed.seconds, 4),
            },
        )


class UnconstrainedSystem:
    name = "unconstrained"

    def __init__(self, model: LocalModel, *, max_tokens: int = 384) -> None:
        self.caller = Caller(model, max_tokens=max_tokens)
        self.model = model
        self.max_tokens = max_tokens

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        """The model's free reply: in its native tool format where its profile has one (tools rendered by its chat
        template, a text answer meaning no call), else to agentslm's APIGen prompt after ``<tool_call>``."""
        native = self.model.profile.call_format.native
        t0 = time.perf_counter()
        if native:
            specs = template_tools(tools)
            gen = self.model.generate(list(messages), max_tokens=self.max_tokens, tools=specs)
        else:
            prompt = self.caller.calls_messages(messages[-1]["content"], tools, messages[:-1])
            gen = self.model.generate(prompt, max_tokens=self.max_tokens, response_prefix=CALLS_PREFIX)
        seconds = time.perf_counter() - t0
        calls = lenient_calls(gen.text)
        return SystemOutput(
            calls=[] if native and calls is None and "{" not in gen.text else calls,
            raw=gen.text,
            seconds=seconds,
            completion_tokens=gen.completion_tokens,
            prompt_tokens=gen.prompt_tokens,
        )


class AgentPlannerSystem:
    """The full agent's planning step (planner policy: gate, grounding, probing for more calls) on a case;
    tools are not run (BFCL functions have no implementation), the plan's tasks are the output."""

    name = "agent"

    def __init__(self, model: LocalModel, *, max_tokens: int = 384, policy: Mapping[str, Any] | None = None) -> None:
        from agentslm.roles.planner import Planner, PlannerPolicy

        self.planner = Planner(model, max_tokens=max_tokens, policy=PlannerPolicy.for_model(model, **(policy or {})))

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        t0 = time.perf_counter()
        decision = self.planner.decide(tools, messages)
        seconds = time.perf_counter() - t0
        calls: list[ToolCall] | None
        if decision.kind == "plan":
            calls = [ToolCall(name=t.tool, arguments=t.arguments) for t in decision.plan.tasks]
        else:
            calls = None if decision.kind == "give_up" else []
        return SystemOutput(
            calls=calls,
            raw=decision.raw,
            seconds=seconds,
            completion_tokens=decision.signals.completion_tokens,
            extra={"decision": decision.kind, "reason": decision.reason or decision.question},
        )


class LlamaCppHandlerSystem:
    name = "llamacpp-chatml-fc"

    def __init__(self, model: LocalModel, *, max_tokens: int = 384) -> None:
        llama = getattr(model, "llama", None)
        if llama is None:
            raise UserError(
                "The llamacpp-chatml-fc system needs a llama.cpp model.",
                hint="run it with a GGUF model (the embedded one is), or leave it out with --systems.",
            )
        self.model = model
        self.llama = llama
        self.max_tokens = max_tokens

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        from llama_cpp import LogitsProcessorList
        from llama_cpp.llama_chat_format import chatml_function_calling

        specs = [t.to_openai() for t in tools]
        budget = _TurnBudget(self.max_tokens, self.model.eos_token_ids)
        t0 = time.perf_counter()
        with self.model.lock:
            response: Any = chatml_function_calling(
                llama=self.llama,
                messages=_with_system(messages),
                tools=specs,
                tool_choice="auto",
                temperature=0.0,
                max_tokens=self.max_tokens,
                logits_processor=LogitsProcessorList([budget]),
            )
        seconds = time.perf_counter() - t0
        message = response["choices"][0]["message"]
        usage = response.get("usage") or {}
        calls: list[ToolCall] | None = []
        raw = message.get("content") or ""
        for tc in message.get("tool_calls") or []:
            fn = tc["function"]
            raw += f"functions.{fn['name']}:\n{fn['arguments']}\n"
            try:
                args = json.loads(fn["arguments"])
            except json.JSONDecodeError:
                calls = None
                break
            if calls is not None:
                calls.append(ToolCall(name=fn["name"], arguments=args if isinstance(args, dict) else {}, raw=fn["arguments"]))
        return SystemOutput(
            calls=calls,
            raw=raw,
            seconds=seconds,
            completion_tokens=int(usage.get("completion_tokens", 0)),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            extra={"tokens_all_completions": budget.used, "budget_hit": budget.used > self.max_tokens},
        )


class _TurnBudget:
    """Logits processor giving the handler the same completion budget per case as the other systems: it
    counts tokens over all of the handler's completions for the case and, once ``limit`` is spent, makes
    end-of-turn tokens the most likely wherever the handler's grammar allows them (it otherwise kept adding
    function calls: 3458 tokens and 167 s on BFCL parallel_multiple_76). The handler's argument completions
    run with ``max_tokens=None`` inside its loop and an exception raised here is swallowed by the ctypes
    callback, so a turn stuck inside one argument still runs until the context overflows (recorded as an error)."""

    def __init__(self, limit: int, eos: frozenset[int]) -> None:
        self.limit = limit
        self.eos = sorted(eos)
        self.used = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np

        self.used += 1
        if self.used > self.limit:  # prefer ending the turn wherever the handler's grammar allows it
            scores[self.eos] = np.max(scores) + 50.0  # (masking the rest aborts llama.cpp's grammar sampler)
        return scores


HANDLER_SYSTEM_PROMPT = "You are a helpful assistant that calls functions to answer the user's request."
"""The handler lists the tools inside the system message only, so cases without one get this one."""


def _with_system(messages: Sequence[Message]) -> list[dict[str, Any]]:
    out = [dict(m) for m in messages]
    if not out or out[0]["role"] != "system":
        out.insert(0, {"role": "system", "content": HANDLER_SYSTEM_PROMPT})
    return out


SYSTEMS = ("agentslm", "unconstrained", "llamacpp-chatml-fc")


_LLM_SYSTEMS: weakref.WeakKeyDictionary[Model, AgentslmSystem] = weakref.WeakKeyDictionary()


def make_system(
    name: str,
    model: LocalModel,
    *,
    max_tokens: int = 384,
    gate: Gate = DEFAULT_GATE,
    fallback: Model | None = None,
    routing: RoutingPolicy | None = None,
    planner_policy: Mapping[str, Any] | None = None,
) -> System:
    """The system called ``name`` (one of :data:`SYSTEMS`, ``agent``, or with ``fallback``: ``llm`` and
    ``agentslm+fallback``) on ``model``. The gate's grounding scope is each model's planner policy (its profile's,
    then ``planner_policy`` for ``model``), so the caller's gate and the agent's planner ground values alike."""
    from agentslm.roles.planner import PlannerPolicy

    gate = replace(gate, grounding_scope=PlannerPolicy.for_model(model, **(planner_policy or {})).grounding_scope)
    if name == "agentslm":
        return AgentslmSystem(model, gate=gate, max_tokens=max_tokens)
    if name in ("llm", "agentslm+fallback"):
        if fallback is None:
            raise UserError(f"System {name!r} needs a fallback model.", hint="pass --fallback openai:URL#MODEL (or a GGUF path).")
        if fallback not in _LLM_SYSTEMS:  # one instance per fallback model, so both systems share its memo
            own = replace(gate, grounding_scope=PlannerPolicy.for_model(fallback).grounding_scope)
            _LLM_SYSTEMS[fallback] = AgentslmSystem(fallback, gate=own, max_tokens=max_tokens, name="llm", memo=8)
        llm = _LLM_SYSTEMS[fallback]
        if name == "llm":
            return llm
        from agentslm.router import RoutingPolicy as _Policy

        return RoutedSystem(AgentslmSystem(model, gate=gate, max_tokens=max_tokens), llm, routing or _Policy())
    if name == "unconstrained":
        return UnconstrainedSystem(model, max_tokens=max_tokens)
    if name == "llamacpp-chatml-fc":
        return LlamaCppHandlerSystem(model, max_tokens=max_tokens)
    if name == "agent":
        return AgentPlannerSystem(model, max_tokens=max_tokens, policy=planner_policy)
    raise UserError(
        f"Unknown system {name!r}.", hint=f"choose from {', '.join((*SYSTEMS, 'agent', 'llm', 'agentslm+fallback'))}."
    )
