"""Agent runs: orchestration with a scripted fake model (plans, verification, parallel execution,
budgets, audit log, sessions), and end to end on the embedded model."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agentslm import Agent, Generation, Model, Tool, ToolCall, ToolRegistry, UserError
from agentslm.agent import AgentRun, Budgets, Session
from agentslm.audit import read_audit_log
from agentslm.demo import NOTES, demo_registry
from agentslm.events import (
    AnswerEvent,
    ApprovalRequestEvent,
    AskEvent,
    ErrorEvent,
    NoToolEvent,
    PlanEvent,
    ResultEvent,
    event_adapter,
)
from agentslm.models.base import Message
from agentslm.roles.planner import PlannerPolicy
from agentslm.testing import ScriptedModel
from agentslm.wire import wire_schemas


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def make_tools(log: list[str], delay: float = 0.0) -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def find_user(username: str) -> int:
        """Find a user's numeric id."""
        log.append(f"find_user {username}")
        return {"alice": 42}.get(username, 0)

    @registry.tool
    def list_orders(user_id: int) -> list[str]:
        """Orders of a user id."""
        log.append(f"list_orders {user_id}")
        return ["book", "lamp"] if user_id == 42 else []

    @registry.tool
    def get_weather(city: str) -> str:
        """Weather in a city."""
        time.sleep(delay)
        log.append(f"weather {city}")
        return f"sunny in {city}"

    @registry.tool
    def flaky(city: str) -> str:
        """Always fails."""
        raise RuntimeError("service down")

    @registry.tool(effects=["destructive"])
    def erase(key: str) -> str:
        """Erase a key."""
        log.append(f"erase {key}")
        return "erased"

    return registry


def kinds(run: AgentRun) -> list[str]:
    return [e.type for e in run.events]


def test_dependent_plan_substitutes_the_earlier_result() -> None:
    log: list[str] = []
    model = ScriptedModel(
        [[call("find_user", username="alice"), call("list_orders", user_id="$1")]], ["alice ordered book and lamp"]
    )
    run = Agent(model, make_tools(log)).run("What did alice order?")
    assert log == ["find_user alice", "list_orders 42"]
    assert run.status == "answered" and run.answer == "alice ordered book and lamp"
    plan = next(e for e in run.events if isinstance(e, PlanEvent))
    assert [t.depends_on for t in plan.tasks] == [[], [1]]
    assert [c.arguments for c in run.calls] == [{"username": "alice"}, {"user_id": 42}]
    answer = next(e for e in run.events if isinstance(e, AnswerEvent))
    assert answer.cited == [2]
    assert [e.seq for e in run.events] == list(range(len(run.events)))


def test_independent_tasks_run_in_parallel() -> None:
    log: list[str] = []
    model = ScriptedModel([[call("get_weather", city="Paris"), call("get_weather", city="London")]], ["sunny in both"])
    run = Agent(model, make_tools(log, delay=0.4)).run("Weather in Paris and in London?")
    results = run.results
    assert sorted(r.observation.text for r in results) == ["sunny in London", "sunny in Paris"]
    (a, b) = results
    assert a.started < b.finished and b.started < a.finished, "the two calls must overlap in time"


def test_no_tool_fits_and_missing_value() -> None:
    log: list[str] = []
    none = Agent(ScriptedModel(["[]"]), make_tools(log)).run("Tell me a joke.")
    assert none.status == "no_tool" and "None of my tools" in (none.answer or "") and kinds(none) == ["no_tool", "answer"]
    ask = Agent(ScriptedModel([[call("get_weather", city="Springfield")]]), make_tools(log)).run("What's the weather?")
    assert ask.status == "asked" and "city" in (ask.question or "")
    assert isinstance(ask.events[0], AskEvent) and ask.events[0].missing == ["city"]
    assert log == [], "nothing runs when no tool fits or a value is missing"


