from __future__ import annotations

import sqlite3
import threading

import pytest

from agentslm.registry import Effect, ToolRegistry
from agentslm_tools import PackContext, ToolDataError

from .conftest import run


def test_add_search_list_delete(registry: ToolRegistry) -> None:
    assert run(registry, "add_note", text="Budget for 2027: rent and travel", title="budget") == "saved note #1"
    assert run(registry, "add_note", text="buy milk and eggs") == "saved note #2"
    hits = run(registry, "search_notes", query="budgets")  # prefix match
    assert [h["id"] for h in hits] == [1]  # type: ignore[index,union-attr]
    assert run(registry, "search_notes", query="!!!") == []  # no words: no FTS syntax error
    assert [n["id"] for n in run(registry, "list_notes")] == [2, 1]  # type: ignore[union-attr]
    assert registry["delete_note"].effects == frozenset({Effect.DESTRUCTIVE})
    assert run(registry, "delete_note", note_id=1) == "deleted note #1"
    assert run(registry, "search_notes", query="budget") == []  # the FTS index follows deletes
    with pytest.raises(LookupError, match="no note #1"):
        run(registry, "delete_note", note_id=1)


def test_locked_database_is_a_clear_error_and_changes_nothing(registry: ToolRegistry, ctx: PackContext) -> None:
    run(registry, "add_note", text="first")
    holder = sqlite3.connect(ctx.data_dir / "notes.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ToolDataError, match=r"locked by another program.*nothing was changed"):
            run(registry, "add_note", text="second")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert [n["text"] for n in run(registry, "list_notes")] == ["first"]  # type: ignore[index,union-attr]


def test_corrupt_database_is_left_untouched(registry: ToolRegistry, ctx: PackContext) -> None:
    ctx.data_dir.mkdir(parents=True)
    damaged = b"this is not a sqlite file" * 100
    (ctx.data_dir / "notes.db").write_bytes(damaged)
    with pytest.raises(ToolDataError, match=r"damaged.*left untouched.*move it aside"):
        run(registry, "add_note", text="x")
    assert (ctx.data_dir / "notes.db").read_bytes() == damaged


def test_a_failing_write_rolls_back(registry: ToolRegistry, ctx: PackContext) -> None:
    from agentslm_tools.notes import SCHEMA
    from agentslm_tools.store import PackStore

    run(registry, "add_note", text="kept")
    store = PackStore(ctx.data_dir / "notes.db", SCHEMA, label="notes")
    with pytest.raises(RuntimeError), store.transaction() as db:
        db.execute("INSERT INTO notes(title, text, created) VALUES ('t', 'lost', 'now')")
        raise RuntimeError("crash mid-call")
    assert [n["text"] for n in run(registry, "list_notes")] == ["kept"]  # type: ignore[index,union-attr]


def test_concurrent_writers_lose_nothing(registry: ToolRegistry) -> None:
    def write(i: int) -> None:
        for j in range(10):
            run(registry, "add_note", text=f"note {i}-{j}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(run(registry, "list_notes", limit=50)) == 40  # type: ignore[arg-type]
