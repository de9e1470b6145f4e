"""SLM-first routing: the policy and `route` outcomes (fakes), the agent escalating to a real llama.cpp server,
and the fallback failing (down, schema-invalid output) with the step keeping the small model's verified answer
or failing, per policy. Nothing unverified executes in any of them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from agentslm import Agent, Generation, Model
from agentslm.confidence import step_confidence
from agentslm.events import EscalationEvent, ResultEvent, VerdictEvent
from agentslm.models.base import Message, TokenLogprob
from agentslm.records import read_records
from agentslm.router import RoutingPolicy, read_escalations, route
from agentslm.step_types import CallSignals
from tests.sample_tools import registry as sample_registry


class PlanModel(Model):
    """Answers every planning step with ``plan`` (a fake small model with chosen confidence signals)."""

    def __init__(self, plan: list[dict[str, Any]], first_choice: float) -> None:
        self.plan = plan
        self.first_choice = first_choice
        self.name = "fake-slm"
        self.calls = 0

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
        self.calls += 1
        if schema is None:
            return Generation(text="done")
        first = TokenLogprob(
            token=1, text="[", logprob=-0.1, constrained_logprob=math.log(self.first_choice), margin=0.1, n_allowed=2
        )
        return Generation(text=json.dumps(self.plan if self.calls == 1 else []), tokens=[first])


def _conf(first_choice: float, **kw: Any) -> Any:
    return step_confidence(CallSignals(first_choice_probability=first_choice), **kw)


def test_policy_and_route_outcomes() -> None:
    policy = RoutingPolicy(threshold=0.6)
    assert policy.reason(_conf(0.9)) is None
    assert policy.reason(_conf(0.5)) == "combined confidence 0.500 < 0.600"
    assert "refused: city not grounded" in (policy.reason(_conf(0.99, refusals=["city not grounded"])) or "")
    assert RoutingPolicy(escalate_refused=False).reason(_conf(0.99, parse_error="budget")) is None

    def boom() -> str:
        from agentslm.models.openai_compat import RemoteModelError

        raise RemoteModelError("server down", kind="unreachable")

    assert route("slm", _conf(0.9), policy, lambda: "llm", bool, str).outcome == "accepted"
    escalated = route("slm", _conf(0.1), policy, lambda: "llm", bool, str)
    assert (escalated.result, escalated.outcome, escalated.slm_result) == ("llm", "escalated", "slm")
    kept = route("slm", _conf(0.1), policy, boom, bool, lambda why: "FAILED " + why)
    assert (kept.result, kept.outcome, kept.error) == ("slm", "fallback_failed", "server down")
    failed = route("slm", _conf(0.1), RoutingPolicy(threshold=0.6, on_fallback_error="fail"), boom, bool, lambda w: "FAILED " + w)
    assert failed.result == "FAILED fallback failed: server down"
    unusable = route("slm", _conf(0.1), policy, lambda: "", bool, str)
    assert (unusable.result, unusable.outcome) == ("slm", "fallback_unusable")


def test_policy_file_round_trip(tmp_path: Path) -> None:
    policy = RoutingPolicy(signal="first_choice", threshold=0.83, calibration={"cases": 200})
    policy.to_file(tmp_path / "routing.json")
    assert RoutingPolicy.from_file(tmp_path / "routing.json") == policy
    for bad in ('{"threshold": "high"}', '{"signal": "vibes"}'):
        (tmp_path / "bad.json").write_text(bad)
        with pytest.raises(Exception, match="not a routing policy"):  # refused on load, not mid-run
            RoutingPolicy.from_file(tmp_path / "bad.json")


def _executed_were_verified(events: list[Any]) -> bool:
    approved = {e.task_id for e in events if isinstance(e, VerdictEvent) and e.verdict.approved}
    return all(e.task_id in approved for e in events if isinstance(e, ResultEvent))


def test_agent_escalates_to_a_real_server_and_logs_training_records(openai_server: str, tmp_path: Path) -> None:
    slm = PlanModel([{"name": "get_weather", "arguments": {"city": "Lisbon"}}], first_choice=0.55)
    log = tmp_path / "escalations.jsonl"
    agent = Agent(
        slm, sample_registry, fallback=f"openai:{openai_server}#smollm2", routing=RoutingPolicy(threshold=0.9), escalation_log=log
    )
    with agent:
        run = agent.run("What is the weather in Paris?")
    escalations = [e for e in run.events if isinstance(e, EscalationEvent)]
    assert escalations and escalations[0].outcome == "escalated" and escalations[0].to_model.startswith("openai:")
    assert escalations[0].confidence["values"]["first_choice"] == pytest.approx(0.55)
    assert _executed_were_verified(run.events)
    records = read_escalations(log)
    assert (
        records and records[0].source == "escalation" and records[0].meta["slm_attempt"]["kind"] == "ask"
    )  # Lisbon: not grounded
    assert all(c.arguments["city"] in "What is the weather in Paris?" for c in records[0].target_calls or [])
    assert read_records(log)  # a valid training set as is: schema-checked targets
    confident = Agent(
        PlanModel([{"name": "get_weather", "arguments": {"city": "Paris"}}], first_choice=0.97),
        sample_registry,
        fallback=f"openai:{openai_server}#smollm2",
        routing=RoutingPolicy(threshold=0.9),
    )
    with confident:
        calm = confident.run("What is the weather in Paris?")
        direct = confident.call("What is the weather in Paris?")  # the fake's list is no single call: unusable
    assert direct.escalation is not None and direct.escalation["outcome"] == "escalated"
    assert direct.parse_error is None and direct.name == "get_weather"
    assert not [e for e in calm.events if isinstance(e, EscalationEvent)] and calm.calls[0].arguments == {"city": "Paris"}


def test_fallback_down_keeps_the_small_models_verified_answer_or_fails() -> None:
    plan = [{"name": "get_weather", "arguments": {"city": "Paris"}}]
    keep = Agent(
        PlanModel(plan, 0.4), sample_registry, fallback="openai:http://127.0.0.1:9/v1#none", routing=RoutingPolicy(threshold=0.9)
    )
    with keep:
        run = keep.run("What is the weather in Paris?")
    events = [e for e in run.events if isinstance(e, EscalationEvent)]
    assert events and all(e.outcome == "fallback_failed" and "Cannot reach" in (e.error or "") for e in events)
    assert run.status == "answered" and [c.name for c in run.calls] == ["get_weather"] and _executed_were_verified(run.events)

    fail = Agent(
        PlanModel(plan, 0.4),
        sample_registry,
        fallback="openai:http://127.0.0.1:9/v1#none",
        routing=RoutingPolicy(threshold=0.9, on_fallback_error="fail"),
    )
    with fail:
        failed = fail.run("What is the weather in Paris?")
    assert failed.status == "failed" and not failed.calls
