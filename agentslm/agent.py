"""The SDK entry point: ``Agent(model=..., tools=[...])`` with ``call`` (decode only) and ``run``
(call → verify → execute)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from agentslm.agents.caller import Caller
from agentslm.calls import RunResult, ToolCall
from agentslm.errors import UserError
from agentslm.execute import Executor
from agentslm.models import Model, load_model
from agentslm.registry import Tool, ToolRegistry, as_registry
from agentslm.schema.call import DecodeLimits
from agentslm.verify import Approver, Validator, Verifier

__all__ = ["Agent"]


class Agent:
    """A tool-using agent on a (small, local) model.

    Args:
        model: a :class:`~agentslm.models.Model` or a spec string for :func:`~agentslm.models.load_model`
            (default: the embedded SmolLM2-135M on llama.cpp).
        tools: a :class:`ToolRegistry` or an iterable of tools / typed functions.
        approve: approval callback for destructive/external tools (default deny).
        validators: custom verification checks (all tools, or a mapping per tool name).
        allow: optional allow-list of tool names that may run.
        limits: decoding bounds (string/array lengths) added to the grammar.
        max_tokens: token budget per call.
        max_output_chars: tool output budget; longer results are truncated and marked.
        engine: constraint engine name (default: the model backend's measured choice).
    """

    def __init__(
        self,
        model: Model | str | os.PathLike[str] | None = None,
        tools: ToolRegistry | Iterable[Tool | Callable[..., Any]] = (),
        *,
        approve: Approver | None = None,
        validators: Sequence[Validator] | Mapping[str, Sequence[Validator]] = (),
        allow: Iterable[str] | None = None,
        limits: DecodeLimits | None = None,
        max_tokens: int = 384,
        max_output_chars: int = 8000,
        engine: str | None = None,
    ) -> None:
        self.registry = as_registry(tools)
        self.model = load_model(model)
        self.caller = Caller(self.model, max_tokens=max_tokens, limits=limits, engine=engine)
        self.verifier = Verifier(self.registry, approve=approve, validators=validators, allow=allow)
        self.executor = Executor(max_output_chars=max_output_chars)

    def _tools(self) -> list[Tool]:
        if not len(self.registry):
            raise UserError("The agent has no tools.", hint="pass tools=[...] or register tools on its registry.")
        return list(self.registry)

    def call(self, request: str) -> ToolCall:
        """Decode the tool call for ``request`` under the tools' grammar, without verifying or running it."""
        return self.caller.call(request, self._tools())

    def run(self, request: str) -> RunResult:
        """Decode, verify and (only if approved) execute one call."""
        call = self.call(request)
        verdict = self.verifier.verify(call)
        if not verdict.approved:
            return RunResult(request=request, call=call, verdict=verdict)
        observation = self.executor.execute(self.registry[call.name], verdict.arguments or {})
        return RunResult(request=request, call=call, verdict=verdict, observation=observation)
