"""Choosing the agentslm caller's confidence gate from recorded benchmark results.

A gate closes the call list where the decoder started a call with low confidence. Because
the decoder is greedy, closing the list at call ``i`` gives exactly the output the decoder
would have produced had it taken the "close" branch there, so any gate with thresholds
>= 0.5 can be evaluated from one recorded run (no re-decoding): :func:`regate` rescores the
recorded outputs under a gate with BFCL's checker, :func:`sweep` tries a grid.

Pick thresholds on categories you do not report (e.g. the ``live_*`` ones), then report the
other categories with those thresholds fixed.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from typing import Any

from agentslm.bench.bfcl_checker import check_case
from agentslm.bench.bfcl_data import BfclCase
from agentslm.bench.systems import Gate, decide
from agentslm.registry import ToolRegistry
from agentslm.step_types import ToolCall

__all__ = ["choose_policy", "policy_fields", "regate", "sweep"]


def _ungated(record: dict[str, Any]) -> list[ToolCall] | None:
    extra = record.get("extra") or {}
    if extra.get("parse_error") or record.get("calls") is None:
        return None
    if "ungated" in extra:
        items = extra["ungated"]
    else:
        try:
            items = json.loads(record["raw"])
        except json.JSONDecodeError:
            items = record["calls"]
    return [ToolCall(name=c["name"], arguments=c["arguments"]) for c in items]


def regate(records: Iterable[dict[str, Any]], cases: dict[tuple[str, str], BfclCase], gate: Gate) -> list[bool]:
    """Checker verdicts of the ``agentslm`` records had they been produced under ``gate``."""
    verdicts: list[bool] = []
    for r in records:
        if r["system"] != "agentslm":
            continue
        case = cases[(r["category"], r["id"])]
        calls = _ungated(r)
        if calls is not None:
            probabilities = (r.get("extra") or {}).get("open_probabilities", [])
            tools = list(case.registry or ToolRegistry.from_bfcl(case.functions))
            source = "\n".join(m["content"] for m in case.messages if m["role"] in ("user", "system"))
            calls, _ = decide(calls, probabilities, gate, tools, source)
        verdicts.append(check_case(r["category"], case.functions, calls, case.answer).valid)
    return verdicts


def sweep(
    records: list[dict[str, Any]],
    cases: dict[tuple[str, str], BfclCase],
    *,
    firsts: Iterable[float] = (0.0, 0.6, 0.7, 0.74, 0.8),
    mores: Iterable[float] = (0.0, 0.67, 0.8, 1.01),
    groundings: Iterable[bool] = (False, True),
    scopes: Iterable[str] = ("every", "any"),
) -> list[dict[str, Any]]:
    """Accuracy per category and its unweighted mean for every gate of the grid, best mean first (with grounding on,
    each ``grounding_scope``: ``every`` stated value, or ``any``).

    The mean alone rewards never calling when the model is weak; read the per-category columns."""
    categories = sorted({r["category"] for r in records if r["system"] == "agentslm"})
    rows: list[dict[str, Any]] = []
    mores, scopes = list(mores), list(scopes)
    grid = [(f, m, g, scope) for f in firsts for m in mores for g in groundings for scope in (scopes if g else scopes[:1])]
    for first, more, grounding, scope in grid:
        gate = Gate(min_first=first, min_more=more, grounding=grounding, grounding_scope=scope)
        per = {}
        for cat in categories:
            verdicts = regate([r for r in records if r["category"] == cat], cases, gate)
            per[cat] = sum(verdicts) / len(verdicts) if verdicts else 0.0
        rows.append(
            {
                "min_first": first,
                "min_more": more,
                "grounding": grounding,
                "grounding_scope": scope,
                "mean": statistics.fmean(per.values()),
                **per,
            }
        )
    rows.sort(key=lambda row: (-row["mean"], row["min_first"], row["min_more"], row["grounding_scope"] != "every"))
    return rows


def choose_policy(rows: list[dict[str, Any]], floors: dict[str, float] | None = None) -> dict[str, Any] | None:
    """The best row of :func:`sweep` (highest mean; ties: the lower thresholds, then ``every``) whose accuracy in each
    category of ``floors`` is at least its floor (0..1), or None if no row meets them."""
    floors = floors or {}
    unknown = sorted(set(floors) - {k for row in rows[:1] for k in row})
    if unknown:
        from agentslm.errors import UserError

        raise UserError(f"No results for {', '.join(unknown)}.", hint="name categories the results hold.")
    return next((row for row in rows if all(row[c] >= f for c, f in floors.items())), None)


def policy_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~agentslm.roles.planner.PlannerPolicy` fields a chosen gate row sets."""
    return {k: row[k] for k in ("min_first", "min_more", "grounding", "grounding_scope")}
