"""The assistant's conversation history (SQLite in the data folder): every turn, its events and outcome.

A turn is written when it starts (status ``running``) and after each event, so a crash or restart
mid-run leaves a readable record; on the next start such turns are marked ``interrupted``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from agentslm.agent import Session, Turn
from agentslm_tools.store import PackStore

__all__ = ["History"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (id INTEGER PRIMARY KEY, request TEXT NOT NULL, status TEXT NOT NULL,
  answer TEXT, calls TEXT NOT NULL DEFAULT '[]', started REAL NOT NULL, finished REAL);
CREATE TABLE IF NOT EXISTS events (turn INTEGER NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
  data TEXT NOT NULL, PRIMARY KEY (turn, seq))
"""

INTERRUPTED = "interrupted"


class History:
    """Turns of the assistant's conversation, persisted in ``path``."""

    def __init__(self, path: Path) -> None:
        self.store = PackStore(path, SCHEMA, label="history")

    def recover(self) -> int:
        """Mark turns left ``running`` by a crash or restart as interrupted; returns how many."""
        with self.store.transaction() as db:
            cur = db.execute("UPDATE turns SET status = ?, finished = ? WHERE status = 'running'", (INTERRUPTED, time.time()))
        return int(cur.rowcount)

    def start(self, request: str) -> int:
        with self.store.transaction() as db:
            cur = db.execute("INSERT INTO turns(request, status, started) VALUES (?, 'running', ?)", (request, time.time()))
        return int(cur.lastrowid or 0)

    def add_event(self, turn: int, seq: int, kind: str, text: str, data: dict[str, Any]) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO events(turn, seq, kind, text, data) VALUES (?, ?, ?, ?, ?)",
                (turn, seq, kind, text, json.dumps(data, default=str)),
            )

    def finish(self, turn: int, status: str, answer: str | None, calls: list[dict[str, Any]]) -> None:
        with self.store.transaction() as db:
            db.execute(
                "UPDATE turns SET status = ?, answer = ?, calls = ?, finished = ? WHERE id = ?",
                (status, answer, json.dumps(calls, default=str), time.time(), turn),
            )

    def turns(self, limit: int = 200) -> list[dict[str, Any]]:
        """The last ``limit`` turns, oldest first, each with its events."""
        with self.store.transaction() as db:
            rows = db.execute("SELECT * FROM turns ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
            out = []
            for row in reversed(rows):
                events = db.execute(
                    "SELECT seq, kind, text, data FROM events WHERE turn = ? ORDER BY seq", (row["id"],)
                ).fetchall()
                out.append(
                    {
                        "id": row["id"],
                        "request": row["request"],
                        "status": row["status"],
                        "answer": row["answer"],
                        "events": [
                            {"seq": e["seq"], "kind": e["kind"], "text": e["text"], "data": json.loads(e["data"])} for e in events
                        ],
                    }
                )
        return out

    def session(self, last: int = 6) -> Session:
        """The last ``last`` finished turns as an agent :class:`Session` (what later requests may refer to)."""
        with self.store.transaction() as db:
            rows = db.execute(
                "SELECT request, status, answer, calls FROM turns WHERE status NOT IN ('running', ?) ORDER BY id DESC LIMIT ?",
                (INTERRUPTED, last),
            ).fetchall()
        return Session(
            turns=[
                Turn(request=r["request"], status=r["status"], answer=r["answer"], calls=json.loads(r["calls"]))
                for r in reversed(rows)
            ]
        )
