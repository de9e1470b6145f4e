"""``agentslm chat``: the assistant in a terminal — events streamed with rich, approvals as a y/N prompt."""

from __future__ import annotations

import json
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from agentslm.errors import AgentslmError
from agentslm.events import AgentEvent, describe_event
from agentslm.registry import Tool
from agentslm.step_types import ToolCall

from .config import AssistantConfig
from .core import Assistant

__all__ = ["run_chat"]

_STYLES = {"plan": "cyan", "call": "blue", "verdict": "magenta", "result": "green", "error": "red", "ask": "yellow"}


def run_chat(config: AssistantConfig, console: Console | None = None) -> None:
    """Read requests until EOF or ``/quit``; print each step; ask before destructive or external calls."""
    console = console or Console()

    def approve(call: ToolCall, tool: Tool) -> bool:
        effects = ", ".join(sorted(e.value for e in tool.effects))
        console.print(f"[bold yellow]approval needed[/] {escape(tool.name)} ({effects}) with exactly:")
        console.print(escape(json.dumps(call.arguments, indent=2, ensure_ascii=False)), highlight=False)
        try:
            reply = console.input("Allow? \\[y/N] ")
        except EOFError:
            reply = ""
        allowed = reply.strip().casefold() in ("y", "yes")
        console.print("[green]approved[/]" if allowed else "[red]denied[/]")
        return allowed

    assistant = Assistant(config, approve=approve)
    if assistant.interrupted:
        console.print(f"[yellow]{assistant.interrupted} earlier request(s) were interrupted and marked so in the history.[/]")
    console.print(
        f"[bold]agentslm chat[/] · {len(assistant.agent.registry)} tools · data in {config.data_dir()} · "
        "type /quit or Ctrl-D to leave"
    )

    def show(event: AgentEvent) -> None:
        style = _STYLES.get(event.type)
        text = escape(describe_event(event))
        if event.type == "answer":
            console.print(f"[bold]assistant>[/] {escape(getattr(event, 'text', ''))}")
        else:
            console.print(f"  [{style}]{text}[/]" if style else f"  {text}", highlight=False)

    try:
        _loop(assistant, console, show)
    finally:
        assistant.close()


def _loop(assistant: Assistant, console: Console, show: Callable[[AgentEvent], None]) -> None:
    while True:
        try:
            text = console.input("[bold]you>[/] ")
        except EOFError:
            console.print()
            break
        except KeyboardInterrupt:
            console.print()
            break
        if text.strip() in ("/quit", "/exit"):
            break
        try:
            assistant.run_sync(text, on_event=show)
        except AgentslmError as exc:
            console.print(f"[red]{escape(str(exc))}[/]")
        except KeyboardInterrupt:
            assistant.history.recover()
            console.print("[yellow]stopped; the request is marked interrupted in the history.[/]")
