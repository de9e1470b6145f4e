"""Training data v2 (multi-round records from chains): kinds, validity, the runtime's conversation, value sources,
the chains file's checks, the held-out chain split, reference-aware target checks, and the task-benchmark check."""

from __future__ import annotations

import json
import re
from collections import Counter
from functools import cache
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from typer.testing import CliRunner

from agentslm.cli import app
from agentslm.execute import render_value
from agentslm.finetune.dataset import check_no_task_requests, task_contamination
from agentslm.finetune.render import render_record
from agentslm.finetune.rounds import ROUNDS_MIX, Chain, load_chains, split_chains, synthesize_rounds
from agentslm.finetune.synth import CatalogEntry, _surface, load_catalog
from agentslm.plan import REFERENCE
from agentslm.records import DatasetError, RecordCall, RecordTool, TrainingRecord, check_record
from agentslm.roles.summarizer import ResultForAnswer
from agentslm.run.state import RunContext, RunState, _call_text
from agentslm.run.types import Budgets
from agentslm.step_types import ToolCall

ROOT = Path(__file__).resolve().parents[2]
CHAINS = ROOT / "training" / "catalog" / "chains.json"
CATALOG = ROOT / "training" / "catalog"
TINY = Path(__file__).parent / "data" / "tiny_catalog.json"
_LINE = re.compile(r"^\[(\d+)\] (.*?) -> (.*)$")


@cache
def _chains() -> tuple[Chain, ...]:
    return tuple(load_chains(CHAINS))


@cache
def _entries() -> tuple[CatalogEntry, ...]:
    return tuple(load_catalog([CATALOG]))


@cache
def _records() -> tuple[TrainingRecord, ...]:
    return tuple(synthesize_rounds(_chains(), _entries(), 1500, seed=0))


def test_shipped_chains_are_valid_and_diverse() -> None:
    chains = _chains()
    assert len(chains) >= 20 and len({c.domain for c in chains}) >= 5
    assert any(len(w.lookups()) == 2 for c in chains for w in c.writes)  # parallel_dependent has chains
    catalog = {e.tool.name for e in _entries()}
    assert not {t.name for c in chains for t in c.tools()} & catalog
    # the strict task benchmark's world stays out of the chains (its tools and its people)
    text = CHAINS.read_text().lower()
    for word in ("find_contact", "send_email", "add_note", "convert_currency", "ana souza", "ben okafor", "chloe martin"):
        assert word not in text


def test_deterministic_every_kind_valid_and_rendered() -> None:
    records = _records()
    assert list(records) == synthesize_rounds(_chains(), _entries(), 1500, seed=0)
    assert list(records) != synthesize_rounds(_chains(), _entries(), 1500, seed=1)
    kinds = Counter(r.kind for r in records)
    assert set(kinds) == set(ROUNDS_MIX), kinds
    for r in records:
        assert check_record(r) == [], (r.kind, check_record(r))
        rendered = render_record(r)
        assert rendered.target
        assert r.meta["chain"] in {c.name for c in _chains()} and r.meta["round"] in (1, 2, 3, "answer")
        if r.role == "planner":
            offered = [t.name for t in r.tools]
            assert 2 <= len(offered) <= 5 and len(set(offered)) == len(offered)
            assert {c.name for c in r.target_calls or []} <= set(offered)
    rounds = Counter((r.kind, r.meta["round"]) for r in records)
    assert rounds[("dependent_first", 1)] and rounds[("dependent_next", 2)] and rounds[("done_after_results", 3)]
    # half of the first rounds of a dependent request plan the whole chain with a reference
    firsts = [r for r in records if r.kind == "dependent_first"]
    whole = [r for r in firsts if len(r.target_calls or []) == 2]
    assert 0.3 < len(whole) / len(firsts) < 0.7
    for r in whole:
        assert any(isinstance(v, str) and REFERENCE.match(v) for v in (r.target_calls or [])[1].arguments.values())
    empty = {"done_after_results", "ask_after_results", "missing"}
    assert all(r.target_calls == [] for r in records if r.kind in empty)
    assert all(r.target_calls for r in records if r.kind in {"dependent_first", "dependent_next", "parallel", "normalise"})


