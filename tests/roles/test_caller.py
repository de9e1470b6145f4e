from __future__ import annotations

import json

from agentslm import Generation, TokenLogprob, ToolRegistry
from agentslm.roles.caller import RESPONSE_PREFIX, Caller, parse_call, parse_calls, signals_from_generation
from agentslm.roles.prompts import CALLS_PROMPT_VERSION, PROMPT_VERSION, render_prompt, tools_json


def _tok(text: str, logprob: float | None, margin: float, n: int) -> TokenLogprob:
    return TokenLogprob(token=0, text=text, logprob=logprob, constrained_logprob=0.0, margin=margin, n_allowed=n)


def test_prompt_is_package_data_with_tools_json() -> None:
    registry = ToolRegistry()

    @registry.tool
    def f(x: int) -> int:
        """Double x."""
        return 2 * x

    rendered = render_prompt("caller", tools_json=tools_json(list(registry)))
    assert PROMPT_VERSION == "caller-v2"
    assert "<tools>[" in rendered and '"name": "f"' in rendered and RESPONSE_PREFIX[:-1] in rendered
    embedded = rendered.split("<tools>")[1].split("</tools>")[0]
    assert json.loads(embedded)[0]["parameters"]["required"] == ["x"]
    messages = Caller(model=None, max_tokens=8).messages("hi", list(registry))  # type: ignore[arg-type]
    assert [m["role"] for m in messages] == ["system", "user"] and messages[0]["content"] == rendered


def test_parse_call_outcomes() -> None:
    ok = parse_call(Generation(text='{"name":"f","arguments":{"x":1}}'))
    assert ok.name == "f" and ok.arguments == {"x": 1} and ok.parse_error is None
    cut = parse_call(Generation(text='{"name":"f","argu', finish_reason="length", tokens=[_tok("x", -1.0, 0.5, 3)]))
    assert cut.parse_error is not None and "budget" in cut.parse_error
    assert "invalid JSON" in (parse_call(Generation(text="{nope")).parse_error or "")
    assert parse_call(Generation(text='{"name":"f"}')).parse_error == 'expected {"name": str, "arguments": object}'


def test_signals_come_from_the_decisive_tokens() -> None:
    tokens = [
        _tok('{"name":"', None, 1.0, 1),
        _tok("get", -0.2, 0.3, 5),
        _tok("_weather", -0.1, 0.9, 2),
        _tok('","arguments":{"city":"', None, 1.0, 1),
        _tok("Paris", -1.5, 0.4, 900),
        _tok('"}}', -0.05, 0.99, 3),
    ]
    gen = Generation(text="".join(t.text for t in tokens), tokens=tokens, model_steps=4, seconds=0.5)
    s = signals_from_generation(gen)
    assert s.name_margin == 0.3
    assert abs((s.name_logprob or 0) - (-0.3)) < 1e-9
    assert s.min_argument_logprob == -1.5
    assert s.completion_tokens == 6 and s.model_steps == 4


def test_parse_calls_outcomes_and_open_probabilities() -> None:
    def tok(text: str, p: float | None) -> TokenLogprob:
        import math

        lp = 0.0 if p is None else math.log(p)
        return TokenLogprob(token=0, text=text, logprob=lp, constrained_logprob=lp, margin=1.0, n_allowed=1 if p is None else 3)

    tokens = [
        tok("[", None),
        tok('{"', 0.8),
        tok('name":"f","arguments":{"x":1}}', None),
        tok(",", 0.6),
        tok('{"name":"f","arguments":{"x":"a,]"}}', None),
        tok("]", 0.9),
    ]
    listed = parse_calls(Generation(text="".join(t.text for t in tokens), tokens=tokens))
    assert listed.parse_error is None and [c.arguments for c in listed.calls] == [{"x": 1}, {"x": "a,]"}]
    assert [round(p, 6) for p in listed.open_probabilities] == [0.8, 0.6]  # commas inside strings are not decisions
    assert parse_calls(Generation(text="[]")).abstained
    assert "expected a JSON list" in (parse_calls(Generation(text='{"name":"f"}')).parse_error or "")
    assert "expected items" in (parse_calls(Generation(text='[{"name":"f"}]')).parse_error or "")
    assert "budget" in (parse_calls(Generation(text="[{", finish_reason="length")).parse_error or "")
    assert not parse_calls(Generation(text="[{", finish_reason="length")).abstained


def test_calls_prompt_is_smollm2s_own_and_decodes_a_list(embedded_model) -> None:  # type: ignore[no-untyped-def]
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        return city

    rendered = render_prompt("calls", tools_json=tools_json(list(registry)))
    assert CALLS_PROMPT_VERSION == "calls-v1" and "empty list '[]'" in rendered and "<tools>[" in rendered
    listed = Caller(embedded_model).calls("What's the weather in Paris?", list(registry))
    assert listed.parse_error is None and listed.calls[0].name == "get_weather"
    assert listed.calls[0].arguments == {"city": "Paris"}
    assert len(listed.open_probabilities) == len(listed.calls) and all(0 < p <= 1 for p in listed.open_probabilities)
