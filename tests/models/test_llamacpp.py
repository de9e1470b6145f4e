"""The llama.cpp backend on the real embedded model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from agentslm import ModelNotFoundError, UserError, embedded_model_path, load_model
from agentslm.models.llamacpp import LlamaCppModel


def test_embedded_path_comes_from_package_metadata() -> None:
    path = embedded_model_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000


def test_unknown_model_paths_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="No GGUF model file") as info:
        load_model(f"llamacpp:{tmp_path / 'nope.gguf'}")
    assert "embedded" in str(info.value)
    with pytest.raises(ModelNotFoundError, match="No model at"):
        load_model(str(tmp_path / "missing"))
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf")
    with pytest.raises(ModelNotFoundError, match="could not load"):
        load_model(bad)
    with pytest.raises(UserError, match="Unsupported model URL"):
        load_model("ftp://host/model")


def test_constrained_generation_returns_logprobs(embedded_model: LlamaCppModel) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"enum": ["yes", "no"]}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    gen = embedded_model.generate([{"role": "user", "content": "Is the sky blue? Answer in JSON."}], schema=schema, max_tokens=20)
    assert json.loads(gen.text)["answer"] in ("yes", "no")
    assert gen.finish_reason == "stop" and gen.prompt_tokens > 10
    decided = [t for t in gen.tokens if not t.forced]
    assert decided, "the yes/no choice is a real decision"
    for t in decided:
        assert t.logprob is not None and t.logprob <= 0.0
        assert t.constrained_logprob is not None and t.logprob <= t.constrained_logprob <= 0.0
        assert t.margin is not None and 0.0 <= t.margin <= 1.0 and t.n_allowed is not None and t.n_allowed > 1
    assert "".join(t.text for t in gen.tokens) == gen.text


def test_fast_forward_gives_same_output_in_fewer_steps(embedded_model: LlamaCppModel) -> None:
    schema = {
        "type": "object",
        "properties": {"first_name": {"type": "string", "maxLength": 12}},
        "required": ["first_name"],
        "additionalProperties": False,
    }
    msgs = [{"role": "user", "content": "My name is Ana. Reply in JSON."}]
    slow = embedded_model.generate(msgs, schema=schema, fast_forward=False, max_tokens=40)
    fast = embedded_model.generate(msgs, schema=schema, fast_forward=True, max_tokens=40)
    assert json.loads(slow.text) == json.loads(fast.text)
    assert fast.model_steps < slow.model_steps


def test_unconstrained_generation_and_budget(embedded_model: LlamaCppModel) -> None:
    gen = embedded_model.generate([{"role": "user", "content": "Write a long story about a cat."}], max_tokens=8)
    assert gen.finish_reason == "length" and len(gen.tokens) == 8
    assert all(t.n_allowed is None and t.logprob is not None and math.isfinite(t.logprob) for t in gen.tokens)
    with pytest.raises(UserError, match="exceed the context"):
        embedded_model.generate([{"role": "user", "content": "hi"}], max_tokens=10**6)


def test_prompt_prefix_is_reused(embedded_model: LlamaCppModel) -> None:
    system = {"role": "system", "content": "You are terse. " * 40}
    embedded_model.generate([system, {"role": "user", "content": "one"}], max_tokens=1)
    second = embedded_model.generate([system, {"role": "user", "content": "two"}], max_tokens=1)
    cold = embedded_model.generate(
        [{"role": "system", "content": "You are brief. " * 40}, {"role": "user", "content": "two"}], max_tokens=1
    )
    assert second.prefill_seconds < cold.prefill_seconds


def test_cycle_detection() -> None:
    from agentslm.models.local import _cycle_continuation

    assert _cycle_continuation([1, 5, 5, 5, 5]) == 5
    assert _cycle_continuation([1, 5, 5, 5]) is None
    assert _cycle_continuation([9, 1, 2, 3, 1, 2, 3, 1, 2, 3]) == 1
    assert _cycle_continuation([1, 2, 3, 1, 2, 3]) is None
    assert _cycle_continuation(list(range(30))) is None


def test_closing_mode_completes_within_a_tight_budget(base_model: LlamaCppModel) -> None:
    embedded_model = base_model  # the bare model writes long values (the adapter's are short): the premise below
    schema = {
        "type": "object",
        "properties": {"text": {"type": "string", "maxLength": 400}, "words": {"type": "integer"}},
        "required": ["text", "words"],
        "additionalProperties": False,
    }
    compiled = embedded_model.engine().compile(schema)
    prompts = [
        "Write a 300-word essay about the history of Rome, as JSON.",
        "Tell me a long story about a dragon, as JSON.",
        "Describe the water cycle in great detail, as JSON.",
    ]
    cut, closed = [], []
    for text in prompts:
        prompt = embedded_model.chat_tokens([{"role": "user", "content": text}])
        cut.append(
            embedded_model.generate_tokens(prompt, matcher=compiled.matcher(), max_tokens=30, close_reserve=0, loop_guard=False)
        )
        closed.append(embedded_model.generate_tokens(prompt, matcher=compiled.matcher(), max_tokens=30))
    assert any(g.finish_reason == "length" for g in cut)  # without closing mode long values run past the budget
    for gen in closed:
        assert gen.finish_reason == "stop" and len(gen.tokens) <= 30
        data = json.loads(gen.text)
        assert isinstance(data["text"], str) and isinstance(data["words"], int)
    assert any(g.closed_early for g in closed)


def test_default_is_base_plus_shipped_adapter_and_embedded_base_is_bare(embedded_model: LlamaCppModel) -> None:
    from agentslm import embedded_adapter_path

    assert embedded_model.lora_path == embedded_adapter_path() and embedded_adapter_path().stat().st_size > 1_000_000
    assert "+lora:smollm2-135m-calls-A.gguf" in embedded_model.name
    bare = load_model("embedded-base", n_ctx=512)
    assert isinstance(bare, LlamaCppModel) and bare.lora_path is None and "+lora" not in bare.name
    bare.close()


def test_summarizer_view_switches_the_adapter_off_on_the_same_weights(
    embedded_model: LlamaCppModel, base_model: LlamaCppModel
) -> None:
    """The shipped adapter is for planning: the summarizer's view decodes with the base weights (as embedded-base
    does), and switching back restores the adapter's outputs (the KV cache is not reused across the switch)."""
    from agentslm.roles.summarizer import ResultForAnswer, Summarizer

    result = ResultForAnswer(1, "get_weather(city='Paris')", '{"city": "Paris", "temperature": 18, "sky": "cloudy"}')
    msgs = Summarizer(embedded_model).messages("What's the weather in Paris?", [result])
    with_adapter = embedded_model.generate(msgs, max_tokens=24).text
    view = embedded_model.for_role("summarizer")
    assert view is not embedded_model and embedded_model.for_role("planner") is embedded_model
    expected = base_model.generate(msgs, max_tokens=24).text
    assert view.generate(msgs, max_tokens=24).text == expected
    assert expected != with_adapter, "the prompt must tell the two weight sets apart"
    assert embedded_model.generate(msgs, max_tokens=24).text == with_adapter