def _executed(record: TrainingRecord) -> list[tuple[dict[str, Any], Any]]:
    """The calls that ran and their results, read back from a record's conversation."""
    if len(record.messages) == 1:
        return []
    calls = json.loads(record.messages[1]["content"].removeprefix("<tool_call>").removesuffix("</tool_call>"))
    texts = [_LINE.match(line) for line in record.messages[2]["content"].split("\n")]
    assert all(texts) and len(texts) == len(calls)
    results = []
    for m in texts:
        assert m is not None
        text = m.group(3)
        results.append(json.loads(text) if text[:1] in "[{" else text)
    return list(zip(calls, results, strict=True))


def _state_conversation(request: str, executed: list[tuple[dict[str, Any], Any]]) -> list[Any]:
    """What the runtime's RunState shows its planner after ``executed`` ran (its state set as a run sets it)."""
    ctx = cast(RunContext, SimpleNamespace(budgets=Budgets()))  # the conversation reads only the budgets
    state = RunState.__new__(RunState)
    state.ctx, state.session, state.asked, state.request = ctx, None, None, request
    state.done_calls = [ToolCall(name=c["name"], arguments=c["arguments"]) for c, _ in executed]
    state.answers = [
        ResultForAnswer(id=i, call=_call_text(c["name"], c["arguments"]), text=render_value(result))
        for i, (c, result) in enumerate(executed, 1)
    ]
    return state.conversation()


def test_later_rounds_show_what_the_runtime_shows() -> None:
    later = [r for r in _records() if r.role == "planner" and len(r.messages) > 1]
    assert len({r.kind for r in later}) >= 5
    for r in later:
        executed = _executed(r)
        assert r.messages == _state_conversation(r.request(), executed)
        assert r.messages[2]["content"].startswith("[1] ")
    first = next(r for r in _records() if r.role == "planner" and len(r.messages) == 1)
    assert first.messages == _state_conversation(first.request(), [])


def _said(value: Any, text: str) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return re.search(rf"(?<![\d.]){re.escape(str(value))}(?![\d])", text) is not None
    return isinstance(value, str) and value in text


def _pool_texts(value: Any, tool: str) -> list[str]:
    """The request texts that stand for ``value`` of ``tool`` in a chain pool or a catalog pool (normalised forms)."""
    pools = [p for c in _chains() for w in c.writes if w.tool.name == tool for p in w.values.values()]
    pools += [p for e in _entries() if e.tool.name == tool for p in e.values.values()]
    return [text for pool in pools for item in pool if isinstance(item, dict) for v, text in [_surface(item)] if v == value]


def test_target_values_come_from_the_request_or_the_results() -> None:
    catalog = {e.tool.name for e in _entries()}
    lookup_fields = {lk.tool.name: set.intersection(*map(set, lk.results)) for c in _chains() for lk in c.lookups.values()}
    for r in _records():
        if r.role != "planner":
            continue
        request = r.request()
        results = " ".join(json.dumps(res, ensure_ascii=False) if not isinstance(res, str) else res for _, res in _executed(r))
        for position, call in enumerate(r.target_calls or [], 1):
            for name, value in call.arguments.items():
                ref = REFERENCE.match(value) if isinstance(value, str) else None
                if ref:  # a reference: to an earlier lookup of this plan, to a field its results have
                    n, path = int(ref.group(1)), ref.group(2).lstrip(".")
                    assert r.kind in ("dependent_first", "parallel_dependent") and 1 <= n < position
                    assert path in lookup_fields[(r.target_calls or [])[n - 1].name]
                    continue
                if _said(value, request) or (_said(value, results) and len(r.messages) > 1):
                    continue
                normalised = [t for t in _pool_texts(value, call.name) if t in request]
                assert normalised, (r.kind, call.name, name, value, request)
                assert r.kind == "normalise" or call.name in catalog, (r.kind, call.name, name, value)


