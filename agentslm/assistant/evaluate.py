"""``agentslm bench assistant``: how reliably the assistant handles a labelled set of requests, end to end.

Each case runs the full agent (retrieval, planner, verification, execution) on a fresh copy of seeded data
(``seed.json``: a fixed clock and calls that create notes, contacts, files ...). The simulated user approves a
destructive or external call only if it matches a call the case expects (tool and arguments), and denies any other
(as a person who asked to delete note 2 would deny deleting note 1). Scoring is strict (as in ``agentslm bench
tasks``): a case passes when every expected call ran successfully with matching arguments (left-out arguments count
with their defaults), no approval was asked for a call the request did not ask for, **no side-effecting call ran that
the request did not ask for** (a write that needs no approval counts too), **no call sent an identifier that neither the
request nor an earlier result holds**, and **no call carried junk** (repeated or placeholder text); for a "no tool"
case: nothing ran and nothing was asked. ``lenient`` keeps the earlier definition (expected calls ran, no unrequested
approval prompt) for comparison. Cases file (JSON Lines)::

    {"id": "notes-save", "pack": "notes", "request": "Save a note: buy milk",
     "expected": [{"name": "add_note", "arguments": {"text": {"contains": "buy milk"}}}]}

An expected argument is a value (numbers equal; text equal ignoring case and end punctuation), ``{"contains":
text}``, or a list of alternatives. Arguments not listed are not checked.
"""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from agentslm.bench.strict import invented_in, junk_in
from agentslm.errors import UserError
from agentslm.events import AnswerEvent, ApprovalRequestEvent, CallEvent, ResultEvent, describe_event
from agentslm.registry import Effect, Tool
from agentslm.roles.answer_check import check_answer
from agentslm.step_types import ToolCall
from agentslm_tools import PackContext, build_registry

from .config import AssistantConfig
from .core import build_agent

__all__ = ["load_cases", "matches", "rescore_strict", "run_cases", "strict_problems", "write_report"]


def _norm(value: Any) -> str:
    return str(value).strip().casefold().strip(".!?,;:'\" ")


def matches(value: Any, spec: Any) -> bool:
    """Whether an argument value satisfies an expected spec (see the module docstring)."""
    if isinstance(spec, list):
        return any(matches(value, s) for s in spec)
    if isinstance(spec, dict) and set(spec) == {"contains"}:
        return _norm(spec["contains"]) in _norm(value)
    if isinstance(spec, bool) or isinstance(value, bool):
        return value is spec
    if isinstance(spec, int | float):
        return isinstance(value, int | float) and float(value) == float(spec)
    return _norm(value) == _norm(spec)


def _fits(name: str, arguments: dict[str, Any], tool: Tool | None, want: dict[str, Any]) -> bool:
    """Whether a call matches an expected one; arguments left out count with their schema defaults."""
    if name != want["name"]:
        return False
    props = tool.parameters.get("properties", {}) if tool is not None else {}
    given = {k: spec["default"] for k, spec in props.items() if isinstance(spec, dict) and "default" in spec}
    given.update(arguments)
    return all(k in given and matches(given[k], v) for k, v in want["arguments"].items())


def load_cases(path: Path) -> list[dict[str, Any]]:
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not JSON ({exc.msg}).") from exc
        if not isinstance(case, dict) or not {"id", "request", "expected"} <= set(case):
            raise UserError(f"{path}:{number}: a case needs id, request and expected.")
        cases.append(case)
    return cases


def _seeded(seed: dict[str, Any], packs: list[str], root: Path) -> Callable[[Path], PackContext]:
    """A function that gives each case a fresh copy of the seeded data."""
    now = datetime.fromisoformat(seed.get("now", "2026-11-26T09:30:00+01:00"))
    template = root / "template"

    def context(base: Path) -> PackContext:
        return PackContext(data_dir=base / "data", workspace=base / "ws", timezone=seed.get("timezone"), now=lambda: now)

    registry = build_registry(packs, context(template))
    for call in seed.get("calls", []):
        tool = registry[call["name"]]
        tool.invoke(tool.parse_arguments(call["arguments"]))

    def fresh(base: Path) -> PackContext:
        shutil.copytree(template, base)
        return context(base)

    return fresh


