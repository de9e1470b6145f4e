"""SQLite storage shared by the tool packs: one database file per pack, one transaction per tool call.

Every write runs in ``BEGIN IMMEDIATE ... COMMIT`` (WAL journal, fsync on commit), so a crash mid-call
leaves the previous state; a locked or damaged file raises :class:`ToolDataError` with what to do, and the
file is never modified, moved or recreated behind the user's back.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentslm.errors import AgentslmError

__all__ = ["PackStore", "ToolDataError"]


class ToolDataError(AgentslmError):
    """A tool pack's data cannot be read or written (locked, damaged, not writable)."""


class PackStore:
    """A pack's SQLite database at ``path``, created with ``schema`` on first use."""

    def __init__(self, path: Path, schema: str, *, label: str, timeout: float = 3.0) -> None:
        self.path = Path(path)
        self.schema = schema
        self.label = label
        self.timeout = timeout
        self._ready = False
        self._init_lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ToolDataError(
                f"Cannot create the folder of the {self.label} database ({self.path.parent}): {exc.strerror}.",
                hint="set data_dir in the assistant's config to a writable folder.",
            ) from exc
        conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        return conn

    def _explain(self, exc: sqlite3.Error) -> ToolDataError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return ToolDataError(
                f"The {self.label} database ({self.path}) is locked by another program (waited {self.timeout:g} s); "
                "nothing was changed.",
                hint="close the program that holds it (a database browser, a sync client) and ask again.",
            )
        if "not a database" in text or "malformed" in text or "corrupt" in text:
            return ToolDataError(
                f"The {self.label} database ({self.path}) is damaged ({text}); it was left untouched.",
                hint=f"restore it from a backup, or move it aside (e.g. to {self.path.name}.bad) and a new one is created.",
            )
        if "readonly" in text or "unable to open" in text:
            return ToolDataError(
                f"The {self.label} database ({self.path}) cannot be written: {text}.",
                hint="check the file's permissions or point data_dir at a writable folder.",
            )
        return ToolDataError(f"The {self.label} database ({self.path}) failed: {text}.")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A connection inside one immediate transaction: committed on success, rolled back on any error."""
        try:
            conn = self._connect()
        except sqlite3.Error as exc:
            raise self._explain(exc) from exc
        try:
            try:
                conn.execute("PRAGMA synchronous=FULL")  # a committed call survives a power cut
                if not self._ready:
                    with self._init_lock:  # the first calls of a pack may run in parallel threads
                        conn.execute("PRAGMA journal_mode=WAL")
                        conn.executescript(f"BEGIN IMMEDIATE;\n{self.schema};\nCOMMIT;")  # idempotent, atomic
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._explain(exc) from exc
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._explain(exc) from exc
                raise
            self._ready = True
        finally:
            conn.close()

    def delete_row(self, table: str, row_id: int, noun: str) -> str:
        """Delete row ``row_id`` of ``table`` (a name from the pack's own schema, never user text)."""
        with self.transaction() as db:
            cur = db.execute(f"DELETE FROM {table} WHERE id = ?", (row_id,))
        if not cur.rowcount:
            raise LookupError(f"there is no {noun} #{row_id}")
        return f"deleted {noun} #{row_id}"
