"""``agentslm bench tasks``: the strict multi-step task benchmark (see :mod:`agentslm.bench.tasks`)."""

from __future__ import annotations

import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from agentslm.cli.common import (
    AdapterOpt,
    LoraOpt,
    ModelOpt,
    PlannerPolicyOpt,
    ThreadsOpt,
    _load,
    _policy_overrides,
    bench_app,
    console,
)


@bench_app.command("tasks")
def bench_tasks(
    model: ModelOpt = None,
    lora: LoraOpt = None,
    adapter: AdapterOpt = None,
    threads: ThreadsOpt = None,
    cases: Annotated[Path, typer.Option(help="Task cases (JSON Lines).")] = Path("examples/tasks/cases.jsonl"),
    only: Annotated[str | None, typer.Option(help="Run only cases whose id or kind contains this text.")] = None,
    out: Annotated[Path, typer.Option(help="Results folder (results.jsonl, report.md, summary.json).")] = Path("bench-out/tasks"),
    planner_policy: PlannerPolicyOpt = None,
    max_seconds: Annotated[
        float | None,
        typer.Option(help="Time budget of one run (Budgets.max_seconds; default 120 s): raise it for a slow served model."),
    ] = None,
) -> None:
    """Multi-step tasks scored on the final state: done only with the right changes, none unrequested, no invented
    identifier and no junk value (every call approved, so whatever the agent would do happens)."""
    from agentslm.agent import Agent
    from agentslm.bench.bfcl_run import machine_description
    from agentslm.bench.tasks import load_task_cases, run_tasks, write_task_report

    items = load_task_cases(cases)
    if only:
        items = [c for c in items if only in c["id"] or only in c["kind"]]
    from agentslm.roles.planner import PlannerPolicy
    from agentslm.run.types import Budgets

    loaded = _load(model, threads, lora, adapter)
    policy = PlannerPolicy.for_model(loaded, **_policy_overrides(planner_policy))
    budgets = Budgets() if max_seconds is None else Budgets(max_seconds=max_seconds)

    def make_agent(registry: Any) -> Agent:
        return Agent(loaded, registry, approve=lambda call, tool: True, policy=policy, budgets=budgets)

    def show(row: dict[str, Any]) -> None:
        mark = "[green]done[/]" if row["done"] else "[red]not done[/]"
        why = "" if row["done"] else ": " + "; ".join(row["reasons"])[:200]
        console.print(f"{mark} {row['id']} ({row['seconds']} s){why}", highlight=False, markup=True)

    rows = run_tasks(make_agent, items, progress=show)
    machine = machine_description()
    meta = {
        "model": model or "embedded",
        "command": "agentslm " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{machine['cpu']}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "commit": machine["git_commit"],
        "profile": loaded.profile.family,
        "planner_policy": _policy_overrides(planner_policy),
        "max_seconds": budgets.max_seconds,
    }
    s = write_task_report(out, rows, meta)
    console.print(
        f"{s['done']}/{s['tasks']} done ({s['done_rate']:.0%}); invented identifiers {s['invented_identifiers']}, "
        f"unrequested changes {s['unrequested_changes']}, junk {s['junk_values']}; {s['seconds_per_task']} s/task; "
        f"by kind {s['by_kind']}",
        highlight=False,
    )
    console.print(f"report: {out / 'report.md'}")
