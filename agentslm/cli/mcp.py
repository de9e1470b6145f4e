"""``agentslm mcp tools | run`` and ``agentslm serve-mcp``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentslm.cli.common import (
    ModelOpt,
    ThreadsOpt,
    _load,
    _load_registry,
    app,
    console,
    mcp_app,
)
from agentslm.errors import UserError

ServerArg = Annotated[
    str, typer.Argument(help="MCP server: an http(s):// URL, or a command line that starts a stdio server (quote it).")
]
TrustedOpt = Annotated[bool, typer.Option("--trusted", help="Trust the server's tool annotations (default: untrusted).")]
NamespaceOpt = Annotated[
    str | None, typer.Option("--namespace", help="Prefix of the server's tool names (default: from the server's name).")
]


@mcp_app.command("tools")
def mcp_tools(
    server: ServerArg,
    trusted: TrustedOpt = False,
    namespace: NamespaceOpt = None,
    grammar: Annotated[bool, typer.Option(help="Compile each tool's call grammar on the model's engine.")] = True,
    model: ModelOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the tools as JSON instead of a table.")] = False,
) -> None:
    """List an MCP server's tools: effects, whether calls need approval, and whether each grammar compiles."""
    from agentslm.mcp import connect_mcp, grammar_report

    toolset = connect_mcp(server, trusted=trusted, namespace=namespace)
    try:
        report = grammar_report(toolset.tools, _load(model, None)) if grammar else {}
        conn = toolset.connection
        failed = [name for name, problem in report.items() if problem]
        if as_json:
            listed = [
                {
                    "name": t.name,
                    "effects": sorted(e.value for e in t.effects),
                    "requires_approval": t.requires_approval,
                    "why": t.effect_reason,
                    "grammar": None if not grammar else (report.get(t.name) or "ok"),
                }
                for t in toolset.tools
            ]
            server_info = {"name": conn.server_name or conn.name, "protocol": conn.protocol_version}
            print(json.dumps({"server": server_info, "tools": listed, "skipped": dict(toolset.skipped)}, indent=2))
            if failed:
                raise typer.Exit(1)
            return
        console.print(f"[bold]{conn.server_name or conn.name}[/] (protocol {conn.protocol_version}), {len(toolset.tools)} tools")
        table = Table("tool", "effects", "approval", "why", "grammar")
        for t in toolset.tools:
            problem = report.get(t.name)
            status = "-" if not grammar else ("ok" if problem is None else f"[red]{problem}[/]")
            effects = ", ".join(sorted(e.value for e in t.effects))
            table.add_row(t.name, effects, "yes" if t.requires_approval else "no", t.effect_reason, status)
        console.print(table)
        for remote, reason in toolset.skipped.items():
            console.print(f"[yellow]skipped[/] {remote}: {reason}")
        if failed:
            console.print(f"[red]{len(failed)} tool grammars do not compile[/]: {', '.join(failed)}")
            raise typer.Exit(1)
    finally:
        toolset.close()


@mcp_app.command("run")
def mcp_run(
    request: Annotated[str, typer.Argument(help="The user's request.")],
    server: Annotated[list[str], typer.Option("--server", "-s", help="MCP server (URL or command line); repeatable.")],
    trusted: TrustedOpt = False,
    approve: Annotated[bool, typer.Option("--approve", help="Ask y/N before calls that need approval (default: deny).")] = False,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Run REQUEST with an agent whose tools come from MCP servers; print every event."""
    from agentslm.agent import Agent
    from agentslm.events import describe_event

    def ask(call: Any, tool: Any) -> bool:
        return typer.confirm(f"Allow {call.name}({json.dumps(call.arguments, ensure_ascii=False)})?", default=False)

    with Agent(_load(model, threads), approve=ask if approve else None) as agent:
        for spec in server:
            agent.add_mcp_server(spec, trusted=trusted)
        for event in agent.stream(request):
            console.print(describe_event(event), markup=False, highlight=False)


@app.command("serve-mcp")
def serve_mcp(
    tools: Annotated[
        str | None, typer.Option("--tools", help="The agent's tools as 'module:attribute' (default: the demo tools).")
    ] = None,
    connect: Annotated[
        list[str] | None, typer.Option("--connect", help="Also give the agent the tools of this MCP server (repeatable).")
    ] = None,
    expose_tools: Annotated[bool, typer.Option("--expose-tools", help="Also serve the registry's tools directly.")] = False,
    no_agent: Annotated[bool, typer.Option("--no-agent", help="Serve only the tools (needs --expose-tools).")] = False,
    approve_all: Annotated[
        bool, typer.Option("--approve-all", help="Serve and run tools that need approval (the MCP host does the consent).")
    ] = False,
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="HTTP bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8765,
    path: Annotated[str, typer.Option(help="HTTP endpoint path.")] = "/mcp",
    origin: Annotated[list[str] | None, typer.Option("--origin", help="Extra allowed Origin (repeatable).")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Serve agentslm over MCP: the agent as the tool 'run_task', and (--expose-tools) its tools. Stdio by default."""
    from agentslm.mcp.server import build_server, run_http, run_stdio

    if no_agent and not expose_tools:
        raise UserError("--no-agent serves nothing without --expose-tools.", hint="add --expose-tools.")
    if tools:
        registry = _load_registry(tools)
    else:
        from agentslm.demo import demo_registry

        registry = demo_registry()
    agent = None
    if not no_agent:
        from agentslm.agent import Agent

        agent = Agent(_load(model, threads), registry)
        for spec in connect or []:
            agent.add_mcp_server(spec)
    server = build_server(agent, registry if expose_tools else None, approve_all=approve_all)
    err = Console(stderr=True)
    try:
        if http:
            err.print(f"agentslm MCP server on http://{host}:{port}{path}")
            run_http(server, host=host, port=port, path=path, origins=origin or [])
        else:
            run_stdio(server)
    finally:
        if agent is not None:
            agent.close()
