"""``agentslm bench bfcl | report | compare | fallback | gate``, ``agentslm calibrate`` and ``agentslm eval``: BFCL-format
benchmarks (also of your own tools) and routing."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from agentslm.cli.common import (
    AdapterOpt,
    LoraOpt,
    ModelOpt,
    PlannerPolicyOpt,
    ThreadsOpt,
    _load,
    _load_fallback,
    _load_registry,
    _policy_overrides,
    _progress,
    app,
    bench_app,
    console,
)
from agentslm.errors import UserError

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
    planner_policy: dict[str, Any] | None = None,
    adapters: list[str] | None = None,
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
    m = _load(model, threads, lora, adapters)
    load_seconds = time.perf_counter() - t0
    from agentslm.router import RoutingPolicy

    large = _load_fallback(fallback, threads) if fallback else None
    policy = RoutingPolicy.from_file(routing) if routing else RoutingPolicy()
    chosen = [
        make_system(n, m, max_tokens=max_tokens, gate=gate, fallback=large, routing=policy, planner_policy=planner_policy)
        for n in names
    ]
    command = "agentslm " + " ".join(sys.argv[1:])
    notes: dict[str, Any] = {
        "gate": {"min_first": gate.min_first, "min_more": gate.min_more, "grounding": gate.grounding},
        "max_tokens": max_tokens,
        **({"fallback": large.name, "routing": policy.model_dump()} if large is not None else {}),
        "profile": m.profile.family,
        **({"planner_policy": planner_policy} if planner_policy else {}),
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
    adapter: AdapterOpt = None,
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
    planner_policy: PlannerPolicyOpt = None,
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
        _policy_overrides(planner_policy),
        adapter,
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
    """Per-category accuracy and latency of two results folders side by side (cases both ran), and how many cases
    gave the same output (calls, raw text, verdict, error): a behaviour-preserving change must keep every one."""
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.report import summarize_records

    runs = [[r for r in read_records(folder) if r["system"] == system] for folder in (before, after)]
    if not all(runs):
        raise UserError(f"Both folders need {system} records.", hint="run `agentslm bench bfcl` into each first.")
    shared = {(r["category"], r["id"]) for r in runs[0]} & {(r["category"], r["id"]) for r in runs[1]}
    rows = [{r["category"]: r for r in summarize_records([x for x in run if (x["category"], x["id"]) in shared])} for run in runs]
    outputs = [{(r["category"], r["id"]): _case_output(r) for r in run if (r["category"], r["id"]) in shared} for run in runs]
    same = {category: 0 for category in rows[0]}
    for key, output in outputs[0].items():
        same[key[0]] += output == outputs[1][key]
    table = Table(title=f"{system}: {before} -> {after}")
    for col in (
        "category",
        "cases",
        "accuracy before",
        "accuracy after",
        "change",
        "same output",
        "p50 s before/after",
        "p95 s before/after",
    ):
        table.add_column(col)
    for category in sorted(rows[0]):
        a, b = rows[0][category], rows[1][category]
        table.add_row(
            category,
            str(a["cases"]),
            f"{100 * a['accuracy']:.1f}%",
            f"{100 * b['accuracy']:.1f}%",
            f"{100 * (b['accuracy'] - a['accuracy']):+.1f}",
            f"{same[category]}/{a['cases']}",
            f"{a['p50_s']:.2f} / {b['p50_s']:.2f}",
            f"{a['p95_s']:.2f} / {b['p95_s']:.2f}",
        )
    console.print(table)
    console.print(f"same output in {sum(same.values())} of {len(shared)} cases")


def _case_output(record: dict[str, Any]) -> tuple[Any, ...]:
    """What a case's system produced and how it was scored (timings and memory left out)."""
    return (record["valid"], record["calls"], record["raw"], record["error"], record.get("verifier"))


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
    floor: Annotated[
        list[str] | None,
        typer.Option(help="CATEGORY=PERCENT: a policy is chosen only among gates at least this accurate there (repeatable)."),
    ] = None,
    write_policy: Annotated[
        Path | None,
        typer.Option(
            help="Write the chosen gate as this model's planner policy (JSON), for --planner-policy @FILE or "
            "Agent(policy=PlannerPolicy.from_file(FILE))."
        ),
    ] = None,
) -> None:
    """Accuracy of the agentslm caller under a grid of confidence gates and grounding rules, from recorded results (no
    decoding); with --write-policy, the best (highest mean, within --floor) becomes the model's policy file.

    Calibrate on categories you do not report (BFCL live_*, or `agentslm bench bfcl --holdout`), then report the
    others under the written policy."""
    import json

    from agentslm.bench.bfcl_data import load_bfcl
    from agentslm.bench.bfcl_run import read_records
    from agentslm.bench.gate import choose_policy, policy_fields, sweep

    records = [r for r in read_records(results) if r["system"] == "agentslm"]
    if not records:
        raise UserError(f"No agentslm records in {results}.")
    floors = _policy_overrides(floor)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 100 for v in floors.values()):
        raise UserError(f"--floor takes CATEGORY=PERCENT (0 to 100), not {floor}.", hint="e.g. --floor irrelevance=80")
    floors = {k: v / 100 for k, v in floors.items()}
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
            f"on ({row['grounding_scope']})" if row["grounding"] else "off",
            f"{100 * row['mean']:.1f}",
            *(f"{100 * row[c]:.1f}" for c in categories),
            style="dim" if row is base else None,
        )
    console.print(table)
    if write_policy is None:
        return
    chosen = choose_policy(rows, floors)
    if chosen is None:
        raise UserError(f"No gate of the grid meets the floors {floor}.", hint="lower a --floor, or calibrate on more cases.")
    meta_path = results / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    document = {
        "policy": policy_fields(chosen),
        "model": meta.get("model"),
        "chosen_by": "agentslm bench gate: the highest unweighted mean over the categories"
        + (f" among gates with {', '.join(floor or [])}" if floor else ""),
        "results": str(results),
        "records": len(records),
        "accuracy": {c: round(chosen[c], 4) for c in ("mean", *categories)},
    }
    write_policy.parent.mkdir(parents=True, exist_ok=True)
    write_policy.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"policy: {document['policy']} -> {write_policy}")


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