@pytest.mark.parametrize(
    ("plan", "message"),
    [
        ([call("list_orders", user_id="$0")], "$0 names no task"),
        # a forward reference cannot be decoded under the plan grammar; from another source it points nowhere
        ([call("list_orders", user_id="$2"), call("find_user", username="alice")], "$0 names no task"),
        ([call("find_user", username="alice"), call("get_weather", city="$1")], "expects ['string'] but $1 is ['integer']"),
        ([call("find_user", username="alice"), call("list_orders", user_id="$1.id")], "returns no field 'id'"),
        ([call("nope", x="alice")], "unknown tool 'nope'"),
    ],
)
def test_bad_plans_end_in_a_clear_event_and_run_nothing(plan: list[dict[str, Any]], message: str) -> None:
    log: list[str] = []
    agent = Agent(ScriptedModel([plan, plan]), make_tools(log), budgets=Budgets(max_replans=1))
    run = agent.run("alice Paris")
    errors = [e for e in run.errors if e.kind == "bad_plan"]
    assert errors and any(message in e.message for e in errors), [e.message for e in run.errors]
    bad_ids = {e.task_id for e in errors}
    assert not [r for r in run.results if r.task_id in bad_ids], "a task with a plan problem never runs"
    assert all(entry == "find_user alice" for entry in log), "only the valid, independent task may run"


def test_failing_tool_mid_plan_skips_its_dependents_and_replans_bounded() -> None:
    log: list[str] = []
    plan = [call("flaky", city="Paris"), call("get_weather", city="$1")]
    agent = Agent(ScriptedModel([plan, [call("get_weather", city="Paris")]], ["sunny in Paris"]), make_tools(log))
    run = agent.run("Weather in Paris")
    errors = [(e.kind, e.task_id) for e in run.errors]
    assert ("tool_failed", 1) in errors and ("reference", 2) in errors
    assert log == ["weather Paris"], "the replanned call ran, the dependent of the failed task did not"
    assert run.status == "answered"


def test_step_budget_and_time_budget() -> None:
    log: list[str] = []
    plan = [call("get_weather", city=c) for c in ("Paris", "Rome", "Oslo")]
    run = Agent(ScriptedModel([plan]), make_tools(log), budgets=Budgets(max_steps=2)).run("Paris Rome Oslo")
    assert any(e.kind == "budget" for e in run.errors) and len(log) == 0  # the wave is refused before it starts
    slow = Agent(ScriptedModel([[call("get_weather", city="Paris")], [call("get_weather", city="Rome")]]), make_tools(log, 0.3))
    slow.budgets = Budgets(max_seconds=0.2)
    run = slow.run("Paris Rome")
    assert any(e.kind == "timeout" for e in run.errors) and log == ["weather Paris"]


def test_approval_is_an_event_and_default_deny() -> None:
    log: list[str] = []
    denied = Agent(ScriptedModel([[call("erase", key="tmp")]]), make_tools(log)).run("erase tmp")
    assert log == [] and any(e.kind == "refused" for e in denied.errors)
    assert "not run" in (denied.answer or "")
    seen: list[dict[str, Any]] = []

    def approve(c: ToolCall, tool: Tool) -> bool:
        seen.append(dict(c.arguments))
        return True

    allowed = Agent(ScriptedModel([[call("erase", key="tmp")]], ["done"]), make_tools(log), approve=approve).run("erase tmp")
    request = next(e for e in allowed.events if isinstance(e, ApprovalRequestEvent))
    assert request.arguments == {"key": "tmp"} == seen[0] and request.task_id == 1
    assert log == ["erase tmp"]


def test_audit_log_records_every_verified_call_and_survives_a_torn_line(tmp_path: Path) -> None:
    log: list[str] = []
    path = tmp_path / "audit" / "calls.jsonl"
    agent = Agent(
        ScriptedModel([[call("get_weather", city="Paris"), call("erase", key="x")]], ["ok"]), make_tools(log), audit_log=path
    )
    agent.run("Paris erase x")
    records = read_audit_log(path)
    assert [(r.tool, r.approved, r.executed) for r in records] == [("erase", False, False), ("get_weather", True, True)]
    assert records[1].checks and records[1].ok and records[1].started is not None
    with path.open("a") as fh:
        fh.write('{"run_id": "torn", "task_')  # a crash mid-write
    assert len(read_audit_log(path)) == 2
    agent.planner.model.plans = [json.dumps([call("get_weather", city="Rome")])]  # type: ignore[attr-defined]
    agent.summarizer.model.answers = ["ok"]  # type: ignore[attr-defined]
    agent.run("Rome")
    assert [r.arguments for r in read_audit_log(path)][-1] == {"city": "Rome"}
    assert all(json.loads(line) for line in path.read_text().splitlines()[-1:])


