"""Model profiles against the families' published chat templates (tests/data/chat_templates, sources in SOURCES.md):
the family each template is detected as, and the prompt a run's conversation (tools, an earlier call, its result)
becomes under that template, through the same formatter the llama.cpp backend uses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentslm.models.profiles import PROFILES, ModelProfile, detect_profile, fit_roles, template_messages
from agentslm.registry import ToolRegistry

Jinja2ChatFormatter = pytest.importorskip("llama_cpp.llama_chat_format").Jinja2ChatFormatter

TEMPLATES = Path(__file__).parent.parent / "data" / "chat_templates"
CALL = '<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}]</tool_call>'
CONVERSATION: list[dict[str, Any]] = [
    {"role": "user", "content": "What's the weather in Paris?"},
    {"role": "assistant", "content": CALL},
    {"role": "tool", "content": '[1] get_weather(city="Paris") -> {"temp": 21}'},
]

registry = ToolRegistry()


@registry.tool
def get_weather(city: str) -> dict[str, int]:
    """Weather for a city."""
    return {"temp": 21}


TOOLS = registry.to_openai()

# template file -> (metadata as the GGUF would carry it, expected family, bos, eos)
CASES = {
    "Qwen-Qwen2.5-7B-Instruct.jinja": ({"general.architecture": "qwen2", "general.name": "Qwen2.5 7B Instruct"}, "qwen"),
    "Qwen-Qwen3-0.6B.jinja": ({"general.architecture": "qwen3", "general.name": "Qwen3 0.6B"}, "qwen"),
    "Qwen3.5-4B.jinja": ({"general.architecture": "qwen35", "general.name": "Qwen3.5 4B"}, "generic"),
    "ibm-granite-granite-4.0.jinja": ({"general.architecture": "granitehybrid", "general.name": "Granite 4.0 H 350m"}, "granite"),
    "ibm-granite-granite-3.3-2B-Instruct.jinja": (
        {"general.architecture": "granite", "general.name": "Granite 3.3 2b"},
        "generic",
    ),
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": (
        {"general.architecture": "llama", "general.name": "Hermes 3"},
        "hermes",
    ),
    "meta-llama-Llama-3.2-3B-Instruct.jinja": (
        {"general.architecture": "llama", "general.name": "Llama 3.2 3B Instruct"},
        "llama3",
    ),
    "meta-llama-Llama-3.1-8B-Instruct.jinja": (
        {"general.architecture": "llama", "general.name": "Llama 3.1 8B Instruct"},
        "llama3",
    ),
    "microsoft-Phi-4-mini-instruct.jinja": ({"general.architecture": "phi3", "general.name": "Phi 4 Mini Instruct"}, "phi4"),
    "llama-cpp-microsoft-Phi-4-mini-instruct.jinja": ({"general.architecture": "phi3", "general.name": "Phi 4 Mini"}, "phi4"),
    "microsoft-Phi-3.5-mini-instruct.jinja": ({"general.architecture": "phi3", "general.name": "Phi 3.5 Mini"}, "generic"),
    "google-gemma-3-1b-it.jinja": ({"general.architecture": "gemma3", "general.name": "Gemma 3 1b It"}, "gemma"),
    "google-gemma-4-31B-it.jinja": ({"general.architecture": "gemma4", "general.name": "Gemma 4 31B It"}, "generic"),
    "google-gemma-2-2b-it.jinja": ({"general.architecture": "gemma2", "general.name": "Gemma 2 2b It"}, "gemma"),
    "HuggingFaceTB-SmolLM3-3B.jinja": ({"general.architecture": "smollm3", "general.name": "SmolLM3 3B"}, "smollm"),
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": ({"general.architecture": "llama", "general.name": "Mistral Small"}, "generic"),
}


def formatter(name: str) -> Any:
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    bos = "<bos>" if "gemma" in name else "<|begin_of_text|>" if "llama" in name.lower() else ""
    return Jinja2ChatFormatter(template=template, eos_token="</s>", bos_token=bos, add_generation_prompt=True)


def fitted(name: str) -> ModelProfile:
    """The profile as the llama.cpp backend builds it: detected, then fitted to the roles the template renders."""
    meta, _ = CASES[name]
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    return fit_roles(detect_profile(meta, template), lambda messages: str(formatter(name)(messages=messages).prompt))


def render(name: str, messages: list[dict[str, Any]], profile: ModelProfile, tools: list[dict[str, Any]] | None) -> str:
    template = (TEMPLATES / name).read_text(encoding="utf-8")
    shaped = template_messages(messages, profile, tools, structured_calls="tool_calls" in template)
    return str(formatter(name)(messages=shaped, tools=tools).prompt)


def test_every_template_file_is_covered_and_detected() -> None:
    files = {p.name for p in TEMPLATES.glob("*.jinja")}
    assert files == set(CASES)
    for name, (meta, family) in CASES.items():
        assert detect_profile(meta, (TEMPLATES / name).read_text()).family == family, name


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_run_renders_under_every_template(name: str) -> None:
    """Every family's template takes a run's conversation (roles converted where it has none) without raising, and
    the request, the earlier call and its result all reach the prompt."""
    profile = fitted(name)
    tools = TOOLS if profile.call_format.native else None
    system = [] if profile.call_format.native else [{"role": "system", "content": "You have access to tools."}]
    prompt = render(name, [*system, *CONVERSATION], profile, tools)
    assert "What's the weather in Paris?" in prompt
    assert "get_weather" in prompt and "Paris" in prompt and '{"temp": 21}' in prompt.replace('\\"', '"')


def test_roles_a_template_drops_are_converted() -> None:
    """Phi-3.5, Mistral Small and Gemma 4 drop a bare tool message without a word: their results go in as user turns;
    the native families keep their own tool roles."""
    for name in (
        "microsoft-Phi-3.5-mini-instruct.jinja",
        "Mistral-Small-3.2-24B-Instruct-2506.jinja",
        "google-gemma-4-31B-it.jinja",
    ):
        assert not fitted(name).tool_role, name
    for name in ("Qwen-Qwen2.5-7B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja", "ibm-granite-granite-4.0.jinja"):
        assert fitted(name).tool_role and fitted(name).system_role, name


def test_qwen_sees_tools_calls_and_results_in_its_own_format() -> None:
    prompt = render("Qwen-Qwen2.5-7B-Instruct.jinja", CONVERSATION, PROFILES["qwen"], TOOLS)
    assert '<tools>\n{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city."' in prompt
    call = '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>'
    assert call in prompt
    assert '<|im_start|>user\n<tool_response>\n[1] get_weather(city="Paris") -> {"temp": 21}\n</tool_response>' in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


def test_the_decoded_reply_starts_the_way_the_template_writes_calls() -> None:
    """What the planner places before a further call (its earlier calls in the native format) is what the template
    writes for those calls: the model continues its own format."""
    from agentslm.roles.call_format import CallWriter

    class _Native:
        profile = PROFILES["qwen"]
        continues_reply = True

        def token_probability(self) -> None: ...

    writer = CallWriter(_Native())  # type: ignore[arg-type]
    written = writer.continued_prefix([{"name": "get_weather", "arguments": {"city": "Paris"}}])
    assert written is not None and written.endswith("<tool_call>\n")
    prompt = render("Qwen-Qwen2.5-7B-Instruct.jinja", CONVERSATION, PROFILES["qwen"], TOOLS)
    assert written.removesuffix("\n<tool_call>\n") in prompt


def test_llama_gets_tools_in_the_user_turn_and_results_as_ipython() -> None:
    prompt = render("meta-llama-Llama-3.2-3B-Instruct.jinja", CONVERSATION, PROFILES["llama3"], TOOLS)
    assert "Given the following functions, please respond with a JSON for a function call" in prompt
    assert '{"name": "get_weather", "parameters": {"city": "Paris"}}<|eot_id|>' in prompt
    assert "<|start_header_id|>ipython<|end_header_id|>" in prompt
    assert prompt.endswith("<|start_header_id|>assistant<|end_header_id|>\n\n")


def test_phi4_mini_gets_tools_in_the_system_message_and_calls_as_text() -> None:
    """Phi-4-mini's published template reads the tools from the system message and has no tool_calls: the earlier
    call is written as text in its <|tool_call|> format."""
    prompt = render("microsoft-Phi-4-mini-instruct.jinja", CONVERSATION, PROFILES["phi4"], TOOLS)
    assert prompt.startswith('<|system|>You are a helpful assistant with some tools.<|tool|>[{"name": "get_weather"')
    assert '<|assistant|><|tool_call|>{"name": "get_weather", "arguments": {"city": "Paris"}}<|/tool_call|><|end|>' in prompt
    assert prompt.endswith("<|assistant|>")


def test_gemma_gets_the_system_text_in_the_first_user_turn_and_alternating_roles() -> None:
    messages = [{"role": "system", "content": "You have access to tools."}, *CONVERSATION]
    assert not fitted("google-gemma-2-2b-it.jinja").system_role and not fitted("google-gemma-3-1b-it.jinja").tool_role
    with pytest.raises(Exception, match=r"System role not supported|roles must alternate"):
        Jinja2ChatFormatter(template=(TEMPLATES / "google-gemma-2-2b-it.jinja").read_text(), eos_token="", bos_token="<bos>")(
            messages=messages
        )  # as before: the template refuses the run's roles
    prompt = render("google-gemma-3-1b-it.jinja", messages, PROFILES["gemma"], None)
    assert prompt.startswith("<bos><start_of_turn>user\nYou have access to tools.\n\nWhat's the weather in Paris?")
    assert "<start_of_turn>model\n" + CALL in prompt
    assert '<start_of_turn>user\nTool results:\n[1] get_weather(city="Paris")' in prompt
    assert prompt.endswith("<start_of_turn>model\n")
