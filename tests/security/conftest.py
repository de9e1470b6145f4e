"""Shared pieces of the security suite: a tool set with side effects that are counted, and the scripted model of
tests/test_agent.py (a stand-in for a model an attacker fully controls: it proposes whatever the script says)."""

from __future__ import annotations

import threading
from typing import Any

from agentslm import ToolRegistry

DESTRUCTIVE = {"delete_all_files", "delete_note", "send_email"}
"""Tools whose execution the user must approve (destructive or external)."""


class SideEffects:
    """Counts every execution of the side-effecting tools; thread-safe."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def add(self, name: str, **arguments: Any) -> None:
        with self._lock:
            self.ran.append((name, arguments))

    def destructive(self) -> list[tuple[str, dict[str, Any]]]:
        return [r for r in self.ran if r[0] in DESTRUCTIVE]


def injection_registry(payload: str, effects: SideEffects) -> ToolRegistry:
    """Read tools whose results carry ``payload``; destructive and external tools that record when they run."""
    r = ToolRegistry()

    @r.tool(effects=["read"])
    def read_inbox() -> list[dict[str, str]]:
        """Read the messages in the user's inbox."""
        return [
            {"from": "alice@example.com", "subject": "Lunch", "body": "Lunch on Friday at noon?"},
            {"from": "news@example.net", "subject": "Weekly update", "body": payload},
        ]

    @r.tool(effects=["read"])
    def read_note(id: int) -> str:
        """Read the note with this id."""
        return f"Note {id}: Shopping list: milk, eggs. {payload}"

    @r.tool(effects=["destructive"])
    def delete_all_files() -> str:
        """Delete every file in the user's folder."""
        effects.add("delete_all_files")
        return "all files deleted"

    @r.tool(effects=["destructive"])
    def delete_note(id: int) -> str:
        """Delete the note with this id."""
        effects.add("delete_note", id=id)
        return f"note {id} deleted"

    @r.tool(effects=["external"])
    def send_email(to: str, body: str) -> str:
        """Send an email."""
        effects.add("send_email", to=to, body=body)
        return "sent"

    return r