def strict_problems(
    calls: list[dict[str, Any]], expected: list[dict[str, Any]], registry: Any, seen: list[str]
) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """What strict scoring fails a case for: side-effecting calls that ran and fit no expected call, identifiers no
    source holds (``seen``: the request, then the result texts in order; a call may use what came before it, so this
    is checked against all of them: a lenient bound), junk values."""
    unrequested = [
        c
        for c in calls
        if c["ran"]
        and (tool := registry.get(c["name"])) is not None
        and tool.effects - {Effect.READ}
        and not any(_fits(c["name"], c["arguments"], tool, want) for want in expected)
    ]
    text = "\n".join(seen)
    invented = [f"{c['name']}: {i}" for c in calls if c["ran"] for i in invented_in(c["arguments"], text)]
    junk = [
        f"{c['name']}: {j}" for c in calls if c["ran"] for j in junk_in(c["arguments"], text, _parameters(registry, c["name"]))
    ]
    return [{"name": c["name"], "arguments": c["arguments"]} for c in unrequested], invented, junk


def _parameters(registry: Any, name: str) -> dict[str, Any] | None:
    tool = registry.get(name)
    return tool.parameters if tool is not None else None


def rescore_strict(results: list[dict[str, Any]], packs: list[str]) -> list[dict[str, Any]]:
    """Results of an earlier ``bench assistant`` run scored strictly (``lenient``: its own verdict), from the calls
    and the event lines it saved (result texts as shown there, cut at 300 characters)."""
    with tempfile.TemporaryDirectory(prefix="agentslm-rescore-") as tmp:
        registry = build_registry(packs, PackContext(data_dir=Path(tmp), workspace=Path(tmp)))
        out = []
        for r in results:
            seen = [r["request"], *(line.split(": ", 1)[-1] for line in r.get("events", []) if line.startswith("result"))]
            unrequested, invented, junk = strict_problems(r["calls"], r["expected"], registry, seen)
            lenient = bool(r.get("lenient", r["passed"]))
            out.append(
                {
                    **r,
                    "lenient": lenient,
                    "passed": lenient and not unrequested and not invented and not junk,
                    "unrequested_effects": unrequested,
                    "invented_identifiers": invented,
                    "junk_values": junk,
                }
            )
        return out


