"""The SDK entry point: ``Agent(tools=[...])`` with planner, caller and summarizer roles.

A run: the planner decides (plan / no tool fits / ask for a value / done / give up); a plan's
tasks are checked (references, types), each call is verified (schema, types, policy, approval,
validators) and only approved calls run; independent tasks of a plan run in parallel; the
planner sees the results and decides again, within step, wall-clock and replan budgets; the
summarizer answers from the results. Every step is a typed event (:mod:`agentslm.events`).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentslm.agents.caller import Caller
from agentslm.agents.planner import Planner, PlannerPolicy
from agentslm.agents.summarizer import ResultForAnswer, Summarizer
from agentslm.audit import AuditLog, AuditRecord
from agentslm.calls import Observation, ToolCall
from agentslm.errors import UserError
from agentslm.events import (
    AgentEvent,
    AnswerEvent,
    ApprovalRequestEvent,
    AskEvent,
    CallEvent,
    ErrorEvent,
    EscalationEvent,
    NoToolEvent,
    PlanEvent,
    PlannedTask,
    ResultEvent,
    RetrievalEvent,
    VerdictEvent,
)
from agentslm.execute import Executor
from agentslm.models import Model, load_model
from agentslm.models.base import Message
from agentslm.plan import Plan, check_plan, levels, substitute
from agentslm.registry import Effect, Tool, ToolRegistry, Toolset, as_registry
from agentslm.retrieval.select import RetrievalPolicy, Selection, ToolSelector
from agentslm.router import EscalationLog, RoutedPlanner, RoutingPolicy
from agentslm.schema.call import DecodeLimits
from agentslm.usage import TokenMeter
from agentslm.verify import Approver, Validator, Verifier

__all__ = ["Agent", "AgentRun", "Budgets", "Session", "Turn"]

ModelSpec = Model | str | os.PathLike[str] | None


class Budgets(BaseModel):
    """Limits of one run (unbounded consumption is refused)."""

    max_steps: int = 8
    """Most tool calls executed per run."""
    max_rounds: int = 4
    """Most planning rounds per run."""
    max_replans: int = 1
    """Rounds allowed after a failed step (a bad plan, a failing tool)."""
    max_seconds: float = 120.0
    """Wall-clock budget of a run; checked between steps (a running tool is bounded by its own timeout)."""
    max_parallel: int = 4
    """Threads running independent tasks of one plan."""
    max_generated_tokens: int = 4096
    """Most tokens the models may generate in one run, all roles together; checked before each model step (a step
    itself is bounded by the agent's ``max_tokens``). When it is spent, the run answers from the results it has."""
    max_request_chars: int = 20_000
    """Longest request accepted (longer ones are refused with a clear error, before any model step)."""
    max_observation_chars: int = 6000
    """Most characters of tool results shown to the planner and the summarizer at once; when several results are
    longer together, each is cut to an equal share (and marked). One result is already capped by ``max_output_chars``."""


class Turn(BaseModel):
    """One request of a conversation and what came of it."""

    request: str
    calls: list[dict[str, Any]] = Field(default_factory=list)
    """``{"name", "arguments", "result"}`` of every call that ran."""
    answer: str | None = None
    status: str = ""


class Session(BaseModel):
    """A multi-turn conversation: later requests see earlier calls and results. JSON-serialisable."""

    turns: list[Turn] = Field(default_factory=list)

    def messages(self) -> list[Message]:
        """Earlier turns as chat messages for the planner."""
        out: list[Message] = []
        for turn in self.turns:
            out.append({"role": "user", "content": turn.request})
            if turn.calls:
                listed = [{"name": c["name"], "arguments": c["arguments"]} for c in turn.calls]
                out.append({"role": "assistant", "content": "<tool_call>" + json.dumps(listed) + "</tool_call>"})
                out.append({"role": "tool", "content": "\n".join(f"{c['name']}: {c['result']}" for c in turn.calls)})
            if turn.answer:
                out.append({"role": "assistant", "content": turn.answer})
        return out

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> Session:
        return cls.model_validate_json(data)


class AgentRun(BaseModel):
    """The outcome of one request: status, answer (or question), the events and the calls that ran."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    request: str
    status: Literal["answered", "asked", "no_tool", "failed"]
    answer: str | None = None
    question: str | None = None
    events: list[AgentEvent] = Field(default_factory=list)
    generated_tokens: int = 0
    """Tokens the models generated in this run (all roles)."""
    prompt_tokens: int = 0
    """Prompt tokens the models evaluated in this run (all roles; a reused KV cache still counts)."""

    @property
    def results(self) -> list[ResultEvent]:
        return [e for e in self.events if isinstance(e, ResultEvent)]

    @property
    def calls(self) -> list[ToolCall]:
        """Calls that were executed."""
        executed = {e.task_id for e in self.results}
        return [e.call for e in self.events if isinstance(e, CallEvent) and e.task_id in executed]

    @property
    def errors(self) -> list[ErrorEvent]:
        return [e for e in self.events if isinstance(e, ErrorEvent)]


def _load(model: ModelSpec, default: Model | None) -> Model:
    if model is None and default is not None:
        return default
    return load_model(model)


_DEFAULT_RETRIEVAL = RetrievalPolicy()


class Agent:
    """A tool-using agent on small local models.

    Args:
        model: the model for every role not given its own: a :class:`~agentslm.models.Model` or a spec
            for :func:`~agentslm.models.load_model` (default: the embedded SmolLM2-135M on llama.cpp).
        tools: a :class:`ToolRegistry`, a connected toolset (``agentslm.mcp.connect_mcp(...)``: closed by
            :meth:`close`), or an iterable of tools, typed functions and toolsets.
        planner, caller, summarizer: per-role models (default: ``model``).
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
        self.model = load_model(model) if needs_default else None
        planner_model = _load(planner, self.model)
        self.caller = Caller(_load(caller, self.model), max_tokens=max_tokens, limits=limits, engine=engine)
        self.planner: Planner | RoutedPlanner = Planner(
            planner_model, policy=policy, max_tokens=max_tokens, limits=limits, engine=engine
        )
        if fallback is not None:  # SLM-first: low-confidence planning steps go to the fallback model
            large = Planner(load_model(fallback), policy=policy, max_tokens=max_tokens, limits=limits)
            log = EscalationLog(escalation_log) if escalation_log is not None else None
            self.planner = RoutedPlanner(self.planner, large, routing, log)
            self.fallback_caller = Caller(large.model, max_tokens=max_tokens, limits=limits)
        self.summarizer = Summarizer(_load(summarizer, self.model.for_role("summarizer") if self.model else None))
        self.approve = approve
        self.validators = validators
        self.allow = allow
        self.verifier = Verifier(self.registry, approve=approve, validators=validators, allow=allow)
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
        run = _outcome(request, events)
        run.generated_tokens = state.meter.generated
        run.prompt_tokens = state.meter.prompt
        return run

    async def arun(self, request: str, *, session: Session | None = None, idempotency_key: str | None = None) -> AgentRun:
        """Like :meth:`run`, without blocking the event loop (the model runs in a worker thread)."""
        return await asyncio.to_thread(self.run, request, session=session, idempotency_key=idempotency_key)

    def session(self) -> Session:
        """A new multi-turn session (pass it to :meth:`run` / :meth:`stream`)."""
        return Session()

    def stream(self, request: str, *, session: Session | None = None, idempotency_key: str | None = None) -> Iterator[AgentEvent]:
        """Run ``request``, yielding each event as it happens (``idempotency_key``: see :meth:`run`)."""
        run = self._start(request, session, idempotency_key)
        yield from run.events()

    def _start(self, request: str, session: Session | None, idempotency_key: str | None) -> _RunState:
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
        return _RunState(self, request, session, idempotency_key)


def _outcome(request: str, events: list[AgentEvent]) -> AgentRun:
    run_id = events[0].run_id if events else ""
    answer = next((e for e in reversed(events) if isinstance(e, AnswerEvent)), None)
    ask = next((e for e in events if isinstance(e, AskEvent)), None)
    no_tool = next((e for e in events if isinstance(e, NoToolEvent)), None)
    status: Literal["answered", "asked", "no_tool", "failed"]
    if ask is not None:
        status = "asked"
    elif no_tool is not None:
        status = "no_tool"
    elif answer is not None:
        status = "answered"
    else:
        status = "failed"
    return AgentRun(
        run_id=run_id,
        request=request,
        status=status,
        answer=answer.text if answer else None,
        question=ask.question if ask else None,
        events=events,
    )


def _call_text(name: str, arguments: Mapping[str, Any]) -> str:
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"


def _fit(results: Sequence[ResultForAnswer], max_chars: int) -> list[ResultForAnswer]:
    """``results`` with texts cut to an equal share of ``max_chars`` when together they are longer."""
    if sum(len(r.text) for r in results) <= max_chars or not results:
        return list(results)
    share = max(80, max_chars // len(results))
    out = []
    for r in results:
        if len(r.text) > share:
            marker = f"…[cut {len(r.text) - share} of {len(r.text)} chars]"
            r = ResultForAnswer(r.id, r.call, r.text[: max(0, share - len(marker))] + marker, r.ok)
        out.append(r)
    return out


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _replayed_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


class _RunState:
    """One run's state and its event sequence."""

    def __init__(self, agent: Agent, request: str, session: Session | None, idempotency_key: str | None = None) -> None:
        self.agent = agent
        self.request = request
        self.session = session
        self.idempotency_key = idempotency_key
        self.key_counts: dict[str, int] = {}
        self.meter = TokenMeter()
        self.run_id = uuid.uuid4().hex[:12]
        self.seq = 0
        self.start = time.monotonic()
        self.results: dict[int, Any] = {}
        self.done_calls: list[ToolCall] = []
        self.handled: list[tuple[int, ToolCall, ToolCall]] = []
        """(task id, call as planned, call as run) of every call verified in this run."""
        self.answers: list[ResultForAnswer] = []
        self.turn = Turn(request=request)
        self.next_task_id = 1
        self.finished = False
        self.approval_requests: list[ApprovalRequestEvent] = []
        self.verifier = Verifier(
            agent.registry,
            approve=self.approve if agent.approve is not None else None,
            validators=agent.validators,
            allow=agent.allow,
        )

    def approve(self, call: ToolCall, tool: Tool) -> bool:
        """Record the approval request as an event, then ask the agent's approver."""
        self.approval_requests.append(ApprovalRequestEvent(run_id="", task_id=-1, tool=tool.name, arguments=dict(call.arguments)))
        return bool(self.agent.approve(call, tool)) if self.agent.approve is not None else False

    def retrieval_event(self, selection: Selection) -> RetrievalEvent:
        return RetrievalEvent(
            run_id="",
            retriever=selection.retriever,
            tools=[t.name for t in selection.tools],
            of=len(self.agent.registry),
            widened=selection.widened,
            agreed=selection.agreed,
        )

    def emit(self, event: AgentEvent) -> AgentEvent:
        event.run_id = self.run_id
        event.seq = self.seq
        self.seq += 1
        return event

    def conversation(self) -> list[Message]:
        history = self.session.messages() if self.session is not None else []
        convo: list[Message] = [*history, {"role": "user", "content": self.request}]
        if self.done_calls:
            listed = [{"name": c.name, "arguments": c.arguments} for c in self.done_calls]
            convo.append({"role": "assistant", "content": "<tool_call>" + json.dumps(listed) + "</tool_call>"})
            shown = _fit(self.answers, self.agent.budgets.max_observation_chars)
            convo.append({"role": "tool", "content": "\n".join(f"[{r.id}] {r.call} -> {r.text}" for r in shown)})
        return convo

    def tokens_left(self) -> bool:
        return self.meter.generated < self.agent.budgets.max_generated_tokens

    def call_key(self, call: ToolCall) -> str:
        """The idempotency key of ``call`` in this run: the run's key, the call, and which repeat of it this is."""
        body = call.name + "\x00" + json.dumps(call.arguments, sort_keys=True, default=str)
        n = self.key_counts[body] = self.key_counts.get(body, 0) + 1
        digest = hashlib.sha256(f"{self.idempotency_key}\x00{body}\x00{n}".encode()).hexdigest()
        return digest[:32]

    def over_time(self) -> bool:
        return time.monotonic() - self.start > self.agent.budgets.max_seconds

    def finish(self, status: str, answer: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        if self.session is not None:
            self.turn.status = status
            self.turn.answer = answer
            self.session.turns.append(self.turn)

    def events(self) -> Iterator[AgentEvent]:  # noqa: C901 - complexity exception, issue 22
        agent = self.agent
        budgets = agent.budgets
        selection = agent.select_tools(self.request)
        tools = selection.tools
        if selection.active:
            yield self.emit(self.retrieval_event(selection))
        failures = 0
        steps = 0
        failed = False
        for round_no in range(1, budgets.max_rounds + 1):
            if self.over_time():
                yield self.emit(ErrorEvent(run_id="", kind="timeout", message=f"the run exceeded {budgets.max_seconds:g} s"))
                break
            if not self.tokens_left():
                yield self.emit(
                    ErrorEvent(
                        run_id="",
                        kind="budget",
                        message=f"token budget of {budgets.max_generated_tokens} generated tokens reached",
                    )
                )
                break
            try:
                with self.meter.active():
                    decision = agent.planner.decide(
                        tools, self.conversation(), executed=self.handled, next_id=self.next_task_id, round_failed=failed
                    )
            except Exception as exc:  # the model backend failed: the run stops here, nothing half-decoded runs
                yield self.emit(ErrorEvent(run_id="", kind="model", message=f"the planner's model failed: {_describe(exc)}"))
                break
            if decision.escalation is not None:
                yield self.emit(EscalationEvent(run_id="", role="planner", **decision.escalation))
            if decision.kind == "no_tool" and selection.active and not selection.widened and not self.handled:
                selection = agent.select_tools(self.request, widen=True)  # none of the retrieved tools fit: widen once
                tools = selection.tools
                yield self.emit(self.retrieval_event(selection))
                continue
            if decision.kind == "no_tool":
                names = ", ".join(t.name for t in tools[:20]) or "none"
                yield self.emit(NoToolEvent(run_id="", reason=decision.reason))
                text = f"None of my tools can do that (available: {names})."
                yield self.emit(AnswerEvent(run_id="", text=text))
                self.finish("no_tool", text)
                return
            if decision.kind == "ask":
                yield self.emit(AskEvent(run_id="", question=decision.question, missing=decision.missing, tool=decision.tool))
                self.finish("asked", decision.question)
                return
            if decision.kind == "done":
                break
            if decision.kind == "give_up":
                yield self.emit(
                    ErrorEvent(run_id="", kind="give_up", message=f"the planner's output was unusable: {decision.reason}")
                )
                failures += 1
                if failures > budgets.max_replans:
                    self.finish("failed")
                    return
                continue
            plan = decision.plan
            self.next_task_id += len(plan.tasks)
            yield self.emit(
                PlanEvent(
                    run_id="",
                    step=round_no,
                    tasks=[PlannedTask(id=t.id, tool=t.tool, arguments=t.arguments, depends_on=t.depends_on) for t in plan.tasks],
                    signals=decision.signals,
                )
            )
            failed = False
            for event in self.execute(plan, steps):
                if isinstance(event, ErrorEvent):
                    failed = True
                    if event.kind in ("budget", "timeout"):
                        yield event
                        yield from self.answer()
                        return
                if isinstance(event, ResultEvent):
                    steps += 1
                yield event
            if failed:
                failures += 1
                if failures > budgets.max_replans:
                    yield self.emit(ErrorEvent(run_id="", kind="give_up", message="too many failed steps; stopping"))
                    break
        yield from self.answer()

    def answer(self) -> Iterator[AgentEvent]:
        if not self.answers:
            self.finish("failed")
            return
        if not any(r.ok for r in self.answers):  # nothing succeeded: say so plainly, no model needed
            text = " ".join(f"{r.call}: {r.text}." for r in self.answers)
            yield self.emit(AnswerEvent(run_id="", text=text, cited=[r.id for r in self.answers]))
            self.finish("answered", text)
            return
        shown = _fit(self.answers, self.agent.budgets.max_observation_chars)
        listed = "; ".join(f"{r.call} -> {r.text}" for r in shown)
        replaced: list[str] = []
        if not self.tokens_left():  # the budget is spent: the results themselves are the answer
            text, cited = listed, [r.id for r in shown]
        else:
            try:
                with self.meter.active():
                    text, cited, replaced = self.agent.summarizer.checked_answer(self.request, shown)
            except Exception as exc:
                yield self.emit(ErrorEvent(run_id="", kind="model", message=f"the summarizer's model failed: {_describe(exc)}"))
                text, cited = listed, [r.id for r in shown]
        yield self.emit(AnswerEvent(run_id="", text=text, cited=cited, replaced=replaced))
        self.finish("answered", text)

    def execute(self, plan: Plan, steps_so_far: int) -> Iterator[AgentEvent]:  # noqa: C901 - complexity exception, issue 22
        """Check, verify and run a plan's tasks wave by wave; independent tasks run in parallel."""
        agent = self.agent
        earlier = {task_id: planned.name for task_id, planned, _ in self.handled if task_id in self.results}
        problems = check_plan(plan, agent.registry, max_tasks=agent.planner.policy.max_tasks, earlier=earlier)
        for p in problems:
            yield self.emit(ErrorEvent(run_id="", kind="bad_plan", message=p.message, task_id=p.task_id))
        if any(p.task_id is None for p in problems):
            return
        bad = {p.task_id for p in problems}
        for t in plan.tasks:  # tasks that depend on a bad task are dropped too
            if set(t.depends_on) & bad:
                bad.add(t.id)
        if bad:
            plan = Plan(tasks=[t for t in plan.tasks if t.id not in bad])
        steps = steps_so_far
        failed_ids: set[int] = set()
        for wave in levels(plan):
            approved: list[tuple[int, Tool, ToolCall, Any, list[Any], str | None]] = []
            for task in wave:
                if self.over_time():
                    yield self.emit(
                        ErrorEvent(run_id="", kind="timeout", message=f"the run exceeded {agent.budgets.max_seconds:g} s")
                    )
                    return
                if steps + len(approved) >= agent.budgets.max_steps:
                    yield self.emit(
                        ErrorEvent(
                            run_id="",
                            kind="budget",
                            message=f"step budget of {agent.budgets.max_steps} calls reached",
                            task_id=task.id,
                        )
                    )
                    return
                if set(task.depends_on) & failed_ids:
                    yield self.emit(
                        ErrorEvent(
                            run_id="", kind="reference", message=f"task {task.id} depends on a failed task", task_id=task.id
                        )
                    )
                    continue
                try:
                    arguments = substitute(task.arguments, self.results)
                except KeyError as exc:
                    failed_ids.add(task.id)
                    yield self.emit(ErrorEvent(run_id="", kind="reference", message=str(exc.args[0]), task_id=task.id))
                    continue
                call = ToolCall(name=task.tool, arguments=arguments)
                yield self.emit(CallEvent(run_id="", task_id=task.id, call=call))
                tool = agent.registry.get(task.tool)
                key = self.call_key(call) if self.keyed(tool) else None
                earlier_record = agent.audit.lookup(key) if key is not None and agent.audit is not None else None
                if tool is not None and earlier_record is not None and earlier_record.phase == "done" and earlier_record.ok:
                    replay = Observation(
                        ok=True,
                        text=earlier_record.output or "",
                        value=_replayed_value(earlier_record.output or ""),
                        replayed=True,
                    )
                    self.handled.append((task.id, ToolCall(name=task.tool, arguments=task.arguments), call))
                    approved.append((task.id, tool, call, replay, [], None))
                    continue
                if earlier_record is not None and earlier_record.phase == "intent":
                    failed_ids.add(task.id)
                    self.handled.append((task.id, ToolCall(name=task.tool, arguments=task.arguments), call))
                    self.done_calls.append(call)
                    message = (
                        f"{call.name} was started under this idempotency key (run {earlier_record.run_id}) but never "
                        "finished: the process stopped while it ran, so whether it took effect is unknown. Not run "
                        "again; check its effect, then retry with a new idempotency key if it should run."
                    )
                    self.answers.append(
                        ResultForAnswer(
                            id=task.id, call=_call_text(call.name, call.arguments), text="not run: " + message, ok=False
                        )
                    )
                    yield self.emit(ErrorEvent(run_id="", kind="unknown_outcome", message=message, task_id=task.id))
                    continue
                self.approval_requests.clear()
                verdict = self.verifier.verify(call)
                for pending in self.approval_requests:
                    yield self.emit(pending.model_copy(update={"task_id": task.id}))
                self.approval_requests.clear()
                yield self.emit(VerdictEvent(run_id="", task_id=task.id, tool=task.tool, verdict=verdict))
                self.handled.append((task.id, ToolCall(name=task.tool, arguments=task.arguments), call))
                if not verdict.approved or tool is None:
                    failed_ids.add(task.id)
                    self.log(task.id, call, verdict.checks, approved=False)
                    self.done_calls.append(call)  # never proposed again in this run
                    self.answers.append(
                        ResultForAnswer(
                            id=task.id,
                            call=_call_text(call.name, call.arguments),
                            text="not run: " + "; ".join(verdict.reasons),
                            ok=False,
                        )
                    )
                    yield self.emit(ErrorEvent(run_id="", kind="refused", message="; ".join(verdict.reasons), task_id=task.id))
                    continue
                if key is not None and agent.audit is not None:  # intent first: a crash from here on is detectable
                    agent.audit.append(
                        AuditRecord(
                            run_id=self.run_id,
                            task_id=task.id,
                            tool=call.name,
                            arguments=call.arguments,
                            checks=verdict.checks,
                            approved=True,
                            executed=False,
                            started=time.time(),
                            idempotency_key=key,
                            phase="intent",
                        )
                    )
                approved.append((task.id, tool, call, verdict.arguments or {}, verdict.checks, key))
            yield from self.run_wave(approved, failed_ids)
            steps += len(approved)

    def keyed(self, tool: Tool | None) -> bool:
        """Whether calls of ``tool`` get an idempotency key in this run (side-effecting tools, when a key was given)."""
        return self.idempotency_key is not None and tool is not None and bool(tool.effects - {Effect.READ})

    def run_wave(
        self, approved: list[tuple[int, Tool, ToolCall, Any, list[Any], str | None]], failed_ids: set[int]
    ) -> Iterator[AgentEvent]:
        """Run approved calls in parallel; an ``Observation`` in place of the arguments is a replayed result."""
        if not approved:
            return
        agent = self.agent

        def work(tool: Tool, arguments: Any) -> tuple[Observation, float, float]:
            started = time.time()
            if isinstance(arguments, Observation):  # completed before under this idempotency key: not run again
                return arguments, started, started
            observation = agent.executor.execute(tool, arguments)
            return observation, started, time.time()

        with ThreadPoolExecutor(max_workers=max(1, min(agent.budgets.max_parallel, len(approved)))) as pool:
            futures = {
                pool.submit(work, tool, args): (task_id, tool, call, checks, key)
                for task_id, tool, call, args, checks, key in approved
            }
            pending = set(futures)
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    task_id, tool, call, checks, key = futures[future]
                    observation, started, ended = future.result()
                    if not observation.replayed:
                        self.log(
                            task_id,
                            call,
                            checks,
                            approved=True,
                            observation=observation,
                            started=started,
                            finished=ended,
                            key=key,
                        )
                    yield self.emit(
                        ResultEvent(
                            run_id="", task_id=task_id, tool=tool.name, observation=observation, started=started, finished=ended
                        )
                    )
                    self.done_calls.append(call)
                    self.answers.append(
                        ResultForAnswer(
                            id=task_id, call=_call_text(call.name, call.arguments), text=observation.text, ok=observation.ok
                        )
                    )
                    if observation.ok:
                        self.results[task_id] = observation.value
                        self.turn.calls.append({"name": call.name, "arguments": call.arguments, "result": observation.text})
                    else:
                        failed_ids.add(task_id)
                        yield self.emit(
                            ErrorEvent(
                                run_id="", kind="tool_failed", message=observation.error or observation.text, task_id=task_id
                            )
                        )

    def log(
        self,
        task_id: int,
        call: ToolCall,
        checks: list[Any],
        *,
        approved: bool,
        observation: Observation | None = None,
        started: float | None = None,
        finished: float | None = None,
        key: str | None = None,
    ) -> None:
        if self.agent.audit is None:
            return
        self.agent.audit.append(
            AuditRecord(
                run_id=self.run_id,
                task_id=task_id,
                tool=call.name,
                arguments=call.arguments,
                checks=checks,
                approved=approved,
                executed=observation is not None,
                ok=observation.ok if observation else None,
                error=observation.error if observation else None,
                started=started,
                finished=finished,
                output_chars=len(observation.text) if observation else 0,
                idempotency_key=key,
                phase="done" if key is not None else None,
                output=observation.text if key is not None and observation is not None else None,
            )
        )
