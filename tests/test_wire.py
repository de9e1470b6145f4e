from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from agentslm import Observation, RunResult, ToolCall, Verdict
from agentslm.wire import wire_schemas

ROOT = Path(__file__).resolve().parent.parent


def test_published_schemas_are_current() -> None:
    for filename, schema in wire_schemas().items():
        committed = json.loads((ROOT / "schemas" / filename).read_text())
        assert committed == json.loads(json.dumps(schema)), f"regenerate with: python -m agentslm.wire schemas ({filename})"


def test_a_run_result_validates_against_its_published_schema() -> None:
    result = RunResult(
        request="r",
        call=ToolCall(name="f", arguments={"a": 1}, raw='{"name":"f","arguments":{"a":1}}'),
        verdict=Verdict(approved=True),
        observation=Observation(ok=True, text="1", value=object()),
    )
    schema = json.loads((ROOT / "schemas" / "run_result.schema.json").read_text())
    jsonschema.validate(json.loads(result.model_dump_json()), schema)
