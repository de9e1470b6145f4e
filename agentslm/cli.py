"""The ``agentslm`` command line (typer + rich)."""

from __future__ import annotations

import importlib
import json
import os
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
        help="Model spec: a .gguf path, 'llamacpp:PATH', 'transformers:PATH'; default: the embedded SmolLM2-135M with "
        "its function-calling adapter ('embedded-base': without it).",
    ),
]
ThreadsOpt = Annotated[int | None, typer.Option("--threads", help="llama.cpp threads (default: all cores).")]
LoraOpt = Annotated[
    Path | None,
    typer.Option(
        "--lora", help="LoRA adapter: a GGUF adapter (llama.cpp; `agentslm train export`) or a peft folder (transformers)."
    ),
]


def _load(model: str | None, threads: int | None, lora: Path | None = None) -> Any:
    from agentslm.models import load_model

    spec = model or "embedded"
    options: dict[str, Any] = {}
    transformers = spec.startswith("transformers:") or (Path(spec).is_dir() and ":" not in spec)
    if threads and not transformers:
        options["n_threads"] = threads
    if lora is not None:
        options["adapter" if transformers else "lora_path"] = lora
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


@app.command()
def demo(model: ModelOpt = None, threads: ThreadsOpt = None) -> None:
    """A short scripted session on the embedded model: each call, its verdict and its result."""
    from agentslm.agent import Agent
    from agentslm.demo import DEMO_REQUESTS, demo_registry, judge_demo_request
    from agentslm.events import ErrorEvent, ResultEvent, describe_event

    t0 = time.perf_counter()
    loaded = _load(model, threads)
    agent = Agent(loaded, demo_registry())
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


@app.command()
def doctor(
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    load: Annotated[bool, typer.Option(help="Load the model and decode a few tokens.")] = True,
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
    for name in ("llama-cpp-python", "llguidance"):
        try:
            rows.append((name, dist_version(name)))
        except Exception:
            rows.append((name, "not installed"))
    try:
        from agentslm.models import embedded_adapter_path, embedded_model_path

        rows.append(("embedded model", str(embedded_model_path())))
        rows.append(("embedded adapter", str(embedded_adapter_path())))
    except AgentslmError as exc:
        rows.append(("embedded model", f"missing: {exc}"))
    for key, value in rows:
        console.print(f"[bold]{key:>24}[/]  {value}", highlight=False)
    if load:
        t0 = time.perf_counter()
        loaded = _load(model, threads)
        load_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        gen = loaded.generate([{"role": "user", "content": "Say hello."}], max_tokens=8)
        console.print(
            f"[bold]{'model':>24}[/]  {loaded.name}: loaded in {load_s:.2f} s, decoded {len(gen.tokens)} tokens "
            f"in {time.perf_counter() - t1:.2f} s ({gen.text!r})",
            highlight=False,
        )


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


@bench_app.command("buffers")
def bench_buffers(
    model: ModelOpt = None,
    lora: LoraOpt = None,
    threads: ThreadsOpt = None,
    n_prompt: Annotated[int, typer.Option(help="Prompt tokens evaluated (prefill).")] = 256,
    n_decode: Annotated[int, typer.Option(help="Tokens decoded one at a time (greedy).")] = 64,
    repeats: Annotated[int, typer.Option(help="Repeats per setting (the median is reported).")] = 3,
    out: Annotated[Path | None, typer.Option(help="Write the rows and this machine's decision (JSON) here.")] = None,
) -> None:
    """llama.cpp prefill/decode speed with extra weight buffers on and off (each in a child process: a crash is a row)."""
    from agentslm.bench.bfcl_run import machine_description
    from agentslm.bench.buffers import measure_buffers
    from agentslm.models import embedded_adapter_path, embedded_model_path

    spec = model or "embedded"
    if spec in ("embedded", "embedded-base"):
        path, adapter = embedded_model_path(), lora or (embedded_adapter_path() if spec == "embedded" else None)
    else:
        path, adapter = Path(spec.removeprefix("llamacpp:")).expanduser(), lora
    if not path.is_file():
        raise UserError(f"No GGUF file at {path}.", hint="bench buffers measures llama.cpp: pass a .gguf model.")
    rows = measure_buffers(path, lora=adapter, n_prompt=n_prompt, n_decode=n_decode, repeats=repeats, threads=threads)
    machine = machine_description()
    table = Table(title=f"llama.cpp extra buffers on {path.name}{' + ' + Path(adapter).name if adapter else ''}")
    for col in ("extra buffers", "prefill tok/s", "decode tok/s", "outcome"):
        table.add_column(col)
    for row in rows:
        outcome = f"crashed ({row['crashed']})" if "crashed" in row else f"ok: {row['output'][:40]!r}"
        table.add_row(row["extra_buffers"], str(row.get("prefill_tok_s", "-")), str(row.get("decode_tok_s", "-")), outcome)
    console.print(table)
    console.print(f"{machine['cpu']}; decision here: {_decision_line(machine)}", highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "command": "agentslm " + " ".join(sys.argv[1:]),
            "model": str(path),
            "adapter": str(adapter) if adapter else None,
            "machine": machine,
            "rows": rows,
        }
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"written: {out}")


