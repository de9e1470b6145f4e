"""The run engine: one request's planning rounds, plan checks, verification and waves of calls.

:class:`RunState` runs one request against a :class:`RunContext` (the tools, roles, executor, budgets, audit log and
approval policy an :class:`~agentslm.agent.Agent` holds); ``Agent.run`` / ``stream`` create one per request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Literal

from agentslm.async_bridge import await_on_loop, in_async_run, off_loop
from agentslm.audit import AuditLog
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
    describe_event,
)
from agentslm.execute import Executor
from agentslm.grounding import is_grounded_number, is_grounded_string
from agentslm.models.base import Message
from agentslm.plan import Plan, check_plan, levels, substitute
from agentslm.provenance import ArgumentSource, Sources, argument_sources
from agentslm.registry import Effect, Tool, ToolRegistry
from agentslm.retrieval.select import Selection
from agentslm.roles.summarizer import ResultForAnswer, Summarizer, fit_results
from agentslm.run.audit_records import call_record, intent_record, replayed
from agentslm.run.types import Budgets, Session, Turn
from agentslm.step_types import Observation, ToolCall
from agentslm.telemetry import start_run_span, tool_failed, tool_span
from agentslm.usage import TokenMeter
from agentslm.verify import Approver, Validator, Verifier

_log = logging.getLogger(__name__)

__all__ = ["RunContext", "RunState"]


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """What a run uses from the agent that starts it (no back-pointer to the agent)."""

    registry: ToolRegistry
    planner: Any
    """A :class:`~agentslm.roles.planner.Planner` or a :class:`~agentslm.router.RoutedPlanner` (``decide``, ``policy``)."""
    summarizer: Summarizer
    executor: Executor
    budgets: Budgets
    audit: AuditLog | None
    approve: Approver | None
    validators: Sequence[Validator] | Mapping[str, Sequence[Validator]]
    allow: Iterable[str] | None
    select_tools: Callable[..., Selection]
    """``select_tools(request, widen=False)``: the tools offered to the model."""
    loop: asyncio.AbstractEventLoop | None = None
    """The application's event loop async tools are awaited on (``Agent.astream``), or None: each gets its own."""
    steps_on_loop: bool = False
    """Inside ``arun`` / ``astream``: whether the model steps run on the event loop itself (every model is served,
    :attr:`~agentslm.models.base.Model.io_bound`, and no retriever ranks the tools) rather than in a worker thread."""


_Approved = tuple[int, Tool, ToolCall, Any, list[Any], str | None]
"""A call ready to run: (task id, tool, call, verified arguments or a replayed observation, checks, idempotency key)."""

_Next = Literal["next", "break", "return"]
"""After a round: plan another, stop planning and answer, or end the run (its answer already given)."""


@dataclass
class _Rounds:
    """The planning rounds' running state."""

    selection: Selection
    failures: int = 0
    steps: int = 0
    failed: bool = False
    """Whether the last round had an error (the planner is told)."""


def _call_text(name: str, arguments: Mapping[str, Any]) -> str:
    return f"{name}(" + ", ".join(f"{k}={v!r}" for k, v in arguments.items()) + ")"


def _model_name(planner: Any) -> str:
    """The planner's model name (a routed planner's small model), for the run's trace."""
    inner = getattr(planner, "small", planner)
    return str(getattr(getattr(inner, "model", None), "name", "model"))


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _as_data(text: Any) -> Any:
    """A result's text as data where it is JSON (an earlier turn's record keeps its fields and ids), else the text."""
    if isinstance(text, str) and text[:1] in "[{":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _open_question(session: Session | None, request: str) -> Turn | None:
    """The session's last turn when it ended asking the user for a value and ``request`` is not a question of its own:
    "Send an email to Ana." -> which text? -> "Say that dinner is at 7, subject Dinner." is one request, not a new one
    that names no tool."""
    if session is None or not session.turns or session.turns[-1].status != "asked":
        return None
    return None if request.rstrip().endswith("?") else session.turns[-1]


