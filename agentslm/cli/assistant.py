"""``agentslm assistant`` (web UI) and ``agentslm chat`` (terminal): the local desktop assistant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from agentslm.errors import MissingExtraError

__all__ = ["assistant", "bench_assistant", "chat"]

console = Console()

_CONFIG_HELP = (
    "TOML config file (default: $AGENTSLM_ASSISTANT_CONFIG or the per-user config folder, "
    "e.g. ~/.config/agentslm/assistant.toml; missing = defaults)."
)
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help=_CONFIG_HELP)]


def _load(config: Path | None, data_dir: Path | None, workspace: Path | None):  # type: ignore[no-untyped-def]
    try:
        from agentslm.assistant.config import load_config
    except ImportError as exc:
        raise MissingExtraError(
            f"The assistant needs the 'assistant' extra ({exc.name} is missing).", hint="pip install 'agentslm[assistant]'"
        ) from exc
    loaded = load_config(config)
    if data_dir is not None:
        loaded.tools.data_dir = str(data_dir)
    if workspace is not None:
        loaded.tools.workspace = str(workspace)
    return loaded


DataOpt = Annotated[Path | None, typer.Option("--data-dir", help="Override \\[tools] data_dir.")]
WorkspaceOpt = Annotated[Path | None, typer.Option("--workspace", help="Override \\[tools] workspace.")]


def assistant(
    config: ConfigOpt = None,
    port: Annotated[int | None, typer.Option(help="Override \\[server] port (0 = a free port).")] = None,
    open_browser: Annotated[bool | None, typer.Option("--open/--no-open", help="Open the browser.")] = None,
    data_dir: DataOpt = None,
    workspace: WorkspaceOpt = None,
    print_config: Annotated[bool, typer.Option("--print-config", help="Print the effective config and exit.")] = False,
) -> None:
    """Serve the local assistant's web UI on 127.0.0.1 (printed and opened): chat, live plan/call/verdict/result
    events, Approve/Deny for destructive and external calls, persistent history. Everything runs on this machine.

    Configuration: one TOML file (every key optional; defaults shown):

    \b
    \\[models]
    model = "embedded"     # every role: "embedded", a .gguf path, "transformers:PATH", "openai:URL#MODEL"
    planner = ""           # per-role overrides ("" = model); also caller, summarizer
    lora = ""              # GGUF LoRA adapter for a local llama.cpp model
    threads = 0            # llama.cpp threads (0 = all cores)
    history_turns = 0      # earlier turns the planner sees (0 suits the 135M model)
    \\[fallback]
    model = ""             # larger model for unsure steps, e.g. "openai:http://127.0.0.1:8080/v1#qwen"
    routing = ""           # routing.json from `agentslm calibrate`
    \\[tools]
    packs = ["notes", "calendar", "contacts", "files", "clock", "calc", "actions"]
    workspace = "~/agentslm-workspace"   # the only folder the files pack may touch
    data_dir = ""          # databases, history, audit log ("" = per-user data folder)
    timezone = ""          # IANA zone ("" = the machine's)
    \\[server]
    host = "127.0.0.1"     # loopback only
    port = 0               # 0 = a random free port
    open_browser = true
    approval_timeout = 300 # seconds before an unanswered approval counts as Deny
    max_message_chars = 4000
    """
    loaded = _load(config, data_dir, workspace)
    if port is not None:
        loaded.server.port = port
    if print_config:
        import json

        console.print_json(json.dumps(loaded.model_dump(mode="json")))
        return
    from agentslm.assistant.core import Assistant
    from agentslm.assistant.web import serve

    console.print(f"loading the assistant (data in {loaded.data_dir()}, workspace {loaded.workspace()}) ...")
    app = Assistant(loaded)
    if app.interrupted:
        console.print(f"[yellow]{app.interrupted} request(s) were interrupted by the last shutdown; marked so.[/]")
    try:
        serve(
            app,
            open_browser=loaded.server.open_browser if open_browser is None else open_browser,
            announce=lambda url: console.print(f"agentslm assistant on [bold]{url}[/] (Ctrl-C stops it)", highlight=False),
        )
    finally:
        app.close()


def chat(config: ConfigOpt = None, data_dir: DataOpt = None, workspace: WorkspaceOpt = None) -> None:
    """Chat with the local assistant in this terminal (same tools, config and history as `agentslm assistant`);
    destructive and external calls ask y/N first."""
    from agentslm.assistant.chat import run_chat

    run_chat(_load(config, data_dir, workspace), console)


def bench_assistant(
    cases: Annotated[Path, typer.Option(help="Labelled requests (JSON Lines).")] = Path("examples/assistant/requests.jsonl"),
    seed: Annotated[Path | None, typer.Option(help="Seed data (default: seed.json next to --cases).")] = None,
    config: ConfigOpt = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Override [models] model.")] = None,
    lora: Annotated[Path | None, typer.Option(help="Override [models] lora (a GGUF adapter).")] = None,
    threads: Annotated[int | None, typer.Option(help="Override [models] threads.")] = None,
    out: Annotated[Path, typer.Option(help="Results folder (results.jsonl, report.md).")] = Path("bench-out/assistant"),
    rescore: Annotated[
        Path | None,
        typer.Option(help="Score an earlier run's results.jsonl strictly instead of running (no model needed)."),
    ] = None,
) -> None:
    """How reliably the assistant handles labelled requests end to end (fresh seeded data per case, calls approved)."""
    import json
    import platform
    import shlex
    import sys
    from datetime import UTC, datetime

    from agentslm.assistant.evaluate import load_cases, run_cases, write_report

    loaded = _load(config, None, None)
    if rescore is not None:
        from agentslm.assistant.evaluate import rescore_strict

        earlier = [json.loads(line) for line in rescore.read_text(encoding="utf-8").splitlines() if line.strip()]
        earlier_meta = rescore.with_name("meta.json")
        meta = {
            "rescored_run": json.loads(earlier_meta.read_text(encoding="utf-8")) if earlier_meta.exists() else None,
            "model": f"rescored {rescore}",
            "command": "agentslm " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        report = write_report(rescore_strict(earlier, loaded.tools.packs), out, meta)
        console.print(report.split("\n\n")[2])
        console.print(f"report: {out / 'report.md'}")
        return
    if model is not None:
        loaded.models.model = model
    if lora is not None:
        loaded.models.lora = str(lora)
    if threads is not None:
        loaded.models.threads = threads
    items = load_cases(cases)
    seed_file = seed or cases.with_name("seed.json")
    seed_data = json.loads(seed_file.read_text(encoding="utf-8")) if seed_file.exists() else {}

    def show(result: dict[str, object]) -> None:
        mark = "[green]handled[/]" if result["passed"] else "[red]missed[/]"
        console.print(f"{mark} {result['id']}: {result['request']} ({result['seconds']} s)", highlight=False)

    results = run_cases(loaded, items, seed_data, on_case=show)
    from agentslm.bench.bfcl_run import machine_description
    from agentslm.models.embedded import EMBEDDED_ADAPTER_NAME, EMBEDDED_AFTER_RESULTS_ADAPTER_NAME

    machine = machine_description()
    meta = {
        "model": loaded.models.model
        + (f" + LoRA {loaded.models.lora}" if loaded.models.lora else "")
        + (
            " with adapters " + ", ".join(f"{role}={path or 'base'}" for role, path in loaded.models.adapters.items())
            if loaded.models.adapters
            else ""
        )
        + (
            f" (SmolLM2-135M + adapter {EMBEDDED_ADAPTER_NAME}; after results {EMBEDDED_AFTER_RESULTS_ADAPTER_NAME})"
            if loaded.models.model == "embedded" and not loaded.models.lora and not loaded.models.adapters
            else ""
        ),
        "command": "agentslm " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} CPUs, Python {platform.python_version()}",
        "cpu": machine["cpu"],
        "llama_extra_buffers": machine["llama_extra_buffers"],
        "git_commit": machine["git_commit"],
    }
    report = write_report(results, out, meta)
    console.print(report.split("\n\n")[2])
    console.print(f"report: {out / 'report.md'}")
