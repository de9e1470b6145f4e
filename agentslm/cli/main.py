"""``agentslm`` itself: demo, doctor, call, eval, and the entry point (the other commands live next to it)."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentslm.cli.common import (
    AdapterOpt,
    ModelOpt,
    ThreadsOpt,
    _load,
    _load_registry,
    app,
    bench_app,
    console,
)
from agentslm.errors import AgentslmError

if TYPE_CHECKING:
    from agentslm.registry import Tool
    from agentslm.step_types import ToolCall


def _print_version(value: bool) -> None:
    if value:
        from agentslm import __version__

        print(f"agentslm {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    verbose: Annotated[
        int,
        typer.Option("--verbose", "-v", count=True, help="Log to stderr: -v a run's status and model loads, -vv every event."),
    ] = 0,
) -> None:
    """agentslm: reliable tool-using agents on small local models."""
    if verbose:
        import logging

        from rich.logging import RichHandler

        handler = RichHandler(console=console.__class__(stderr=True), show_path=False, show_time=False)
        logger = logging.getLogger("agentslm")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


@app.command()
def demo(
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the session (events, judgement per request) as JSON.")] = False,
) -> None:
    """A short scripted session on the embedded model: each call, its verdict and its result."""
    from agentslm.agent import Agent
    from agentslm.demo import DEMO_REQUESTS, demo_registry, judge_demo_request
    from agentslm.events import ErrorEvent, ResultEvent, describe_event

    t0 = time.perf_counter()
    loaded = _load(model, threads)
    agent = Agent(loaded, demo_registry())
    load_seconds = time.perf_counter() - t0
    if as_json:
        _demo_json(agent, loaded, load_seconds)
        return
    console.print(
        f"[bold]agentslm demo[/] on {loaded.name} (loaded in {time.perf_counter() - t0:.1f}s); "
        f"tools: {', '.join(agent.registry.names)}"
    )
    decision = getattr(loaded, "extra_buffers", None)
    if decision is not None:
        console.print(decision.describe(), markup=False, highlight=False)
    styles = {"plan": "cyan", "verdict": "magenta", "result": "green", "answer": "bold", "error": "red", "ask": "yellow"}
    refused = executed = 0
    missed: list[str] = []
    for request in DEMO_REQUESTS:
        console.rule(f"[cyan]user[/]: {request}")
        events = []
        for event in agent.stream(request):
            events.append(event)
            style = styles.get(event.type, "")
            console.print(
                f"[{style}]{describe_event(event)}[/]" if style else describe_event(event), markup=bool(style), highlight=False
            )
            if isinstance(event, ResultEvent):
                executed += 1
            elif isinstance(event, ErrorEvent) and event.kind == "refused":
                refused += 1
        problem = judge_demo_request(request, events)
        if problem is None:
            console.print("[green]handled as expected[/]")
        else:
            missed.append(request)
            console.print(f"[red]NOT handled as expected: {problem}[/]", highlight=False)
    console.rule()
    handled = len(DEMO_REQUESTS) - len(missed)
    console.print(
        f"{handled}/{len(DEMO_REQUESTS)} requests handled as expected; {executed} calls executed, {refused} refused, "
        f"in {time.perf_counter() - t0:.1f}s."
    )


def _demo_json(agent: Any, loaded: Any, load_seconds: float) -> None:
    """``agentslm demo --json``: the same session, printed as one JSON object; exit 1 if a request was missed."""
    from agentslm.demo import DEMO_REQUESTS, judge_demo_request

    t0 = time.perf_counter()
    requests = []
    for request in DEMO_REQUESTS:
        events = list(agent.stream(request))
        problem = judge_demo_request(request, events)
        requests.append(
            {
                "request": request,
                "handled": problem is None,
                "problem": problem,
                "events": [event.model_dump(mode="json") for event in events],
            }
        )
    decision = getattr(loaded, "extra_buffers", None)
    handled = sum(1 for r in requests if r["handled"])
    print(
        json.dumps(
            {
                "model": loaded.name,
                "load_seconds": round(load_seconds, 2),
                "seconds": round(time.perf_counter() - t0, 2),
                "llama_extra_buffers": decision.as_dict() if decision is not None else None,
                "handled": handled,
                "of": len(requests),
                "requests": requests,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    if handled < len(requests):
        raise typer.Exit(1)


@app.command()
def doctor(
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    load: Annotated[bool, typer.Option(help="Load the model and decode a few tokens.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """This machine as agentslm sees it: CPU, llama.cpp's extra-buffer decision, the default model and adapter."""
    from importlib.metadata import version as dist_version

    from agentslm.models.cpu_buffers import AMX_FLAGS, decide_extra_buffers, read_cpu_info

    cpu = read_cpu_info()
    decision = decide_extra_buffers(cpu)
    rows = [
        ("agentslm", dist_version("agentslm")),
        ("python", platform.python_version()),
        ("cpu", f"{cpu.model} ({cpu.machine}, {os.cpu_count()} CPUs)"),
        ("AMX flags", ", ".join(sorted(cpu.flags & AMX_FLAGS)) or "none"),
        ("llama.cpp extra buffers", f"{'on' if decision.enabled else 'off'} ({decision.source}: {decision.reason})"),
    ]
    packages: dict[str, str] = {}
    for name in ("llama-cpp-python", "llguidance"):
        try:
            packages[name] = dist_version(name)
        except Exception:
            packages[name] = "not installed"
    embedded: dict[str, str] = {}
    try:
        from agentslm.models import embedded_adapter_path, embedded_model_path
        from agentslm.models.embedded import embedded_after_results_adapter_path

        embedded["model"] = str(embedded_model_path())
        embedded["adapter"] = str(embedded_adapter_path())
        embedded["adapter after results"] = str(embedded_after_results_adapter_path())
    except AgentslmError as exc:
        embedded.setdefault("model", f"missing: {exc}")
        embedded.setdefault("adapter", f"missing: {exc}")
        embedded.setdefault("adapter after results", f"missing: {exc}")
    rows += [*packages.items(), *((f"embedded {key}", value) for key, value in embedded.items())]
    report: dict[str, Any] = {
        "agentslm": rows[0][1],
        "python": rows[1][1],
        "cpu": {"model": cpu.model, "machine": cpu.machine, "cpus": os.cpu_count(), "amx_flags": sorted(cpu.flags & AMX_FLAGS)},
        "llama_extra_buffers": decision.as_dict(),
        "packages": packages,
        "embedded": embedded,
    }
    if not as_json:
        for key, value in rows:
            console.print(f"[bold]{key:>24}[/]  {value}", highlight=False)
    if load:
        t0 = time.perf_counter()
        loaded = _load(model, threads)
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        gen = loaded.generate([{"role": "user", "content": "Say hello."}], max_tokens=8)
        report["model"] = {
            "name": loaded.name,
            "load_seconds": round(load_s, 3),
            "tokens": len(gen.tokens),
            "decode_seconds": round(time.perf_counter() - t1, 3),
            "text": gen.text,
        }
        if as_json:
            print(json.dumps(report, indent=2, ensure_ascii=False))
            return
        console.print(
            f"[bold]{'model':>24}[/]  {loaded.name}: loaded in {load_s:.2f} s, decoded {len(gen.tokens)} tokens "
            f"in {time.perf_counter() - t1:.2f} s ({gen.text!r})",
            highlight=False,
        )
    elif as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))


