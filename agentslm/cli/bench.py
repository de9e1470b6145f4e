"""``agentslm bench buffers | latency | adapters | schema-valid | overhead | install | trainers``: speed, size and validity
benchmarks."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from agentslm.cli.common import (
    LoraOpt,
    ModelOpt,
    ThreadsOpt,
    _decision_line,
    _load,
    _progress,
    bench_app,
    console,
)
from agentslm.errors import UserError


def _rows_table(title: str, first: str, columns: dict[str, str], rows: dict[str, dict[str, object]]) -> Table:
    """A table of named rows: the name under ``first``, then each column's key of the row (``columns``: header -> key)."""
    table = Table(title=title)
    for col in (first, *columns):
        table.add_column(col)
    for name, row in rows.items():
        table.add_row(name, *(str(row[key]) for key in columns.values()))
    return table


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


@bench_app.command("adapters")
def bench_adapters(
    adapter: Annotated[list[str], typer.Option("--adapter", help="ROLE=PATH, a GGUF LoRA adapter per role (repeatable).")],
    model: Annotated[str | None, typer.Option("--model", "-m", help="The base GGUF (default: the embedded SmolLM2).")] = None,
    threads: ThreadsOpt = None,
    rounds: Annotated[int, typer.Option(help="Passes over the steps (4 demo requests x 3 roles each).")] = 3,
    out: Annotated[Path | None, typer.Option(help="Also write the result (JSON) here.")] = None,
) -> None:
    """Per-role adapters on one base: time per step when each step switches adapter vs one adapter, and memory."""
    from agentslm.bench.adapter_switch import measure_switching
    from agentslm.bench.bfcl_run import machine_description
    from agentslm.models import embedded_model_path
    from agentslm.models.role_adapters import RoleAdapters, parse_adapter_option

    roles = RoleAdapters.parse(parse_adapter_option(adapter))
    base = Path(model) if model else embedded_model_path()
    result = measure_switching(base, dict(roles.by_role), rounds=rounds, threads=threads or 2)
    result = {"command": "agentslm " + " ".join(sys.argv[1:]), **result, "machine": machine_description()}
    columns = {
        "adapter files": "files",
        "steps": "steps",
        "switches": "switches",
        "ms/step mean": "step_ms_mean",
        "median": "step_ms_median",
        "set call us": "set_call_us_median",
        "RSS MB": "rss_loaded_mb",
        "peak MB": "peak_rss_mb",
    }
    console.print(_rows_table(f"Adapter switching on {base.name}", "setting", columns, result["rows"]))
    console.print(
        f"switching costs {result['switch_cost_ms_per_step']} ms per step; the adapters add {result['adapters_rss_mb']} MB",
        highlight=False,
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        console.print(f"written: {out}")


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


@bench_app.command("install")
def bench_install(
    extra: Annotated[
        list[str] | None,
        typer.Option("--extra", "-e", help="Measure an install with these extras (repeatable); default: the core alone."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the figures (JSON) here.")] = None,
) -> None:
    """Build the wheel, install it (core alone, or with --extra) into a fresh venv: time, size, and a scripted agent run
    there (the run must not import numpy, llama.cpp, MCP, outlines, torch or transformers for the core)."""
    from datetime import UTC, datetime

    from agentslm.bench.bfcl_run import machine_description
    from agentslm.bench.install_size import measure_install

    extras = list(extra or [])
    result = measure_install(extras)
    table = Table(title=f"agentslm install: {'[' + ','.join(extras) + ']' if extras else 'core alone'}")
    for col in ("pip install (s)", "added to the venv (MiB)", "whole venv (MiB)", "wheel (MiB)", "packages", "agent run"):
        table.add_column(col)
    smoke = result.get("smoke")
    run_text = f"{smoke['status']}; heavy modules imported: {smoke['heavy_imported'] or 'none'}" if smoke else "FAILED"
    table.add_row(
        str(result["install_seconds"]),
        str(result["added_mib"]),
        str(result["venv_mib"]),
        str(result["wheel_mib"]),
        str(len(result["packages"])),
        run_text,
    )
    console.print(table)
    if not smoke:
        console.print(result["smoke_error"], highlight=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "command": "agentslm " + " ".join(sys.argv[1:]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_description(),
            **result,
        }
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"written: {out}")
    if not smoke:
        raise typer.Exit(1)


@bench_app.command("trainers")
def bench_trainers(
    tokens: Annotated[Path, typer.Argument(help="Tokenized training examples (agentslm train tokenize).")],
    val: Annotated[Path | None, typer.Option("--val", help="Tokenized held-out examples: each run's val loss.")] = None,
    base: Annotated[str | None, typer.Option("--base", help="The base model (default: the embedded SmolLM2 GGUF).")] = None,
    steps: Annotated[int, typer.Option(help="Optimizer steps per run.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 4,
    out: Annotated[Path | None, typer.Option(help="Write the figures (JSON) here.")] = None,
) -> None:
    """agentslm's LoRA loop vs transformers' Trainer (and Trainer with the loop's target-only loss): same examples,
    model, LoRA, schedule and steps, one run after the other on the CPU; seconds per step and losses."""
    from datetime import UTC, datetime

    from agentslm.bench.bfcl_run import machine_description
    from agentslm.bench.trainer_compare import compare_trainers
    from agentslm.finetune.sft import LoraConfigSpec
    from agentslm.models import embedded_model_path

    for path in (tokens, val):
        if path is not None and not path.is_file():
            raise UserError(f"{path}: no such file; make it with `agentslm train tokenize RECORDS --out {path}`.")
    base_path = Path(base) if base else embedded_model_path()
    result = compare_trainers(tokens, base_path, val_tokens=val, steps=steps, spec=LoraConfigSpec(batch_size=batch_size))
    columns = {
        "s/step": "seconds_per_step",
        "x loop": "time_ratio_to_loop",
        "train loss (last 5)": "train_loss_last5",
        "val loss": "val_loss",
        "peak RSS MiB": "peak_rss_mib",
    }
    console.print(
        _rows_table(f"LoRA training, {steps} steps of {batch_size} on {base_path.name}", "run", columns, result["runs"])
    )
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "command": "agentslm " + " ".join(sys.argv[1:]),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine_description(),
            "base": base_path.name,
            **result,
        }
        out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        console.print(f"written: {out}")
