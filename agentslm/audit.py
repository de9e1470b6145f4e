"""Append-only JSONL audit log of every call the agent verified (run or refused).

Each record is one line written with a single ``write`` on a file opened in append mode, then
flushed and ``fsync``-ed before the agent goes on. A crash can at worst leave a torn last line;
:func:`read_audit_log` skips it, and the next append starts on a fresh line.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentslm.step_types import Check

__all__ = ["AuditLog", "AuditRecord", "read_audit_log"]


class AuditRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: str
    task_id: int
    tool: str
    arguments: dict[str, Any]
    checks: list[Check]
    approved: bool
    executed: bool
    ok: bool | None = None
    """Whether the tool succeeded (``None`` when it did not run)."""
    error: str | None = None
    started: float | None = None
    finished: float | None = None
    output_chars: int = 0
    extra: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = None
    """Set for side-effecting calls of a run given an idempotency key (see :meth:`agentslm.Agent.run`)."""
    phase: Literal["intent", "done"] | None = None
    """For keyed calls: ``intent`` is written (fsync'd) just before the tool runs, ``done`` once it returned."""
    output: str | None = None
    """For keyed calls that ran: the result text the model saw, replayed when the same call is retried."""
    provenance: dict[str, Any] = Field(default_factory=dict)
    """Where each argument value came from (see :class:`agentslm.provenance.ArgumentSource`)."""


class AuditLog:
    """Appends :class:`AuditRecord` lines to ``path`` (created with its folder), fsync per record.

    It also indexes the records that carry an idempotency key (read from the file on first use), so a retried run
    can tell a side-effecting call that already completed (replay its result) from one that was started when the
    process died (outcome unknown: not run again) — one process per log file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._keys: dict[str, AuditRecord] | None = None

    def append(self, record: AuditRecord) -> None:
        with self._lock:
            append_line(self.path, record.model_dump_json())
            if self._keys is not None and record.idempotency_key is not None:
                self._keys[record.idempotency_key] = record

    def lookup(self, key: str) -> AuditRecord | None:
        """The latest record written for idempotency ``key`` (``None`` if the key was never used)."""
        with self._lock:
            if self._keys is None:
                self._keys = {r.idempotency_key: r for r in read_audit_log(self.path) if r.idempotency_key is not None}
            return self._keys.get(key)


def append_line(path: Path, text: str) -> None:
    """Append ``text`` as one line with a single ``write`` and ``fsync``; if a crash left a torn last line, end it
    first so the new line parses. Callers serialise concurrent appends."""
    line = (text + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        size = os.fstat(fd).st_size
        if size:
            with open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    line = b"\n" + line
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_audit_log(path: str | os.PathLike[str]) -> list[AuditRecord]:
    """All complete records of an audit log (a torn or corrupt line is skipped)."""
    file = Path(path)
    if not file.is_file():
        return []
    records: list[AuditRecord] = []
    for line in file.read_bytes().splitlines():
        try:
            records.append(AuditRecord.model_validate(json.loads(line)))
        except (ValueError, UnicodeDecodeError):
            continue
    return records
