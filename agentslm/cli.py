"""The ``agentslm`` command line (typer + rich)."""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentslm.errors import AgentslmError, UserError

__all__ = ["app", "main"]

app = typer.Typer(
    help="agentslm: reliable tool-using agents on small local models.", no_args_is_help=True, pretty_exceptions_enable=False
)
bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
console = Console()

ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model spec: a .gguf path, 'llamacpp:PATH', 'transformers:PATH'; default: the embedded SmolLM2-135M.",
    ),
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="llama.cpp threads (default: all cores).")]


def _load(model: str | None, threads: int | None) -> Any:
    from agentslm.models import load_model

    spec = model or "embedded"
    options: dict[str, Any] = {}
    if threads and not spec.startswith("transformers:"):
        options["n_threads"] = threads
    return load_model(spec, **options)


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


@app.command()
def demo(model: ModelOpt = None, threads: ThreadsOpt = None) -> None:
    """A short scripted session on the embedded model: each call, its verdict and its result."""
    from agentslm.agent import Agent
    from agentslm.demo import DEMO_REQUESTS, demo_registry

    t0 = time.perf_counter()
    agent = Agent(_load(model, threads), demo_registry())
    console.print(
        f"[bold]agentslm demo[/] on {agent.model.name} (loaded in {time.perf_counter() - t0:.1f}s); "
        f"tools: {', '.join(agent.registry.names)}"
    )
    refused = executed = 0
    for request in DEMO_REQUESTS:
        console.rule(f"[cyan]user[/]: {request}")
        result = agent.run(request)
        call = result.call
        console.print(
            f"[bold]call[/]    {call.name}({json.dumps(call.arguments)})  "
            f"[dim]{call.signals.completion_tokens} tokens, {call.signals.seconds:.2f}s, "
            f"name margin {call.signals.name_margin if call.signals.name_margin is None else round(call.signals.name_margin, 2)}[/]"
        )
        if result.verdict.approved:
            console.print("[bold]verdict[/] [green]approved[/] (" + ", ".join(c.stage for c in result.verdict.checks) + ")")
        else:
            console.print(f"[bold]verdict[/] [red]refused[/]: {'; '.join(result.verdict.reasons)}")
        if result.observation is not None:
            executed += 1
            style = "green" if result.observation.ok else "red"
            console.print(f"[bold]result[/]  [{style}]{result.observation.text}[/]")
        else:
            refused += 1
            console.print("[bold]result[/]  [yellow]not executed[/]")
    console.rule()
    console.print(f"{executed} calls executed, {refused} refused, in {time.perf_counter() - t0:.1f}s.")


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


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console)


@bench_app.command("schema-valid")
def bench_schema_valid(
    category: Annotated[str, typer.Option(help="BFCL category.")] = "simple_python",
    limit: Annotated[int | None, typer.Option(help="Only the first N cases.")] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    engine: Annotated[str | None, typer.Option(help="Constraint engine (llguidance or outlines).")] = None,
    out: Annotated[Path | None, typer.Option(help="Write per-case results (JSONL) and the summary (JSON) here.")] = None,
) -> None:
    """Schema-valid rate on BFCL cases: constrained vs unconstrained, same model and prompt."""
    from agentslm.bench.bfcl_data import load_bfcl
    from agentslm.bench.schema_valid import run_schema_valid, summarize

    cases = load_bfcl(category, limit=limit)
    m = _load(model, threads)
    with _progress() as progress:
        task = progress.add_task(f"{category} x 2 systems", total=2 * len(cases))

        def advance(_: object) -> None:
            progress.advance(task)

        results = run_schema_valid(m, cases, engine=engine, on_result=advance)
    summary = summarize(results)
    table = Table(title=f"BFCL {category}: schema-valid calls ({m.name}, {len(cases)} cases)")
    for col in ("system", "schema-valid", "rate", "p50 s", "p95 s", "mean tokens"):
        table.add_column(col)
    for system, s in summary.items():
        table.add_row(
            system,
            f"{s['valid']:.0f}/{s['cases']:.0f}",
            f"{100 * s['valid_rate']:.1f}%",
            f"{s['p50_s']:.2f}",
            f"{s['p95_s']:.2f}",
            f"{s['mean_completion_tokens']:.1f}",
        )
    console.print(table)
    for r in results:
        if r.system == "constrained" and not r.valid:
            console.print(f"[red]constrained invalid[/] {r.id}: {r.reason} :: {r.output[:160]!r}")
    if out:
        out.mkdir(parents=True, exist_ok=True)
        with (out / f"schema_valid_{category}.jsonl").open("w") as fh:
            for r in results:
                fh.write(json.dumps(r.__dict__, ensure_ascii=False) + "\n")
        meta = {
            "category": category,
            "model": m.name,
            "machine": platform.platform(),
            "python": platform.python_version(),
            "date": time.strftime("%Y-%m-%d"),
            "summary": summary,
        }
        (out / f"schema_valid_{category}.json").write_text(json.dumps(meta, indent=2))