@bench_app.command("latency")
def bench_latency(
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    repeats: Annotated[int, typer.Option(help="Requests per scenario (p50/p95 over them).")] = 5,
    scenario: Annotated[
        list[str] | None, typer.Option("--scenario", "-s", help="Only these scenarios (repeatable); default: all.")
    ] = None,
    prefix_cache_mb: Annotated[float, typer.Option(help="Memory for saved prompt prefixes (0: off).")] = 48,
    stop_when_covered: Annotated[
        bool, typer.Option(help="The planner stops without a round after results when the request is covered.")
    ] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full result as JSON instead of a table.")] = False,
    out: Annotated[Path | None, typer.Option(help="Also write the full result (JSON) here.")] = None,
) -> None:
    """Agent wall time per request and per model step vs raw llama.cpp for the same tokens (demo tools)."""
    from agentslm.bench.bfcl_run import machine_description
    from agentslm.bench.latency import SCENARIOS, measure_latency

    chosen = [s for s in SCENARIOS if not scenario or s.name in scenario]
    unknown = set(scenario or ()) - {s.name for s in SCENARIOS}
    if unknown:
        raise UserError(f"Unknown scenario(s) {sorted(unknown)}.", hint=f"use {[s.name for s in SCENARIOS]}.")
    from agentslm.models import load_model

    spec = model or "embedded"
    t0 = time.perf_counter()
    loaded = load_model(spec, prefix_cache_mb=prefix_cache_mb, **({"n_threads": threads} if threads else {}))
    load_seconds = time.perf_counter() - t0
    say = (lambda _: None) if as_json else (lambda line: console.print(line, highlight=False))
    result = measure_latency(loaded, scenarios=chosen, repeats=repeats, stop_when_covered=stop_when_covered, progress=say)
    result = {"command": "agentslm " + " ".join(sys.argv[1:]), "load_seconds": round(load_seconds, 2), **result}
    result["machine"] = machine_description()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(result, indent=2, default=str))
        return
    table = Table(title=f"Latency on {result['model']} (load {result['load_seconds']} s)")
    for col in ("scenario", "n", "p50 s", "p95 s", "raw p50 s", "agent/raw", "steps", "prompt tok", "evaluated", "status"):
        table.add_column(col)
    for row in result["rows"]:
        table.add_row(
            row["scenario"],
            str(row["repeats"]),
            f"{row['p50_s']:.2f}",
            f"{row['p95_s']:.2f}",
            f"{row['raw_p50_s']:.2f}",
            f"{row['ratio_p50']:.2f}" if row["ratio_p50"] is not None else "-",
            str(row["steps_p50"]),
            str(row["prompt_tokens_p50"]),
            str(row["evaluated_tokens_p50"]),
            ",".join(row["statuses"]),
        )
    console.print(table)
    mem = result["memory"]
    console.print(
        f"memory: RSS {mem['rss_after_load_mb']} MB after load, {mem['rss_after_runs_mb']} MB after the runs, peak "
        f"{mem['peak_rss_mb']} MB; prefix cache {mem['prefix_cache_mb']} MB in {mem['prefix_cache_entries']} states "
        f"(bound {mem['prefix_cache_bound_mb']} MB)",
        highlight=False,
    )
    if out is not None:
        console.print(f"written: {out}")


def _decision_line(machine: dict[str, Any]) -> str:
    d = machine["llama_extra_buffers"]
    return f"extra buffers {'on' if d['enabled'] else 'off'} ({d['source']}: {d['reason']})"


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


CategoryOpt = Annotated[
    list[str] | None,
    typer.Option("--category", "-c", help="BFCL category (repeatable); default: the five core categories."),
]
SystemsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--system",
        "-s",
        help="System (repeatable): agentslm, unconstrained, llamacpp-chatml-fc (default: these three), agent (the full "
        "planner), or with --fallback: llm (the fallback model alone) and agentslm+fallback (SLM first, routed).",
    ),
]
FallbackOpt = Annotated[
    str | None,
    typer.Option("--fallback", help="Fallback model for llm / agentslm+fallback: 'openai:URL#MODEL' or a GGUF path."),
]
RoutingOpt = Annotated[
    Path | None, typer.Option("--routing", help="Routing policy JSON (`agentslm calibrate` writes one); default threshold 0.5.")
]
CORE_CATEGORIES = ["simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance"]


