from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentslm.records import DatasetError, TrainingRecord, check_record, read_records, write_records

TOOL = {
    "name": "timer.start",
    "description": "Start a timer.",
    "parameters": {"type": "object", "properties": {"minutes": {"type": "integer"}}, "required": ["minutes"]},
}


def _record(**update: object) -> dict[str, object]:
    base: dict[str, object] = {
        "role": "planner",
        "tools": [TOOL],
        "messages": [{"role": "user", "content": "Start a 5 minute timer."}],
        "target_calls": [{"name": "timer.start", "arguments": {"minutes": 5}}],
    }
    return base | update


def test_round_trip_fills_ids(tmp_path: Path) -> None:
    records = [TrainingRecord.model_validate(_record()), TrainingRecord.model_validate(_record(target_calls=[]))]
    assert write_records(tmp_path / "d.jsonl", records) == 2
    back = read_records(tmp_path / "d.jsonl")
    assert [r.target_calls for r in back] == [r.target_calls for r in records]
    assert all(len(r.id) == 16 for r in back) and back[0].id != back[1].id


def test_malformed_lines_are_listed_with_line_numbers(tmp_path: Path) -> None:
    lines = [
        json.dumps(_record()),
        "{not json",
        json.dumps(_record(role="judge")),
        "",
        json.dumps(_record(target_calls=[{"name": "timer.start", "arguments": {"minutes": "five"}}])),
        json.dumps(_record(target_calls=[{"name": "alarm.set", "arguments": {}}])),
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError) as err:
        read_records(path)
    text = str(err.value)
    assert "4 bad record(s)" in text
    assert f"{path}:2: invalid JSON" in text
    assert f"{path}:3: role" in text
    assert f"{path}:5: target call 0 to 'timer.start' does not satisfy its schema at minutes" in text
    assert f"{path}:6: target call 0 names 'alarm.set', which is not among the offered tools" in text
    assert "schemas/training_record.schema.json" in text


def test_role_specific_targets() -> None:
    caller_two = TrainingRecord.model_validate(
        _record(role="caller", target_calls=[{"name": "timer.start", "arguments": {"minutes": 1}}] * 2)
    )
    assert "exactly one target call" in check_record(caller_two)[0]
    assert check_record(TrainingRecord.model_validate(_record(target_calls=None)))[0].startswith("a planner record needs")
    summary = TrainingRecord.model_validate(_record(role="summarizer", target_calls=None, target_text=""))
    assert check_record(summary) == ["a summarizer record needs target_text"]


def test_missing_file_has_a_hint(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="agentslm train data"):
        read_records(tmp_path / "nope.jsonl")
