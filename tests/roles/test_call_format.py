"""The planner's native call formats, orchestrated with a scripted model (the decoding itself is real-model tested in
tests/models): the model's choice to write a call, one call per decode inside the family's wrapper, the choice to go
on, and Llama's ``parameters`` key."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pytest

from agentslm.models.base import Generation, Message, Model
from agentslm.models.profiles import PROFILES, ModelProfile
from agentslm.registry import ToolRegistry
from agentslm.roles.call_format import CallWriter
from agentslm.roles.planner import Planner

registry = ToolRegistry()


@registry.tool
def get_weather(city: str) -> dict[str, int]:
    """Weather for a city."""
    return {"temp": 21}


class NativeScript(Model):
    """Answers ``token_probability`` and ``generate`` from scripts, recording the reply starts it was given."""

    continues_reply = True

    def __init__(self, profile: ModelProfile, probabilities: list[float], calls: list[dict[str, Any]]) -> None:
        self.profile = profile
        self.probabilities, self.calls = list(probabilities), list(calls)
        self.prefixes: list[str] = []
        self.tools_seen: list[Any] = []
        self.schemas: list[Mapping[str, Any] | None] = []

    def text_tokens(self, text: str) -> list[int]:
        return [ord(c) for c in text]

    def prefix_tokens(self, text: str) -> list[int]:
        return self.text_tokens(text)

    eos_token_ids = frozenset({0})

    def token_probability(
        self,
        messages: Sequence[Message],
        tokens: Sequence[int],
        *,
        response_prefix: str = "",
        tools: Any = None,
        versus: Sequence[int] = (),
    ) -> float:
        self.prefixes.append(response_prefix)
        self.tools_seen.append(tools)
        return self.probabilities.pop(0)

    def generate(self, messages: Sequence[Message], **kwargs: Any) -> Generation:
        self.prefixes.append(kwargs.get("response_prefix", ""))
        self.schemas.append(kwargs.get("schema"))
        return Generation(text=json.dumps(self.calls.pop(0)))


def test_qwen_format_decodes_calls_one_by_one_while_the_model_goes_on() -> None:
    paris = {"name": "get_weather", "arguments": {"city": "Paris"}}
    london = {"name": "get_weather", "arguments": {"city": "London"}}
    # p(a call starts) 0.9; after each call p(the turn ends): 0.2 (so it goes on), then 0.9 (it stops)
    model = NativeScript(PROFILES["qwen"], [0.9, 0.2, 0.9], [paris, london, paris])  # the probe repeats: no more
    planner = Planner(model)
    decision = planner.decide(list(registry), [{"role": "user", "content": "Weather in Paris and in London?"}])
    assert decision.kind == "plan"
    assert [t.arguments for t in decision.plan.tasks] == [{"city": "Paris"}, {"city": "London"}]
    assert decision.open_probabilities == [0.9, 0.8, 0.1]
    one = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    two = one + one.replace("Paris", "London")
    assert model.prefixes == ["", "<tool_call>\n", one, one + "<tool_call>\n", two, two + "<tool_call>\n"]
    assert model.tools_seen[0][0]["function"]["name"] == "get_weather"  # the chat template renders the tools


def test_a_model_that_does_not_start_a_call_answers_without_tools() -> None:
    model = NativeScript(PROFILES["qwen"], [0.2], [])
    decision = Planner(model).decide(list(registry), [{"role": "user", "content": "Who wrote Hamlet?"}])
    assert decision.kind == "no_tool" and decision.open_probabilities == [0.2] and not model.schemas


def test_llama_format_uses_its_parameters_key_and_one_call_per_reply() -> None:
    model = NativeScript(PROFILES["llama3"], [0.95], [{"name": "get_weather", "parameters": {"city": "Paris"}}])
    planner = Planner(model)
    decision = planner.decide(list(registry), [{"role": "user", "content": "Weather in Paris?"}])
    assert decision.kind == "plan" and decision.plan.tasks[0].arguments == {"city": "Paris"}
    schema = model.schemas[0]
    assert schema is not None and "parameters" in json.dumps(schema) and '"arguments"' not in json.dumps(schema)
    assert CallWriter(model).continued_prefix([{"name": "get_weather", "arguments": {"city": "Paris"}}]) is None


@pytest.mark.parametrize("family", ["generic", "smollm", "gemma"])
def test_other_families_keep_agentslm_prompt_and_list(family: str) -> None:
    writer = CallWriter(NativeScript(PROFILES[family], [], []))
    prompt = writer.prompt(list(registry), [{"role": "user", "content": "hi"}])
    assert not writer.native and prompt.tools is None and prompt[0]["role"] == "system"
    assert writer.one_call_prefix() == "<tool_call>["


convert_registry = ToolRegistry()


@convert_registry.tool
def convert(amount: float, base_currency: str, target_currency: str) -> float:
    """Convert an amount between currencies (ISO codes)."""
    return amount


@convert_registry.tool
def convert_code(amount: float, from_currency: Literal["USD", "EUR", "GBP"], to_currency: Literal["USD", "EUR", "GBP"]) -> float:
    """Convert an amount between currencies."""
    return amount


def test_grounding_scope_any_accepts_a_models_normalised_values_but_not_a_call_tied_to_nothing() -> None:
    """'every' (the 135M model's calibration) asks for USD/CAD, which the request states in words; 'any' takes the call
    because 500 ties it to the request. A call with no stated value is asked about in both."""
    from agentslm.roles.planner import PlannerPolicy
    from agentslm.testing import ScriptedModel

    request = [{"role": "user", "content": "How many Canadian dollars can I get for 500 US dollars?"}]
    call = [{"name": "convert", "arguments": {"amount": 500, "base_currency": "USD", "target_currency": "CAD"}}]
    strict = Planner(ScriptedModel([call]), policy=PlannerPolicy(probe_more=False))
    assert strict.decide(list(convert_registry), request).kind == "ask"
    model = ScriptedModel([call])
    lenient = Planner(model, policy=PlannerPolicy.for_model(model, grounding_scope="any", probe_more=False))
    decided = lenient.decide(list(convert_registry), request)
    assert decided.kind == "plan" and decided.plan.tasks[0].arguments["target_currency"] == "CAD"
    open_pair = [{"name": "convert_code", "arguments": {"amount": 50, "from_currency": "USD", "to_currency": "EUR"}}]
    model = ScriptedModel([open_pair])
    lenient = Planner(model, policy=PlannerPolicy.for_model(model, grounding_scope="any", probe_more=False))
    asked = lenient.decide(list(convert_registry), [{"role": "user", "content": "Convert 50 dollars."}])
    assert asked.kind == "ask" and asked.missing == ["to_currency"]  # the target the request leaves open
    unrelated = [{"name": "convert", "arguments": {"amount": 20, "base_currency": "EUR", "target_currency": "GBP"}}]
    model = ScriptedModel([unrelated])
    lenient = Planner(model, policy=PlannerPolicy.for_model(model, grounding_scope="any", probe_more=False))
    assert lenient.decide(list(convert_registry), [{"role": "user", "content": "Who wrote Hamlet?"}]).kind == "ask"


def test_policy_overrides_are_checked() -> None:
    from agentslm.errors import UserError
    from agentslm.roles.planner import PlannerPolicy
    from agentslm.testing import ScriptedModel

    with pytest.raises(UserError, match="Unknown planner policy field"):
        PlannerPolicy.for_model(ScriptedModel(), grounding_scop="any")
    assert PlannerPolicy.for_model(NativeScript(PROFILES["qwen"], [], [])).grounding_scope == PROFILES["qwen"].policy.get(
        "grounding_scope", "every"
    )


probe_registry = ToolRegistry()


@probe_registry.tool
def solve_quadratic(a: int, b: int, c: int) -> str:
    """Roots of a x^2 + b x + c."""
    return ""


@probe_registry.tool
def plan_route(start: str, destination: str, preference: Literal["Shortest", "Scenic"] = "Shortest") -> str:
    """A route between two places."""
    return ""


@probe_registry.tool
def calculate_density(mass: float, volume: float) -> float:
    """Density of an object."""
    return mass / volume


@probe_registry.tool
def market_data(indexes: list[str], days: int) -> str:
    """Market performance of stock indexes."""
    return ""


@probe_registry.tool
def opening_hours(museum: str, location: str, detailed: bool = False, language: str | None = None) -> str:
    """Opening hours of a museum."""
    return ""


@probe_registry.tool
def artwork_price(artwork_name: str, artist: str) -> str:
    """Auction price of an artwork."""
    return ""


@probe_registry.tool
def search_book(title: str, author: str) -> str:
    """A book in the library."""
    return ""


def _probed(request: str, first: dict[str, Any], probes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from agentslm.roles.planner import PlannerPolicy
    from agentslm.testing import ScriptedModel

    model = ScriptedModel([[first], *[json.dumps(p) for p in probes]])
    model.continues_reply = True  # probing continues the list
    planner = Planner(model, policy=PlannerPolicy(grounding=False))
    decision = planner.decide(list(probe_registry), [{"role": "user", "content": request}])
    return [t.arguments for t in decision.plan.tasks]


def test_a_probed_call_needs_a_value_no_earlier_call_gave() -> None:
    """Numbers may come back in another argument (a new equation's coefficients); strings moved to other arguments, a
    flipped flag or an enum member the request does not state are no new part of the request."""
    first = {"name": "solve_quadratic", "arguments": {"a": 2, "b": 5, "c": 3}}
    second = {"name": "solve_quadratic", "arguments": {"a": 1, "b": 2, "c": 1}}
    request = "Solve a = 2, b = 5, c = 3 and then a = 1, b = 2, c = 1."
    assert _probed(request, first, [second, second]) == [first["arguments"], second["arguments"]]
    there = {"name": "plan_route", "arguments": {"start": "London", "destination": "Edinburgh"}}
    back = {"name": "plan_route", "arguments": {"start": "Edinburgh", "destination": "London"}}
    assert _probed("The fastest route from London to Edinburgh?", there, [back]) == [there["arguments"]]
    shortest = {"name": "plan_route", "arguments": {"start": "London", "destination": "Edinburgh", "preference": "Shortest"}}
    scenic = {"name": "plan_route", "arguments": {"start": "London", "destination": "Edinburgh", "preference": "Scenic"}}
    assert len(_probed("The shortest route from London to Edinburgh?", shortest, [scenic])) == 1
    assert len(_probed("The shortest and the scenic route from London to Edinburgh?", shortest, [scenic])) == 2


def test_a_probed_call_reuses_a_number_no_more_often_than_the_request_states_it() -> None:
    """A number moved to another argument is a new part only while the calls use it no more often than the request
    states it: BFCL's extra ``calculate_density(mass=15, volume=15)`` after (45, 15) is dropped, the swapped pair of
    a request that states both numbers twice is kept."""
    first = {"name": "calculate_density", "arguments": {"mass": 45, "volume": 15}}
    again = {"name": "calculate_density", "arguments": {"mass": 15, "volume": 15}}
    assert _probed("The density of an object of 45 kg in 15 m3?", first, [again]) == [first["arguments"]]
    swapped = {"name": "calculate_density", "arguments": {"mass": 15, "volume": 45}}
    both = "The densities of 45 kg in 15 m3 and of 15 kg in 45 m3?"
    assert _probed(both, first, [swapped]) == [first["arguments"], swapped["arguments"]]


def test_a_probed_call_is_no_new_part_when_it_restates_a_part_of_an_earlier_call() -> None:
    """BFCL simple cases that drew a second call: a part of the earlier list, a part or a paraphrase of the earlier
    name, an unstated 0, or the same call with an optional argument added are no new part; a second stated name is."""
    both = {"name": "market_data", "arguments": {"indexes": ["S&P 500", "Dow Jones"], "days": 5}}
    part = {"name": "market_data", "arguments": {"indexes": ["Dow Jones"], "days": 5}}
    assert len(_probed("The S&P 500 and the Dow Jones over the past 5 days?", both, [part])) == 1
    louvre = {"name": "opening_hours", "arguments": {"museum": "Louvre Museum", "location": "Paris"}}
    for again in ({"museum": "Luxury Museum", "location": "Paris"}, {"museum": "Louvre", "location": "Paris"}):
        assert (
            len(_probed("Opening hours of the Louvre Museum in Paris?", louvre, [{"name": "opening_hours", "arguments": again}]))
            == 1
        )
    spelled = {"name": "opening_hours", "arguments": {**louvre["arguments"], "language": "French"}}
    assert len(_probed("Opening hours of the Louvre Museum in Paris, in French?", louvre, [spelled])) == 1
    zero = {"name": "calculate_density", "arguments": {"mass": 0, "volume": 15}}
    first = {"name": "calculate_density", "arguments": {"mass": 45, "volume": 15}}
    assert len(_probed("The density of an object of 45 kg in 15 m3?", first, [zero])) == 1
    joined = {"name": "opening_hours", "arguments": {"museum": "Louvre Orsay", "location": "Paris"}}
    orsay_only = {"name": "opening_hours", "arguments": {"museum": "Orsay", "location": "Paris"}}
    assert len(_probed("Opening hours of the Louvre and the Orsay in Paris?", joined, [orsay_only])) == 2  # Qwen's
    # find_contact(name="Ana Ben") then "Ben": a part of a value the request never writes is a new part
    orsay = {"name": "opening_hours", "arguments": {"museum": "Musee d'Orsay", "location": "Paris"}}
    two = "Opening hours of the Louvre Museum and the Musee d'Orsay in Paris?"
    assert _probed(two, louvre, [orsay]) == [louvre["arguments"], orsay["arguments"]]


@probe_registry.tool
def loan_eligibility(bank: str, loan_amount: int) -> str:
    """Whether a loan is possible."""
    return ""


def test_the_model_reads_grouped_numbers_without_their_separators() -> None:
    """A small model copies "$500,000" up to its comma (BFCL parallel_20: ``loan_amount=500``): the prompt shows
    500000, the request the values are grounded in keeps the user's writing, and "1,5 and 10 years" stays as written."""
    from agentslm.roles.call_format import ungrouped
    from agentslm.roles.planner import PlannerPolicy
    from agentslm.testing import ScriptedModel

    assert ungrouped("$500,000 and $1,200,000.50 for 1,5 and 10 years, (45,60)") == (
        "$500000 and $1200000.50 for 1,5 and 10 years, (45,60)"
    )
    call = {"name": "loan_eligibility", "arguments": {"bank": "HSBC", "loan_amount": 500000}}
    model = ScriptedModel([[call]])
    decision = Planner(model, policy=PlannerPolicy()).decide(
        list(probe_registry), [{"role": "user", "content": "Can HSBC lend me $500,000?"}]
    )
    assert [m["content"] for m in model.prompts[0] if m["role"] == "user"] == ["Can HSBC lend me $500000?"]
    assert decision.kind == "plan" and decision.plan is not None
    assert decision.plan.tasks[0].arguments == call["arguments"]  # grounded in "$500,000"


def test_a_probed_call_of_another_tool_needs_a_request_that_names_it() -> None:
    """BFCL multiple_74: after the price of 'Starry Night', ``search_book(title="All auction platforms")`` is no part
    of the request; a second tool the request names ("the book") is."""
    price = {"name": "artwork_price", "arguments": {"artwork_name": "Starry Night", "artist": "Van Gogh"}}
    book = {"name": "search_book", "arguments": {"title": "All auction platforms", "author": "Van Gogh"}}
    request = "Find the price of Van Gogh's painting 'Starry Night' on all auction platforms."
    assert _probed(request, price, [book]) == [price["arguments"]]
    named = {"name": "search_book", "arguments": {"title": "Lust for Life", "author": "Irving Stone"}}
    both = "Find the price of Van Gogh's 'Starry Night' and the book 'Lust for Life' by Irving Stone."
    assert _probed(both, price, [named]) == [price["arguments"], named["arguments"]]