@app.command()
def call(
    request: Annotated[str, typer.Argument(help="The user's request.")],
    tools: Annotated[str, typer.Option("--tools", help="Tools as 'module:attribute' (a ToolRegistry, a list, or a factory).")],
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    signals: Annotated[bool, typer.Option(help="Include the confidence signals.")] = False,
) -> None:
    """Decode the tool call for REQUEST (no execution) and print it as JSON."""
    from agentslm.agent import Agent

    agent = Agent(_load(model, threads), _load_registry(tools))
    result = agent.call(request)
    data = result.model_dump(exclude=None if signals else {"signals"})
    print(json.dumps(data, indent=2, ensure_ascii=False))
    if result.parse_error:
        raise typer.Exit(1)


def terminal_approver(yes: bool) -> Callable[[ToolCall, Tool], bool]:
    """``agentslm run``'s approval: asked on the terminal (default no); refused when stdin is not a terminal; every
    call allowed with ``yes``."""

    def approve(call: ToolCall, tool: Tool) -> bool:
        if yes:
            return True
        if not sys.stdin.isatty():
            console.print(f"[yellow]{call.name} needs approval; stdin is not a terminal: refused (pass --yes to allow)[/]")
            return False
        arguments = json.dumps(call.arguments, ensure_ascii=False)
        return typer.confirm(f"Allow {call.name}({arguments})? ({', '.join(sorted(tool.effects))})", default=False, err=True)

    return approve


@app.command("run")
def run_cmd(
    request: Annotated[str, typer.Argument(help="The request, in plain words.")],
    tools: Annotated[str, typer.Option(help="Your tools as 'module:attribute' (a ToolRegistry, a list or a factory).")],
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    threads: ThreadsOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="Approve every call that needs approval without asking.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run (status, answer, events) as JSON.")] = False,
    audit_log: Annotated[str | None, typer.Option(help="Append executed and refused calls to this JSONL audit log.")] = None,
) -> None:
    """Run REQUEST with the full agent over your tools: plan, verify, ask before destructive or external calls (on the
    terminal; refused when it is not interactive, unless --yes), run, answer. Exit status 0 when answered, 1 otherwise."""
    from agentslm.agent import Agent
    from agentslm.events import describe_event
    from agentslm.run.types import outcome

    agent = Agent(
        _load(model, threads, adapters=adapter), _load_registry(tools), approve=terminal_approver(yes), audit_log=audit_log
    )
    events = []
    for event in agent.stream(request):
        events.append(event)
        if not as_json:
            console.print(describe_event(event), markup=False, highlight=False)
    result = outcome(request, events)
    if as_json:
        print(result.model_dump_json(indent=2))
    if result.status != "answered":
        raise typer.Exit(1)


def main() -> None:
    """Entry point: user errors print their message and hint, exit status 2."""
    try:
        app()
    except AgentslmError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from None


# the other commands register themselves on the apps when their modules are imported
from agentslm.cli import assistant as _assistant  # noqa: E402
from agentslm.cli import bench as _bench  # noqa: E402, F401
from agentslm.cli import bench_bfcl as _bench_bfcl  # noqa: E402, F401
from agentslm.cli import bench_retrieval as _bench_retrieval  # noqa: E402, F401
from agentslm.cli import bench_tasks as _bench_tasks  # noqa: E402, F401
from agentslm.cli import mcp as _mcp  # noqa: E402, F401
from agentslm.cli import models as _models  # noqa: E402, F401
from agentslm.cli.train import train_app  # noqa: E402

app.add_typer(train_app, name="train")
app.command("assistant")(_assistant.assistant)
app.command("chat")(_assistant.chat)
bench_app.command("assistant")(_assistant.bench_assistant)
