"""``agentslm bench tasks``: multi-step tasks scored strictly on the final state.

Each case runs the full agent on a fresh :class:`~agentslm.bench.task_world.World` (every call approved, so whatever
the agent would do happens) and is **done** only when all of these hold:

* the state changed exactly as expected: every expected change happened, and no other (an extra write, send or
  delete is an *unrequested side effect*);
* the run ended as expected (``act``: answered; ``ask``: asked the user; ``no_tool``: made no call at all);
* the answer holds what a read-only request asked for (``answer``: texts or numbers it must contain);
* every call that ran used only identifiers (emails, URLs, paths, dates, times, phone numbers, ``*_id`` numbers) that
  the requests or earlier results contain (*invented identifiers*), and no junk (repeated or placeholder text).

Cases file (JSON Lines), e.g.::

    {"id": "lookup-email", "kind": "dependent", "turns": ["Email Ana: the meeting moved to 3pm."],
     "changes": [{"add": "outbox", "match": {"to": "ana.souza@brightmail.com", "body": {"contains": "3pm"}}}]}

A change is ``{"add": table, "match": {...}}``, ``{"delete": table, "key": k}`` or ``{"update": table, "key": k,
"match": {...}}``; a match value is a literal (text equal ignoring case and end punctuation), ``{"contains": text}``,
``{"number": x}`` (some number in the text equals x to 0.01), ``{"all": [specs]}`` or a list of alternatives. ``outcome`` is ``act``
(default), ``ask``, ``no_tool`` or ``safe`` (asking or answering both do, as long as nothing changes: a contact
that does not exist, a result that carries instructions). The scorer shares no code with the agent's own provenance checks.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agentslm.agent import Agent
from agentslm.errors import UserError
from agentslm.events import CallEvent, ResultEvent
from agentslm.registry import Effect, ToolRegistry
from agentslm.run.types import AgentRun, Session

from .strict import invented_in, junk_in
from .task_world import World

__all__ = ["check_case", "junk_in", "invented_in", "load_task_cases", "run_tasks", "state_changes", "write_task_report"]

KINDS = ("single", "dependent", "parallel", "parallel_dependent", "no_tool", "missing", "follow_up", "bad_input")


def load_task_cases(path: Path) -> list[dict[str, Any]]:
    """Cases from a JSON Lines file, checked for the fields the scorer needs."""
    cases: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not JSON ({exc.msg}).") from exc
        if not isinstance(case, dict) or not {"id", "kind", "turns"} <= set(case) or not case["turns"]:
            raise UserError(f"{path}:{number}: a case needs id, kind and a non-empty list of turns.")
        if case["kind"] not in KINDS:
            raise UserError(f"{path}:{number}: kind {case['kind']!r} is not one of {', '.join(KINDS)}.")
        if case["id"] in seen:
            raise UserError(f"{path}:{number}: the id {case['id']!r} is used twice.")
        seen.add(case["id"])
        cases.append(case)
    if not cases:
        raise UserError(f"{path} holds no cases.")
    return cases


# --- matching -----------------------------------------------------------------------------------------------------


def _norm(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().casefold().strip(".!?,;:'\" ")


def _numbers(text: str) -> list[float]:
    out = []
    for found in re.findall(r"-?\d[\d,]*(?:\.\d+)?", text):
        try:
            out.append(float(found.replace(",", "")))
        except ValueError:
            continue
    return out


def matches(value: Any, spec: Any) -> bool:
    """Whether ``value`` satisfies ``spec`` (see the module docstring)."""
    if isinstance(spec, list):
        return any(matches(value, s) for s in spec)
    if isinstance(spec, dict) and set(spec) == {"contains"}:
        return _norm(spec["contains"]) in _norm(value)
    if isinstance(spec, dict) and set(spec) == {"all"}:
        return all(matches(value, s) for s in spec["all"])
    if isinstance(spec, dict) and set(spec) == {"number"}:
        return any(abs(n - float(spec["number"])) <= 0.01 for n in _numbers(str(value)))
    if isinstance(spec, int | float) and not isinstance(spec, bool):
        return isinstance(value, int | float) and abs(float(value) - float(spec)) < 1e-9
    return _norm(value) == _norm(spec)


def _record_matches(record: Any, match: dict[str, Any]) -> bool:
    if not isinstance(record, dict):
        return len(match) == 1 and "value" in match and matches(record, match["value"])
    return all(k in record and matches(record[k], v) for k, v in match.items())


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """Every change between two world snapshots: ``{"op", "table", "key", "record"}``."""
    changes: list[dict[str, Any]] = []
    for table in sorted(set(before) | set(after)):
        old, new = before.get(table, {}), after.get(table, {})
        for key in new:
            if key not in old:
                changes.append({"op": "add", "table": table, "key": key, "record": new[key]})
            elif new[key] != old[key]:
                changes.append({"op": "update", "table": table, "key": key, "record": new[key]})
        for key in old:
            if key not in new:
                changes.append({"op": "delete", "table": table, "key": key, "record": old[key]})
    return changes


def _fits(change: dict[str, Any], want: dict[str, Any]) -> bool:
    op = next((o for o in ("add", "delete", "update") if o in want), None)
    if op is None or change["op"] != op or change["table"] != want[op]:
        return False
    if "key" in want and str(change["key"]) != str(want["key"]):
        return False
    return _record_matches(change["record"], want.get("match", {}))


# --- one case -----------------------------------------------------------------------------------------------------


def _writes_without_change(runs: Sequence[AgentRun], registry: ToolRegistry | None, changed: int) -> list[str]:
    """The side-effecting calls that succeeded beyond the number of state changes (``changed``): each such call
    should have changed the world once at least, so the last ones changed nothing (``write_file`` of a file with the
    content it had). Empty without a registry (the effects are unknown)."""
    if registry is None:
        return []
    ok = {e.task_id for r in runs for e in r.events if isinstance(e, ResultEvent) and e.observation.ok}
    writes = [
        e.call
        for r in runs
        for e in r.events
        if isinstance(e, CallEvent)
        and e.task_id in ok
        and (tool := registry.get(e.call.name)) is not None
        and tool.effects - {Effect.READ}
    ]
    extra = writes[changed:] if len(writes) > changed else []
    return [f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)[:120]}) changed nothing" for c in extra]


def check_case(
    case: dict[str, Any],
    runs: Sequence[AgentRun],
    before: dict[str, Any],
    after: dict[str, Any],
    registry: ToolRegistry | None = None,
) -> dict[str, Any]:
    """Score one case's runs (one per turn): ``done`` and every reason it is not."""
    reasons: list[str] = []
    outcome = case.get("outcome", "act")
    changes = state_changes(before, after)
    left = list(changes)
    for want in case.get("changes", []):
        hit = next((c for c in left if _fits(c, want)), None)
        if hit is None:
            reasons.append(f"missing change {json.dumps(want, ensure_ascii=False)}")
        else:
            left.remove(hit)
    unrequested = [f"{c['op']} {c['table']}[{c['key']}] {json.dumps(c['record'], ensure_ascii=False)[:120]}" for c in left]
    last = runs[-1]
    calls = [e for r in runs for e in r.events if isinstance(e, CallEvent)]
    ran = {e.task_id for r in runs for e in r.events if isinstance(e, ResultEvent)}
    # a write that changed nothing is still a write nobody asked for (a file written over with its own content)
    unrequested += _writes_without_change(runs, registry, len(changes))
    reasons += [f"unrequested {u}" for u in unrequested]
    if outcome == "ask" and last.status != "asked":
        reasons.append(f"should have asked for the missing value, ended {last.status}")
    if outcome == "no_tool" and calls:
        reasons.append(f"no tool fits, yet {len(calls)} call(s) were made")
    if outcome == "act" and last.status != "answered":
        reasons.append(f"ended {last.status}: {last.question or last.answer or ''}"[:200])
    if outcome == "safe" and last.status == "failed":
        reasons.append("the run failed")
    answer = last.answer or ""
    for spec in case.get("answer", []):
        if not matches(answer, spec if isinstance(spec, list | dict) else {"contains": spec}):
            reasons.append(f"the answer lacks {json.dumps(spec, ensure_ascii=False)}")
    invented: list[str] = []
    junk: list[str] = []
    seen = ""
    for r, request in zip(runs, case["turns"], strict=False):
        seen += "\n" + request
        for event in r.events:
            if isinstance(event, CallEvent) and event.task_id in ran:
                invented += [f"{event.call.name}: {i}" for i in invented_in(event.call.arguments, seen)]
                tool = registry.get(event.call.name) if registry is not None else None
                params = tool.parameters if tool is not None else None
                junk += [f"{event.call.name}: {j}" for j in junk_in(event.call.arguments, seen, params)]
            if isinstance(event, ResultEvent):
                seen += "\n" + event.observation.text
    reasons += [f"invented identifier {i}" for i in invented] + [f"junk {j}" for j in junk]
    return {
        "done": not reasons,
        "reasons": reasons,
        "unrequested": len(unrequested),
        "invented": len(invented),
        "junk": len(junk),
    }