def test_sessions_carry_earlier_results_and_round_trip_as_json() -> None:
    log: list[str] = []
    # no round after results: each request is covered by its call (PlannerPolicy.stop_when_covered)
    model = ScriptedModel([[call("find_user", username="alice")], [call("list_orders", user_id=42)]], ["id 42", "book, lamp"])
    agent = Agent(model, make_tools(log))
    session = agent.session()
    agent.run("Find alice", session=session)
    restored = Session.from_json(session.to_json())
    assert restored.turns[0].calls[0]["result"] == "42"
    second = agent.run("Now list her orders with id 42", session=restored)
    assert second.answer == "book, lamp" and log[-1] == "list_orders 42"
    follow_up_prompt = model.prompts[-2]
    assert any("find_user" in m["content"] for m in follow_up_prompt if m["role"] == "assistant")
    assert len(restored.turns) == 2


def test_stream_arun_and_event_schemas() -> None:
    log: list[str] = []
    agent = Agent(ScriptedModel([[call("get_weather", city="Paris")]], ["sunny"]), make_tools(log))
    events = list(agent.stream("Paris weather"))
    assert [e.type for e in events] == ["plan", "call", "verdict", "result", "answer"]
    schema = wire_schemas()["event.schema.json"]
    for e in events:
        data = json.loads(e.model_dump_json())
        jsonschema.validate(data, schema)
        assert event_adapter.validate_python(data).model_dump(mode="json") == data
    agent2 = Agent(ScriptedModel([[call("get_weather", city="Rome")]], ["sunny"]), make_tools(log))
    run = asyncio.run(agent2.arun("Rome weather"))
    assert run.status == "answered" and isinstance(run.events[-1], AnswerEvent)
    with pytest.raises(UserError, match="empty"):
        agent.run("  ")