def test_the_embedded_models_profile_keeps_its_own_prompt_and_end_tokens(embedded_model: LlamaCppModel) -> None:
    """SmolLM2's plain ChatML template shows no tool format: the smollm profile keeps agentslm's APIGen prompt (its own
    function-calling prompt); its turn ends at <|im_end|> (the metadata's EOS) or <|endoftext|>."""
    profile = embedded_model.profile
    assert profile.family == "smollm" and not profile.call_format.native and profile.tool_role and profile.system_role
    ends = {embedded_model.llama.detokenize([t], special=True).decode() for t in embedded_model.eos_token_ids}
    assert ends == {"<|im_end|>", "<|endoftext|>"}


@pytest.mark.slow
def test_qwen_coder_plans_parallel_calls_in_its_native_format() -> None:
    """Qwen2.5-Coder-1.5B (pulled: agentslm models pull qwen2.5-coder-1.5b): Qwen's own tool prompt and <tool_call>
    wrapper; two cities, two calls; a request no tool fits makes none."""
    from agentslm.models import load_model
    from agentslm.models.catalog import catalog_model, pulled_path
    from agentslm.roles.planner import Planner
    from tests.sample_tools import registry

    entry = catalog_model("qwen2.5-coder-1.5b")
    assert entry is not None
    if not pulled_path(entry).is_file():
        pytest.skip("Qwen2.5-Coder-1.5B is not pulled here (agentslm models pull qwen2.5-coder-1.5b)")
    model = load_model("qwen2.5-coder-1.5b")
    assert model.profile.family == "qwen" and model.profile.call_format.native
    planner = Planner(model)
    weather = [t for t in registry if t.name == "get_weather"]
    decision = planner.decide(weather, [{"role": "user", "content": "What's the weather in Paris and in London?"}])
    assert decision.kind == "plan" and sorted(t.arguments["city"] for t in decision.plan.tasks) == ["London", "Paris"]