class RunState:
    """One run's state and its event sequence: planning rounds, plan checks, verification, waves of parallel calls,
    idempotent replay, audit records, the answer. Everything it needs from the agent comes in a :class:`RunContext`."""

    def __init__(self, ctx: RunContext, request: str, session: Session | None, idempotency_key: str | None = None) -> None:
        self.ctx = ctx
        self.session = session
        self.asked = _open_question(session, request)
        """The earlier turn whose question this request answers (its request and this one are read as one)."""
        self.request = f"{self.asked.request.rstrip()} {request.strip()}" if self.asked is not None else request
        """The request the run works on: ``request``, completed by the turn it answers (see :func:`_open_question`)."""
        self.idempotency_key = idempotency_key
        self.key_counts: dict[str, int] = {}
        self.run_id = uuid.uuid4().hex[:12]
        self.trace = start_run_span(self.run_id, model=_model_name(ctx.planner))
        """The run's OpenTelemetry span (None without opentelemetry): model steps and tool calls are its children."""
        self.meter = TokenMeter(self.trace)
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
        self.provenance: dict[int, dict[str, ArgumentSource]] = {}
        """Task id -> where each argument value of its call came from."""
        self.verifier = Verifier(
            ctx.registry,
            approve=self.approve if ctx.approve is not None else None,
            validators=ctx.validators,
            allow=ctx.allow,
        )

    def approve(self, call: ToolCall, tool: Tool) -> bool:
        """Record the approval request as an event, then ask the agent's approver."""
        self.approval_requests.append(ApprovalRequestEvent(run_id="", task_id=-1, tool=tool.name, arguments=dict(call.arguments)))
        return bool(off_loop(self.ctx.approve, call, tool)) if self.ctx.approve is not None else False

    def step(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """A model step: on the event loop where every model is served (:attr:`RunContext.steps_on_loop`), else off it
        (:func:`~agentslm.async_bridge.off_loop`: a worker thread inside ``arun`` / ``astream``, directly otherwise)."""
        if self.ctx.steps_on_loop:
            return fn(*args, **kwargs)
        return off_loop(fn, *args, **kwargs)

    def retrieval_event(self, selection: Selection) -> RetrievalEvent:
        return RetrievalEvent(
            run_id="",
            retriever=selection.retriever,
            tools=[t.name for t in selection.tools],
            of=len(self.ctx.registry),
            widened=selection.widened,
            agreed=selection.agreed,
        )

    def emit(self, event: AgentEvent) -> AgentEvent:
        event.run_id = self.run_id
        event.seq = self.seq
        self.seq += 1
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("run %s #%d %s", self.run_id, event.seq, describe_event(event))
        if self.trace is not None and isinstance(event, ErrorEvent | EscalationEvent | AskEvent):
            self.trace.event(
                f"agentslm.{event.type}",
                {k: v for k, v in event.model_dump(mode="json").items() if isinstance(v, str | int | float | bool)},
            )
        return event

    def history(self) -> list[Message]:
        """The session's earlier turns as messages, less the turn whose question this request answers (its request is
        part of :attr:`request`)."""
        if self.session is None:
            return []
        turns = self.session.turns[:-1] if self.asked is not None else self.session.turns
        return Session(turns=turns).messages()

    def conversation(self) -> list[Message]:
        history = self.history()
        convo: list[Message] = [*history, {"role": "user", "content": self.request}]
        if self.done_calls:
            listed = [{"name": c.name, "arguments": c.arguments} for c in self.done_calls]
            convo.append({"role": "assistant", "content": "<tool_call>" + json.dumps(listed) + "</tool_call>"})
            shown = fit_results(self.answers, self.ctx.budgets.max_observation_chars)
            convo.append({"role": "tool", "content": "\n".join(f"[{r.id}] {r.call} -> {r.text}" for r in shown)})
        return convo

    def sources(self) -> Sources:
        """What this run's calls may copy values from: the session's and this request, earlier results (this run's as
        values, earlier turns' as the text the model saw)."""
        history = self.history()
        requests = [m["content"] for m in history if m["role"] == "user"] + [self.request]
        results: dict[int, Any] = {}
        for call in self._earlier_calls():
            tool = self.ctx.registry.get(call["name"])
            if tool is not None and tool.effects - {Effect.READ} and call.get("arguments"):
                # "email that note to David": what the write carried (the note's text), with its result ("note #5")
                results[-len(results) - 1] = {**call["arguments"], "result": call["result"]}
            else:
                results[-len(results) - 1] = _as_data(call["result"])
        results.update(self.results)
        return Sources(requests=requests, results=results)

    def _earlier_calls(self) -> list[dict[str, Any]]:
        """The calls of the session's earlier turns (as :meth:`history` shows them), newest last."""
        if self.session is None:
            return []
        turns = self.session.turns[:-1] if self.asked is not None else self.session.turns
        return [c for turn in turns for c in turn.calls]

    def argument_sources(self, call: ToolCall, tool: Tool | None, planned: dict[str, Any]) -> dict[str, ArgumentSource]:
        """Where each argument of ``call`` came from (plain text counts as from the request when its words are there)."""
        if tool is None:
            return {}
        sources = self.sources()
        seen = "\n".join([sources.request_text, *(sources.result_text(t) for t in sources.results)])

        def grounded(value: Any, spec: Any) -> bool:
            if isinstance(value, str):
                return is_grounded_string(value, seen)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value in (0, 1) or is_grounded_number(float(value), seen)
            return False

        return argument_sources(call.arguments, tool.parameters, sources, planned=planned, grounded=grounded)

    def tokens_left(self) -> bool:
        return self.meter.generated < self.ctx.budgets.max_generated_tokens

    def call_key(self, call: ToolCall) -> str:
        """The idempotency key of ``call`` in this run: the run's key, the call, and which repeat of it this is."""
        body = call.name + "\x00" + json.dumps(call.arguments, sort_keys=True, default=str)
        n = self.key_counts[body] = self.key_counts.get(body, 0) + 1
        digest = hashlib.sha256(f"{self.idempotency_key}\x00{body}\x00{n}".encode()).hexdigest()
        return digest[:32]

    def over_time(self) -> bool:
        return time.monotonic() - self.start > self.ctx.budgets.max_seconds

    def finish(self, status: str, answer: str | None = None) -> None:
        if self.finished:
            return
        self.finished = True
        self._end_trace(status)
        _log.info(
            "run %s %s: %d call(s) in %.1f s, %d generated tokens",
            self.run_id,
            status,
            len(self.done_calls),
            time.monotonic() - self.start,
            self.meter.generated,
        )
        if self.session is not None:
            self.turn.status = status
            self.turn.answer = answer
            self.session.turns.append(self.turn)

    def events(self) -> Iterator[AgentEvent]:
        """The run's events: planning rounds (each a decision, then its plan executed) until the planner is done,
        concludes (no tool, ask), gives up too often or a budget ends the run; then the answer."""
        status = "abandoned"  # the consumer stopped reading before the run finished
        try:
            yield from self._events()
        except Exception:
            status = "error"
            raise
        finally:
            self._end_trace(status)  # does nothing if finish() ended it

    def _end_trace(self, status: str) -> None:
        if self.trace is not None:
            self.trace.end(status, input_tokens=self.meter.prompt, output_tokens=self.meter.generated, calls=len(self.done_calls))

    def _events(self) -> Iterator[AgentEvent]:
        selection = self.step(self.ctx.select_tools, self.request)
        if selection.active:
            yield self.emit(self.retrieval_event(selection))
        rounds = _Rounds(selection=selection)
        for round_no in range(1, self.ctx.budgets.max_rounds + 1):
            stop = self._out_of_budget()
            if stop is not None:
                yield self.emit(stop)
                break
            decision = yield from self._decide(rounds)
            if decision is None:
                break
            step = yield from self._follow(decision, rounds, round_no)
            if step == "return":
                return
            if step == "break":
                break
        yield from self.answer()

    def _out_of_budget(self) -> ErrorEvent | None:
        """The error that ends the run before another round: time or generated tokens spent."""
        budgets = self.ctx.budgets
        if self.over_time():
            return ErrorEvent(run_id="", kind="timeout", message=f"the run exceeded {budgets.max_seconds:g} s")
        if not self.tokens_left():
            return ErrorEvent(
                run_id="", kind="budget", message=f"token budget of {budgets.max_generated_tokens} generated tokens reached"
            )
        return None

    def _decide(self, rounds: _Rounds) -> Generator[AgentEvent, None, Any]:
        """The planner's decision for this round (None if its model failed: the run stops, nothing half-decoded runs)."""
        try:
            with self.meter.active("planner"):
                decision = self.step(
                    self.ctx.planner.decide,
                    rounds.selection.tools,
                    self.conversation(),
                    executed=self.handled,
                    next_id=self.next_task_id,
                    round_failed=rounds.failed,
                    sources=self.sources(),
                )
        except Exception as exc:
            yield self.emit(ErrorEvent(run_id="", kind="model", message=f"the planner's model failed: {_describe(exc)}"))
            return None
        if decision.escalation is not None:
            yield self.emit(EscalationEvent(run_id="", role="planner", **decision.escalation))
        return decision

    def _follow(self, decision: Any, rounds: _Rounds, round_no: int) -> Generator[AgentEvent, None, _Next]:
        """Act on one decision: widen the tool selection, conclude (no tool, ask), stop, count a give-up, or run the plan."""
        ctx = self.ctx
        selection = rounds.selection
        if decision.kind == "no_tool" and selection.active and not selection.widened and not self.handled:
            # none of the retrieved tools fit: widen once
            rounds.selection = self.step(ctx.select_tools, self.request, widen=True)
            yield self.emit(self.retrieval_event(rounds.selection))
            return "next"
        if decision.kind == "no_tool":
            names = ", ".join(t.name for t in selection.tools[:20]) or "none"
            yield self.emit(NoToolEvent(run_id="", reason=decision.reason))
            text = f"None of my tools can do that (available: {names})."
            yield self.emit(AnswerEvent(run_id="", text=text))
            self.finish("no_tool", text)
            return "return"
        if decision.kind == "ask":
            yield self.emit(AskEvent(run_id="", question=decision.question, missing=decision.missing, tool=decision.tool))
            self.finish("asked", decision.question)
            return "return"
        if decision.kind == "done":
            return "break"
        if decision.kind == "give_up":
            yield self.emit(
                ErrorEvent(run_id="", kind="give_up", message=f"the planner's output was unusable: {decision.reason}")
            )
            rounds.failures += 1
            if rounds.failures > ctx.budgets.max_replans:
                self.finish("failed")
                return "return"
            return "next"
        return (yield from self._run_plan(decision, rounds, round_no))

    def _run_plan(self, decision: Any, rounds: _Rounds, round_no: int) -> Generator[AgentEvent, None, _Next]:
        """Announce and execute a round's plan; a budget or time error ends the run with the answer so far."""
        plan = decision.plan
        self.next_task_id = max([self.next_task_id - 1, *(t.id for t in plan.tasks)]) + 1  # ids may skip dropped tasks
        yield self.emit(
            PlanEvent(
                run_id="",
                step=round_no,
                tasks=[PlannedTask(id=t.id, tool=t.tool, arguments=t.arguments, depends_on=t.depends_on) for t in plan.tasks],
                signals=decision.signals,
            )
        )
        rounds.failed = False
        for event in self.execute(plan, rounds.steps):
            if isinstance(event, ErrorEvent):
                rounds.failed = True
                if event.kind in ("budget", "timeout"):
                    yield event
                    yield from self.answer()
                    return "return"
            if isinstance(event, ResultEvent):
                rounds.steps += 1
            yield event
        if rounds.failed:
            rounds.failures += 1
            if rounds.failures > self.ctx.budgets.max_replans:
                yield self.emit(ErrorEvent(run_id="", kind="give_up", message="too many failed steps; stopping"))
                return "break"
        return "next"

    def answer(self) -> Iterator[AgentEvent]:
        if not self.answers:
            self.finish("failed")
            return
        if not any(r.ok for r in self.answers):  # nothing succeeded: say so plainly, no model needed
            text = " ".join(f"{r.call}: {r.text}." for r in self.answers)
            yield self.emit(AnswerEvent(run_id="", text=text, cited=[r.id for r in self.answers]))
            self.finish("answered", text)
            return
        shown = fit_results(self.answers, self.ctx.budgets.max_observation_chars)
        listed = "; ".join(f"{r.call} -> {r.text}" for r in shown)
        replaced: list[str] = []
        if not self.tokens_left():  # the budget is spent: the results themselves are the answer
            text, cited = listed, [r.id for r in shown]
        else:
            try:
                with self.meter.active("summarizer"):
                    text, cited, replaced = self.step(self.ctx.summarizer.checked_answer, self.request, shown)
            except Exception as exc:
                yield self.emit(ErrorEvent(run_id="", kind="model", message=f"the summarizer's model failed: {_describe(exc)}"))
                text, cited = listed, [r.id for r in shown]
        yield self.emit(AnswerEvent(run_id="", text=text, cited=cited, replaced=replaced))
        self.finish("answered", text)

    def execute(self, plan: Plan, steps_so_far: int) -> Iterator[AgentEvent]:
        """Check, verify and run a plan's tasks wave by wave; independent tasks run in parallel."""
        checked = yield from self._checked(plan)
        if checked is None:
            return
        steps = steps_so_far
        failed_ids: set[int] = set()
        for wave in levels(checked):
            approved: list[_Approved] = []
            for task in wave:
                stop = self._stop_before(task, steps + len(approved))
                if stop is not None:
                    yield self.emit(stop)
                    return
                entry = yield from self._prepare(task, failed_ids)
                if entry is not None:
                    approved.append(entry)
            yield from self.run_wave(approved, failed_ids)
            steps += len(approved)

    def _checked(self, plan: Plan) -> Generator[AgentEvent, None, Plan | None]:
        """The plan less its bad tasks and the tasks that depend on them (None when the plan as a whole is bad)."""
        ctx = self.ctx
        earlier = {task_id: planned.name for task_id, planned, _ in self.handled if task_id in self.results}
        problems = check_plan(plan, ctx.registry, max_tasks=ctx.planner.policy.max_tasks, earlier=earlier)
        for p in problems:
            yield self.emit(ErrorEvent(run_id="", kind="bad_plan", message=p.message, task_id=p.task_id))
        if any(p.task_id is None for p in problems):
            return None
        bad = {p.task_id for p in problems}
        for t in plan.tasks:  # tasks that depend on a bad task are dropped too
            if set(t.depends_on) & bad:
                bad.add(t.id)
        return Plan(tasks=[t for t in plan.tasks if t.id not in bad]) if bad else plan

    def _stop_before(self, task: Any, steps: int) -> ErrorEvent | None:
        """The error that ends the run before ``task``: time, or the step budget."""
        budgets = self.ctx.budgets
        if self.over_time():
            return ErrorEvent(run_id="", kind="timeout", message=f"the run exceeded {budgets.max_seconds:g} s")
        if steps >= budgets.max_steps:
            return ErrorEvent(
                run_id="", kind="budget", message=f"step budget of {budgets.max_steps} calls reached", task_id=task.id
            )
        return None

    def _not_run(self, task_id: int, call: ToolCall, message: str) -> None:
        """Remember a call that was not run (never proposed again in this run) and why, for the answer."""
        self.done_calls.append(call)
        self.answers.append(
            ResultForAnswer(id=task_id, call=_call_text(call.name, call.arguments), text="not run: " + message, ok=False)
        )

    def _prepare(self, task: Any, failed_ids: set[int]) -> Generator[AgentEvent, None, _Approved | None]:
        """Resolve one task's references, check its values' provenance, replay it under its idempotency key or verify
        it: the approved call, or None (its error emitted)."""
        ctx = self.ctx
        if set(task.depends_on) & failed_ids:
            yield self.emit(
                ErrorEvent(run_id="", kind="reference", message=f"task {task.id} depends on a failed task", task_id=task.id)
            )
            return None
        try:
            arguments = substitute(task.arguments, self.results)
        except KeyError as exc:
            failed_ids.add(task.id)
            yield self.emit(ErrorEvent(run_id="", kind="reference", message=str(exc.args[0]), task_id=task.id))
            return None
        call = ToolCall(name=task.tool, arguments=arguments)
        tool = ctx.registry.get(task.tool)
        planned = ToolCall(name=task.tool, arguments=task.arguments)
        provenance = self.provenance[task.id] = self.argument_sources(call, tool, task.arguments)
        yield self.emit(CallEvent(run_id="", task_id=task.id, call=call, provenance=provenance))
        unsupported = [
            f"{name} {src.detail}"
            for name, src in provenance.items()
            if src.source == "unsupported" and (src.identifier or src.detail.startswith("junk"))
        ]
        if unsupported:  # an invented identifier or junk text is never sent to a tool
            failed_ids.add(task.id)
            self.handled.append((task.id, planned, call))
            self.log(task.id, call, [], approved=False)
            self._not_run(task.id, call, "; ".join(unsupported))
            yield self.emit(ErrorEvent(run_id="", kind="provenance", message="; ".join(unsupported), task_id=task.id))
            return None
        key = self.call_key(call) if self.keyed(tool) else None
        earlier_record = ctx.audit.lookup(key) if key is not None and ctx.audit is not None else None
        if tool is not None and earlier_record is not None and earlier_record.phase == "done" and earlier_record.ok:
            replay = replayed(earlier_record)
            self.handled.append((task.id, planned, call))
            return (task.id, tool, call, replay, [], None)
        if earlier_record is not None and earlier_record.phase == "intent":
            failed_ids.add(task.id)
            self.handled.append((task.id, planned, call))
            message = (
                f"{call.name} was started under this idempotency key (run {earlier_record.run_id}) but never "
                "finished: the process stopped while it ran, so whether it took effect is unknown. Not run "
                "again; check its effect, then retry with a new idempotency key if it should run."
            )
            self._not_run(task.id, call, message)
            yield self.emit(ErrorEvent(run_id="", kind="unknown_outcome", message=message, task_id=task.id))
            return None
        return (yield from self._verified(task.id, planned, call, tool, key, failed_ids))

    def _verified(
        self, task_id: int, planned: ToolCall, call: ToolCall, tool: Tool | None, key: str | None, failed_ids: set[int]
    ) -> Generator[AgentEvent, None, _Approved | None]:
        """Verify a call (approval requests and the verdict emitted): the approved call, or None when refused. An
        approved keyed call gets its audit ``intent`` record first, so a crash from here on is detectable."""
        self.approval_requests.clear()
        verdict = self.verifier.verify(call)
        for pending in self.approval_requests:
            yield self.emit(pending.model_copy(update={"task_id": task_id}))
        self.approval_requests.clear()
        yield self.emit(VerdictEvent(run_id="", task_id=task_id, tool=call.name, verdict=verdict))
        self.handled.append((task_id, planned, call))
        if not verdict.approved or tool is None:
            failed_ids.add(task_id)
            self.log(task_id, call, verdict.checks, approved=False)
            self._not_run(task_id, call, "; ".join(verdict.reasons))
            yield self.emit(ErrorEvent(run_id="", kind="refused", message="; ".join(verdict.reasons), task_id=task_id))
            return None
        audit = self.ctx.audit
        if key is not None and audit is not None:
            audit.append(intent_record(self.run_id, task_id, call, verdict.checks, key, self.provenance.get(task_id, {})))
        return (task_id, tool, call, verdict.arguments or {}, verdict.checks, key)

    def keyed(self, tool: Tool | None) -> bool:
        """Whether calls of ``tool`` get an idempotency key in this run (side-effecting tools, when a key was given)."""
        return self.idempotency_key is not None and tool is not None and bool(tool.effects - {Effect.READ})

    def run_wave(self, approved: list[_Approved], failed_ids: set[int]) -> Iterator[AgentEvent]:
        """Run approved calls in parallel; an ``Observation`` in place of the arguments is a replayed result."""
        if not approved:
            return
        ctx = self.ctx

        def work(task_id: int, tool: Tool, arguments: Any) -> tuple[Observation, float, float]:
            started = time.time()
            if isinstance(arguments, Observation):  # completed before under this idempotency key: not run again
                return arguments, started, started
            with tool_span(tool.name, call_id=f"{self.run_id}-{task_id}", effects=tool.effects, parent=self.trace) as span:
                if ctx.loop is not None:
                    observation = ctx.executor.execute(tool, arguments, loop=ctx.loop)
                else:
                    observation = ctx.executor.execute(tool, arguments)
                if not observation.ok:
                    tool_failed(span, observation.error or observation.text)
            return observation, started, time.time()

        with ThreadPoolExecutor(max_workers=max(1, min(ctx.budgets.max_parallel, len(approved)))) as pool:
            futures = {
                pool.submit(work, task_id, tool, args): (task_id, tool, call, checks, key)
                for task_id, tool, call, args, checks, key in approved
            }
            pending = set(futures)
            while pending:
                finished, pending = _first_done(pending)
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
        if self.ctx.audit is None:
            return
        self.ctx.audit.append(
            call_record(
                self.run_id,
                task_id,
                call,
                checks,
                self.provenance.get(task_id, {}),
                approved=approved,
                observation=observation,
                started=started,
                finished=finished,
                key=key,
            )
        )


def _first_done(pending: set[Future[Any]]) -> tuple[set[Future[Any]], set[Future[Any]]]:
    """Wait for the first of ``pending`` to finish (inside ``arun`` / ``astream`` on the event loop, which meanwhile
    runs the application and the async tools of this wave). Returns (finished, still pending)."""
    if not in_async_run():
        done, rest = wait(pending, return_when=FIRST_COMPLETED)
        return set(done), set(rest)
    await_on_loop(_any_done(pending))
    done = {f for f in pending if f.done()}
    return done, pending - done


async def _any_done(futures: set[Future[Any]]) -> None:
    await asyncio.wait([asyncio.wrap_future(f) for f in futures], return_when=asyncio.FIRST_COMPLETED)
