"""Calibration of the SLM-first routing policy from benchmark records (no decoding here).

Input: records of the ``agentslm`` system (the small model, with its confidence signals) and, when it ran, the
``llm`` system (the fallback alone) on the same labelled cases. For every signal and threshold the sweep
simulates the router exactly as :class:`~agentslm.bench.systems.RoutedSystem` decides (unusable or refused
output always escalates) and reports the escalation rate, the small model's accuracy on the steps it keeps, and
the combined accuracy (the fallback's own result on the escalated cases; without fallback records, the bound
where the fallback is always right). The chosen point has the best combined accuracy within the escalation
budget (ties: fewer escalations).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agentslm.confidence import SIGNALS, step_confidence
from agentslm.errors import UserError
from agentslm.step_types import CallSignals

__all__ = ["CalibrationPoint", "auc", "calibrate_records", "fallback_summary", "perfect_router_accuracy"]


@dataclass(frozen=True)
class CalibrationPoint:
    signal: str
    threshold: float
    cases: int
    escalation_rate: float
    kept_accuracy: float | None
    combined_accuracy: float
    slm_accuracy: float
    llm_accuracy: float | None


def _score(record: dict[str, Any], signal: str) -> tuple[float, bool]:
    extra = record.get("extra", {})
    conf = step_confidence(
        CallSignals.model_validate(extra.get("signals", {})),
        signal=signal,
        parse_error=extra.get("parse_error") or extra.get("system_error"),
        refusals=extra.get("grounding_refusals", []),
    )
    return conf.score, bool(conf.problems)


def auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Probability that a correct case scores above a wrong one (ties count half); None if one class is empty."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def calibrate_records(
    records: Sequence[dict[str, Any]], *, max_escalation: float = 0.3, signals: Sequence[str] = SIGNALS
) -> tuple[CalibrationPoint, dict[str, list[CalibrationPoint]], dict[str, float | None]]:
    """(chosen point, curve per signal, AUC per signal) from ``agentslm`` (+ optional ``llm``) records."""
    slm = {(r["category"], r["id"]): r for r in records if r["system"] == "agentslm"}
    llm = {(r["category"], r["id"]): r for r in records if r["system"] == "llm"}
    if not slm:
        raise UserError("No agentslm records to calibrate on.", hint="run the small model on labelled cases first.")
    keys = sorted(slm)
    have_llm = all(k in llm for k in keys)
    slm_ok = [bool(slm[k]["valid"]) for k in keys]
    llm_ok = [bool(llm[k]["valid"]) for k in keys] if have_llm else [True] * len(keys)
    curves: dict[str, list[CalibrationPoint]] = {}
    aucs: dict[str, float | None] = {}
    best: CalibrationPoint | None = None
    for signal in signals:
        scored = [_score(slm[k], signal) for k in keys]
        usable = [(s, ok) for (s, bad), ok in zip(scored, slm_ok, strict=True) if not bad]
        aucs[signal] = auc([s for s, _ in usable], [ok for _, ok in usable])
        thresholds = sorted({0.0, *(s for s, _ in scored), 1.0 + 1e-9})
        curve = []
        for t in thresholds:
            escalate = [bad or s < t for s, bad in scored]
            n_esc = sum(escalate)
            kept = [ok for ok, e in zip(slm_ok, escalate, strict=True) if not e]
            combined = sum(lo if e else so for so, lo, e in zip(slm_ok, llm_ok, escalate, strict=True)) / len(keys)
            point = CalibrationPoint(
                signal=signal,
                threshold=t,
                cases=len(keys),
                escalation_rate=n_esc / len(keys),
                kept_accuracy=sum(kept) / len(kept) if kept else None,
                combined_accuracy=combined,
                slm_accuracy=sum(slm_ok) / len(keys),
                llm_accuracy=sum(llm_ok) / len(keys) if have_llm else None,
            )
            curve.append(point)
            if point.escalation_rate <= max_escalation and (
                best is None
                or (point.combined_accuracy, -point.escalation_rate) > (best.combined_accuracy, -best.escalation_rate)
            ):
                best = point
        curves[signal] = curve
    if best is None:
        raise UserError(
            f"Even the lowest threshold escalates more than {max_escalation:.0%} of the cases "
            "(unusable or refused outputs always escalate).",
            hint="raise --max-escalation.",
        )
    return best, curves, aucs


def perfect_router_accuracy(records: Sequence[dict[str, Any]], *, max_escalation: float = 0.3) -> float | None:
    """Accuracy of a router that knows the answers: it escalates only cases the small model gets wrong and the
    fallback right, at most ``max_escalation`` of the cases (the ceiling any confidence signal could reach).
    None without ``llm`` records for every ``agentslm`` case."""
    slm = {(r["category"], r["id"]): bool(r["valid"]) for r in records if r["system"] == "agentslm"}
    llm = {(r["category"], r["id"]): bool(r["valid"]) for r in records if r["system"] == "llm"}
    if not slm or not all(k in llm for k in slm):
        return None
    helped = sum(not ok and llm[k] for k, ok in slm.items())
    budget = int(max_escalation * len(slm) + 1e-9)
    return (sum(slm.values()) + min(helped, budget)) / len(slm)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def fallback_summary(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per category: accuracy, escalation rate, p50/p95 latency and fallback tokens of ``agentslm`` (SLM alone),
    ``llm`` (fallback alone) and ``agentslm+fallback``, on the cases all three ran.

    The routed system's latency is the SLM-alone decode time of the case plus, when it escalated, the fallback's
    decode time (both measured in the same run; the routed system's own re-decode of the SLM step reuses the KV cache the
    SLM-alone run just filled, so its wall time would understate a real first step)."""
    by: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for r in records:
        by.setdefault((r["category"], r["id"]), {})[r["system"]] = r
    rows: list[dict[str, Any]] = []
    for category in sorted({c for c, _ in by}):
        cases = [v for (c, _), v in by.items() if c == category and {"agentslm", "llm", "agentslm+fallback"} <= set(v)]
        if not cases:
            continue
        for system in ("agentslm", "llm", "agentslm+fallback"):
            seconds, tokens, escalated = [], 0, 0
            for v in cases:
                if system == "agentslm+fallback":
                    esc = v[system].get("extra", {}).get("outcome") == "escalated"
                    escalated += esc
                    seconds.append(v["agentslm"]["seconds"] + (v["llm"]["seconds"] if esc else 0.0))
                    tokens += sum(
                        v[system].get("extra", {}).get("llm_usage", {}).get(k, 0) for k in ("prompt_tokens", "completion_tokens")
                    )
                else:
                    seconds.append(v[system]["seconds"])
                    if system == "llm":
                        usage = v[system].get("extra", {}).get("usage", {})
                        tokens += usage.get("prompt_tokens", 0) + usage.get("completion_tokens", 0)
            rows.append(
                {
                    "category": category,
                    "system": system,
                    "cases": len(cases),
                    "accuracy": sum(bool(v[system]["valid"]) for v in cases) / len(cases),
                    "escalation_rate": escalated / len(cases)
                    if system == "agentslm+fallback"
                    else (1.0 if system == "llm" else 0.0),
                    "p50_s": _percentile(seconds, 0.5),
                    "p95_s": _percentile(seconds, 0.95),
                    "llm_tokens": tokens,
                }
            )
    return rows
