"""agentslm served over MCP: the agent as a ``run_task`` tool, and optionally the registry's own tools.

Built on the MCP SDK's low-level ``Server`` so tool schemas come from our registry (not
re-derived from Python signatures). Every call of a registry tool goes through our
:class:`~agentslm.verify.Verifier` and :class:`~agentslm.execute.Executor`: schema, types,
policy and approval are checked before anything runs. An MCP server cannot ask our user, so
tools that require approval are neither listed nor run unless the server is started with
``approve_all=True`` (``--approve-all``), which is the operator saying the MCP host does the
consent. Over HTTP the server binds 127.0.0.1 by default and the SDK's DNS-rebinding
protection checks ``Host`` and ``Origin`` (allowed origins: localhost ones plus ``origins``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from agentslm.execute import Executor
from agentslm.registry import Effect, Tool, ToolRegistry
from agentslm.verify import Verifier

if TYPE_CHECKING:
    import mcp_types as types

    from agentslm.agent import Agent

__all__ = ["RUN_TASK", "build_server", "run_http", "run_stdio"]

RUN_TASK = "run_task"
"""Name of the tool that runs a request through the agent."""

_RUN_TASK_INPUT = {
    "type": "object",
    "properties": {
        "request": {
            "type": "string",
            "minLength": 1,
            "maxLength": 20000,
            "description": "What the user wants, in their words (e.g. 'What is the weather in Paris?').",
        }
    },
    "required": ["request"],
    "additionalProperties": False,
}

_RUN_TASK_OUTPUT = {
    "type": "object",
    "properties": {
        "status": {"type": "string", "enum": ["answered", "asked", "no_tool", "failed"]},
        "answer": {"type": ["string", "null"]},
        "question": {"type": ["string", "null"]},
        "calls": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "arguments": {"type": "object"},
                    "ok": {"type": "boolean"},
                    "result": {"type": "string"},
                },
                "required": ["name", "arguments", "ok", "result"],
            },
        },
        "errors": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["status", "answer", "question", "calls", "errors"],
}


def _annotations(tool: Tool) -> dict[str, Any]:
    read_only = tool.effects <= {Effect.READ}
    return {
        "readOnlyHint": read_only,
        "destructiveHint": Effect.DESTRUCTIVE in tool.effects,
        "openWorldHint": Effect.EXTERNAL in tool.effects,
    }


def build_server(
    agent: Agent | None = None,
    registry: ToolRegistry | None = None,
    *,
    name: str = "agentslm",
    approve_all: bool = False,
    max_output_chars: int = 100_000,
) -> Any:
    """An ``mcp`` low-level ``Server`` offering ``run_task`` (when ``agent`` is given) and ``registry``'s tools.

    Args:
        agent: the agent behind ``run_task``; ``None`` serves only the registry's tools.
        registry: tools to serve directly (verified by our verifier before running).
        approve_all: also serve (and run) tools that require approval, and approve the
            agent's calls of them: the MCP host is then responsible for consent.
        max_output_chars: bound on a served tool's result text.
    """
    from mcp.server import Server

    if agent is None and registry is None:
        from agentslm.errors import UserError

        raise UserError("Nothing to serve.", hint="pass an agent (run_task) and/or a registry of tools.")
    served: dict[str, Tool] = {}
    if registry is not None:
        for tool in registry:
            if tool.fn is None or (tool.requires_approval and not approve_all):
                continue
            if agent is not None and tool.name == RUN_TASK:
                continue
            served[tool.name] = tool
    verifier = Verifier(registry or ToolRegistry(), approve=(lambda call, tool: True) if approve_all else None)
    executor = Executor(max_output_chars=max_output_chars)
    if agent is not None and approve_all and agent.approve is None:
        agent.approve = lambda call, tool: True
    agent_effects: set[Effect] = set()
    if agent is not None:
        for tool in agent.registry:
            if not tool.requires_approval or approve_all:
                agent_effects |= set(tool.effects)
    handlers = _Handlers(agent, served, verifier, executor, agent_effects)
    return Server(
        name,
        version=_version(),
        instructions="agentslm: a small local model as a tool-using agent (run_task), and its verified tools.",
        get_tool_input_schema=handlers.input_schema,
        on_list_tools=handlers.on_list_tools,
        on_call_tool=handlers.on_call_tool,
    )


class _Handlers:
    """The MCP handlers of :func:`build_server`: what it serves, and how a call is verified and run."""

    def __init__(
        self,
        agent: Agent | None,
        served: dict[str, Tool],
        verifier: Verifier,
        executor: Executor,
        agent_effects: set[Effect],
    ) -> None:
        self.agent = agent
        self.served = served
        self.verifier = verifier
        self.executor = executor
        self.agent_effects = agent_effects

    def listing(self) -> list[types.Tool]:
        import mcp_types as types

        agent, agent_effects = self.agent, self.agent_effects
        tools: list[types.Tool] = []
        if agent is not None:
            names = ", ".join(agent.registry.names[:20]) or "none"
            tools.append(
                types.Tool(
                    name=RUN_TASK,
                    description=(
                        "Run a request through the agentslm agent (a small local model that plans and makes verified "
                        f"tool calls). Returns the answer and the calls it made. Its tools: {names}."
                    ),
                    input_schema=_RUN_TASK_INPUT,
                    output_schema=_RUN_TASK_OUTPUT,
                    annotations=types.ToolAnnotations(
                        read_only_hint=agent_effects <= {Effect.READ},
                        destructive_hint=Effect.DESTRUCTIVE in agent_effects,
                        open_world_hint=Effect.EXTERNAL in agent_effects,
                    ),
                )
            )
        for tool in self.served.values():
            tools.append(
                types.Tool(
                    name=tool.name,
                    description=tool.description,
                    input_schema=tool.parameters,
                    annotations=types.ToolAnnotations(**{_snake(k): v for k, v in _annotations(tool).items()}),
                )
            )
        return tools

    async def on_list_tools(self, ctx: Any, params: Any) -> types.ListToolsResult:
        import mcp_types as types

        return types.ListToolsResult(tools=self.listing())

    def input_schema(self, tool_name: str) -> dict[str, Any] | None:
        if tool_name == RUN_TASK and self.agent is not None:
            return _RUN_TASK_INPUT
        tool = self.served.get(tool_name)
        return tool.parameters if tool is not None else None

    async def on_call_tool(self, ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        import anyio
        import mcp_types as types
        from mcp.shared.exceptions import MCPError

        arguments = dict(params.arguments or {})
        if params.name == RUN_TASK and self.agent is not None:
            return await self._run_task(self.agent, arguments)
        tool = self.served.get(params.name)
        if tool is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        from agentslm.step_types import ToolCall

        verdict = self.verifier.verify(ToolCall(name=tool.name, arguments=arguments))
        if not verdict.approved:
            failed = next(c for c in verdict.checks if not c.ok)
            return _error(f"refused by agentslm's verifier ({failed.stage}): {failed.reason}")
        observation = await anyio.to_thread.run_sync(self.executor.execute, tool, verdict.arguments or arguments)
        return types.CallToolResult(content=[types.TextContent(type="text", text=observation.text)], is_error=not observation.ok)

    async def _run_task(self, agent: Agent, arguments: dict[str, Any]) -> types.CallToolResult:
        import anyio
        import mcp_types as types

        request = arguments.get("request")
        if not isinstance(request, str) or not request.strip():
            return _error("run_task needs a non-empty 'request' string.")
        run = await anyio.to_thread.run_sync(agent.run, request)
        structured = _run_summary(run)
        text = run.answer or run.question or ("; ".join(structured["errors"]) or f"status: {run.status}")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)], structured_content=structured, is_error=False
        )


def _snake(key: str) -> str:
    return {"readOnlyHint": "read_only_hint", "destructiveHint": "destructive_hint", "openWorldHint": "open_world_hint"}[key]


def _version() -> str:
    from agentslm import __version__

    return __version__


def _error(text: str) -> Any:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _run_summary(run: Any) -> dict[str, Any]:
    calls = []
    for event in run.results:
        call = next((e.call for e in run.events if getattr(e, "type", "") == "call" and e.task_id == event.task_id), None)
        calls.append(
            {
                "name": event.tool,
                "arguments": json.loads(json.dumps(call.arguments if call else {}, default=str)),
                "ok": event.observation.ok,
                "result": event.observation.text,
            }
        )
    return {
        "status": run.status,
        "answer": run.answer,
        "question": run.question,
        "calls": calls,
        "errors": [e.message for e in run.errors],
    }


async def _stdio(server: Any) -> None:
    from mcp.server.stdio import stdio_server

    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def run_stdio(server: Any) -> None:
    """Serve over stdin/stdout until the client closes the connection."""
    import anyio

    anyio.run(_stdio, server)


def run_http(server: Any, *, host: str = "127.0.0.1", port: int = 8765, path: str = "/mcp", origins: Sequence[str] = ()) -> None:
    """Serve streamable HTTP on ``host:port`` at ``path``; Host/Origin headers are checked."""
    import uvicorn
    from mcp.server.transport_security import TransportSecuritySettings

    local = host in ("127.0.0.1", "localhost", "::1")
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"] + ([] if local else [f"{host}:*"])
    allowed_origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *origins]
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=allowed_origins
    )
    app = server.streamable_http_app(streamable_http_path=path, transport_security=security, host=host)
    uvicorn.run(app, host=host, port=port, log_level="warning")
