"""Embed an agentslm agent in a small program and stream its events.

Run: .venv/bin/python examples/stream_agent.py ["your request"]

A tiny shop: find_user feeds list_orders (a two-step plan with a "$1" reference), and
cancel_order is destructive, so it needs the approval callback below (a y/N prompt).
Every executed or refused call is appended to an audit log (JSONL, fsync per record).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from agentslm import Agent, Tool, ToolCall, ToolRegistry, describe_event, read_audit_log

shop = ToolRegistry()
ORDERS = {42: ["book", "lamp"], 7: ["pen"]}


@shop.tool
def find_user(username: str) -> int:
    """Find the numeric id of a user from the username.

    Args:
        username: The username, e.g. "alice".
    """
    return {"alice": 42, "bob": 7}.get(username.lower(), 0)


@shop.tool
def list_orders(user_id: int) -> list[str]:
    """List the orders of a user, given the numeric user id.

    Args:
        user_id: The numeric user id.
    """
    return ORDERS.get(user_id, [])


@shop.tool(effects=["destructive"])
def cancel_orders(user_id: int) -> str:
    """Cancel every order of a user.

    Args:
        user_id: The numeric user id.
    """
    count = len(ORDERS.pop(user_id, []))
    return f"cancelled {count} orders"


def ask_user(call: ToolCall, tool: Tool) -> bool:
    """Approval callback: shows the exact call and asks (non-interactive runs deny)."""
    if not sys.stdin.isatty():
        print(f"  (denied {tool.name}{call.arguments}: no terminal to ask)")
        return False
    return input(f"  allow {tool.name}({call.arguments})? [y/N] ").strip().lower() == "y"


def main() -> None:
    requests = sys.argv[1:] or ["Find the user alice and list her orders.", "Tell me a joke."]
    audit = Path(tempfile.mkdtemp()) / "audit.jsonl"
    agent = Agent(tools=shop, approve=ask_user, audit_log=audit)  # the embedded SmolLM2-135M
    for request in requests:
        print(f"> {request}")
        for event in agent.stream(request):
            print("  " + describe_event(event))
    print(f"audit log {audit}: {len(read_audit_log(audit))} records")


if __name__ == "__main__":
    main()
