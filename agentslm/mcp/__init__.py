"""MCP integration: tools from MCP servers (client) and agentslm served over MCP (server).

Client: :func:`connect_mcp` (a toolset for ``Agent(tools=...)`` or ``ToolRegistry.add_toolset``) and
``Agent.add_mcp_server``.
Server: :func:`build_server` and the ``agentslm serve-mcp`` command.
"""

from agentslm.mcp.connection import McpConnection, McpError
from agentslm.mcp.tools import (
    McpDefinitionChanged,
    McpTool,
    McpToolError,
    McpToolset,
    connect_mcp,
    grammar_report,
    looks_destructive,
    mcp_effects,
)

__all__ = [
    "McpConnection",
    "McpDefinitionChanged",
    "McpError",
    "McpTool",
    "McpToolError",
    "McpToolset",
    "connect_mcp",
    "grammar_report",
    "looks_destructive",
    "mcp_effects",
]
