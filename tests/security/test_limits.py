"""Limits against unbounded consumption (OWASP LLM10): steps, rounds, wall-clock time, generated tokens, request
size, tool output size, observation size shown to the model, argument size in the grammar."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from agentslm import Agent, Budgets, ToolRegistry
from agentslm.constraints.call_schema import DecodeLimits
from agentslm.errors import UserError
from agentslm.models.base import Model
from agentslm.roles.planner import PlannerPolicy
from agentslm.testing import ScriptedModel
from tests.sample_tools import registry as sample_registry

# The budget tests isolate the budgets: the scripted model proposes a new write after every result, which the
# planner's default after-results stop (PlannerPolicy.stop_unrequested_effects) would drop before any budget counts.


def _counter_tools(delay: float = 0.0) -> tuple[ToolRegistry, list[int]]:
    r = ToolRegistry()
    ran: list[int] = []

    @r.tool(effects=["write"])
    def step(n: int) -> str:
        """Do step n."""
        time.sleep(delay)
        ran.append(n)
        return f"step {n} done"

    return r, ran


def test_step_budget(record_property: Any) -> None:
    """Plans of 2 calls per round for 4 rounds against `max_steps=3`: the first wave runs (2 calls); the second would
    pass the budget, so it is refused whole (a parallel wave runs all or nothing) with a `budget` error."""
    r, ran = _counter_tools()
    plans = [[{"name": "step", "arguments": {"n": 2 * k + i}} for i in range(2)] for k in range(4)]
    agent = Agent(
        ScriptedModel(plans),
        r,
        budgets=Budgets(max_steps=3),
        retrieval=None,
        policy=PlannerPolicy(grounding=False, stop_unrequested_effects=False, stop_when_covered=False),
    )
    run = agent.run("Do all the steps.")
    record_property("calls_run", len(ran))
    assert sorted(ran) == [0, 1] and any(e.kind == "budget" and "3 calls" in e.message for e in run.errors)


def test_round_budget(record_property: Any) -> None:
    """A model that proposes a new call after every result, against `max_rounds=2`: two planning rounds, no more."""
    r, ran = _counter_tools()
    model = ScriptedModel([[{"name": "step", "arguments": {"n": i}}] for i in range(10)])
    agent = Agent(
        model,
        r,
        budgets=Budgets(max_rounds=2),
        retrieval=None,
        policy=PlannerPolicy(grounding=False, stop_unrequested_effects=False, stop_when_covered=False),
    )
    agent.run("Keep going.")
    planning_prompts = len(model.prompts) - 1  # the last prompt is the summarizer's
    record_property("rounds", planning_prompts)
    assert ran == [0, 1] and planning_prompts == 2


def test_time_budget(record_property: Any) -> None:
    """Each call takes 0.4 s and the model never stops, against `max_seconds=1`: the run stops with a `timeout`
    error well before the rounds run out."""
    r, ran = _counter_tools(delay=0.4)
    model = ScriptedModel([[{"name": "step", "arguments": {"n": i}}] for i in range(20)])
    agent = Agent(
        model,
        r,
        budgets=Budgets(max_seconds=1.0, max_rounds=20, max_steps=20),
        retrieval=None,
        policy=PlannerPolicy(grounding=False, stop_unrequested_effects=False, stop_when_covered=False),
    )
    start = time.monotonic()
    run = agent.run("Keep going.")
    seconds = time.monotonic() - start
    record_property("seconds", round(seconds, 2))
    assert any(e.kind == "timeout" for e in run.errors) and seconds < 1.0 + 0.4 + 0.5 and len(ran) <= 3


def test_generated_token_budget_on_the_real_model(embedded_model: Model, record_property: Any) -> None:
    """The real model with `max_generated_tokens=8`: the first planning step spends it, the run stops with a
    `budget` error and answers from what it has without another model step; the count is reported on the run."""
    unbounded = Agent(embedded_model, sample_registry, retrieval=None).run("What is the weather in Paris?")
    agent = Agent(embedded_model, sample_registry, retrieval=None, budgets=Budgets(max_generated_tokens=8))
    run = agent.run("What is the weather in Paris?")
    record_property("generated_tokens_unbounded", unbounded.generated_tokens)
    record_property("generated_tokens_budget_8", run.generated_tokens)
    assert unbounded.generated_tokens > 8 and unbounded.prompt_tokens > 0
    assert any(e.kind == "budget" and "generated tokens" in e.message for e in run.errors)
    assert run.generated_tokens <= 8 + agent.planner.max_tokens  # one step past the budget at most, never another


@pytest.mark.parametrize("size", [0, 20_001, 5_000_000])
def test_request_size(size: int, record_property: Any) -> None:
    """An empty request, or one over `max_request_chars` (20,000), is refused before any model step, saying why."""
    model = ScriptedModel([])
    agent = Agent(model, sample_registry, retrieval=None)
    with pytest.raises(UserError, match="empty" if size == 0 else "limit is 20,000"):
        agent.run("x" * size)
    record_property("model_steps", len(model.prompts))
    assert model.prompts == []


def test_tool_output_and_observation_budgets(record_property: Any) -> None:
    """A 1 MB result is cut to `max_output_chars` (marked); four results together are cut to
    `max_observation_chars` before the model sees them."""
    r = ToolRegistry()

    @r.tool(effects=["read"])
    def big(n: int) -> str:
        """Return a lot."""
        return str(n) * 1_000_000

    model = ScriptedModel([[{"name": "big", "arguments": {"n": i}} for i in range(1, 5)], []], ["ok"])
    agent = Agent(
        model,
        r,
        retrieval=None,
        max_output_chars=3000,
        budgets=Budgets(max_observation_chars=4000),
        policy=PlannerPolicy(grounding=False, stop_unrequested_effects=False, stop_when_covered=False),
    )
    run = agent.run("Get 1 to 4.")
    shown = [m["content"] for p in model.prompts for m in p if m["role"] == "tool"]
    record_property("largest_tool_message_chars", max(len(t) for t in shown))
    assert all(len(e.observation.text) <= 3000 and e.observation.truncated for e in run.results)
    assert all(len(t) <= 4000 + 400 for t in shown) and all("cut" in t for t in shown)


def test_argument_sizes_are_bounded_by_the_grammar(embedded_model: Model, record_property: Any) -> None:
    """Strings and arrays without bounds in the tool schema get `max_string_length` / `max_array_items` in the
    decoding grammar: sampling at temperature 1.5 cannot produce a longer value."""
    from agentslm.constraints.call_schema import calls_schema

    r = ToolRegistry()

    @r.tool(effects=["read"])
    def echo(text: str, tags: list[str]) -> str:
        """Echo text."""
        return text

    limits = DecodeLimits(max_string_length=20, max_array_items=3)
    schema = calls_schema(list(r), limits, max_calls=1)
    longest = 0
    for seed in range(5):
        gen = embedded_model.generate(
            [{"role": "user", "content": "Echo a very long text with many tags " + "blah " * 50}],
            schema=schema,
            max_tokens=160,
            temperature=1.5,
            seed=seed,
        )
        if gen.finish_reason == "stop":
            for call in json.loads(gen.text):
                longest = max(longest, len(call["arguments"]["text"]))
                assert len(call["arguments"]["tags"]) <= 3 and all(len(t) <= 20 for t in call["arguments"]["tags"])
    record_property("longest_string", longest)
    assert longest <= 20
