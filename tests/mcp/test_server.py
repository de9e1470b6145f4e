"""`agentslm serve-mcp` driven by peers we did not write: the MCP Inspector CLI and the SDK's ``mcp.Client``."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from mcp.shared.exceptions import MCPError

from tests.conftest import free_port

from .conftest import npm_bin

AGENTSLM = str(Path(sys.executable).parent / "agentslm")
SERVE = [AGENTSLM, "serve-mcp", "--expose-tools"]


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [*SERVE, "--http", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"serve-mcp --http exited: {process.stderr.read() if process.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("serve-mcp --http did not start listening within 60 s")
    yield url
    process.terminate()
    process.wait(10)
    if process.stderr is not None:
        process.stderr.close()


async def _session(server: Any, request: str | None) -> dict[str, Any]:
    async with Client(server) as client:
        tools = await client.list_tools()
        weather = await client.call_tool("get_weather", {"city": "Paris"})
        bad = await client.call_tool("get_weather", {"city": 5})
        try:
            await client.call_tool("no_such_tool", {})
            unknown: str = "no error"
        except MCPError as exc:
            unknown = str(exc)
        task = await client.call_tool("run_task", {"request": request}) if request else None
        return {"tools": tools.tools, "weather": weather, "bad": bad, "unknown": unknown, "task": task}


def _check(result: dict[str, Any]) -> None:
    names = {t.name for t in result["tools"]}
    assert {"run_task", "get_weather", "convert_temperature"} <= names
    assert "delete_all_notes" not in names, "tools that need approval are not served without --approve-all"
    weather_tool = next(t for t in result["tools"] if t.name == "get_weather")
    assert weather_tool.input_schema["required"] == ["city"]  # the schema comes from our registry
    assert weather_tool.annotations.read_only_hint is True
    assert not result["weather"].is_error and '"city": "Paris"' in result["weather"].content[0].text
    assert result["bad"].is_error and "city" in result["bad"].content[0].text
    assert "Unknown tool" in result["unknown"]


def test_client_over_stdio_lists_and_calls_including_the_agent() -> None:
    params = StdioServerParameters(command=SERVE[0], args=SERVE[1:])
    result = asyncio.run(_session(params, "What is the weather in Paris?"))
    _check(result)
    task = result["task"]
    assert not task.is_error
    summary = task.structured_content
    assert summary["status"] in ("answered", "asked", "no_tool", "failed")
    # the embedded model plans get_weather(city="Paris"); the call is verified and run by the served agent
    assert any(c["name"] == "get_weather" and c["ok"] for c in summary["calls"]), summary


def test_client_over_http(http_server: str) -> None:
    _check(asyncio.run(_session(http_server, None)))


def _post_status(url: str, extra: dict[str, str]) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream", **extra}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_http_refuses_foreign_origin_and_host(http_server: str) -> None:
    assert _post_status(http_server, {"Origin": "http://evil.example"}) == 403
    assert _post_status(http_server, {"Host": "evil.example"}) == 421
    assert _post_status(http_server, {"Origin": "http://localhost:3000"}) not in (403, 421)


def _inspector(*args: str) -> Any:
    command = [npm_bin("mcp-inspector"), "--cli", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_inspector_cli_stdio() -> None:
    listed = _inspector(*SERVE, "--method", "tools/list")
    assert {"run_task", "get_weather"} <= {t["name"] for t in listed["tools"]}
    called = _inspector(
        *SERVE,
        "--method",
        "tools/call",
        "--tool-name",
        "convert_temperature",
        "--tool-arg",
        "value=25",
        "--tool-arg",
        "to_unit=fahrenheit",
    )
    assert called["isError"] is False and "77" in called["content"][0]["text"]


def test_inspector_cli_http(http_server: str) -> None:
    listed = _inspector(http_server, "--transport", "http", "--method", "tools/list")
    assert {"run_task", "get_weather"} <= {t["name"] for t in listed["tools"]}
    called = _inspector(
        http_server, "--transport", "http", "--method", "tools/call", "--tool-name", "get_weather", "--tool-arg", "city=Oslo"
    )
    assert called["isError"] is False and "Oslo" in called["content"][0]["text"]
