"""Calibrate the planner's ``min_no_tool`` on BFCL live_* (categories the BFCL report does not score).

For every sampled case the planner decodes its first-round list on the given model; where the model answers
``[]``, the probability of that choice is recorded together with what the policy would then do: decode one forced
call, keep it only with evidence (tool-name word in the request, values grounded), and score it with BFCL's
checker. A threshold t turns the ``[]`` answers with p < t into the kept forced calls. Printed: for each t, right
calls gained on live_simple/live_multiple and wrong calls made on live_irrelevance.

    .venv/bin/python docs/benchmarks/no-tool-calibration/calibrate.py --model embedded --n 120 --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from agentslm.roles.caller import CALLS_PREFIX
from agentslm.roles.planner import Planner, PlannerPolicy, empty_list_probability
from agentslm.bench.bfcl_checker import check_case
from agentslm.bench.bfcl_data import load_bfcl
from agentslm.errors import UserError
from agentslm.models import load_model
from agentslm.registry import ToolRegistry
from agentslm.constraints.plan_schema import plan_schema


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="embedded")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    model = load_model(args.model)
    planner = Planner(model, policy=PlannerPolicy(min_no_tool=1.0))
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.perf_counter()
    for category in ("live_irrelevance", "live_simple", "live_multiple"):
        for case in load_bfcl(category, limit=args.n, seed=args.seed):
            tools = list(ToolRegistry.from_bfcl(case.functions))
            messages = planner.messages(tools, case.messages)
            schema = plan_schema(tools, planner.limits, max_tasks=planner.policy.max_tasks)
            try:
                gen = model.generate(messages, schema=schema, max_tokens=3, response_prefix=CALLS_PREFIX)
            except UserError as exc:  # prompt over the context: the benchmark counts such a case as failed
                rows.append({"category": category, "id": case.id, "skipped": str(exc)[:120]})
                continue
            p_empty = empty_list_probability(gen)
            row: dict[str, object] = {"category": category, "id": case.id, "p_empty": p_empty, "forced": None, "forced_ok": None}
            if p_empty is not None:
                call = planner._forced_call(tools, messages, case.messages)
                if call is not None:
                    row["forced"] = {"name": call.name, "arguments": call.arguments}
                    if category != "live_irrelevance":
                        row["forced_ok"] = check_case(category, case.functions, [call], case.answer).valid
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    (args.out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    lines = [f"model {model.name}; {args.n} seeded cases per category (seed {args.seed}); {time.perf_counter() - t0:.0f} s", ""]
    lines.append("| threshold | live_simple+multiple: [] turned into right calls | into wrong calls | live_irrelevance: [] turned into calls |")
    lines.append("|---|--:|--:|--:|")
    for t in (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0):
        flipped = [r for r in rows if r.get("p_empty") is not None and r["p_empty"] < t and r["forced"] is not None]
        right = sum(1 for r in flipped if r["forced_ok"])
        wrong = sum(1 for r in flipped if r["category"] != "live_irrelevance" and not r["forced_ok"])
        irrelevant = sum(1 for r in flipped if r["category"] == "live_irrelevance")
        lines.append(f"| {t} | {right} | {wrong} | {irrelevant} |")
    skipped = sum(1 for r in rows if "skipped" in r)
    empties = {c: sum(1 for r in rows if r["category"] == c and r.get("p_empty") is not None) for c in ("live_irrelevance", "live_simple", "live_multiple")}
    lines += ["", f"cases answered [] by the model: {empties}; skipped (prompt over the 4,096-token context): {skipped}"]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