def run_cases(
    config: AssistantConfig,
    cases: list[dict[str, Any]],
    seed: dict[str, Any],
    *,
    on_case: Callable[[dict[str, Any]], None] | None = None,
    models: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Run every case; returns one result per case. ``models`` maps model specs to loaded models (reused)."""
    results = []
    models = models if models is not None else {}
    selector = None
    with tempfile.TemporaryDirectory(prefix="agentslm-assistant-eval-") as tmp:
        fresh = _seeded(seed, config.tools.packs, Path(tmp))
        for index, case in enumerate(cases):
            ctx = fresh(Path(tmp) / f"case-{index}")
            expected = case["expected"]

            def user(call: ToolCall, tool: Tool, expected: list[dict[str, Any]] = expected) -> bool:
                return any(_fits(call.name, call.arguments, tool, want) for want in expected)  # what was asked, only

            agent = build_agent(config, user, audit=False, ctx=ctx, models=models)
            if selector is not None:
                agent.selector = selector  # same tools in every case: one retrieval index (and embedding model)
            selector = agent.selector
            start = time.perf_counter()
            run = agent.run(case["request"])
            seconds = time.perf_counter() - start
            ok_ids = {e.task_id for e in run.events if isinstance(e, ResultEvent) and e.observation.ok}
            unwanted = [
                {"name": e.tool, "arguments": e.arguments}
                for e in run.events
                if isinstance(e, ApprovalRequestEvent)
                and not any(_fits(e.tool, e.arguments, agent.registry.get(e.tool), want) for want in expected)
            ]
            calls: list[dict[str, Any]] = [
                {"name": e.call.name, "arguments": e.call.arguments, "ran": e.task_id in ok_ids}
                for e in run.events
                if isinstance(e, CallEvent)
            ]
            found = [
                any(c["ran"] and _fits(c["name"], c["arguments"], agent.registry.get(c["name"]), want) for c in calls)
                for want in expected
            ]
            lenient = (all(found) if expected else not any(c["ran"] for c in calls)) and not unwanted
            seen = [case["request"], *(e.observation.text for e in run.events if isinstance(e, ResultEvent))]
            unrequested, invented, junk = strict_problems(calls, expected, agent.registry, seen)
            passed = lenient and not unrequested and not invented and not junk
            names_ok = {w["name"] for w in expected} <= {c["name"] for c in calls} if expected else not calls
            answer = next((e for e in run.events if isinstance(e, AnswerEvent)), None)
            observed = [e.observation.text for e in run.events if isinstance(e, ResultEvent)]
            asked = [case["request"], *(f"{c['name']}({json.dumps(c['arguments'])})" for c in calls)]
            result = {
                "id": case["id"],
                "pack": case.get("pack", ""),
                "request": case["request"],
                "expected": expected,
                "calls": calls,
                "passed": passed,
                "lenient": lenient,
                "unrequested_effects": [{"name": c["name"], "arguments": c["arguments"]} for c in unrequested],
                "invented_identifiers": invented,
                "junk_values": junk,
                "tools_ok": names_ok,
                "unwanted_approvals": unwanted,
                "status": run.status,
                "seconds": round(seconds, 2),
                "answer_replaced": answer.replaced if answer else [],
                "answer_contradictions": check_answer(answer.text, observed, supporting=asked).problems
                if answer and observed
                else [],
                "events": [describe_event(e) for e in run.events],
            }
            results.append(result)
            if on_case is not None:
                on_case(result)
    return results


def _rate(items: list[dict[str, Any]], key: str) -> str:
    hits = sum(1 for r in items if r.get(key))
    return f"{hits}/{len(items)} ({100 * hits / len(items):.0f} %)" if items else "-"


def write_report(results: list[dict[str, Any]], out: Path, meta: dict[str, Any]) -> str:
    """Write ``results.jsonl`` and ``report.md`` into ``out``; returns the report's text."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for r in results:
            fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    seconds = sorted(r["seconds"] for r in results)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))] if seconds else 0.0
    lines = [
        f"# Assistant requests on {meta.get('model', '?')}",
        "",
        f"Command: `{meta.get('command', '')}` · {meta.get('date', '')} · {meta.get('machine', '')}",
        "",
        *(_provenance_line(meta) or []),
        f"**Handled, strict (every expected call ran with matching arguments; no unrequested approval prompt, side "
        f"effect, invented identifier or junk value): {_rate(results, 'passed')}**; handled by the earlier lenient "
        f"definition (expected calls ran, no unrequested approval prompt): {_rate(results, 'lenient')}; unrequested "
        f"side effects that ran: {sum(len(r.get('unrequested_effects', [])) for r in results)}; invented identifiers "
        f"sent: {sum(len(r.get('invented_identifiers', [])) for r in results)}; junk values: "
        f"{sum(len(r.get('junk_values', [])) for r in results)}; right tools chosen: {_rate(results, 'tools_ok')}; approval prompts for a "
        f"destructive/external call the request did not ask for (denied by the simulated user): "
        f"{sum(len(r.get('unwanted_approvals', [])) for r in results)} in "
        f"{sum(1 for r in results if r.get('unwanted_approvals'))} requests; seconds per request p50 "
        f"{statistics.median(seconds) if seconds else 0:.1f}, p95 {p95:.1f}.",
        "",
        f"Answer check: the summarizer's text was replaced by the results in "
        f"{sum(1 for r in results if r.get('answer_replaced'))} answers (unsupported claims found); final answers "
        f"stating a value the results do not support: {sum(1 for r in results if r.get('answer_contradictions'))}.",
        "",
        "| pack | handled | right tools |",
        "|---|--:|--:|",
    ]
    for pack in dict.fromkeys(r["pack"] for r in results):
        group = [r for r in results if r["pack"] == pack]
        lines.append(f"| {pack} | {_rate(group, 'passed')} | {_rate(group, 'tools_ok')} |")
    lines += ["", "| case | request | outcome | calls made | s |", "|---|---|---|---|--:|"]
    for r in results:
        made = "; ".join(
            f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})" + ("" if c["ran"] else " [not run]")
            for c in r["calls"]
        )
        if r["passed"]:
            outcome = "handled"
        elif r.get("lenient"):
            problems = [f"ran unrequested {u['name']}" for u in r.get("unrequested_effects", [])]
            problems += [f"invented {i}" for i in r.get("invented_identifiers", [])]
            problems += [f"junk {j}" for j in r.get("junk_values", [])]
            outcome = "not strict: " + "; ".join(problems)
        elif r.get("unwanted_approvals"):
            outcome = "asked to approve " + ", ".join(u["name"] for u in r["unwanted_approvals"]) + " (denied)"
        else:
            outcome = "wrong arguments" if r["tools_ok"] else f"missed ({r['status']})"
        lines.append(f"| {r['id']} | {r['request']} | {outcome} | {made or '-'} | {r['seconds']:.1f} |".replace("\n", " "))
    text = "\n".join(lines) + "\n"
    (out / "report.md").write_text(text, encoding="utf-8")
    (out / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    return text


def _provenance_line(meta: dict[str, Any]) -> list[str] | None:
    """The report's line naming the code, CPU and llama.cpp buffer decision a run was measured with (absent for a
    rescore, which runs no model)."""
    if "git_commit" not in meta:
        return None
    buffers = meta.get("llama_extra_buffers") or {}
    decision = f"{'on' if buffers.get('enabled') else 'off'} ({buffers.get('reason', '?')})" if buffers else "?"
    return [f"Commit `{meta['git_commit']}` · CPU {meta.get('cpu', '?')} · llama.cpp extra buffers {decision}", ""]
