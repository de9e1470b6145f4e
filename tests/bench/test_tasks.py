"""The strict task benchmark: its scorer, its world and its committed cases (scripted models only)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentslm import Agent, Observation, PlannerPolicy, ToolCall
from agentslm.bench.task_world import World
from agentslm.bench.tasks import (
    KINDS,
    check_case,
    invented_in,
    junk_in,
    load_task_cases,
    run_tasks,
    state_changes,
    summary,
)
from agentslm.errors import UserError
from agentslm.events import AnswerEvent, CallEvent, ResultEvent
from agentslm.run.types import outcome
from agentslm.testing import ScriptedModel

CASES = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "cases.jsonl"
ANA = "ana.souza@brightmail.com"
EMAIL_ANA = {
    "id": "x",
    "kind": "dependent",
    "turns": ["Email Ana: the meeting moved to 3pm."],
    "changes": [{"add": "outbox", "match": {"to": ANA, "body": {"contains": "3pm"}}}],
}


def _run(request: str, calls: list[tuple[str, dict[str, Any], str]], answer: str = "ok") -> Any:
    events: list[Any] = []
    for i, (name, arguments, text) in enumerate(calls, 1):
        events.append(CallEvent(run_id="r", task_id=i, call=ToolCall(name=name, arguments=arguments)))
        events.append(
            ResultEvent(run_id="r", task_id=i, tool=name, observation=Observation(ok=True, text=text), started=0.0, finished=0.0)
        )
    events.append(AnswerEvent(run_id="r", text=answer))
    return outcome(request, events)


def test_committed_cases_cover_every_kind() -> None:
    cases = load_task_cases(CASES)
    assert len(cases) >= 60
    assert {c["kind"] for c in cases} == set(KINDS)


def test_bad_case_files_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"id": "a", "kind": "odd", "turns": ["x"]}\n')
    with pytest.raises(UserError, match="kind 'odd'"):
        load_task_cases(bad)
    bad.write_text('{"id": "a", "kind": "single"}\n')
    with pytest.raises(UserError, match="turns"):
        load_task_cases(bad)


def test_done_only_with_exactly_the_requested_changes() -> None:
    world = World()
    before = world.snapshot()
    reg = world.registry()
    reg["send_email"].fn(to=ANA, subject="Meeting", body="Moved to 3pm.")
    lookup = ("find_contact", {"name": "Ana"}, f'[{{"email": "{ANA}"}}]')
    sent = ("send_email", {"to": ANA, "subject": "Meeting", "body": "Moved to 3pm."}, "email #1 sent")
    good = check_case(EMAIL_ANA, [_run(EMAIL_ANA["turns"][0], [lookup, sent])], before, world.snapshot())
    assert good["done"], good["reasons"]
    reg["add_note"].fn(title="Ana", text="emailed")
    extra = check_case(EMAIL_ANA, [_run(EMAIL_ANA["turns"][0], [lookup, sent])], before, world.snapshot())
    assert not extra["done"] and extra["unrequested"] == 1


def test_a_write_that_changed_nothing_is_still_unrequested() -> None:
    case = {
        "id": "f",
        "kind": "dependent",
        "turns": ["Read meeting/agenda.md and write its first item to a file budget.txt."],
        "changes": [{"add": "files", "key": "budget.txt", "match": {"value": {"contains": "budget"}}}],
    }
    world = World()
    before = world.snapshot()
    reg = world.registry()
    agenda = reg["read_file"].fn(path="meeting/agenda.md")
    reg["write_file"].fn(path="budget.txt", content="1. budget 2026")
    read = ("read_file", {"path": "meeting/agenda.md"}, agenda)
    wrote = ("write_file", {"path": "budget.txt", "content": "1. budget 2026"}, "wrote 14 characters")
    good = check_case(case, [_run(case["turns"][0], [read, wrote])], before, world.snapshot(), reg)
    assert good["done"], good["reasons"]
    reg["write_file"].fn(path="meeting/agenda.md", content=agenda)  # the agenda written over with its own content
    again = ("write_file", {"path": "meeting/agenda.md", "content": agenda}, "wrote 53 characters")
    score = check_case(case, [_run(case["turns"][0], [read, wrote, again])], before, world.snapshot(), reg)
    assert not score["done"] and score["unrequested"] == 1
    assert any("changed nothing" in r for r in score["reasons"])


def test_an_address_no_source_holds_fails_the_case() -> None:
    world = World()
    before = world.snapshot()
    world.registry()["send_email"].fn(to=ANA, subject="Meeting", body="Moved to 3pm.")
    guessed = ("send_email", {"to": ANA, "subject": "Meeting", "body": "Moved to 3pm."}, "email #1 sent")
    score = check_case(EMAIL_ANA, [_run(EMAIL_ANA["turns"][0], [guessed])], before, world.snapshot())
    assert not score["done"] and score["invented"] == 1  # right address, but guessed before any lookup showed it


def test_identifier_and_junk_detectors() -> None:
    assert invented_in({"to": "bob@x.io"}, "mail bob@x.io") == []
    assert invented_in({"to": "bob@y.io", "note_id": 7}, "mail bob@x.io, note 4") == ["bob@y.io", "note_id=7"]
    assert invented_in({"path": "reports/q4.txt"}, "read reports/q3.txt") == ["reports/q4.txt"]
    assert junk_in({"title": "Paris " * 30}) and junk_in({"text": "Lorem ipsum"}) and not junk_in({"text": "buy milk"})
    # what the user wrote is never junk, however it looks; the same value made up by the model is
    request = "Email bob@example.com with subject Lunch and say see you at noon"
    assert junk_in({"to": "bob@example.com", "subject": "Lunch"}, request) == []
    assert junk_in({"to": "bob@example.com"}) == ["to: placeholder text"]
    # another address at the request's domain is not placeholder text but an identifier no source holds
    assert junk_in({"to": "ana@example.com"}, request) == [] and invented_in({"to": "ana@example.com"}, request) == [
        "ana@example.com"
    ]
    assert junk_in({"body": "Hi <name>, see you at noon"}, request) == ["body: placeholder text"]
    assert junk_in({"text": "ha ha ha ha ha ha ha ha ha"}, "write ha ha ha ha ha ha ha ha ha in a note") == []
    # the field's own description written as its value (with the tool's schema): a placeholder
    params = {"properties": {"text": {"type": "string", "description": "The note's text."}}}
    assert junk_in({"text": "The note's text."}, "save Farid's number", params) == [
        "text: placeholder text (the field's description)"
    ]
    assert junk_in({"text": "+971-50-555-0106"}, "save Farid's number", params) == []


def test_state_changes() -> None:
    before = {"notes": {1: {"t": "a"}}, "files": {"a.txt": "x"}}
    after = {"notes": {2: {"t": "b"}}, "files": {"a.txt": "y"}}
    ops = {(c["op"], c["table"], c["key"]) for c in state_changes(before, after)}
    assert ops == {("add", "notes", 2), ("delete", "notes", 1), ("update", "files", "a.txt")}


def test_run_tasks_end_to_end_with_a_scripted_agent() -> None:
    def make_agent(registry: Any) -> Agent:
        model = ScriptedModel(
            plans=[
                [{"name": "find_contact", "arguments": {"name": "Ana"}}],
                [{"name": "send_email", "arguments": {"to": ANA, "subject": "Meeting", "body": "Moved to 3pm."}}],
            ],
            answers=["Sent."],
        )
        return Agent(model, registry, approve=lambda call, tool: True)

    rows = run_tasks(make_agent, [EMAIL_ANA])
    assert rows[0]["done"], rows[0]["reasons"]
    assert summary(rows)["done_rate"] == 1.0 and summary(rows)["by_kind"] == {"dependent": "1/1"}


def test_the_embedded_default_completes_compute_then_record_chains(embedded_model: Any) -> None:
    """The real embedded default on two dependent cases of the committed set: the conversion (or the file read) runs
    first, then the named note carries its result (PlannerPolicy.finish_named_writes); without that policy the model
    stops after the first step and neither case is done."""
    wanted = {"dep-convert-to-note", "dep-file-to-note"}
    cases = [c for c in load_task_cases(Path("examples/tasks/cases.jsonl")) if c["id"] in wanted]
    assert len(cases) == 2

    def make_agent(registry: Any) -> Agent:
        return Agent(embedded_model, registry, approve=lambda call, tool: True)

    rows = run_tasks(make_agent, cases)
    assert [(r["id"], r["done"], r["reasons"]) for r in rows] == [(c["id"], True, []) for c in cases]

    def without(registry: Any) -> Agent:
        return Agent(
            embedded_model,
            registry,
            approve=lambda call, tool: True,
            policy=PlannerPolicy(min_no_tool=embedded_model.no_tool_threshold, finish_named_writes=False),
        )

    assert not any(r["done"] for r in run_tasks(without, cases[:1]))