def _run_suite_cli(
    categories: dict[str, Any],
    systems: list[str] | None,
    model: str | None,
    threads: int | None,
    max_tokens: int,
    gate_first: float | None,
    gate_more: float | None,
    grounding: bool | None,
    out: Path,
    overhead: int,
    report: bool,
    lora: Path | None = None,
    fallback: str | None = None,
    routing: Path | None = None,
) -> None:
    from agentslm.bench.bfcl_run import Suite, read_records, run_suite
    from agentslm.bench.report import write_report
    from agentslm.bench.systems import DEFAULT_GATE, SYSTEMS, Gate, make_system

    names = systems or list(SYSTEMS)
    gate = Gate(
        min_first=DEFAULT_GATE.min_first if gate_first is None else gate_first,
        min_more=DEFAULT_GATE.min_more if gate_more is None else gate_more,
        grounding=DEFAULT_GATE.grounding if grounding is None else grounding,
    )
    t0 = time.perf_counter()
    m = _load(model, threads, lora)
    load_seconds = time.perf_counter() - t0
    from agentslm.router import RoutingPolicy

    large = _load_fallback(fallback, threads) if fallback else None
    policy = RoutingPolicy.from_file(routing) if routing else RoutingPolicy()
    chosen = [make_system(n, m, max_tokens=max_tokens, gate=gate, fallback=large, routing=policy) for n in names]
    command = "agentslm " + " ".join(sys.argv[1:])
    notes: dict[str, Any] = {
        "gate": {"min_first": gate.min_first, "min_more": gate.min_more, "grounding": gate.grounding},
        "max_tokens": max_tokens,
        **({"fallback": large.name, "routing": policy.model_dump()} if large is not None else {}),
    }
    done = {(r["category"], r["id"], r["system"]) for r in read_records(out)}
    total = sum(1 for c, cases in categories.items() for case in cases for n in names if (c, case.id, n) not in done)
    with _progress() as progress:
        task = progress.add_task(f"{len(categories)} categories x {len(names)} systems", total=total)
        run_suite(
            Suite(categories=categories, out_dir=out, command=command, notes=notes),
            chosen,
            model_name=m.name,
            load_seconds=load_seconds,
            on_record=lambda _: progress.advance(task),
        )
    meta_path = out / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if "agentslm" in names:  # the same decodes without the decision policy, for comparison
        from agentslm.bench.gate import regate

        records = read_records(out)
        cases = {(c, case.id): case for c, cs in categories.items() for case in cs}
        plain: dict[str, float] = {}
        for c in categories:
            rs = [r for r in records if r["category"] == c and (c, r["id"]) in cases]
            verdicts = regate(rs, cases, Gate())
            if verdicts:
                plain[c] = sum(verdicts) / len(verdicts)
        meta["agentslm_policy_off"] = {**meta.get("agentslm_policy_off", {}), **plain}  # a resumed run adds categories
        meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if overhead > 0:
        from agentslm.bench.bfcl_data import load_bfcl
        from agentslm.bench.overhead import measure_overhead, summarize_overhead

        s = summarize_overhead(measure_overhead(m, load_bfcl("simple_python", limit=overhead)))
        meta["overhead"] = s
        meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    if report:
        path = write_report(out)
        console.print(f"report: {path}")
        from agentslm.bench.report import summarize_records

        _print_summary(summarize_records(read_records(out)))


def _print_summary(rows: list[dict[str, Any]]) -> None:
    table = Table(title="BFCL (official checker)")
    for col in ("category", "system", "cases", "accuracy", "schema-valid", "executable", "p50 s", "p95 s", "tok/s"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["category"],
            r["system"],
            str(r["cases"]),
            f"{100 * r['accuracy']:.1f}%",
            f"{100 * r['schema_valid']:.1f}%",
            f"{100 * r['executable']:.1f}%",
            f"{r['p50_s']:.2f}",
            f"{r['p95_s']:.2f}",
            f"{r['tokens_per_s']:.1f}",
        )
    console.print(table)


@bench_app.command("bfcl")
def bench_bfcl(
    category: CategoryOpt = None,
    questions: Annotated[Path | None, typer.Option(help="Your own BFCL-format questions file (JSONL).")] = None,
    answers: Annotated[Path | None, typer.Option(help="Possible answers for --questions (JSONL).")] = None,
    kind: Annotated[
        str, typer.Option(help="How --questions is scored: simple, multiple, parallel, parallel_multiple or irrelevance.")
    ] = "simple",
    system: SystemsOpt = None,
    limit: Annotated[int | None, typer.Option(help="Cases per category (a seeded sample).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --limit sample.")] = 0,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    lora: LoraOpt = None,
    fallback: FallbackOpt = None,
    routing: RoutingOpt = None,
    max_tokens: Annotated[int, typer.Option(help="Token budget per case.")] = 384,
    gate_first: Annotated[float | None, typer.Option(help="agentslm gate: min probability to start the first call.")] = None,
    gate_more: Annotated[float | None, typer.Option(help="agentslm gate: min probability to start each further call.")] = None,
    grounding: Annotated[
        bool | None, typer.Option("--grounding/--no-grounding", help="agentslm: make no call when values are not grounded.")
    ] = None,
    out: Annotated[Path, typer.Option(help="Results folder (resumable: existing records are kept).")] = Path("bench-out/bfcl"),
    overhead: Annotated[int, typer.Option(help="Cases for the per-token overhead figure (0: skip).")] = 20,
    report: Annotated[bool, typer.Option(help="Write report.md and plots into --out when done.")] = True,
) -> None:
    """BFCL accuracy (official AST checker), validity, latency, tokens and memory per system and category."""
    from agentslm.bench.bfcl_data import load_bfcl, load_bfcl_files, select_cases

    kinds = ("simple", "multiple", "parallel", "parallel_multiple", "irrelevance")
    categories: dict[str, Any] = {}
    if questions is not None:
        if kind not in kinds:
            raise UserError(f"--kind {kind!r} is not one of {', '.join(kinds)}.")
        if answers is None and kind != "irrelevance":
            raise UserError("--questions needs --answers (possible answers) unless --kind irrelevance.")
        cases = load_bfcl_files(questions, answers)
        categories[f"{kind}:{questions.stem}"] = select_cases(cases, limit=limit, seed=seed)
    for name in category or ([] if questions is not None else CORE_CATEGORIES):
        categories[name] = load_bfcl(name, limit=limit, seed=seed)
    _run_suite_cli(
        categories,
        system,
        model,
        threads,
        max_tokens,
        gate_first,
        gate_more,
        grounding,
        out,
        overhead,
        report,
        lora,
        fallback,
        routing,
    )


