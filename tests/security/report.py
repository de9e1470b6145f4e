"""The reliability report of the security suite (``--security-report DIR``).

Every test under ``tests/security`` is a case. Tests attach figures with pytest's ``record_property``
(``record_property("unapproved_destructive", 0)``); this plugin collects each case's outcome, duration,
description (the docstring's first line) and figures, and at the end writes ``DIR/report.json`` and
``DIR/report.md``: totals, the three counters the suite exists for (unapproved destructive executions,
crashes, corrupted records), the load figures, and every case with its outcome.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SecurityReport", "COUNTERS"]

COUNTERS = ("unapproved_destructive", "crashes", "corrupted_records")
"""Figures summed over all cases; the suite's goal is zero for each."""

_TITLES = {
    "test_properties": "Property-based: decoded calls validate; verifier agrees with JSON Schema",
    "test_hostile_schemas": "Hostile schemas: bounded compile, nothing fetched",
    "test_injection": "Prompt injection through tool results (LLM01, LLM06)",
    "test_faults": "Faults: tools, model backend, fallback, killed process",
    "test_concurrency": "Load and concurrency: shared local model",
    "test_limits": "Limits: steps, time, tokens, output size (LLM10)",
    "test_mcp": "MCP servers: untrusted annotations, pinned definitions, faults, audit",
}


class SecurityReport:
    """A pytest plugin object; registered by ``tests/conftest.py`` when ``--security-report`` is given."""

    def __init__(self, out: Path, markexpr: str) -> None:
        self.out = out
        self.markexpr = markexpr
        self.cases: list[dict[str, Any]] = []
        self.docs: dict[str, str] = {}
        self.started = time.time()

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
            self.docs[item.nodeid] = " ".join(doc.strip().split("\n\n")[0].split())

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if "tests/security/" not in report.nodeid.replace("\\", "/"):
            return
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.cases.append(
                {
                    "case": report.nodeid.split("tests/security/", 1)[1],
                    "module": report.nodeid.split("tests/security/", 1)[1].split("::")[0].removesuffix(".py"),
                    "description": self.docs.get(report.nodeid, ""),
                    "outcome": "xfailed" if hasattr(report, "wasxfail") else report.outcome,
                    "seconds": round(report.duration, 3),
                    "figures": {k: v for k, v in report.user_properties},
                    "error": str(report.longrepr).splitlines()[-1][:300] if report.failed and report.longrepr else None,
                }
            )

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        totals = {o: sum(1 for c in self.cases if c["outcome"] == o) for o in ("passed", "failed", "skipped", "xfailed")}
        counters = {k: sum(int(c["figures"].get(k, 0)) for c in self.cases) for k in COUNTERS}
        data = {
            "generated": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "python": platform.python_version(),
            "markexpr": self.markexpr,
            "seconds": round(time.time() - self.started, 1),
            "totals": totals,
            "counters": counters,
            "cases": self.cases,
        }
        (self.out / "report.json").write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
        (self.out / "report.md").write_text(render_markdown(data), encoding="utf-8")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)


def render_markdown(data: dict[str, Any]) -> str:
    lines = [
        "# agentslm reliability and security report",
        "",
        f"Generated {data['generated']} on {data['machine']}, Python {data['python']}; "
        f"selection `-m {data['markexpr']!r}`; {data['seconds']} s.",
        "",
        "| cases | passed | failed | skipped | xfailed |",
        "|--:|--:|--:|--:|--:|",
        f"| {len(data['cases'])} | {data['totals']['passed']} | {data['totals']['failed']} | "
        f"{data['totals']['skipped']} | {data['totals']['xfailed']} |",
        "",
        "| counter (goal 0) | value |",
        "|---|--:|",
        *[f"| {k.replace('_', ' ')} | {v} |" for k, v in data["counters"].items()],
        "",
    ]
    load = [c for c in data["cases"] if "load" in c["figures"]]
    if load:
        lines += [
            "## Load: N concurrent runs sharing one model",
            "",
            "| mode | N | runs | ok | throughput runs/s | p50 s | p95 s | cross-talk |",
            "|---|--:|--:|--:|--:|--:|--:|--:|",
        ]
        for c in load:
            for row in c["figures"]["load"]:
                lines.append(
                    f"| {row['mode']} | {row['n']} | {row['runs']} | {row['ok']} | {row['throughput']:.3f} | "
                    f"{row['p50']:.2f} | {row['p95']:.2f} | {row['cross_talk']} |"
                )
        lines.append("")
    for module in dict.fromkeys(c["module"] for c in data["cases"]):
        cases = [c for c in data["cases"] if c["module"] == module]
        lines += [
            f"## {_TITLES.get(module, module)}",
            "",
            "| case | outcome | s | figures | what it checks |",
            "|---|---|--:|---|---|",
        ]
        for c in cases:
            figures = ", ".join(f"{k}={_fmt(v)}" for k, v in c["figures"].items() if k != "load")
            what = c["description"] + (f" **{c['error']}**" if c["error"] else "")
            name = c["case"].split("::", 1)[-1]
            lines.append(f"| `{name}` | {c['outcome']} | {c['seconds']:.2f} | {figures} | {what} |")
        lines.append("")
    return "\n".join(lines)