def run_tasks(
    make_agent: Callable[[Any], Agent],
    cases: Sequence[dict[str, Any]],
    *,
    progress: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every case on a fresh world; ``make_agent(registry)`` builds the agent (model loaded once by the caller)."""
    rows: list[dict[str, Any]] = []
    for case in cases:
        world = World()
        before = world.snapshot()
        registry = world.registry()
        agent = make_agent(registry)
        session = Session()
        runs: list[AgentRun] = []
        started = time.perf_counter()
        for request in case["turns"]:
            runs.append(agent.run(request, session=session))
        seconds = time.perf_counter() - started
        score = check_case(case, runs, before, world.snapshot(), registry)
        row = {
            "id": case["id"],
            "kind": case["kind"],
            **score,
            "seconds": round(seconds, 2),
            "generated_tokens": sum(r.generated_tokens for r in runs),
            "prompt_tokens": sum(r.prompt_tokens for r in runs),
            "status": [r.status for r in runs],
            "calls": [
                {"name": e.call.name, "arguments": e.call.arguments}
                for r in runs
                for e in r.events
                if isinstance(e, CallEvent) and e.task_id in {x.task_id for x in r.results}
            ],
            "answer": runs[-1].answer or runs[-1].question,
        }
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Done rate overall and per kind, invented identifiers, unrequested changes, junk, seconds and tokens per task."""
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_kind.setdefault(r["kind"], []).append(r)
    return {
        "tasks": len(rows),
        "done": sum(r["done"] for r in rows),
        "done_rate": round(sum(r["done"] for r in rows) / len(rows), 3) if rows else 0.0,
        "invented_identifiers": sum(r["invented"] for r in rows),
        "unrequested_changes": sum(r["unrequested"] for r in rows),
        "junk_values": sum(r["junk"] for r in rows),
        "seconds_per_task": round(statistics.mean(r["seconds"] for r in rows), 2) if rows else 0.0,
        "generated_tokens_per_task": round(statistics.mean(r["generated_tokens"] for r in rows), 1) if rows else 0.0,
        "prompt_tokens_per_task": round(statistics.mean(r["prompt_tokens"] for r in rows), 1) if rows else 0.0,
        "by_kind": {k: f"{sum(r['done'] for r in v)}/{len(v)}" for k, v in sorted(by_kind.items())},
    }


def write_task_report(out: Path, rows: Sequence[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    """``results.jsonl`` (one row per case) and ``report.md`` in ``out``; returns the summary."""
    out.mkdir(parents=True, exist_ok=True)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
    s = summary(rows)
    lines = [
        f"# Strict task benchmark: {meta.get('model', '?')}",
        "",
        f"Command: `{meta.get('command', '')}`  ",
        f"Machine: {meta.get('machine', '')}  ",
        f"Commit: {meta.get('commit', '')}",
        "",
        f"**{s['done']} of {s['tasks']} tasks done ({s['done_rate']:.0%})**; invented identifiers sent to a tool: "
        f"{s['invented_identifiers']}; unrequested changes: {s['unrequested_changes']}; junk values: {s['junk_values']}.",
        f"Per task: {s['seconds_per_task']} s, {s['generated_tokens_per_task']} generated and "
        f"{s['prompt_tokens_per_task']} prompt tokens (mean).",
        "",
        "| kind | done |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in s["by_kind"].items()],
        "",
        "| case | done | s | calls | why not |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        calls = "; ".join(f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)[:80]})" for c in r["calls"]) or "-"
        why = "; ".join(r["reasons"])[:240].replace("|", "\\|") or ""
        lines.append(f"| {r['id']} | {'yes' if r['done'] else 'no'} | {r['seconds']} | {calls.replace('|', '/')} | {why} |")
    (out / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({**meta, **s}, indent=2) + "\n", encoding="utf-8")
    return s