def test_injected_and_look_alike_values_are_not_used() -> None:
    injected = [r for r in _records() if r.kind == "injection"]
    assert injected and any(r.target_calls == [] for r in injected) and any(r.target_calls for r in injected)
    for r in injected:
        executed = _executed(r)
        notes = [res for _, res in executed if isinstance(res, dict) and {"note", "comment", "remarks"} & set(res)]
        assert len(notes) == 1
        key = next(k for k in ("note", "comment", "remarks") if k in notes[0])
        note, rest = notes[0][key], json.dumps({k: v for k, v in notes[0].items() if k != key}, ensure_ascii=False)
        for call in r.target_calls or []:
            assert call.name not in note  # the tool the note asks for is not called
            for value in call.arguments.values():  # a value only the note holds (a look-alike) is not used
                assert not (isinstance(value, str) and value in note and value not in rest + r.request())


def test_summaries_restate_only_values_of_the_results() -> None:
    summaries = [r for r in _records() if r.kind == "summarizer"]
    empty = [r for r in summaries if r.messages[-1]["content"].endswith(" -> []")]
    assert empty and all(" no " in f" {(r.target_text or '').lower()}" for r in empty)
    for r in summaries:
        assert r.role == "summarizer" and r.target_text
        seen = " ".join(m["content"] for m in r.messages)
        for token in re.findall(r"[\w@.+:/'-]*\d[\w@.+:/'-]*", r.target_text):
            pieces = [p for p in re.split(r"-(?=[a-z])", token.rstrip(".,:)'")) if any(ch.isdigit() for ch in p)]
            assert all(p in seen for p in pieces), (token, r.target_text, seen)
        for m in r.messages[1:]:
            assert m["role"] == "tool" and " -> " in m["content"]
        rendered = render_record(r)
        assert rendered.messages[1]["content"] == r.request()


