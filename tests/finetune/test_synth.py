from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from agentslm.finetune.synth import entry_for_tool, load_catalog, synthesize, template_slots
from agentslm.records import DatasetError, RecordTool, check_record

CATALOG = Path(__file__).resolve().parents[2] / "training" / "catalog"
TINY = Path(__file__).parent / "data" / "tiny_catalog.json"


def test_shipped_catalog_is_valid_and_diverse() -> None:
    entries = load_catalog([CATALOG])
    assert len(entries) >= 80
    assert len({e.domain for e in entries}) >= 3
    records = synthesize(entries, 600, seed=0)
    assert records == synthesize(entries, 600, seed=0)  # deterministic
    kinds = Counter(r.kind for r in records)
    assert set(kinds) == {"single", "choice", "parallel", "irrelevant", "missing"}
    by_name = {e.tool.name: e for e in entries}
    for r in records:
        assert check_record(r) == [], r
        offered = {t.name for t in r.tools}
        assert len(offered) == len(r.tools) <= 5
        if r.kind in ("irrelevant", "missing"):
            assert r.target_calls == []
        if r.kind == "parallel":
            assert len(r.target_calls or []) == 2
        for call in r.target_calls or []:
            assert call.name in offered
            for name, value in call.arguments.items():  # grounded: plain string values are copied from the request
                pool = by_name[call.name].values[name]
                texts = [i["text"] for i in pool if isinstance(i, dict) and i["value"] == value]
                if isinstance(value, str) and value in pool and not texts:
                    assert value in r.request()
                else:
                    assert texts or str(value) in r.request()


def test_irrelevant_records_offer_only_other_domains() -> None:
    entries = load_catalog([CATALOG])
    domain = {e.tool.name: e.domain for e in entries}
    records = synthesize(entries, 300, seed=3, mix={"irrelevant": 1.0})
    assert len(records) == 300
    for r in records:
        assert r.target_calls == []
        assert r.meta["domain"] not in {domain[t.name] for t in r.tools}


def test_missing_requests_lack_a_required_value() -> None:
    entries = {e.tool.name: e for e in load_catalog([TINY])}
    records = synthesize(list(entries.values()), 40, seed=1, mix={"missing": 1.0})
    assert len(records) == 40
    for r in records:
        source = entries[r.meta["request_tool"]]
        assert r.target_calls == [] and source.tool.name in {t.name for t in r.tools}
        required = source.tool.parameters["required"]
        absent = [p for p in required if not any(str(v) in r.request() for v in source.values[p] if not isinstance(v, dict))]
        assert absent, r.request()


def _write(tmp_path: Path, entry: dict[str, object]) -> Path:
    path = tmp_path / "cat.json"
    path.write_text(json.dumps([entry]))
    return path


def test_bad_catalog_entries_name_the_problem(tmp_path: Path) -> None:
    good = json.loads(TINY.read_text())[0]
    cases = [
        (good | {"requests": ["Start a timer called {label}."]}, "lacks required parameter(s) ['minutes']"),
        (good | {"requests": ["Start {minutes} {hours}."]}, "unknown slot(s) ['hours']"),
        (good | {"values": {"minutes": ["five"], "label": ["tea"]}}, "value 'five' of timer.start.minutes"),
        (good | {"missing": ["Start a {minutes} minute timer."]}, "has every required value"),
        ({"tool": good["tool"]}, "needs 'tool' and 'requests'"),
    ]
    for entry, message in cases:
        with pytest.raises(DatasetError, match=r"cat\.json entry 0") as err:
            load_catalog([_write(tmp_path, entry)])
        assert message in str(err.value)


def test_generic_templates_for_a_registry_tool() -> None:
    from tests.sample_tools import registry

    tool = RecordTool(
        name="get_weather",
        description=registry.get("get_weather").description,
        parameters=dict(registry.get("get_weather").parameters),
    )
    entry = entry_for_tool(tool)
    assert all("city" in template_slots(t) for t in entry.requests)
    records = synthesize([entry], 20, seed=0, mix={"single": 1.0})
    for r in records:
        city = (r.target_calls or [])[0].arguments["city"]
        assert city in r.request()
