"""An agent whose tools come from real MCP servers, next to a local Python tool.

Run: .venv/bin/python examples/mcp_agent.py ["your request"]

* mcp-server-time (PyPI, installed with agentslm's dev extra) over stdio: read-only tools,
  run without approval.
* @modelcontextprotocol/server-filesystem (npm, installed into tests/mcp/peers by the README's
  install command) over stdio, confined to a scratch folder: its write/move/edit tools need
  approval (the y/N prompt below), because the server is not marked trusted.
* a local Python tool, verified and run like the MCP ones.

Every call is verified (schema, types, policy, approval) before it is sent to a server.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from agentslm import Agent, Tool, ToolCall, describe_event

FILESYSTEM = (
    Path(__file__).resolve().parent.parent / "tests" / "mcp" / "peers" / "node_modules" / ".bin" / "mcp-server-filesystem"
)


def ask(call: ToolCall, tool: Tool) -> bool:
    reason = getattr(tool, "effect_reason", "")
    answer = input(f"Allow {call.name}({call.arguments}) [{reason}]? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def word_count(text: str) -> int:
    """Count the words in a text.

    Args:
        text: The text.
    """
    return len(text.split())


def main() -> None:
    requests = sys.argv[1:] or ["What time is it in the Asia/Tokyo timezone?", "List the files in the directory {folder}"]
    folder = Path(tempfile.mkdtemp(prefix="agentslm-mcp-"))
    (folder / "budget.txt").write_text("Budget 2026: 1200 EUR\n")
    with Agent(tools=[word_count], approve=ask) as agent:
        agent.add_mcp_server([sys.executable, "-m", "mcp_server_time"], namespace="time")
        if FILESYSTEM.exists():
            agent.add_mcp_server([str(FILESYSTEM), str(folder)], namespace="fs", include=["list_directory", "write_file"])
        else:
            print(f"(filesystem server not installed: run `npm ci --prefix tests/mcp/peers`; {shutil.which('node')=})")
        print("tools:", ", ".join(agent.registry.names))
        for request in requests:
            request = request.format(folder=folder)
            print(f"\nuser: {request}")
            for event in agent.stream(request):
                print(" ", describe_event(event))


if __name__ == "__main__":
    main()
