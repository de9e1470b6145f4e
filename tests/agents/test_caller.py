from __future__ import annotations

import json

from agentslm import Generation, TokenLogprob, ToolRegistry
from agentslm.agents.caller import RESPONSE_PREFIX, Caller, parse_call, signals_from_generation
from agentslm.agents.prompts import PROMPT_VERSION, render_prompt, tools_json


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