@app.command()
def calibrate(
    category: Annotated[
        list[str] | None,
        typer.Option(
            "--category", "-c", help="Labelled BFCL categories (default: live_simple, live_multiple: not scored in the report)."
        ),
    ] = None,
    tools: Annotated[str | None, typer.Option(help="Your tools ('module:attribute'), with --cases.")] = None,
    cases: Annotated[Path | None, typer.Option(help="Your labelled requests (the `agentslm eval` format).")] = None,
    limit: Annotated[int | None, typer.Option(help="Cases per category (a seeded sample).")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of the --limit sample.")] = 0,
    holdout: Annotated[
        int | None,
        typer.Option(
            help="Leave out the N cases per category that `agentslm bench bfcl --limit N --seed SEED` scores, and "
            "calibrate on a sample of the rest (calibrate on the benchmark's own categories without touching its cases)."
        ),
    ] = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    lora: LoraOpt = None,
    fallback: FallbackOpt = None,
    max_escalation: Annotated[float, typer.Option(help="Largest share of steps that may go to the fallback.")] = 0.3,
    out: Annotated[Path, typer.Option(help="Results folder of the calibration runs (resumable).")] = Path("bench-out/calibrate"),
    policy: Annotated[Path, typer.Option(help="Where to write the routing policy (JSON).")] = Path("routing.json"),
    top: Annotated[int, typer.Option(help="Curve rows to print.")] = 12,
) -> None:
    """Choose the escalation threshold: run the small model (and the fallback, if given) on labelled cases, print the
    accuracy / escalation-rate curve per confidence signal, and write the chosen routing policy."""
    from agentslm.bench.bfcl_data import heldout_cases, load_bfcl
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.calibrate import calibrate_records
    from agentslm.router import RoutingPolicy

    categories: dict[str, Any] = {}
    if cases is not None:
        if tools is None:
            raise UserError("--cases needs --tools.")
        from agentslm.bench.user_eval import load_user_cases

        categories.update(load_user_cases(cases, _load_registry(tools)))
    for name in category or ([] if cases is not None else ["live_simple", "live_multiple"]):
        if holdout is None:
            categories[name] = load_bfcl(name, limit=limit, seed=seed)
        else:
            categories[name] = heldout_cases(name, holdout=holdout, limit=limit, seed=seed)
    systems = ["agentslm", *(["llm"] if fallback else [])]
    _run_suite_cli(categories, systems, model, threads, 384, None, None, None, out, 0, False, lora, fallback, None)
    wanted = {(c, case.id) for c, cs in categories.items() for case in cs}
    records = [r for r in read_records(out) if (r["category"], r["id"]) in wanted]
    best, curves, aucs = calibrate_records(records, max_escalation=max_escalation)
    table = Table(title=f"confidence signals on {best.cases} labelled cases (AUC: how well a signal ranks right above wrong)")
    for col in ("signal", "AUC", "best threshold", "escalation", "combined accuracy"):
        table.add_column(col)
    for signal, curve in curves.items():
        inside = [p for p in curve if p.escalation_rate <= max_escalation]
        b = max(inside, key=lambda p: (p.combined_accuracy, -p.escalation_rate)) if inside else None
        a = aucs[signal]
        table.add_row(
            signal,
            "-" if a is None else f"{a:.3f}",
            f"{b.threshold:.3f}" if b else "-",
            f"{100 * b.escalation_rate:.1f}%" if b else "-",
            f"{100 * b.combined_accuracy:.1f}%" if b else "-",
        )
    console.print(table)
    curve_table = Table(title=f"{best.signal}: accuracy vs escalation rate")
    for col in ("threshold", "escalation", "SLM accuracy on kept steps", "combined accuracy"):
        curve_table.add_column(col)
    points = curves[best.signal]
    step = max(1, len(points) // top)
    for p in [*points[::step], best]:
        curve_table.add_row(
            f"{p.threshold:.3f}",
            f"{100 * p.escalation_rate:.1f}%",
            "-" if p.kept_accuracy is None else f"{100 * p.kept_accuracy:.1f}%",
            f"{100 * p.combined_accuracy:.1f}%",
            style="bold" if p is best else None,
        )
    console.print(curve_table)
    llm = "measured" if best.llm_accuracy is not None else "assumed always right (no --fallback)"
    chosen = RoutingPolicy.model_validate({"signal": best.signal}).model_copy(
        update={
            "threshold": round(best.threshold, 6),
            "calibration": {
                "command": "agentslm " + " ".join(sys.argv[1:]),
                "date": time.strftime("%Y-%m-%d"),
                "cases": best.cases,
                "categories": sorted(categories),
                "escalation_rate": round(best.escalation_rate, 4),
                "combined_accuracy": round(best.combined_accuracy, 4),
                "slm_accuracy": round(best.slm_accuracy, 4),
                "llm_accuracy": None if best.llm_accuracy is None else round(best.llm_accuracy, 4),
                "llm": llm,
                "auc": {k: None if v is None else round(v, 4) for k, v in aucs.items()},
                "max_escalation": max_escalation,
            },
        },
    )
    chosen.to_file(policy)
    console.print(
        f"chosen: {best.signal} < {best.threshold:.3f} escalates {100 * best.escalation_rate:.1f}% of steps; combined accuracy "
        f"{100 * best.combined_accuracy:.1f}% (SLM alone {100 * best.slm_accuracy:.1f}%"
        + (f", fallback alone {100 * best.llm_accuracy:.1f}%" if best.llm_accuracy is not None else "; fallback " + llm)
        + f"); policy: {policy}"
    )


@bench_app.command("report")
def bench_report(
    results: Annotated[Path, typer.Argument(help="A results folder of `agentslm bench bfcl` or `agentslm eval`.")],
    out: Annotated[
        Path | None, typer.Option(help="Where to write report.md and the plots (default: the results folder).")
    ] = None,
) -> None:
    """Write the markdown report and PNG plots of a results folder."""
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.report import summarize_records, write_report

    console.print(f"report: {write_report(results, out)}")
    _print_summary(summarize_records(read_records(results)))


@bench_app.command("compare")
def bench_compare(
    before: Annotated[Path, typer.Argument(help="A results folder (e.g. the base model).")],
    after: Annotated[Path, typer.Argument(help="Another results folder (e.g. with --lora).")],
    system: Annotated[str, typer.Option(help="System to compare.")] = "agentslm",
) -> None:
    """Per-category accuracy and latency of two results folders side by side (cases both ran)."""
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.report import summarize_records

    runs = [[r for r in read_records(folder) if r["system"] == system] for folder in (before, after)]
    if not all(runs):
        raise UserError(f"Both folders need {system} records.", hint="run `agentslm bench bfcl` into each first.")
    shared = {(r["category"], r["id"]) for r in runs[0]} & {(r["category"], r["id"]) for r in runs[1]}
    rows = [{r["category"]: r for r in summarize_records([x for x in run if (x["category"], x["id"]) in shared])} for run in runs]
    table = Table(title=f"{system}: {before} -> {after}")
    for col in ("category", "cases", "accuracy before", "accuracy after", "change", "p50 s before/after", "p95 s before/after"):
        table.add_column(col)
    for category in sorted(rows[0]):
        a, b = rows[0][category], rows[1][category]
        table.add_row(
            category,
            str(a["cases"]),
            f"{100 * a['accuracy']:.1f}%",
            f"{100 * b['accuracy']:.1f}%",
            f"{100 * (b['accuracy'] - a['accuracy']):+.1f}",
            f"{a['p50_s']:.2f} / {b['p50_s']:.2f}",
            f"{a['p95_s']:.2f} / {b['p95_s']:.2f}",
        )
    console.print(table)


@bench_app.command("fallback")
def bench_fallback(
    results: Annotated[Path, typer.Argument(help="A results folder with agentslm, llm and agentslm+fallback records.")],
) -> None:
    """SLM alone, LLM alone and SLM+fallback side by side: accuracy, escalation rate, latency, LLM tokens."""
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.calibrate import fallback_summary

    rows = fallback_summary(read_records(results))
    if not rows:
        raise UserError(f"No case in {results} ran all of agentslm, llm and agentslm+fallback.")
    table = Table(title=f"SLM-first routing ({results})")
    for col in ("category", "system", "cases", "accuracy", "LLM share", "p50 s", "p95 s", "LLM tokens"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["category"],
            r["system"],
            str(r["cases"]),
            f"{100 * r['accuracy']:.1f}%",
            f"{100 * r['escalation_rate']:.0f}%",
            f"{r['p50_s']:.2f}",
            f"{r['p95_s']:.2f}",
            str(r["llm_tokens"]),
        )
    console.print(table)
    (Path(results) / "fallback_summary.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    from agentslm.bench.calibrate import calibrate_records, perfect_router_accuracy

    pair = [r for r in read_records(results) if r["system"] in ("agentslm", "llm")]
    _, curves, aucs = calibrate_records(pair, max_escalation=1.0)
    console.print(
        "In hindsight, on these cases (not for choosing a threshold): AUC "
        + ", ".join(f"{k} {v:.3f}" for k, v in aucs.items() if v is not None)
    )
    for signal, curve in curves.items():
        llm_accuracy = curve[0].llm_accuracy or 0.0
        enough = next((p for p in curve if p.combined_accuracy >= llm_accuracy), None)
        if enough is not None:
            console.print(
                f"  {signal}: matching the fallback alone ({100 * llm_accuracy:.1f}%) needs "
                f"{100 * enough.escalation_rate:.1f}% escalation"
            )
    for category in sorted({r["category"] for r in pair}):
        records = [r for r in pair if r["category"] == category]
        _, curves, _ = calibrate_records(records, max_escalation=1.0)
        best = {
            signal: max((p for p in curve if p.escalation_rate <= 0.3), key=lambda p: p.combined_accuracy, default=None)
            for signal, curve in curves.items()
        }
        perfect = perfect_router_accuracy(records, max_escalation=0.3)
        console.print(
            f"  {category}, best within 30% escalation in hindsight: "
            + ", ".join(
                f"{signal} {100 * p.combined_accuracy:.1f}% ({100 * p.escalation_rate:.0f}%)"
                for signal, p in best.items()
                if p is not None
            )
            + ("" if perfect is None else f"; a router that knew the answers: {100 * perfect:.1f}%")
        )


@bench_app.command("gate")
def bench_gate(
    results: Annotated[Path, typer.Argument(help="A results folder with agentslm records (gate 0/0).")],
    top: Annotated[int, typer.Option(help="Rows to print.")] = 10,
) -> None:
    """Accuracy of the agentslm caller under a grid of confidence gates, from recorded results (no decoding)."""
    from agentslm.bench.bfcl_data import load_bfcl
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.gate import sweep

    records = [r for r in read_records(results) if r["system"] == "agentslm"]
    if not records:
        raise UserError(f"No agentslm records in {results}.")
    categories = sorted({r["category"] for r in records})
    cases = {(c, case.id): case for c in categories for case in load_bfcl(c)}
    rows = sweep(records, cases)
    table = Table(title=f"agentslm gate sweep ({len(records)} records)")
    for col in ("min_first", "min_more", "grounding", "mean", *categories):
        table.add_column(col)
    base = next(r for r in rows if r["min_first"] == 0.0 and r["min_more"] == 0.0 and not r["grounding"])
    for row in [*rows[:top], base]:
        table.add_row(
            f"{row['min_first']:.2f}",
            f"{row['min_more']:.2f}",
            "on" if row["grounding"] else "off",
            f"{100 * row['mean']:.1f}",
            *(f"{100 * row[c]:.1f}" for c in categories),
            style="dim" if row is base else None,
        )
    console.print(table)


@bench_app.command("retrieval")
def bench_retrieval(  # noqa: C901 - complexity exception, issue 22
    category: Annotated[
        list[str] | None,
        typer.Option("--category", "-c", help="Recall categories (default: multiple, live_multiple, simple_python)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Recall cases per category (seeded sample; 0: every case).")] = 100,
    seed: Annotated[int, typer.Option(help="Sample seed.")] = 0,
    k: Annotated[list[int] | None, typer.Option("--k", help="k values (default: 1 3 5 10).")] = None,
    retriever: Annotated[
        list[str] | None,
        typer.Option(
            "--retriever",
            "-r",
            help="lexical, embedding, hybrid, embedding-tuned, hybrid-tuned (default: all available; -tuned with --adapter).",
        ),
    ] = None,
    adapter: Annotated[
        Path | None, typer.Option(help="Query adapter for the -tuned retrievers (agentslm train retriever --bfcl-holdout).")
    ] = None,
    cv_folds: Annotated[
        int,
        typer.Option(
            help="Score the -tuned retrievers by K-fold cross-validation over every labelled BFCL request instead of "
            "with --adapter (an adapter per fold, trained here; recall only)."
        ),
    ] = 0,
    cv_grouped: Annotated[
        bool,
        typer.Option(
            help="With --cv-folds: keep the cases that offer the same functions in one fold (their requests are often "
            "near-duplicates), the stricter estimate."
        ),
    ] = False,
    agreed_k: Annotated[
        str | None,
        typer.Option(
            help="Also run hybrid retrievers with 'A/B': A tools when lexical and embedding agree on the first, else B "
            "(RetrievalPolicy k_agreed), e.g. 1/5."
        ),
    ] = None,
    accuracy_retriever: Annotated[
        list[str] | None, typer.Option(help="Retrievers for the accuracy runs (default: every --retriever).")
    ] = None,
    accuracy_category: Annotated[str, typer.Option(help="Category for the end-to-end accuracy runs.")] = "multiple",
    accuracy_cases: Annotated[int, typer.Option(help="Cases for the end-to-end accuracy runs (0: recall only).")] = 50,
    out: Annotated[Path, typer.Option(help="Results folder (accuracy runs are resumable).")] = Path("bench-out/retrieval"),
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Tool retrieval over every distinct BFCL function pooled: recall@k, and accuracy vs prompt tokens per k."""
    from agentslm.bench.retrieval import (
        POOL_CATEGORIES,
        RECALL_CATEGORIES,
        bfcl_function_sets,
        bfcl_labelled_requests,
        bfcl_tool_pool,
        check_adapter_disjoint,
        cross_validated_recall,
        load_retrieval_cases,
        measure_accuracy,
        measure_recall,
        pool_prompt_tokens,
        retrieval_report,
    )
    from agentslm.retrieval import EmbeddingRetriever, HybridRetriever, LexicalRetriever, QueryAdapter, embedding_available

    ks = sorted(set(k or [1, 3, 5, 10]))
    if limit < 0 or cv_folds < 0 or cv_folds == 1:
        raise UserError("--limit must be >= 0 (0: every case) and --cv-folds 0 (off) or >= 2.")
    if cv_grouped and not cv_folds:
        raise UserError("--cv-grouped needs --cv-folds.", hint="e.g. --cv-folds 5 --cv-grouped")
    if cv_folds and adapter is not None:
        raise UserError(
            "--cv-folds trains its own adapters; --adapter scores one trained elsewhere.",
            hint="give one of them (run the command twice, with different --out, for both).",
        )
    tuned_names = ["embedding-tuned", "hybrid-tuned"] if adapter is not None or cv_folds else []
    names = retriever or (["lexical", "embedding", "hybrid", *tuned_names] if embedding_available() else ["lexical"])
    known = {"lexical", "embedding", "hybrid", "embedding-tuned", "hybrid-tuned"}
    for n in [*names, *(accuracy_retriever or [])]:
        if n not in known:
            raise UserError(f"Unknown retriever {n!r}.", hint=f"use {', '.join(sorted(known))}.")
        if n.endswith("-tuned") and adapter is None and not cv_folds:
            raise UserError(
                f"Retriever {n!r} needs --adapter or --cv-folds.",
                hint="train one with `agentslm train retriever --bfcl-holdout N`, or cross-validate with --cv-folds 5.",
            )
    if accuracy_retriever and not set(accuracy_retriever) <= set(names):
        raise UserError("--accuracy-retriever must name retrievers given with --retriever.")
    if cv_folds and any(n.endswith("-tuned") for n in accuracy_retriever or []):
        raise UserError(
            "--cv-folds measures recall only; accuracy runs of a -tuned retriever need one --adapter.",
            hint="drop the -tuned --accuracy-retriever, or use --adapter instead of --cv-folds.",
        )
    agreed_ks: tuple[int, int] | None = None
    if agreed_k is not None:
        first, _, rest = agreed_k.partition("/")
        if not (first.isdigit() and rest.isdigit() and 1 <= int(first) <= int(rest)):
            raise UserError(f"--agreed-k {agreed_k!r} is not 'A/B' with 1 <= A <= B.", hint="e.g. --agreed-k 1/5")
        agreed_ks = (int(first), int(rest))
    query_adapter = QueryAdapter.load(adapter) if adapter is not None else None
    lexical = LexicalRetriever()  # one index per kind, shared by the fused retrievers
    embedding = EmbeddingRetriever() if any(n != "lexical" for n in names) else None  # one MiniLM, one tool index
    embedding_tuned = embedding.with_adapter(query_adapter) if embedding and query_adapter is not None else None
    built: dict[str, Any] = {
        "lexical": lexical,
        "embedding": embedding,
        "hybrid": HybridRetriever(lexical, embedding) if embedding else None,
        "embedding-tuned": embedding_tuned,
        "hybrid-tuned": HybridRetriever(lexical, embedding_tuned) if embedding_tuned else None,
    }
    cv_names = [n for n in names if n.endswith("-tuned")] if cv_folds else []
    retrievers = [built[n] for n in names if n not in cv_names]
    pool = bfcl_tool_pool()
    cases = load_retrieval_cases(category or list(RECALL_CATEGORIES), limit=limit or None, seed=seed)
    if query_adapter is not None:
        check_adapter_disjoint(query_adapter, cases)
    console.print(f"pool: {len(pool)} distinct BFCL functions; recall over {len(cases)} cases; retrievers: {', '.join(names)}")
    t0 = time.perf_counter()
    recall = measure_recall(retrievers, pool, cases, ks)
    cv_meta = ""
    if cv_names and embedding is not None:
        requests, ids = bfcl_labelled_requests(exclude=())
        fold_seconds: list[float] = []

        def on_fold(fold: int, fold_adapter: QueryAdapter, seconds: float) -> None:
            fold_seconds.append(seconds)
            console.print(
                f"fold {fold + 1}/{cv_folds}: adapter trained on {fold_adapter.meta['requests']} requests in {seconds:.0f}s"
            )

        recall += cross_validated_recall(
            cv_names,
            pool,
            cases,
            list(zip(ids, requests, strict=True)),
            ks,
            folds=cv_folds,
            seed=seed,
            embedding=embedding,
            lexical=lexical,
            groups=bfcl_function_sets() if cv_grouped else None,
            on_fold=on_fold,
        )
        cv_meta = (
            f"{cv_folds} folds over the {len(requests)} BFCL cases with an answer (every pool category; fold seed {seed}"
            + ("; the cases offering the same functions kept in one fold" if cv_grouped else "")
            + "); "
            f"each scored case ranked by the adapter trained without its fold (defaults of `agentslm train retriever`; "
            f"{sum(fold_seconds) / max(1, len(fold_seconds)):.0f} s per adapter)"
        )
    console.print(f"recall measured in {time.perf_counter() - t0:.1f}s (first use builds each index)")
    m = _load(model, threads)
    accuracy: list[dict[str, Any]] = []
    ran: list[int] = []  # accuracy records this command produced (the rest are reused from the folder)
    if accuracy_cases > 0:
        acc_cases = load_retrieval_cases([accuracy_category], limit=accuracy_cases, seed=seed)
        if query_adapter is not None:
            check_adapter_disjoint(query_adapter, acc_cases)
        acc_retrievers = [built[n] for n in accuracy_retriever] if accuracy_retriever else retrievers  # not CV ones
        with _progress() as progress:
            per_case = 1 + len(acc_retrievers) * len(ks)
            if agreed_ks:
                per_case += sum(isinstance(r, HybridRetriever) for r in acc_retrievers)
            task = progress.add_task("accuracy", total=len(acc_cases) * per_case)

            def on_record(_: dict[str, Any]) -> None:
                ran.append(1)
                progress.advance(task)

            accuracy = measure_accuracy(
                m,
                acc_retrievers,
                pool,
                acc_cases,
                ks,
                out=out,
                on_record=on_record,
                agreed_ks=agreed_ks,
            )
    meta = {
        "model": m.name,
        "machine": _machine_line(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "agentslm " + " ".join(sys.argv[1:]),
        "pool_tools": len(pool),
        "pool_categories": ", ".join(POOL_CATEGORIES),
        "prompt tokens to offer the whole pool": f"{pool_prompt_tokens(m, pool)} (model context: {m.context_length})",
        "accuracy": f"{accuracy_category}, {accuracy_cases} seeded cases, agentslm system (as in bench bfcl)",
    }
    if accuracy:
        meta["accuracy records"] = (
            f"{len(ran)} run by this command, {len(accuracy) - len(ran)} reused from earlier runs in this folder "
            "(resumable; same cases, model and code path)"
        )
    if agreed_ks is not None:
        meta["k a/b"] = (
            f"the top {agreed_ks[0]} when the lexical and embedding rankings agree on the first tool, else the top "
            f"{agreed_ks[1]} (p50 s/case of these rows is low: the preceding setting often evaluated the same prompt, "
            "which llama.cpp's prompt cache reuses)"
        )
    if cv_meta:
        meta["cross-validation"] = cv_meta
    if query_adapter is not None:
        meta["query adapter"] = ", ".join(
            f"{key} {value}" for key, value in query_adapter.meta.items() if key != "bfcl_training_cases"
        )
    path = retrieval_report(out, recall, accuracy, meta)
    console.print(f"report: {path}")


def _machine_line() -> str:
    from agentslm.bench.bfcl_run import machine_description

    d = machine_description()
    return f"{d.get('cpu')}, {d.get('cpus')} CPUs, {d.get('memory_gib')} GiB"


@app.command("eval")
def eval_cmd(
    tools: Annotated[str, typer.Option(help="Your tools: 'module:attribute' (a ToolRegistry, list of tools, or a factory).")],
    cases: Annotated[Path, typer.Option(help="Labelled requests, JSON Lines (see below).")],
    system: SystemsOpt = None,
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
    lora: LoraOpt = None,
    fallback: FallbackOpt = None,
    routing: RoutingOpt = None,
    max_tokens: Annotated[int, typer.Option(help="Token budget per case.")] = 384,
    out: Annotated[Path, typer.Option(help="Results folder (resumable).")] = Path("bench-out/eval"),
    report: Annotated[bool, typer.Option(help="Write report.md and plots into --out when done.")] = True,
) -> None:
    """Measure your own tools on your own labelled requests, with the BFCL checker and the benchmark's figures.

    Each line of --cases: {"id": "...", "request": "...", "expected": [{"name": "tool", "arguments": {...}}]}
    ("expected": [] when no tool fits; an argument may list acceptable values; optional "tools": names offered).
    """
    from agentslm.bench.user_eval import load_user_cases

    registry = _load_registry(tools)
    _run_suite_cli(
        load_user_cases(cases, registry),
        system,
        model,
        threads,
        max_tokens,
        None,
        None,
        None,
        out,
        0,
        report,
        lora,
        fallback,
        routing,
    )


mcp_app = typer.Typer(help="Model Context Protocol: inspect and use MCP servers' tools.", no_args_is_help=True)
app.add_typer(mcp_app, name="mcp")

from agentslm.cli_train import train_app  # noqa: E402 - the train commands live in their own module

app.add_typer(train_app, name="train")

from agentslm.cli_assistant import assistant as _assistant_cmd  # noqa: E402 - the assistant's commands
from agentslm.cli_assistant import chat as _chat_cmd  # noqa: E402

app.command("assistant")(_assistant_cmd)
app.command("chat")(_chat_cmd)
from agentslm.cli_assistant import bench_assistant as _bench_assistant_cmd  # noqa: E402

bench_app.command("assistant")(_bench_assistant_cmd)
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
) -> None:
    """List an MCP server's tools: effects, whether calls need approval, and whether each grammar compiles."""
    from agentslm.mcp import connect_mcp, grammar_report

    toolset = connect_mcp(server, trusted=trusted, namespace=namespace)
    try:
        report = grammar_report(toolset.tools, _load(model, None)) if grammar else {}
        conn = toolset.connection
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
        failed = [name for name, problem in report.items() if problem]
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


def main() -> None:
    """Entry point: user errors print their message and hint, exit status 2."""
    try:
        app()
    except AgentslmError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
