"""A child process for the random-kill test: writes as the assistant does — a history turn with events, a note via
the notes pack, an audit record — in a loop, until it is killed.

    python -m tests.security.kill_child DATA_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from agentslm.assistant.history import History
from agentslm.audit import AuditLog, AuditRecord


def main(data: Path) -> int:
    from agentslm_tools import build_registry
    from agentslm_tools.context import PackContext

    registry = build_registry(["notes"], PackContext(data_dir=data / "packs", workspace=data / "ws"))
    add_note = registry.get("add_note")
    assert add_note is not None and add_note.fn is not None
    history = History(data / "history.db")
    audit = AuditLog(data / "audit.jsonl")
    i = 0
    print("READY", flush=True)
    while True:
        turn = history.start(f"Save note {i}")
        history.add_event(turn, 0, "plan", f"add_note {i}", {"i": i, "pad": "x" * 2000})
        result = add_note.fn(text=f"note number {i} " + "y" * 500)
        audit.append(
            AuditRecord(
                run_id=f"r{i}", task_id=1, tool="add_note", arguments={"i": i}, checks=[], approved=True, executed=True, ok=True
            )
        )
        history.finish(turn, "answered", str(result), [{"name": "add_note", "arguments": {"i": i}, "result": str(result)}])
        i += 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
