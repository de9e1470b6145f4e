from __future__ import annotations

import json

from typer.testing import CliRunner

from agentslm.cli import app

runner = CliRunner()


def test_call_prints_json() -> None:
    result = runner.invoke(app, ["call", "--tools", "tests.sample_tools:registry", "What's the weather in Paris?"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["name"] == "get_weather" and data["arguments"] == {"city": "Paris"} and data["parse_error"] is None


def test_bad_tools_spec_is_a_clear_error() -> None:
    result = runner.invoke(app, ["call", "--tools", "no_such_module_xyz:registry", "hi"])
    assert result.exit_code != 0
    assert "Cannot import module 'no_such_module_xyz'" in str(result.exception)


def test_demo_runs_on_embedded_model() -> None:
    result = runner.invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    assert "refused" in result.output and "get_weather" in result.output and "executed" in result.output
