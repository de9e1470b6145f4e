"""What every ``agentslm`` command shares: the typer apps, the console, option types, model and tool loading."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from agentslm.errors import UserError

__all__ = ["app", "bench_app", "console", "mcp_app"]

app = typer.Typer(
    help="agentslm: reliable tool-using agents on small local models.", no_args_is_help=True, pretty_exceptions_enable=False
)
bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")


@bench_app.callback()
def _bench_start() -> None:
    """Benchmarks that print figures (each records the git commit it started on)."""
    from agentslm.bench.bfcl_run import git_commit

    git_commit()  # read now and kept: commits made while a benchmark runs are not the code that ran


console = Console()

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model: a catalog name (agentslm models list; pulled on first use), a .gguf path, 'llamacpp:PATH', "
        "'transformers:PATH', or a served model 'openai:http://HOST:PORT/v1#MODEL'; default: the embedded SmolLM2-135M "
        "with its function-calling adapter ('embedded-base': without it).",
    ),
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="llama.cpp threads (default: all cores).")]
LoraOpt = Annotated[
    Path | None,
    typer.Option(
        "--lora", help="LoRA adapter: a GGUF adapter (llama.cpp; `agentslm train export`) or a peft folder (transformers)."
    ),
]
AdapterOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--adapter",
        help="A GGUF LoRA adapter per role on the one loaded base, ROLE=PATH (repeatable; roles: planner, "
        "planner-after-results, caller, summarizer, * for the others; PATH 'base': no adapter). Replaces the default "
        "configuration's adapters.",
    ),
]


PlannerPolicyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--planner-policy",
        help="Override a planner policy field for this run, KEY=VALUE (repeatable), e.g. grounding_scope=any; "
        "the default is the model's calibrated policy (its profile's).",
    ),
]


def _policy_overrides(items: list[str] | None) -> dict[str, Any]:
    """``["grounding_scope=any", "probe_more=false"]`` -> ``{"grounding_scope": "any", "probe_more": False}``;
    ``@FILE`` reads a policy file (``agentslm bench gate --write-policy``); later items override earlier ones."""
    out: dict[str, Any] = {}
    for item in items or []:
        if item.startswith("@"):  # a policy file (agentslm bench gate --write-policy)
            from agentslm.roles.planner import read_policy_file

            out.update(read_policy_file(item[1:]))
            continue
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--planner-policy {item!r} is not KEY=VALUE.", hint="e.g. --planner-policy grounding_scope=any")
        value: Any = text.strip()
        if value.lower() in ("true", "false"):
            value = value.lower() == "true"
        else:
            for kind in (int, float):
                try:
                    value = kind(value)
                    break
                except ValueError:
                    continue
        out[key.strip()] = value
    return out


def _load(model: str | None, threads: int | None, lora: Path | None = None, adapters: list[str] | None = None) -> Any:
    from agentslm.models import load_model
    from agentslm.models.role_adapters import parse_adapter_option

    spec = model or "embedded"
    options: dict[str, Any] = {}
    transformers = spec.startswith("transformers:") or (Path(spec).is_dir() and ":" not in spec)
    if threads and not transformers:
        options["n_threads"] = threads
    if lora is not None:
        options["adapter" if transformers else "lora_path"] = lora
    if adapters:
        options["adapters"] = parse_adapter_option(adapters)
    return load_model(spec, **options)


def _load_fallback(spec: str, threads: int | None) -> Any:
    """The fallback model: an OpenAI-compatible server ('openai:URL#MODEL') or a local model spec."""
    if spec.startswith("openai:"):
        from agentslm.models import load_model

        return load_model(spec)
    return _load(spec, threads)


def _load_registry(spec: str) -> Any:
    """``module:attribute`` → a ToolRegistry (or a list of tools/functions)."""
    from agentslm.registry import as_registry

    module_name, sep, attr = spec.partition(":")
    if not sep or not attr:
        raise UserError(f"--tools {spec!r} is not 'module:attribute'.", hint="e.g. --tools myapp.tools:registry")
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UserError(
            f"Cannot import module {module_name!r}: {exc}.", hint="run from the folder that contains it, or install it."
        ) from exc
    if not hasattr(module, attr):
        raise UserError(f"Module {module_name!r} has no attribute {attr!r}.")
    value = getattr(module, attr)
    return as_registry(value() if callable(value) and not hasattr(value, "__agentslm_tool__") else value)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


def _machine_line() -> str:
    from agentslm.bench.bfcl_run import machine_description

    d = machine_description()
    return f"{d.get('cpu')}, {d.get('cpus')} CPUs, {d.get('memory_gib')} GiB"


mcp_app = typer.Typer(help="Model Context Protocol: inspect and use MCP servers' tools.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")


def _decision_line(machine: dict[str, Any]) -> str:
    d = machine["llama_extra_buffers"]
    return f"extra buffers {'on' if d['enabled'] else 'off'} ({d['source']}: {d['reason']})"
