from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentslm.assistant.evaluate import load_cases, matches, write_report
from agentslm.errors import UserError

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("Buy milk and eggs.", "buy milk and eggs", True),
        ("buy milk", "buy milk and eggs", False),
        ("remind me to call Ana on Friday", {"contains": "call ana"}, True),
        ("Tokyo", [{"contains": "tokio"}, "tokyo"], True),
        (5, 5.0, True),
        ("5", 5, False),
        (True, 1, False),
    ],
)
def test_matches(value: object, spec: object, expected: bool) -> None:
    assert matches(value, spec) is expected


def test_committed_cases_are_valid_and_name_real_tools(tmp_path: Path) -> None:
    from agentslm_tools import PackContext, build_registry

    registry = build_registry(
        ["notes", "calendar", "contacts", "files", "clock", "calc", "actions"], PackContext(data_dir=tmp_path, workspace=tmp_path)
    )
    cases = load_cases(ROOT / "examples" / "assistant" / "requests.jsonl")
    assert len(cases) >= 30 and len({c["id"] for c in cases}) == len(cases)
    for case in cases:
        for want in case["expected"]:
            assert set(want["arguments"]) <= set(registry[want["name"]].parameters["properties"]), case["id"]
    seed = json.loads((ROOT / "examples" / "assistant" / "seed.json").read_text())
    assert all(call["name"] in registry for call in seed["calls"])
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "request": "y", "expected": []}\n{"id": 1}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:2: a case needs id, request and expected"):
        load_cases(bad)


def test_report(tmp_path: Path) -> None:
    results = [
        {"id": "a", "pack": "notes", "request": "r1", "expected": [], "calls": [], "passed": True, "tools_ok": True,
         "status": "no_tool", "seconds": 1.0, "events": []},
        {"id": "b", "pack": "notes", "request": "r2", "expected": [{"name": "add_note", "arguments": {}}],
         "calls": [{"name": "list_notes", "arguments": {}, "ran": True}], "passed": False, "tools_ok": False,
         "status": "answered", "seconds": 3.0, "events": []},
    ]  # fmt: skip
    text = write_report(results, tmp_path, {"model": "m", "command": "c"})
    assert "side effect, invented identifier or junk value): 1/2 (50 %)" in text
    assert "| notes | 1/2 (50 %) | 1/2 (50 %) |" in text and "missed (answered)" in text
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 2
    assert "Commit `" not in text and json.loads((tmp_path / "meta.json").read_text()) == {"model": "m", "command": "c"}
    buffers = {"enabled": False, "reason": "the CPU has AMX"}
    meta = {"model": "m", "command": "c", "git_commit": "abc1234", "cpu": "Intel Xeon", "llama_extra_buffers": buffers}
    text = write_report(results, tmp_path / "run", meta)
    assert "Commit `abc1234` · CPU Intel Xeon · llama.cpp extra buffers off (the CPU has AMX)" in text
    assert json.loads((tmp_path / "run" / "meta.json").read_text())["git_commit"] == "abc1234"


def test_example_config_loads() -> None:
    from agentslm.assistant.config import load_config

    config = load_config(ROOT / "examples" / "assistant" / "assistant.toml")
    assert config.tools.timezone == "Europe/Madrid" and config.server.approval_timeout == 120 and config.models.threads == 2


def test_scoring_denies_and_fails_calls_nobody_asked_for() -> None:
    from agentslm.assistant.config import AssistantConfig
    from agentslm.assistant.evaluate import run_cases
    from agentslm.testing import ScriptedModel
    from tests.test_agent import call

    config = AssistantConfig.model_validate({"tools": {"packs": ["notes", "calendar"]}})
    cases = [
        {"id": "wrong-note", "request": "Delete note 2, keep note 1", "expected": [{"name": "delete_note", "arguments": {"note_id": 2}}]},
        {"id": "default", "request": "Export my calendar", "expected": [{"name": "export_calendar", "arguments": {"path": "calendar.ics"}}]},
        {"id": "right-note", "request": "Delete note 2", "expected": [{"name": "delete_note", "arguments": {"note_id": 2}}]},
    ]  # fmt: skip
    seed = {"calls": [{"name": "add_note", "arguments": {"text": "one"}}, {"name": "add_note", "arguments": {"text": "two"}}]}
    plans = [[call("delete_note", note_id=1)], "[]", [call("export_calendar")], "[]", [call("delete_note", note_id=2)], "[]"]
    model = ScriptedModel(plans, ["ok"] * 6)
    results = {r["id"]: r for r in run_cases(config, cases, seed, models={"embedded": model})}
    assert results["wrong-note"]["passed"] is False
    assert results["wrong-note"]["unwanted_approvals"] == [{"name": "delete_note", "arguments": {"note_id": 1}}]
    assert results["wrong-note"]["calls"] == [{"name": "delete_note", "arguments": {"note_id": 1}, "ran": False}]  # denied
    assert results["default"]["passed"] is True  # the left-out path counts with its default
    assert results["right-note"]["passed"] is True and results["right-note"]["unwanted_approvals"] == []


def test_strict_scoring_fails_unrequested_writes_and_invented_identifiers() -> None:
    from agentslm.assistant.config import AssistantConfig
    from agentslm.assistant.evaluate import run_cases
    from agentslm.testing import ScriptedModel
    from tests.test_agent import call

    config = AssistantConfig.model_validate({"tools": {"packs": ["notes", "contacts"]}})
    cases = [
        {"id": "extra-note", "request": "Save a note: buy milk", "expected": [{"name": "add_note", "arguments": {"text": {"contains": "buy milk"}}}]},
        {"id": "junk", "request": "Save a note: buy milk", "expected": [{"name": "add_note", "arguments": {"text": {"contains": "buy milk"}}}]},
    ]  # fmt: skip
    plans = [
        [call("add_note", text="buy milk"), call("add_note", text="buy bread", title="milk")],
        "[]",
        [call("add_note", text="buy milk", title="buy milk " * 5)],
        "[]",
    ]
    seed = {"calls": [{"name": "add_note", "arguments": {"text": "one"}}]}
    results = {r["id"]: r for r in run_cases(config, cases, seed, models={"embedded": ScriptedModel(plans, ["ok"] * 4)})}
    extra, junk = results["extra-note"], results["junk"]
    assert extra["lenient"] is True and extra["passed"] is False  # the earlier scoring counted it as handled
    assert extra["unrequested_effects"] == [{"name": "add_note", "arguments": {"text": "buy bread", "title": "milk"}}]
    assert junk["lenient"] is True and junk["passed"] is False and junk["junk_values"]


def test_config_takes_an_adapter_per_role(tmp_path: Path) -> None:
    from agentslm.assistant.config import load_config
    from agentslm.assistant.core import _model_options
    from agentslm.errors import UserError

    file = tmp_path / "a.toml"
    file.write_text('[models]\nadapters = {planner = "p.gguf", summarizer = ""}\n', encoding="utf-8")
    config = load_config(file)
    assert _model_options(config, "embedded")["adapters"] == {"planner": "p.gguf", "summarizer": None}
    file.write_text('[models]\nadapters = {planer = "p.gguf"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="unknown adapter role"):
        load_config(file)
    file.write_text('[models]\nlora = "a.gguf"\nadapters = {planner = "p.gguf"}\n', encoding="utf-8")
    with pytest.raises(UserError, match="both lora and adapters"):
        _model_options(load_config(file), "embedded")
