"""Planner policy comparison: drop_ungrounded_optional on (the default) vs off, on BFCL with the official checker.

Both policies decode the same cases with the same model (greedy, so the decodes are identical); only the decision
made from the decoded list differs. Usage (from the repository root):

    .venv/bin/python docs/benchmarks/planner-optional-drop/compare.py --limit 20 --seed 0 > docs/benchmarks/planner-optional-drop/result.md
"""

from __future__ import annotations

import argparse
import dataclasses
import time

from agentslm.roles.planner import Planner, PlannerPolicy
from agentslm.bench.bfcl_data import load_bfcl
from agentslm.bench.bfcl_run import score_output
from agentslm.bench.systems import SystemOutput
from agentslm.step_types import ToolCall
from agentslm.models import load_model
from agentslm.registry import ToolRegistry


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--categories", nargs="+", default=["simple_python", "multiple", "irrelevance"])
    args = parser.parse_args()
    model = load_model()
    policies = {"on": PlannerPolicy(), "off": dataclasses.replace(PlannerPolicy(), drop_ungrounded_optional=False)}
    print(f"# Planner: drop_ungrounded_optional on vs off ({model.name}, {args.limit} cases per category, seed {args.seed})\n")
    print("| category | cases | on: accuracy | off: accuracy | decisions that differ |")
    print("|---|--:|--:|--:|--:|")
    t0 = time.perf_counter()
    for category in args.categories:
        cases = load_bfcl(category, limit=args.limit, seed=args.seed)
        valid = {"on": 0, "off": 0}
        differ = 0
        for case in cases:
            registry = ToolRegistry.from_bfcl(case.functions)
            messages = [{"role": m["role"], "content": m["content"]} for m in case.messages]
            kinds = {}
            for name, policy in policies.items():
                decision = Planner(model, policy=policy).decide(list(registry), messages)  # type: ignore[arg-type]
                calls = (
                    [ToolCall(name=t.tool, arguments=t.arguments) for t in decision.plan.tasks] if decision.kind == "plan" else []
                )
                output = SystemOutput(
                    calls=None if decision.kind == "give_up" else calls, raw=decision.raw, seconds=0.0, completion_tokens=0
                )
                valid[name] += bool(score_output(category, case, registry, output)["valid"])
                kinds[name] = (decision.kind, [(c.name, c.arguments) for c in calls])
            differ += kinds["on"] != kinds["off"]
        n = len(cases)
        print(f"| {category} | {n} | {100 * valid['on'] / n:.1f} % | {100 * valid['off'] / n:.1f} % | {differ} |")
    print(f"\n{time.perf_counter() - t0:.0f} s on this machine.")


if __name__ == "__main__":
    main()
