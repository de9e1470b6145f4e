"""The MCP client against a misbehaving server: each failure has a clear, prompt outcome."""

from __future__ import annotations

import subprocess
import time

import pytest

from agentslm import Agent, Executor, ToolCall, ToolRegistrationError, ToolRegistry, Verifier
from agentslm.mcp import McpDefinitionChanged, McpError, McpTool, McpToolError, connect_mcp
from agentslm.mcp.tools import McpToolset
from agentslm.registry import as_registry
from agentslm.testing import ScriptedModel

from .conftest import FAULT_SERVER


@pytest.fixture()
def faults() -> McpToolset:
    toolset = connect_mcp(FAULT_SERVER, namespace="f", timeout=5)
    yield toolset
    toolset.close()


def run(toolset: McpToolset, name: str, arguments: dict | None = None):
    tool = next(t for t in toolset.tools if t.name == f"f.{name}")
    return Executor(max_output_chars=2000).execute(tool, arguments or {})


def test_listing_keeps_schemas_and_namespaces(faults: McpToolset) -> None:
    names = [t.name for t in faults.tools]
    assert names[:3] == ["f.ok", "f.crash", "f.hang"]
    deep = next(t for t in faults.tools if t.remote_name == "deep")
    assert isinstance(deep, McpTool)
    assert deep.parameters["$defs"]["Item"]["properties"]["sku"]["pattern"] == "^[A-Z]{3}-[0-9]{3}$"
    assert faults.connection.protocol_version == "2026-07-28"  # the stateless protocol, negotiated by 'auto'


def test_handshake_protocol_also_works() -> None:
    with connect_mcp(FAULT_SERVER, namespace="f", mode="legacy") as toolset:
        assert toolset.connection.protocol_version == "2025-11-25"
        assert run(toolset, "ok", {"text": "legacy"}).text == "ok: legacy"


def test_schema_invalid_tool_definition_is_skipped_with_the_reason(faults: McpToolset) -> None:
    assert "bad_schema" not in {t.remote_name for t in faults.tools}
    assert "not valid JSON Schema" in faults.skipped["bad_schema"] and "nonsense" in faults.skipped["bad_schema"]


def test_ok_call(faults: McpToolset) -> None:
    observation = run(faults, "ok", {"text": "hi"})
    assert observation.ok and observation.text == "ok: hi"


def test_is_error_result_is_a_failed_observation(faults: McpToolset) -> None:
    observation = run(faults, "fails")
    assert not observation.ok
    assert "the backend is down" in observation.text and "McpToolError" in observation.text


@pytest.mark.parametrize("style", ["jsonrpc", "iserror"])
def test_unknown_tool_both_styles(style: str) -> None:
    # 'vanish' is listed but the server does not know it: a JSON-RPC error or an isError result.
    with connect_mcp([*FAULT_SERVER, "--unknown", style], namespace="f", timeout=5) as toolset:
        observation = run(toolset, "vanish")
        assert not observation.ok and "Unknown tool: vanish" in observation.text
        assert ("McpToolError" in observation.text) == (style == "iserror")
        assert run(toolset, "ok", {"text": "after"}).ok


def test_hanging_tool_times_out_promptly(faults: McpToolset) -> None:
    start = time.monotonic()
    observation = run(faults, "hang")
    assert not observation.ok and "5s" in observation.text
    assert time.monotonic() - start < 12
    assert run(faults, "ok", {"text": "still alive"}).ok  # the connection survives a timed-out call


def test_big_result_is_truncated_not_lost(faults: McpToolset) -> None:
    observation = run(faults, "big")
    assert observation.ok and observation.truncated
    assert len(observation.text) <= 2000 and "of 5242880 chars" in observation.text


def test_schema_invalid_structured_output(faults: McpToolset) -> None:
    observation = run(faults, "bad_output")
    assert not observation.ok
    assert "structured content" in observation.text.lower() and "n" in observation.text


def test_server_crash_mid_call_fails_that_call_and_later_ones(faults: McpToolset) -> None:
    start = time.monotonic()
    observation = run(faults, "crash")
    assert not observation.ok and "closed the connection" in observation.text
    assert time.monotonic() - start < 10, "a dead server must fail the call promptly"
    later = run(faults, "ok", {"text": "x"})
    assert not later.ok and "not connected" in later.text


