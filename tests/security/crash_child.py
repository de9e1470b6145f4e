"""A child process for the kill tests: runs one agent request whose side effects land in SQLite, with an audit log
and an idempotency key, and can be told to stall at a chosen point so the parent can SIGKILL it there.

    python -m tests.security.crash_child DB AUDIT KEY STALL      STALL: none | in_tool | after_tool
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

from agentslm import Agent, ToolCall, ToolRegistry
from agentslm.registry import Tool
from agentslm.roles.planner import PlannerPolicy
from agentslm.testing import ScriptedModel


def main(db: Path, audit: Path, key: str, stall: str) -> int:
    registry = ToolRegistry()

    def connect() -> sqlite3.Connection:
        con = sqlite3.connect(db, timeout=5, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        return con

    with connect() as con:
        con.execute("CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT)")
        con.execute("CREATE TABLE IF NOT EXISTS executions (tool TEXT, arguments TEXT)")
        if not con.execute("SELECT count(*) FROM notes").fetchone()[0]:
            con.executemany("INSERT INTO notes (id, text) VALUES (?, ?)", [(1, "keep"), (2, "old")])

    @registry.tool(effects=["destructive"], timeout=60)
    def delete_note(id: int) -> str:
        """Delete the note with this id."""
        with connect() as con:
            con.execute("BEGIN IMMEDIATE")
            con.execute("DELETE FROM notes WHERE id = ?", (id,))
            con.execute("INSERT INTO executions VALUES ('delete_note', ?)", (str(id),))
            con.execute("COMMIT")
        if stall == "in_tool":
            print("IN_TOOL", flush=True)
            time.sleep(60)
        return f"deleted note {id}"

    @registry.tool(effects=["read"], timeout=60)
    def count_notes() -> int:
        """How many notes there are."""
        if stall == "after_tool":
            print("AFTER_TOOL", flush=True)
            time.sleep(60)
        with connect() as con:
            return int(con.execute("SELECT count(*) FROM notes").fetchone()[0])

    def approve(call: ToolCall, tool: Tool) -> bool:
        return True  # the user approved this deletion

    model = ScriptedModel(
        [[{"name": "delete_note", "arguments": {"id": 2}}], [{"name": "count_notes", "arguments": {}}], []],
        ["Deleted note 2."],
    )
    agent = Agent(model, registry, approve=approve, audit_log=audit, retrieval=None, policy=PlannerPolicy(grounding=False))
    run = agent.run("Delete note 2, then count my notes.", idempotency_key=key)
    replayed = [e.observation.replayed for e in run.results if e.tool == "delete_note"]
    kinds = [e.kind for e in run.errors]
    print(f"STATUS {run.status} REPLAYED {replayed} ERRORS {kinds}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]))
