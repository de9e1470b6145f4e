"""Notes: a SQLite table with full-text search (FTS5)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from agentslm.registry import FreeText, ToolRegistry

from .context import PackContext
from .store import PackStore

__all__ = ["register"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL, created TEXT NOT NULL);
CREATE VIRTUAL TABLE IF NOT EXISTS notes_fts USING fts5(title, text, content='notes', content_rowid='id', tokenize='porter unicode61');
CREATE TRIGGER IF NOT EXISTS notes_ai AFTER INSERT ON notes BEGIN
  INSERT INTO notes_fts(rowid, title, text) VALUES (new.id, new.title, new.text); END;
CREATE TRIGGER IF NOT EXISTS notes_ad AFTER DELETE ON notes BEGIN
  INSERT INTO notes_fts(notes_fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text); END
"""


def _fts_query(text: str) -> str:
    words = [w for w in "".join(c if c.isalnum() else " " for c in text).split() if w]
    return " OR ".join(f'"{w}"*' for w in words)


def register(registry: ToolRegistry, ctx: PackContext) -> None:
    """Add the notes tools to ``registry``."""
    store = PackStore(ctx.data_dir / "notes.db", SCHEMA, label="notes")

    @registry.tool(effects=["write"])
    def add_note(text: Annotated[FreeText, Field(min_length=1, max_length=4000)], title: str = "") -> str:
        """Save a note.

        Args:
            text: The note's text.
            title: A short title (optional).
        """
        with store.transaction() as db:
            cur = db.execute(
                "INSERT INTO notes(title, text, created) VALUES (?, ?, ?)",
                (title.strip() or text.strip()[:40], text.strip(), ctx.local_now().isoformat(timespec="seconds")),
            )
        return f"saved note #{cur.lastrowid}"

    @registry.tool
    def search_notes(query: Annotated[str, Field(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
        """Find notes that mention some words (plurals and word endings match too).

        Args:
            query: Words to look for, e.g. "budget".
        """
        match = _fts_query(query)
        if not match:
            return []
        with store.transaction() as db:
            rows = db.execute(
                "SELECT n.id, n.title, n.text FROM notes_fts f JOIN notes n ON n.id = f.rowid "
                "WHERE notes_fts MATCH ? ORDER BY rank LIMIT 10",
                (match,),
            ).fetchall()
        return [dict(r) for r in rows]

    @registry.tool
    def list_notes(limit: Annotated[int, Field(ge=1, le=50)] = 10) -> list[dict[str, Any]]:
        """List the most recent notes.

        Args:
            limit: How many notes to show.
        """
        with store.transaction() as db:
            rows = db.execute("SELECT id, title, text FROM notes ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]

    @registry.tool(effects=["destructive"])
    def delete_note(note_id: Annotated[int, Field(ge=1)]) -> str:
        """Delete a note by its number. Cannot be undone.

        Args:
            note_id: The note's number, e.g. 3.
        """
        return store.delete_row("notes", note_id, "note")