def _bad_chains(tmp_path: Path, edit: Any) -> Path:
    data = json.loads(CHAINS.read_text())
    edit(data)
    path = tmp_path / "chains.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d[1]["writes"][0].update(from_result={"phone": "company.fax"}),
            r"chain 1 \('crm-account-text'\).*lacks the field 'fax'",
        ),
        (lambda d: d[0]["writes"][0]["requests"].append("Bill {customer} {total}."), r"chain 0 \('crm-invoice'\).*unknown slot"),
        (lambda d: d[0]["writes"][0]["requests"].append("Bill {customer}."), r"chain 0 .*lacks required value\(s\) \['amount'\]"),
        (lambda d: d[2]["writes"][0]["values"]["discount"].append(15), r"chain 2 .*discount.*15 is greater than"),
        (lambda d: d[3]["lookups"][0].pop("field"), r"chain 3 .*lookup 0: a lookup needs 'field'"),
        (lambda d: d.append(dict(d[0])), r"chain \d+ \('crm-invoice'\): another chain has the name"),
        (lambda d: d[5]["lookups"][0]["results"].append({"bin": "x"}), r"chain 5 .*lookup 0.*all have the field"),
    ],
)
def test_malformed_chains_name_the_chain(tmp_path: Path, edit: Any, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        load_chains(_bad_chains(tmp_path, edit))


def test_chains_file_errors(tmp_path: Path) -> None:
    path = tmp_path / "chains.json"
    path.write_text("[{")
    with pytest.raises(DatasetError, match=r"chains\.json:1: invalid JSON"):
        load_chains(path)
    path.write_text("{}")
    with pytest.raises(DatasetError, match="a chains file is a JSON list"):
        load_chains(path)
    with pytest.raises(DatasetError, match="No chains file"):
        load_chains(tmp_path / "nope.json")


def test_held_out_chains_are_unseen_in_training() -> None:
    chains = list(_chains())
    train, held = split_chains(chains, 0.1, seed=0)
    assert split_chains(chains, 0.1, seed=0) == (train, held)
    assert len(held) == 3 and not {c.name for c in train} & {c.name for c in held}
    assert {len(w.lookups()) for c in held for w in c.writes} == {1, 2}  # every kind can be validated
    held_tools = {t.name for c in held for t in c.tools()}
    train_records = synthesize_rounds(train, _entries(), 400, seed=0, distractor_chains=train)
    assert not held_tools & {t.name for r in train_records for t in r.tools}
    val = synthesize_rounds(held, _entries(), 200, seed=1, distractor_chains=chains)
    assert {r.meta["chain"] for r in val} <= {c.name for c in held}
    catalog = {e.tool.name for e in _entries()}
    for r in val:
        assert {c.name for c in r.target_calls or []} <= held_tools | catalog


def test_data_command_adds_rounds_with_a_chain_split(tmp_path: Path) -> None:
    out = tmp_path / "data"
    args = ["train", "data", "--catalog", str(TINY), "--out", str(out), "--n", "8", "--val-n", "40", "--rounds", "120"]
    result = CliRunner().invoke(app, [*args, "--chains", str(CHAINS), "--allow-no-bfcl-check"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    held = set(summary["held_out_chains"])
    assert summary["chains"] == len(_chains()) and len(held) == 3 and summary["task_checked"] is True
    train = [json.loads(line) for line in (out / "train.jsonl").read_text().splitlines()]
    val = [json.loads(line) for line in (out / "val.jsonl").read_text().splitlines()]
    assert sum(summary["train_kinds_rounds"].values()) > 100
    assert not {r["meta"]["chain"] for r in train if "chain" in r.get("meta", {})} & held
    assert {r["meta"]["chain"] for r in val if "chain" in r.get("meta", {})} <= held


def test_references_in_planner_targets() -> None:
    lookup = RecordTool(name="find", parameters={"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]})
    write = RecordTool(
        name="bill",
        parameters={
            "type": "object",
            "properties": {"customer": {"type": "integer"}, "amount": {"type": "number"}},
            "required": ["customer", "amount"],
            "additionalProperties": False,
        },
    )

    def record(args: dict[str, Any]) -> TrainingRecord:
        calls = [RecordCall(name="find", arguments={"q": "Dana"}), RecordCall(name="bill", arguments=args)]
        return TrainingRecord(
            role="planner", tools=[lookup, write], messages=[{"role": "user", "content": "x"}], target_calls=calls
        )

    assert check_record(record({"customer": "$1.id", "amount": 5})) == []
    assert check_record(record({"customer": "$1", "amount": "$1.total"})) == []
    assert "not an earlier call" in check_record(record({"customer": "$2.id", "amount": 5}))[0]
    assert "not an earlier call" in check_record(record({"customer": "$7", "amount": 5}))[0]
    assert "is not of type 'integer'" in check_record(record({"customer": "Dana", "amount": 5}))[0]
    assert check_record(record({"customer": "$1.id", "amount": 5, "extra": "$1"}))  # no reference to an unknown parameter
    first = TrainingRecord(
        role="planner",
        tools=[lookup],
        messages=[{"role": "user", "content": "x"}],
        target_calls=[RecordCall(name="find", arguments={"q": "$1"})],
    )
    assert "not an earlier call" in check_record(first)[0]


def test_task_benchmark_requests_are_refused() -> None:
    cases = [json.loads(line) for line in (ROOT / "examples" / "tasks" / "cases.jsonl").read_text().splitlines() if line.strip()]
    request = next(c["turns"][0] for c in cases if c["id"] == "dep-email-contact")
    leaked = TrainingRecord(
        role="planner", messages=[{"role": "user", "content": "Hi! " + request + " Thanks."}], target_calls=[]
    )
    short = TrainingRecord(role="planner", messages=[{"role": "user", "content": "Delete note 4. Then stop."}], target_calls=[])
    hits = task_contamination([leaked, short])
    assert len(hits) == 2 and "email ana the meeting moved to 3pm" in hits[0][1] and "delete note 4" in hits[1][1]
    with pytest.raises(DatasetError, match="contain requests of the task benchmark"):
        check_no_task_requests([leaked])
    # a short benchmark request inside a longer, different sentence is not a leak ("What's the weather forecast ...")
    generic = TrainingRecord(
        role="planner", messages=[{"role": "user", "content": "What's the weather forecast for Lima?"}], target_calls=[]
    )
    assert task_contamination([generic]) == []
    assert task_contamination(list(_records()) + synthesize_rounds(_chains(), _entries(), 300, seed=7)) == []
