"""Benchmark report: a markdown table per system and category plus PNG plots (matplotlib, extra ``bench``)."""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentslm.bench.bfcl_run import META_FILE, read_records
from agentslm.errors import MissingExtraError, UserError

__all__ = ["REFERENCE_POINTS", "summarize_records", "write_report"]

REFERENCE_POINTS: dict[str, dict[str, float]] = {
    "Granite-4.0-350M (FC)": {
        "simple_python": 61.7,
        "multiple": 84.5,
        "parallel": 70.0,
        "parallel_multiple": 55.5,
        "irrelevance": 60.8,
    },
    "Qwen2.5-0.5B-Instruct (FC)": {"simple_python": 61.2, "multiple": 78.0},
}
"""BFCL leaderboard figures (percent, FC mode) for context; not measured here."""


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summarize_records(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (system, category): accuracy, schema-valid and executable rates, latency, tokens, memory."""
    rows: list[dict[str, Any]] = []
    systems = list(dict.fromkeys(r["system"] for r in records))
    categories = list(dict.fromkeys(r["category"] for r in records))
    for category in categories:
        for system in systems:
            rs = [r for r in records if r["system"] == system and r["category"] == category]
            if not rs:
                continue
            secs = [r["seconds"] for r in rs]
            tokens = sum(r["completion_tokens"] for r in rs)
            rows.append(
                {
                    "category": category,
                    "system": system,
                    "cases": len(rs),
                    "accuracy": sum(r["valid"] for r in rs) / len(rs),
                    "schema_valid": sum(r["schema_valid"] for r in rs) / len(rs),
                    "executable": sum(r["executable"] for r in rs) / len(rs),
                    "p50_s": statistics.median(secs),
                    "p95_s": _percentile(secs, 0.95),
                    "completion_tokens": tokens / len(rs),
                    "tokens_per_s": tokens / sum(secs) if sum(secs) else 0.0,
                    "peak_rss_mib": max(r.get("rss_mib", 0.0) for r in rs),
                }
            )
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    head = (
        "| category | system | cases | AST accuracy | schema-valid | executable | p50 s | p95 s "
        "| completion tokens | tokens/s | peak RSS MiB |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n"
    )
    lines = [
        f"| {r['category']} | {r['system']} | {r['cases']} | {100 * r['accuracy']:.1f}% | {100 * r['schema_valid']:.1f}% "
        f"| {100 * r['executable']:.1f}% | {r['p50_s']:.2f} | {r['p95_s']:.2f} | {r['completion_tokens']:.1f} "
        f"| {r['tokens_per_s']:.1f} | {r['peak_rss_mib']:.0f} |"
        for r in rows
    ]
    return head + "\n".join(lines) + "\n"


def _accuracy_matrix(rows: list[dict[str, Any]], policy_off: dict[str, float] | None = None) -> str:
    categories = list(dict.fromkeys(r["category"] for r in rows))
    systems = list(dict.fromkeys(r["system"] for r in rows))
    out = "| system | " + " | ".join(categories) + " | mean |\n|---|" + "--:|" * (len(categories) + 1) + "\n"
    for system in systems:
        accs = {r["category"]: r["accuracy"] for r in rows if r["system"] == system}
        cells = [f"{100 * accs[c]:.1f}" if c in accs else "-" for c in categories]
        mean = statistics.fmean(accs.values()) if accs else 0.0
        out += f"| {system} | " + " | ".join(cells) + f" | {100 * mean:.1f} |\n"
    if policy_off:
        cells = [f"{100 * policy_off[c]:.1f}" if c in policy_off else "-" for c in categories]
        mean = statistics.fmean(policy_off.values())
        out += "| *agentslm, policy off (same decodes)* | " + " | ".join(cells) + f" | {100 * mean:.1f} |\n"
    for name, ref in REFERENCE_POINTS.items():
        cells = [f"{ref[c]:.1f}" if c in ref else "-" for c in categories]
        out += f"| *{name}, leaderboard* | " + " | ".join(cells) + " | |\n"
    return out


def _ratios(rows: list[dict[str, Any]], base: str = "agentslm", *, commands: int = 1) -> str:
    categories = list(dict.fromkeys(r["category"] for r in rows))
    systems = [s for s in dict.fromkeys(r["system"] for r in rows) if s != base]
    if not systems or not any(r["system"] == base for r in rows):
        return ""
    when = (
        "same run"
        if commands <= 1
        else f"results written by {commands} commands (above): systems from different commands ran at different times"
    )
    out = f"p50 latency of each system divided by {base}'s, same cases, {when}:\n\n"
    out += "| system | " + " | ".join(categories) + " |\n|---|" + "--:|" * len(categories) + "\n"
    for system in systems:
        cells = []
        for c in categories:
            mine = next((r for r in rows if r["system"] == system and r["category"] == c), None)
            ref = next((r for r in rows if r["system"] == base and r["category"] == c), None)
            cells.append(f"{mine['p50_s'] / ref['p50_s']:.2f}x" if mine and ref and ref["p50_s"] else "-")
        out += f"| {system} | " + " | ".join(cells) + " |\n"
    return out


def _plots(rows: list[dict[str, Any]], records: list[dict[str, Any]], out: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise MissingExtraError("Plots need matplotlib.", hint="pip install 'agentslm[bench]'") from exc
    categories = list(dict.fromkeys(r["category"] for r in rows))
    systems = list(dict.fromkeys(r["system"] for r in rows))
    width = 0.8 / max(1, len(systems))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(categories)), 4.0))
    for i, system in enumerate(systems):
        accs = [
            next((100 * r["accuracy"] for r in rows if r["system"] == system and r["category"] == c), 0.0) for c in categories
        ]
        xs = [j + (i - (len(systems) - 1) / 2) * width for j in range(len(categories))]
        bars = ax.bar(xs, accs, width, label=system)
        ax.bar_label(bars, fmt="%.0f", fontsize=7)
    ax.set_xticks(range(len(categories)), categories, rotation=15)
    ax.set_ylabel("BFCL AST accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    ax.set_title("Accuracy per category (official BFCL checker)")
    fig.tight_layout()
    fig.savefig(out / "accuracy.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(categories)), 4.0))
    positions, data, colors = [], [], []
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, c in enumerate(categories):
        for i, system in enumerate(systems):
            secs = [r["seconds"] for r in records if r["system"] == system and r["category"] == c]
            if secs:
                positions.append(j + (i - (len(systems) - 1) / 2) * width)
                data.append(secs)
                colors.append(cycle[i % len(cycle)])
    box = ax.boxplot(data, positions=positions, widths=width * 0.9, patch_artist=True, showfliers=True)
    for patch, color in zip(box["boxes"], colors, strict=True):
        patch.set_facecolor(color)
    ax.set_xticks(range(len(categories)), categories, rotation=15)
    ax.set_ylabel("seconds per case")
    ax.set_yscale("log")
    handles = [plt.Rectangle((0, 0), 1, 1, color=cycle[i % len(cycle)]) for i in range(len(systems))]
    ax.legend(handles, systems, fontsize=8)
    ax.set_title("Latency per case")
    fig.tight_layout()
    fig.savefig(out / "latency.png", dpi=120)
    plt.close(fig)
    return ["accuracy.png", "latency.png"]


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *, plots: bool = True) -> Path:
    """Write ``report.md`` (+ ``accuracy.png``, ``latency.png``, ``summary.json``) for a results folder."""
    src = Path(results_dir)
    records = read_records(src)
    if not records:
        raise UserError(f"No benchmark records in {src}.", hint="run `agentslm bench bfcl --out DIR` first.")
    out = Path(out_dir) if out_dir else src
    out.mkdir(parents=True, exist_ok=True)
    meta_path = src / META_FILE
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    rows = summarize_records(records)
    images = _plots(rows, records, out) if plots else []
    machine = meta.get("machine", {})
    parts = [
        "# agentslm benchmark report\n",
        f"- model: `{meta.get('model', '?')}` (load time {meta.get('load_seconds', '?')} s)",
        f"- date: {meta.get('date', '?')}",
        f"- machine: {machine.get('cpu', '?')}, {machine.get('cpus', '?')} CPUs, {machine.get('memory_gib', '?')} GiB, "
        f"{machine.get('os', '?')}; llama-cpp-python {machine.get('llama_cpp_python', '?')}, "
        f"llguidance {machine.get('llguidance', '?')}, bfcl-eval {machine.get('bfcl_eval', '?')}",
        *(
            [f"- command ({c.get('date', '?')}): `{c['command']}`" for c in meta["commands"]]
            if meta.get("commands")
            else [f"- command: `{meta.get('command', '?')}`"]
        ),
        f"- prompt: {meta.get('prompt', '?')}; agentslm gate: {meta.get('gate', '?')}",
        f"- cases per category: {meta.get('categories', {})}\n",
        "## AST accuracy (%)\n",
        _accuracy_matrix(rows, meta.get("agentslm_policy_off")),
        "## All figures\n",
        _table(rows),
        _ratios(rows, commands=len(meta.get("commands") or [])),
    ]
    overhead = meta.get("overhead")
    if overhead:
        parts.append(
            "## Constrained-decoding overhead\n\n"
            f"Per-token time of constrained decoding / unconstrained decoding of the same tokens, "
            f"{overhead.get('cases')} cases of simple_python: **{overhead.get('ratio', 0):.3f}**, "
            f"with fast-forward of forced tokens **{overhead.get('fast_forward_ratio', 0):.3f}**; "
            f"unconstrained {overhead.get('unconstrained_ms_per_token', 0):.1f} ms/token.\n"
        )
    parts += [f"![{name}]({name})\n" for name in images]
    (out / "summary.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n", encoding="utf-8")
    report = out / "report.md"
    report.write_text("\n".join(parts), encoding="utf-8")
    return report
