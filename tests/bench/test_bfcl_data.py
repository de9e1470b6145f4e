from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentslm.bench.bfcl_data import bfcl_categories, heldout_cases, load_bfcl, load_bfcl_files
from agentslm.errors import UserError


def test_category_names_are_exact() -> None:
    names = bfcl_categories()
    for name in ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance", "live_multiple"):
        assert name in names
    assert not any(n.startswith("multi_turn") for n in names)
    assert all(c.id.startswith("multiple_") for c in load_bfcl("multiple"))  # not parallel_multiple
    assert all(c.id.startswith("irrelevance_") for c in load_bfcl("irrelevance"))  # not live_irrelevance
    assert len(load_bfcl("multiple")) == 200


def test_seeded_subset_is_stable_and_in_file_order() -> None:
    a = [c.id for c in load_bfcl("parallel", limit=10, seed=3)]
    assert a == [c.id for c in load_bfcl("parallel", limit=10, seed=3)]
    assert a != [c.id for c in load_bfcl("parallel", limit=10, seed=4)]
    order = [c.id for c in load_bfcl("parallel")]
    assert sorted(a, key=order.index) == a
    assert [c.id for c in load_bfcl("parallel", limit=2)] == order[:2]


def test_heldout_cases_never_overlap_the_scored_sample() -> None:
    scored = {c.id for c in load_bfcl("multiple", limit=60, seed=0)}
    held = heldout_cases("multiple", holdout=60, limit=40, seed=0)
    assert len(held) == 40 and not scored & {c.id for c in held}
    assert [c.id for c in held] == [c.id for c in heldout_cases("multiple", holdout=60, limit=40, seed=0)]
    assert len(heldout_cases("multiple", holdout=60, limit=None, seed=0)) == 140  # all the rest
    with pytest.raises(UserError, match="leaves none"):
        heldout_cases("multiple", holdout=200, limit=10, seed=0)


def test_unknown_and_unsupported_categories_explain_themselves() -> None:
    with pytest.raises(UserError, match="Unknown BFCL category") as info:
        load_bfcl("simple_cobol")
    assert "simple_python" in (info.value.hint or "")
    with pytest.raises(UserError, match="executable environments"):
        load_bfcl("multi_turn_base")


def test_own_files_load_and_bad_lines_are_named(tmp_path: Path) -> None:
    fn = {
        "name": "add",
        "description": "Add.",
        "parameters": {"type": "dict", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
    }
    q = tmp_path / "q.jsonl"
    a = tmp_path / "a.jsonl"
    q.write_text(json.dumps({"id": "c1", "question": [[{"role": "user", "content": "add 2"}]], "function": [fn]}) + "\n")
    a.write_text(json.dumps({"id": "c1", "ground_truth": [{"add": {"a": [2]}}]}) + "\n")
    (case,) = load_bfcl_files(q, a)
    assert case.messages == [{"role": "user", "content": "add 2"}] and case.answer == [{"add": {"a": [2]}}]
    q.write_text(q.read_text() + "{broken\n")
    with pytest.raises(UserError, match=r"q.jsonl:2: invalid JSON"):
        load_bfcl_files(q, a)
    q.write_text(json.dumps({"id": "c2", "question": [], "function": [fn]}) + "\n")
    with pytest.raises(UserError, match="no possible answer for 'c2'"):
        load_bfcl_files(q, a)
    with pytest.raises(UserError, match="No file"):
        load_bfcl_files(tmp_path / "missing.jsonl")
