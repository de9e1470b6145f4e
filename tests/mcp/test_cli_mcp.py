"""`agentslm mcp tools` and `agentslm mcp run` against the real mcp-server-time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

AGENTSLM = str(Path(sys.executable).parent / "agentslm")
TIME_SERVER = f"{sys.executable} -m mcp_server_time"


def test_mcp_tools_lists_effects_and_grammars() -> None:
    done = subprocess.run(
        [AGENTSLM, "mcp", "tools", TIME_SERVER], capture_output=True, text=True, timeout=120, env={"COLUMNS": "200", "PATH": ""}
    )
    assert done.returncode == 0, done.stderr
    assert "time.get_current_time" in done.stdout and "time.convert_time" in done.stdout
    assert "annotated read-only" in done.stdout and "│ ok" in done.stdout


def test_mcp_tools_json() -> None:
    done = subprocess.run(
        [AGENTSLM, "mcp", "tools", TIME_SERVER, "--json", "--no-grammar"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["server"]["protocol"]
    tools = {t["name"]: t for t in data["tools"]}
    assert set(tools) == {"time.get_current_time", "time.convert_time"}
    assert tools["time.get_current_time"]["effects"] == ["read"] and tools["time.get_current_time"]["grammar"] is None


def test_mcp_run_makes_a_verified_call() -> None:
    done = subprocess.run(
        [AGENTSLM, "mcp", "run", "What time is it now in the Europe/Paris timezone?", "--server", TIME_SERVER],
        capture_output=True,
        text=True,
        timeout=300,
        env={"COLUMNS": "200", "PATH": ""},
    )
    assert done.returncode == 0, done.stderr
    assert 'time.get_current_time({"timezone": "Europe/Paris"})' in done.stdout
    assert "approved" in done.stdout and "ok in" in done.stdout


def test_mcp_tools_bad_server_is_a_clear_error() -> None:
    done = subprocess.run([AGENTSLM, "mcp", "tools", "/nonexistent/server"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "Cannot connect to MCP server" in done.stdout + done.stderr
