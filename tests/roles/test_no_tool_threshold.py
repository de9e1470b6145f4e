"""The planner's unsure-"no tool" policy (PlannerPolicy.min_no_tool) on the real embedded default."""

from __future__ import annotations

import math

from agentslm.demo import demo_registry
from agentslm.models.base import Generation, TokenLogprob
from agentslm.models.llamacpp import LlamaCppModel
from agentslm.roles.planner import Planner, PlannerPolicy, empty_list_probability


def _token(text: str, p: float, n_allowed: int = 3) -> TokenLogprob:
    return TokenLogprob(token=0, text=text, logprob=math.log(p), constrained_logprob=math.log(p), margin=0.1, n_allowed=n_allowed)


def test_empty_list_probability_reads_the_closing_decision() -> None:
    assert empty_list_probability(Generation(text="[]", tokens=[_token("[", 1.0, 1), _token("]", 0.6)])) == 0.6
    assert abs(empty_list_probability(Generation(text="[]", tokens=[_token("[]", 0.9)])) - 0.9) < 1e-9  # type: ignore[operator]
    assert empty_list_probability(Generation(text='[{"name"', tokens=[_token('[{"', 0.7)])) is None
    assert empty_list_probability(Generation(text="[]", tokens=[_token("[", 1.0, 1), _token("]", 1.0, 1)])) is None


def test_an_unsure_no_tool_becomes_the_grounded_call_and_a_sure_one_stays(embedded_model: LlamaCppModel) -> None:
    tools = list(demo_registry())
    note = [{"role": "user", "content": "Save a note: buy milk and eggs"}]
    off = Planner(embedded_model, policy=PlannerPolicy(min_no_tool=0.0, finish_named_writes=False)).decide(tools, note)
    assert off.kind == "no_tool"  # the adapter's own choice (p ~0.83): the premise of the policy
    on = Planner(embedded_model, policy=PlannerPolicy(min_no_tool=0.95)).decide(tools, note)
    assert on.kind == "plan" and [(t.tool, t.arguments) for t in on.plan.tasks] == [("add_note", {"text": "buy milk and eggs"})]
    unrelated = [{"role": "user", "content": "Who wrote Hamlet?"}]
    assert Planner(embedded_model, policy=PlannerPolicy(min_no_tool=0.95)).decide(tools, unrelated).kind == "no_tool"
