"""Per-role LoRA adapters on one loaded base (the real embedded SmolLM2-135M on llama.cpp)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentslm.errors import ModelNotFoundError, UserError
from agentslm.models import embedded_adapter_path, embedded_model_path, load_model
from agentslm.models.embedded import embedded_after_results_adapter_path
from agentslm.models.llamacpp import LlamaCppModel
from agentslm.models.role_adapters import RoleAdapters, parse_adapter_option
from tests.models.adapter_variants import scaled_adapter

PROMPTS = {
    "planner": "Name three colours.",
    "caller": "Which planet is the largest?",
    "summarizer": "Say something about the sea.",
    "planner-after-results": "Count from one to five.",
}


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("adapters")
    shipped = embedded_adapter_path()
    return {
        "planner": shipped,
        "caller": scaled_adapter(shipped, folder / "caller.gguf", -1.0),
        "summarizer": scaled_adapter(shipped, folder / "summarizer.gguf", 2.0),
    }


def _alone(adapter: Path | None, prompt: str) -> str:
    model = LlamaCppModel(embedded_model_path(), lora_path=adapter, n_ctx=512)
    try:
        return model.generate([{"role": "user", "content": prompt}], max_tokens=16).text
    finally:
        model.close()


def test_each_role_decodes_as_a_model_loaded_with_its_adapter_alone(three: dict[str, Path]) -> None:
    """Three adapters on one base: each role's view writes what a model loaded with only that adapter writes, in any
    order of switches, and the base is loaded once (the views share its llama.cpp context)."""
    expected = {role: _alone(three.get(role, three["planner"]), prompt) for role, prompt in PROMPTS.items()}
    assert len(set(expected.values())) == len(expected), "the adapters must be told apart by these prompts"
    model = LlamaCppModel(embedded_model_path(), adapters=three, n_ctx=1024)
    try:
        assert model.lora_path == three["planner"] and len(model._handles) == 3
        for role in ["caller", "summarizer", "planner", "planner-after-results", "summarizer", "caller"]:
            view = model.for_role(role)
            assert getattr(view, "base", model) is model
            assert view.generate([{"role": "user", "content": PROMPTS[role]}], max_tokens=16).text == expected[role], role
        assert model.switches >= 5
    finally:
        model.close()


def test_a_role_without_an_adapter_decodes_with_the_base_weights(three: dict[str, Path]) -> None:
    model = LlamaCppModel(embedded_model_path(), adapters={"caller": three["caller"]}, n_ctx=512)
    try:
        assert model.lora_path is None and model.for_role("planner") is model
        prompt = PROMPTS["planner"]
        assert model.generate([{"role": "user", "content": prompt}], max_tokens=16).text == _alone(None, prompt)
        caller = model.for_role("caller")
        assert caller is not model and caller.name.endswith("+lora:caller.gguf")
    finally:
        model.close()


def test_the_default_configuration_lists_its_adapters_per_role() -> None:
    model = load_model(n_ctx=512)
    try:
        assert isinstance(model, LlamaCppModel)
        shipped = embedded_adapter_path()
        assert model.adapters.for_role("planner") == shipped and model.adapters.for_role("caller") == shipped
        assert model.adapters.for_role("summarizer") is None
        assert model.adapters.for_role("planner-after-results") == embedded_after_results_adapter_path() != shipped
    finally:
        model.close()


def test_role_mapping_rules_and_errors(tmp_path: Path) -> None:
    file = tmp_path / "a.gguf"
    file.write_bytes(b"x")
    adapters = RoleAdapters.parse({"planner": file, "summarizer": None})
    assert adapters.for_role("planner-after-results") == file  # planning after results: the planner's adapter
    assert adapters.for_role("caller") is None and adapters.for_role("summarizer") is None
    assert RoleAdapters.parse({"*": file}).for_role("caller") == file
    legacy = RoleAdapters.single(file, ("planner", "caller"))  # lora_roles: exactly these roles
    assert legacy.for_role("planner-after-results") is None and legacy.files == [file]
    with pytest.raises(UserError, match="Unknown role"):
        RoleAdapters.parse({"plnner": file})
    with pytest.raises(ModelNotFoundError, match="the caller adapter"):
        RoleAdapters.parse({"caller": tmp_path / "missing.gguf"})
    assert parse_adapter_option(["planner=p.gguf", "summarizer=base"]) == {"planner": "p.gguf", "summarizer": None}
    with pytest.raises(UserError, match="ROLE=PATH"):
        parse_adapter_option(["p.gguf"])


def test_adapters_need_a_gguf_model_and_exclude_lora_path(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="lora_path or adapters"):
        LlamaCppModel(embedded_model_path(), lora_path=embedded_adapter_path(), adapters={"planner": embedded_adapter_path()})
    with pytest.raises(UserError, match="need a local GGUF model"):
        load_model("openai:http://127.0.0.1:9/v1#m", adapters={"planner": embedded_adapter_path()})


def test_agent_takes_adapters_for_the_model_it_loads(three: dict[str, Path]) -> None:
    from agentslm import Agent

    agent = Agent(adapters={"planner": three["planner"], "caller": three["caller"]}, tools=[])
    try:
        assert isinstance(agent.model, LlamaCppModel)
        assert agent.caller.model.name.endswith("+lora:caller.gguf")
        assert agent.summarizer.model.name == "llamacpp:SmolLM2-135M-Instruct.Q4_1.gguf"
    finally:
        agent.close()
    with pytest.raises(UserError, match="adapters= applies"):
        Agent(model=load_model("embedded-base", n_ctx=256), adapters={"planner": three["planner"]})