def test_concurrent_runs_share_one_model_without_cross_talk() -> None:
    log: list[str] = []

    class Echo(ScriptedModel):
        def generate(self, messages: Sequence[Message], *, schema: Mapping[str, Any] | None = None, **kw: Any) -> Generation:  # type: ignore[override]
            city = messages[-1]["content"].split()[-1]
            return Generation(text=json.dumps([call("get_weather", city=city)]) if schema is not None else f"sunny in {city}")

    agent = Agent(Echo([]), make_tools(log))
    runs: dict[str, AgentRun] = {}

    def go(city: str) -> None:
        runs[city] = agent.run(f"weather in {city}")

    threads = [threading.Thread(target=go, args=(c,)) for c in ("Paris", "Rome", "Oslo", "Lima")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for city, run in runs.items():
        assert [c.arguments["city"] for c in run.calls] == [city] and run.answer == f"sunny in {city}"
    assert len({r.run_id for r in runs.values()}) == 4


def test_agent_call_without_tools_is_a_user_error() -> None:
    with pytest.raises(UserError, match="no tools"):
        Agent(ScriptedModel([]), []).call("hi")


# ----------------------------------------------------------------------------- embedded model


def test_end_to_end_demo_tools_on_embedded_model(embedded_model: Model) -> None:
    NOTES.clear()
    agent = Agent(embedded_model, demo_registry())
    weather = agent.run("What's the weather in Paris?")
    assert weather.status == "answered" and weather.calls[0].name == "get_weather"
    assert weather.calls[0].arguments["city"] == "Paris" and '"sky": "cloudy"' in weather.results[0].observation.text
    plan = next(e for e in weather.events if isinstance(e, PlanEvent))
    assert plan.signals.name_margin is not None and 0 < plan.signals.name_margin <= 1

    wipe = agent.run("Delete all my notes.")
    assert not wipe.results and any(e.kind == "refused" for e in wipe.errors), "refused destructive call must not run"


def test_no_tool_fits_and_missing_value_on_embedded_model(embedded_model: Model) -> None:
    agent = Agent(embedded_model, demo_registry())
    joke = agent.run("Tell me a joke about cats.")
    assert joke.status == "no_tool" and not joke.results and any(isinstance(e, NoToolEvent) for e in joke.events)
    missing = agent.run("What's the weather?")
    assert missing.status == "asked" and "city" in (missing.question or "") and not missing.results


def _shop(log: list[str], delay: float = 0.0) -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def find_user(username: str) -> int:
        """Find the numeric id of a user from the username.

        Args:
            username: The username, e.g. "alice".
        """
        return {"alice": 42, "bob": 7}.get(username.lower(), 0)

    @registry.tool
    def list_orders(user_id: int) -> list[str]:
        """List the orders of a user, given the numeric user id.

        Args:
            user_id: The numeric user id.
        """
        return {42: ["book", "lamp"], 7: ["pen"]}.get(user_id, [])

    return registry


DEPENDENT = {
    "Find the user alice and list her orders.": ["book", "lamp"],
    "First find the id of user bob, then list the orders for that id.": ["pen"],
    "Show the orders of the user with username alice.": ["book", "lamp"],
    "Look up user bob and then get the orders of that user.": ["pen"],
}


def test_two_step_dependent_task_rate_on_embedded_model(base_model: Model) -> None:
    """Output of find_user feeds list_orders. Measured over phrasings on the bare 135M weights (4/4 on 2026-12-06 before
    value provenance; 3/4 with it: list_orders now runs in the round after find_user, with the id the result holds):
    the planner's dependent rounds are the point here. The default configuration's adapter, trained on first-round
    plans only, solves 0/4 of these (it plans list_orders before find_user has run, or alone; docs/benchmarks/
    default-config records it); per-role adapters trained on multi-round data are the fix."""
    agent = Agent(base_model, _shop([]))
    solved = []
    for request, orders in DEPENDENT.items():
        run = agent.run(request)
        names = [c.name for c in run.calls]
        ok = names[:2] == ["find_user", "list_orders"] and any(r.observation.value == orders for r in run.results)
        solved.append(ok)
        if ok:  # the id came from find_user's result (a reference, or a copy the grammar offered after the lookup)
            assert run.calls[1].arguments["user_id"] in (42, 7)
    print(f"two-step dependent: {sum(solved)}/{len(solved)} solved: {solved}")
    assert sum(solved) >= 2, f"measured {sum(solved)}/{len(solved)}; was 2/4 or better when this test was written"


PARALLEL = [
    "Get the weather in Paris and the weather in London.",
    "What time is it in Oslo and what's the weather in Rome?",
    "Get the weather in Paris and the time in Tokyo.",
    "Check the weather in Berlin and in Madrid.",
]


def test_parallel_task_rate_on_embedded_model(base_model: Model) -> None:
    """Two independent calls in one plan, executed concurrently (overlap asserted where the model plans both). On the
    bare weights: the default's adapter plans parallel requests poorly (0 on unseen tools, docs/TRAINING.md)."""
    embedded_model = base_model
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city.

        Args:
            city: City name.
        """
        time.sleep(0.3)
        return f"sunny in {city}"

    @registry.tool
    def get_time(city: str) -> str:
        """Get the local time in a city.

        Args:
            city: City name.
        """
        time.sleep(0.3)
        return "12:00"

    agent = Agent(embedded_model, registry, policy=PlannerPolicy(probe_more=True))
    planned_both = 0  # a run without a plan (the model asked or chose no tool) counts as not planned
    for request in PARALLEL:
        run = agent.run(request)
        first = next((e for e in run.events if isinstance(e, PlanEvent)), None)
        if first is None:
            continue
        results = [e for e in run.events if isinstance(e, ResultEvent) and e.task_id in {t.id for t in first.tasks}]
        if len(first.tasks) >= 2 and len(results) >= 2:
            planned_both += 1
            a, b = results[:2]
            assert a.started < b.finished and b.started < a.finished, f"{request}: calls did not overlap"
    print(f"parallel plans: {planned_both}/{len(PARALLEL)}")
    assert planned_both >= 2, f"measured {planned_both}/{len(PARALLEL)}; was 3/4 when this test was written"


def test_error_event_kinds_are_documented() -> None:
    e = ErrorEvent(run_id="r", kind="bad_plan", message="m")
    assert json.loads(e.model_dump_json())["type"] == "error"


def test_each_role_can_have_its_own_model() -> None:
    log: list[str] = []
    planner = ScriptedModel([[call("get_weather", city="Paris")]])
    summarizer = ScriptedModel([], ["It is sunny in Paris."])
    agent = Agent(planner=planner, caller=planner, summarizer=summarizer, tools=make_tools(log))
    assert agent.model is None, "no default model is loaded when every role has one"
    run = agent.run("Weather in Paris?")
    assert run.answer == "It is sunny in Paris." and log == ["weather Paris"]
    assert all(s is not None for s in planner.schemas) and summarizer.schemas == [None]
