from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from agentslm.bench.bfcl_data import load_bfcl
from agentslm.bench.bfcl_run import RssSampler, Suite, read_records, run_suite
from agentslm.bench.report import summarize_records, write_report
from agentslm.bench.systems import SystemOutput
from agentslm.errors import UserError
from agentslm.models.base import Message
from agentslm.registry import Tool
from agentslm.step_types import ToolCall


class AnswerKey:
    """A fake system that answers from the possible answers (orchestration test only)."""

    name = "answer-key"

    def __init__(self, answers: dict[str, list[dict]]) -> None:
        self.answers = answers
        self.runs = 0

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        self.runs += 1
        key = messages[-1]["content"]
        calls = [
            ToolCall(name=n, arguments={k: v[0] for k, v in a.items() if v[0] != ""})
            for item in self.answers.get(key, [])
            for n, a in item.items()
        ]
        return SystemOutput(
            calls=calls,
            raw=json.dumps([c.model_dump(include={"name", "arguments"}) for c in calls]),
            seconds=0.01,
            completion_tokens=5,
        )


class Silent:
    name = "silent"

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        return SystemOutput(calls=None, raw="I cannot help", seconds=0.02, completion_tokens=3)


def _suite(tmp_path: Path) -> Suite:
    return Suite(
        categories={"simple_python": load_bfcl("simple_python", limit=3), "irrelevance": load_bfcl("irrelevance", limit=2)},
        out_dir=tmp_path,
        command="test",
    )


def test_records_scores_resume_and_report(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    answers = {c.messages[-1]["content"]: c.answer for c in load_bfcl("simple_python", limit=4)}
    key = AnswerKey(answers)
    new = run_suite(suite, [key, Silent()], model_name="m", load_seconds=0.5)
    assert len(new) == 10
    by = {
        (r["category"], r["system"]): [x for x in new if x["category"] == r["category"] and x["system"] == r["system"]]
        for r in new
    }
    assert all(r["valid"] and r["schema_valid"] and r["executable"] for r in by[("simple_python", "answer-key")])
    assert all(r["valid"] for r in by[("irrelevance", "answer-key")])  # it made no call
    assert not any(r["valid"] or r["schema_valid"] for r in by[("simple_python", "silent")])
    assert all(r["valid"] for r in by[("irrelevance", "silent")])
    assert all(r["rss_mib"] > 10 for r in new)

    # resume: nothing is run twice; a torn last line (crash mid-write) is ignored and repaired
    with (tmp_path / "results.jsonl").open("a") as fh:
        fh.write('{"category": "simple_python", "id": "torn')
    assert len(read_records(tmp_path)) == 10
    key.runs = 0
    assert run_suite(suite, [key], model_name="m", load_seconds=0.5) == [] and key.runs == 0
    suite.categories["simple_python"] = load_bfcl("simple_python", limit=4)
    assert len(run_suite(suite, [key], model_name="m", load_seconds=0.5)) == 1 and key.runs == 1
    assert len(read_records(tmp_path)) == 11
    with pytest.raises(UserError, match="holds results of model 'm'"):
        run_suite(suite, [key], model_name="other", load_seconds=0.5)

    rows = summarize_records(read_records(tmp_path))
    simple = next(r for r in rows if r["system"] == "answer-key" and r["category"] == "simple_python")
    assert simple["accuracy"] == 1.0 and simple["cases"] == 4
    report = write_report(tmp_path, tmp_path / "rep")
    text = report.read_text()
    assert "| answer-key | 100.0 | 100.0 |" in text and "Granite-4.0-350M" in text
    # every resumed run's command is kept, in order
    assert text.count("): `test`") == 3 and len(json.loads((tmp_path / "meta.json").read_text())["commands"]) == 3
    for png in ("accuracy.png", "latency.png"):
        assert (tmp_path / "rep" / png).read_bytes()[:4] == b"\x89PNG"


def test_rss_sampler_sees_an_allocation() -> None:
    with RssSampler(interval=0.001) as rss:
        rss.reset()
        before = rss.peak_mib
        block = bytearray(64 * 2**20)
        block[::4096] = b"x" * len(block[::4096])
        assert rss.peak_mib >= before + 50
        del block


class Crashing:
    name = "crashing"

    def run(self, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
        raise ValueError("Requested tokens (4096) exceed context window of 4096")


def test_a_system_error_is_recorded_not_fatal(tmp_path: Path) -> None:
    suite = Suite(categories={"simple_python": load_bfcl("simple_python", limit=2)}, out_dir=tmp_path)
    records = run_suite(suite, [Crashing()], model_name="m", load_seconds=0.1)
    assert len(records) == 2 and not any(r["valid"] for r in records)
    assert records[0]["calls"] is None and "exceed context window" in records[0]["extra"]["system_error"]
