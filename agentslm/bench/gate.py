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

__all__ = ["regate", "sweep"]


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
) -> list[dict[str, Any]]:
    """Accuracy per category and its unweighted mean for every gate of the grid, best mean first.

    The mean alone rewards never calling when the model is weak; read the per-category columns."""
    categories = sorted({r["category"] for r in records if r["system"] == "agentslm"})
    rows: list[dict[str, Any]] = []
    mores = list(mores)
    grid = [(f, m, g) for f in firsts for m in mores for g in groundings]
    for first, more, grounding in grid:
        gate = Gate(min_first=first, min_more=more, grounding=grounding)
        per = {}
        for cat in categories:
            verdicts = regate([r for r in records if r["category"] == cat], cases, gate)
            per[cat] = sum(verdicts) / len(verdicts) if verdicts else 0.0
        rows.append({"min_first": first, "min_more": more, "grounding": grounding, "mean": statistics.fmean(per.values()), **per})
    rows.sort(key=lambda row: (-row["mean"], row["min_first"], row["min_more"]))
    return rows
