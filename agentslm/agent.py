"""The SDK entry point: ``Agent(tools=[...])`` with planner, caller and summarizer roles.

A run: the planner decides (plan / no tool fits / ask for a value / done / give up); a plan's
tasks are checked (references, types), each call is verified (schema, types, policy, approval,
validators) and only approved calls run; independent tasks of a plan run in parallel; the
planner sees the results and decides again, within step, wall-clock and replan budgets; the
summarizer answers from the results. Every step is a typed event (:mod:`agentslm.events`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from agentslm.async_bridge import events_on_loop
from agentslm.audit import AuditLog
from agentslm.constraints.call_schema import DecodeLimits
from agentslm.errors import UserError
from agentslm.events import (
    AgentEvent,
)
from agentslm.execute import Executor
from agentslm.models import Model, load_model
from agentslm.models.role_adapters import AdapterSpec
from agentslm.registry import Tool, ToolRegistry, Toolset, as_registry
from agentslm.retrieval.select import RetrievalPolicy, Selection, ToolSelector
from agentslm.roles.caller import Caller
from agentslm.roles.planner import Planner, PlannerPolicy
from agentslm.roles.summarizer import Summarizer
from agentslm.router import EscalationLog, RoutedPlanner, RoutingPolicy
from agentslm.run.state import RunContext, RunState
from agentslm.run.types import AgentRun, Budgets, Session, Turn, outcome
from agentslm.step_types import ToolCall
from agentslm.verify import Approver, Validator

__all__ = ["Agent", "AgentRun", "Budgets", "Session", "Turn"]

ModelSpec = Model | str | os.PathLike[str] | None


def _load(model: ModelSpec, default: Model | None, role: str) -> Model:
    if model is None and default is not None:
        return default.for_role(role)
    return load_model(model)


_DEFAULT_RETRIEVAL = RetrievalPolicy()


class Agent:
    """A tool-using agent on small local models.

    Args:
        model: the model for every role not given its own: a :class:`~agentslm.models.Model` or a spec
            for :func:`~agentslm.models.load_model` (default: the embedded SmolLM2-135M on llama.cpp).
        tools: a :class:`ToolRegistry`, a connected toolset (``agentslm.mcp.connect_mcp(...)``: closed by
            :meth:`close`), or an iterable of tools, typed functions and toolsets.
        planner: the planner's model (default: ``model``).
        caller: the caller's model (default: ``model``).
        summarizer: the summarizer's model (default: ``model``).
        adapters: a LoRA adapter per role on ``model``'s one loaded base (``{"planner": PATH, "caller": PATH,
            "summarizer": None}``; None: the base weights; see :mod:`agentslm.models.role_adapters`). ``model``
            must then be a GGUF spec (default: the embedded SmolLM2-135M, whose own adapters this replaces).
        approve: approval callback for tools that require it (default deny). It sees the exact arguments.
        validators: custom verification checks (all tools, or a mapping per tool name).
        allow: optional allow-list of tool names that may run.
        limits: decoding bounds (string/array lengths) added to the grammars.
        max_tokens: token budget per decoded call or plan.
        max_output_chars: tool output budget; longer results are truncated and marked.
        engine: constraint engine name (default: the model backend's measured choice).
        policy: how the planner's decoded list becomes a decision (gate, grounding, plan size).
        budgets: step, round, replan, time and parallelism limits of a run.
        audit_log: path of an append-only JSONL audit log of every verified call.
        retrieval: above ``min_tools`` tools, offer the model only the ``k`` tools a retriever ranks
            best for the request (default: ``RetrievalPolicy()``: hybrid/lexical, k=5, above 16 tools);
            ``None`` always offers every tool.
        fallback: a larger model (spec or :class:`~agentslm.models.Model`, e.g.
            ``"openai:http://127.0.0.1:8080/v1#qwen"``) that redoes planning steps the small model is unsure of.
        routing: when a step escalates (default ``RoutingPolicy()``; ``RoutingPolicy.from_file`` reads the
            policy ``agentslm calibrate`` wrote).
        escalation_log: JSONL file where escalated steps are appended as training records.
    """

    def __init__(
        self,
        model: ModelSpec = None,
        tools: ToolRegistry | Toolset | Iterable[Tool | Toolset | Callable[..., Any]] = (),
        *,
        planner: ModelSpec = None,
        caller: ModelSpec = None,
        summarizer: ModelSpec = None,
        adapters: AdapterSpec | None = None,
        approve: Approver | None = None,
        validators: Sequence[Validator] | Mapping[str, Sequence[Validator]] = (),
        allow: Iterable[str] | None = None,
        limits: DecodeLimits | None = None,
        max_tokens: int = 384,
        max_output_chars: int = 8000,
        engine: str | None = None,
        policy: PlannerPolicy | None = None,
        budgets: Budgets | None = None,
        audit_log: str | os.PathLike[str] | None = None,
        retrieval: RetrievalPolicy | None = _DEFAULT_RETRIEVAL,
        fallback: ModelSpec = None,
        routing: RoutingPolicy | None = None,
        escalation_log: str | os.PathLike[str] | None = None,
    ) -> None:
        self.registry = as_registry(tools)
        self.selector = ToolSelector(retrieval) if retrieval is not None else None
        needs_default = planner is None or caller is None or summarizer is None
        if adapters is not None and isinstance(model, Model):
            raise UserError(
                "adapters= applies to a model Agent loads itself.",
                hint="pass the model as a spec (a .gguf path or name), or load it with LlamaCppModel(path, adapters=...).",
            )
        self.model = load_model(model, **({"adapters": adapters} if adapters is not None else {})) if needs_default else None
        planner_model = _load(planner, self.model, "planner")
        self.caller = Caller(_load(caller, self.model, "caller"), max_tokens=max_tokens, limits=limits, engine=engine)
        self.planner: Planner | RoutedPlanner = Planner(
            planner_model, policy=policy, max_tokens=max_tokens, limits=limits, engine=engine
        )
        if fallback is not None:  # SLM-first: low-confidence planning steps go to the fallback model
            large = Planner(load_model(fallback), policy=policy, max_tokens=max_tokens, limits=limits)
            log = EscalationLog(escalation_log) if escalation_log is not None else None
            self.planner = RoutedPlanner(self.planner, large, routing, log)
            self.fallback_caller = Caller(large.model, max_tokens=max_tokens, limits=limits)
        self.summarizer = Summarizer(_load(summarizer, self.model, "summarizer"))
        self.approve = approve
        self.validators = validators
        self.allow = allow
        self.executor = Executor(max_output_chars=max_output_chars)
        self.budgets = budgets or Budgets()
        self.audit = AuditLog(audit_log) if audit_log is not None else None

    # -- MCP servers ---------------------------------------------------------------------------
    def add_mcp_server(self, server: Any, **options: Any) -> Any:
        """Connect an MCP server and offer its tools to this agent; returns the :class:`~agentslm.mcp.McpToolset`.

        ``server`` is an ``http(s)://`` URL, a command line, an argv list or an ``mcp.StdioServerParameters``;
        ``options`` are those of :func:`agentslm.mcp.connect_mcp` (``namespace``, ``trusted``, ``timeout``,
        ``include``, ...). Tools from a server not marked ``trusted=True`` need approval unless they are annotated
        read-only and their names do not look destructive. A tool name already offered is an error (nothing is
        added); pass another ``namespace``. :meth:`close` disconnects it.
        """
        from agentslm.mcp.tools import connect_mcp

        return self.registry.add_toolset(connect_mcp(server, **options))

    def close(self) -> None:
        """Close the agent's MCP connections and the fallback model's connection (if any)."""
        self.registry.close()
        if isinstance(self.planner, RoutedPlanner):
            self.planner.fallback.model.close()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- single call (decode only) -----------------------------------------------------------
    def _tools(self) -> list[Tool]:
        if not len(self.registry):
            raise UserError("The agent has no tools.", hint="pass tools=[...] or register tools on its registry.")
        return list(self.registry)

    def select_tools(self, request: str, *, widen: bool = False) -> Selection:
        """The tools offered to the model for ``request`` (all of them, or the retrieved top ``k``)."""
        tools = list(self.registry)
        if self.selector is None:
            return Selection(tools=tools, active=False)
        return self.selector.select(request, tools, widen=widen)

    def call(self, request: str) -> ToolCall:
        """Decode one tool call for ``request`` under the tools' grammar, without verifying or running it.
        With a fallback model, a call whose confidence is below the routing threshold, or that fails the schema or
        argument-grounding checks, is decoded again by the fallback (``ToolCall.escalation`` says so)."""
        self._tools()  # no tools is a usage error
        tools = self.select_tools(request).tools
        call = self.caller.call(request, tools)
        if not isinstance(self.planner, RoutedPlanner):
            return call
        return self.planner.route_call(call, request, tools, self.fallback_caller)

    # -- runs --------------------------------------------------------------------------------
    def run(self, request: str, *, session: Session | None = None, idempotency_key: str | None = None) -> AgentRun:
        """Run ``request`` to its end and return the outcome with every event.

        ``idempotency_key`` (needs ``audit_log``): a key naming this request, reused when the same request is
        retried — after a crash, a timeout, a lost reply. A side-effecting call (any effect but ``read``) that
        already completed under the key is not run again: its logged result is replayed
        (``Observation.replayed``). One that was started but never finished (the process died while it ran)
        is not run again either, since its outcome is unknown: the run reports it (error ``unknown_outcome``)."""
        state = self._start(request, session, idempotency_key)
        events = list(state.events())
        run = outcome(request, events)
        run.generated_tokens = state.meter.generated
        run.prompt_tokens = state.meter.prompt
        return run

    async def arun(self, request: str, *, session: Session | None = None, idempotency_key: str | None = None) -> AgentRun:
        """Like :meth:`run`, for asyncio applications (see :meth:`astream`)."""
        state = self._start(request, session, idempotency_key, loop=asyncio.get_running_loop())
        events = [event async for event in events_on_loop(state.events)]
        run = outcome(request, events)
        run.generated_tokens = state.meter.generated
        run.prompt_tokens = state.meter.prompt
        return run

    async def astream(
        self, request: str, *, session: Session | None = None, idempotency_key: str | None = None
    ) -> AsyncIterator[AgentEvent]:
        """Like :meth:`stream`, for asyncio applications: the events arrive as they happen and the event loop is never
        blocked. The run's loop runs on this event loop (:mod:`agentslm.async_bridge`): a served model's requests are
        awaited here (``httpx.AsyncClient``), a local model's decode and a sync approval callback run in a worker
        thread one step at a time, and async tools are awaited on this loop, so they can use the application's clients
        (an ``httpx.AsyncClient``, a database pool). Leaving early stops the run at the step it is in (a step already
        in a worker thread finishes there)."""
        state = self._start(request, session, idempotency_key, loop=asyncio.get_running_loop())
        async for event in events_on_loop(state.events):
            yield event

    def session(self) -> Session:
        """A new multi-turn session (pass it to :meth:`run` / :meth:`stream`)."""
        return Session()

    def stream(self, request: str, *, session: Session | None = None, idempotency_key: str | None = None) -> Iterator[AgentEvent]:
        """Run ``request``, yielding each event as it happens (``idempotency_key``: see :meth:`run`)."""
        run = self._start(request, session, idempotency_key)
        yield from run.events()

    def _served_only(self) -> bool:
        """Whether every model of a run is served (I/O-bound) and no retriever ranks the tools (the registry is at most
        its ``min_tools``): then ``arun`` runs the model steps on the event loop itself."""
        retrieves = self.selector is not None and len(self.registry) > self.selector.policy.min_tools
        if retrieves or isinstance(self.planner, RoutedPlanner):
            return False
        models = [
            getattr(self.planner, "model", None),
            getattr(self.planner, "after_results_model", None),
            getattr(self.summarizer, "model", None),
        ]
        return all(m is not None and m.io_bound for m in models)

    def _start(
        self,
        request: str,
        session: Session | None,
        idempotency_key: str | None,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> RunState:
        if not isinstance(request, str) or not request.strip():
            raise UserError("The request is empty.", hint="pass the user's request as text.")
        limit = self.budgets.max_request_chars
        if len(request) > limit:
            raise UserError(
                f"The request is {len(request):,} characters; the limit is {limit:,}.",
                hint="shorten it, or raise Budgets(max_request_chars=...) if the model's context can take it.",
            )
        if idempotency_key is not None and self.audit is None:
            raise UserError(
                "idempotency_key needs an audit log (it is where completed calls are looked up).",
                hint="create the agent with audit_log='path/to/audit.jsonl'.",
            )
        context = RunContext(
            registry=self.registry,
            planner=self.planner,
            summarizer=self.summarizer,
            executor=self.executor,
            budgets=self.budgets,
            audit=self.audit,
            approve=self.approve,
            validators=self.validators,
            allow=self.allow,
            select_tools=self.select_tools,
            loop=loop,
            steps_on_loop=loop is not None and self._served_only(),
        )
        return RunState(context, request, session, idempotency_key)