@bench_app.command("overhead")
def bench_overhead(
    category: Annotated[str, typer.Option(help="BFCL category whose cases are decoded.")] = "simple_python",
    limit: Annotated[int, typer.Option(help="Number of cases.")] = 40,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    engine: Annotated[list[str] | None, typer.Option(help="Engines to measure (repeatable).")] = None,
    gbnf: Annotated[bool, typer.Option(help="Also measure llama.cpp's native GBNF grammar sampler.")] = True,
) -> None:
    """Per-token decode time with and without the constraint, same model and same tokens, as a ratio."""
    from agentslm.bench.bfcl_data import load_bfcl
    from agentslm.bench.overhead import measure_overhead, summarize_overhead

    cases = load_bfcl(category, limit=limit)
    m = _load(model, threads)
    table = Table(title=f"Constrained decoding overhead ({m.name}, {category}, {len(cases)} cases)")
    for col in (
        "engine",
        "tokens",
        "unconstrained ms/tok",
        "constrained ms/tok",
        "ratio",
        "mask ms/tok",
        "fast-forward ms/tok",
        "ff ratio",
        "compile ms (median)",
    ):
        table.add_column(col)
    for name in engine or ["llguidance", "outlines"]:
        eng = m.engine(name)
        compile_before = eng.compile_count
        rows = measure_overhead(m, cases, engine=name)
        s = summarize_overhead(rows)
        table.add_row(
            name,
            f"{s['tokens']:.0f}",
            f"{s['unconstrained_ms_per_token']:.2f}",
            f"{s['constrained_ms_per_token']:.2f}",
            f"{s['ratio']:.3f}",
            f"{s['constraint_ms_per_token']:.3f}",
            f"{s['fast_forward_ms_per_token']:.2f}",
            f"{s['fast_forward_ratio']:.3f}",
            f"{s['median_compile_ms']:.1f} ({eng.compile_count - compile_before} schemas)",
        )
    console.print(table)
    if gbnf:
        from agentslm.bench.overhead import measure_llamacpp_gbnf
        from agentslm.models.llamacpp import LlamaCppModel

        if not isinstance(m, LlamaCppModel):
            raise UserError("--gbnf measures llama.cpp's native grammar sampler; use a llama.cpp model.")
        grows, failed = measure_llamacpp_gbnf(m, cases)
        total = sum(r.tokens for r in grows)
        g = sum(r.grammar_ms_per_token * r.tokens for r in grows) / total
        f = sum(r.free_ms_per_token * r.tokens for r in grows) / total
        console.print(
            f"llama.cpp GBNF (native sampler): {len(grows)} cases, {total} tokens, {f:.2f} ms/tok without grammar, "
            f"{g:.2f} ms/tok with grammar, ratio {g / f:.3f}; schema-valid {sum(r.valid for r in grows)}/{len(grows)}; "
            f"converter rejected {len(failed)} schemas"
        )


def main() -> None:
    """Entry point: user errors print their message and hint, exit status 2."""
    try:
        app()
    except AgentslmError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