def test_definition_change_requires_reapproval(faults: McpToolset) -> None:
    assert run(faults, "mutable").ok  # first call: the description changes afterwards
    refused = run(faults, "mutable")
    assert not refused.ok and "McpDefinitionChanged" in refused.text and "description" in refused.text
    assert faults.changes() == {"mutable": "changed: description"}
    with pytest.raises(McpDefinitionChanged):
        faults.call("mutable", {})
    assert faults.accept_changes() == {"mutable": "changed: description"}
    tool = next(t for t in faults.tools if t.remote_name == "mutable")
    assert "evil.example" in tool.description  # the agent now sees what was approved
    assert run(faults, "mutable").ok


def test_schema_invalid_arguments_are_refused_before_sending(faults: McpToolset) -> None:
    registry = ToolRegistry(faults.tools)
    verdict = Verifier(registry).verify(
        ToolCall(name="f.deep", arguments={"customer": "not-an-email", "items": [{"sku": "bad"}]})
    )
    assert not verdict.approved
    failed = next(c for c in verdict.checks if not c.ok)
    assert failed.stage == "schema" and "sku" in failed.reason
    good = Verifier(registry).verify(
        ToolCall(name="f.deep", arguments={"customer": "ana@example.com", "items": [{"sku": "ABC-123", "qty": 2}]})
    )
    assert good.approved


def test_untrusted_read_only_claim_on_destructive_name_needs_approval(faults: McpToolset) -> None:
    tool = next(t for t in faults.tools if t.remote_name == "delete_everything")
    assert tool.requires_approval and "looks destructive" in tool.effect_reason
    verdict = Verifier(ToolRegistry([tool])).verify(ToolCall(name=tool.name, arguments={}))
    assert not verdict.approved and verdict.checks[-1].stage == "approval"
    unannotated = next(t for t in faults.tools if t.remote_name == "vanish")
    assert unannotated.requires_approval  # MCP's default hints: not read-only, destructive


def test_trusted_server_annotations_are_believed() -> None:
    with connect_mcp(FAULT_SERVER, namespace="f", trusted=True) as toolset:
        tool = next(t for t in toolset.tools if t.remote_name == "delete_everything")
        assert not tool.requires_approval


def test_namespace_collision_is_an_error_and_adds_nothing() -> None:
    with as_registry(connect_mcp(FAULT_SERVER, namespace="f")) as registry:
        before = registry.names
        clashing = connect_mcp(FAULT_SERVER, namespace="f")
        with pytest.raises(ToolRegistrationError, match="namespace"):
            registry.add_toolset(clashing)
        assert registry.names == before and len(registry.toolsets) == 1
        assert not clashing.connection.alive  # the refused toolset was closed, not left running
        other = registry.add_toolset(connect_mcp(FAULT_SERVER, namespace="g"))
        assert len(registry) == 2 * len(before) and other.tools[0].name == "g.ok"


def test_an_agent_takes_mcp_toolsets_with_its_other_tools_and_closes_them() -> None:
    def local_echo(text: str) -> str:
        """Echo text."""
        return text

    toolset = connect_mcp(FAULT_SERVER, namespace="f")
    agent = Agent(ScriptedModel(), [local_echo, toolset], retrieval=None)
    assert "local_echo" in agent.registry.names and "f.ok" in agent.registry.names
    assert agent.registry.toolsets == [toolset]
    agent.close()
    assert not toolset.connection.alive


def test_bad_server_command_says_why() -> None:
    with pytest.raises(McpError, match=r"Cannot connect to MCP server .*(No such file|not found)"):
        connect_mcp(["/nonexistent/mcp-server"], connect_timeout=10)


def test_not_an_mcp_server_fails_within_timeout() -> None:
    start = time.monotonic()
    with pytest.raises(McpError):
        connect_mcp(["sleep", "31.5"], connect_timeout=3)
    assert time.monotonic() - start < 15
    assert subprocess.run(["pgrep", "-f", "sleep 31.5"], capture_output=True).returncode == 1, "the process was left running"


def test_unknown_tool_from_the_model_is_refused_by_the_verifier(faults: McpToolset) -> None:
    verdict = Verifier(ToolRegistry(faults.tools)).verify(ToolCall(name="f.nope", arguments={}))
    assert not verdict.approved and verdict.checks[-1].stage == "tool"
    with pytest.raises(McpError, match="not one of"):
        faults.call("nope", {})
    assert issubclass(McpToolError, Exception)


def test_bound_arguments_are_hidden_from_the_model_and_sent() -> None:
    with connect_mcp(FAULT_SERVER, namespace="f", bind={"text": "from the operator"}) as toolset:
        ok = next(t for t in toolset.tools if t.remote_name == "ok")
        assert "text" not in ok.parameters["properties"] and "text" not in ok.parameters.get("required", [])
        assert ok.bound == {"text": "from the operator"}
        assert run(toolset, "ok").text == "ok: from the operator"
