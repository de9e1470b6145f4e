"""Building a dataset: importers for common formats and agent traces, deduplication, a held-out split,
and the contamination checks (BFCL and the strict task benchmark are for evaluation only: a training set that
contains one of their questions or requests is refused)."""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from agentslm.records import DatasetError, RecordCall, TrainingRecord, check_record, record_key, tools_from

__all__ = [
    "TASK_CASES",
    "bfcl_contamination",
    "check_no_bfcl",
    "check_no_task_requests",
    "dedupe",
    "from_agent_runs",
    "from_openai_chat",
    "from_sharegpt",
    "split_records",
    "task_contamination",
]

# -- common public formats ----------------------------------------------------------------------------------


def _load_rows(path: Path) -> list[tuple[int, Any]]:
    """(line, row) pairs of a JSONL file, or of a JSON list (line 0 = the file)."""
    if not path.is_file():
        raise DatasetError(f"No file at {str(path)!r}.")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            return [(0, row) for row in json.loads(text)]
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}).") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append((lineno, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{lineno}: invalid JSON ({exc.msg}).") from None
    return rows


def _arguments(raw: Any, where: str) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError:
            raise DatasetError(f"{where}: tool-call arguments are not JSON: {raw[:80]!r}.") from None
    if not isinstance(raw, dict):
        raise DatasetError(f"{where}: tool-call arguments must be an object.")
    return raw


def _finish(records: list[TrainingRecord], where: str, record: TrainingRecord) -> None:
    problems = check_record(record)
    if problems:
        raise DatasetError(f"{where}: {problems[0]}", hint="fix the example or drop it.")
    records.append(record)


def _assistant_turn(
    records: list[TrainingRecord],
    where: str,
    tools: list[Any],
    history: list[dict[str, str]],
    results: list[dict[str, str]],
    calls: list[RecordCall],
    text: str,
    source: str,
) -> None:
    """One assistant turn of an imported conversation: calls (or a plain answer right after the user) become a
    planner record when tools were offered; a text answer after tool results becomes a summarizer record."""
    if calls or not results:
        if tools:
            record = TrainingRecord(
                role="planner", tools=tools, messages=list(history), target_calls=calls, source=source, kind="import"
            )
            _finish(records, where, record)
        if calls:
            listed = [c.model_dump() for c in calls]
            history.append({"role": "assistant", "content": "<tool_call>" + json.dumps(listed) + "</tool_call>"})
    elif text.strip():
        request = next(h["content"] for h in reversed(history) if h["role"] == "user")
        record = TrainingRecord(
            role="summarizer",
            messages=[{"role": "user", "content": request}, *results],
            target_text=text.strip(),
            source=source,
            kind="import",
        )
        _finish(records, where, record)


def from_openai_chat(path: str | os.PathLike[str], *, source: str = "openai") -> list[TrainingRecord]:
    """Records from OpenAI chat-format examples (``{"messages": [...], "tools": [...]}`` per line, the format of
    OpenAI's fine-tuning files): an assistant turn right after a user turn becomes a planner record (its
    ``tool_calls``, or ``[]`` when it answered without calling); an assistant text after tool results becomes
    a summarizer record."""
    p = Path(path)
    records: list[TrainingRecord] = []
    for lineno, row in _load_rows(p):
        where = f"{p}:{lineno}"
        if not isinstance(row, dict) or not isinstance(row.get("messages"), list):
            raise DatasetError(f"{where}: expected an object with a 'messages' list.")
        tools = tools_from(row.get("tools") or [])
        history: list[dict[str, str]] = []
        results: list[dict[str, str]] = []
        for m in row["messages"]:
            role = m.get("role")
            if role == "system":
                continue
            if role == "user":
                history.append({"role": "user", "content": str(m.get("content") or "")})
                results = []
            elif role == "tool":
                results.append({"role": "tool", "content": f"{m.get('name', 'tool')} -> {m.get('content', '')}"})
            elif role == "assistant":
                calls = [
                    RecordCall(name=c["function"]["name"], arguments=_arguments(c["function"].get("arguments", {}), where))
                    for c in m.get("tool_calls") or []
                ]
                if not history:
                    raise DatasetError(f"{where}: an assistant turn before any user turn.")
                _assistant_turn(records, where, tools, history, results, calls, str(m.get("content") or ""), source)
            else:
                raise DatasetError(f"{where}: unknown message role {role!r}.")
    return records


_TOOL_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_TOOLS = re.compile(r"<tools>\s*(.*?)\s*</tools>", re.S)


def _json_items(text: str, where: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise DatasetError(f"{where}: a <tool_call> block is not JSON: {text[:80]!r}.") from None
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, dict) and isinstance(i.get("name"), str) for i in items):
        raise DatasetError(f"{where}: a tool call needs a 'name'.")
    return items


def from_sharegpt(path: str | os.PathLike[str], *, source: str = "sharegpt") -> list[TrainingRecord]:
    """Records from ShareGPT-style function-calling data (``{"conversations": [{"from", "value"}], "tools"}``):
    Hermes style (tools in ``<tools>`` of the system turn, calls in ``<tool_call>`` blocks of ``gpt`` turns) and
    Glaive/LLaMA-Factory style (``function_call`` and ``observation`` turns, ``tools`` as a JSON string)."""
    p = Path(path)
    records: list[TrainingRecord] = []
    for lineno, row in _load_rows(p):
        where = f"{p}:{lineno}" if lineno else f"{p} example {len(records)}"
        turns = row.get("conversations") if isinstance(row, dict) else None
        if not isinstance(turns, list):
            raise DatasetError(f"{where}: expected an object with a 'conversations' list.")
        raw_tools: Any = row.get("tools") or []
        if isinstance(raw_tools, str):
            raw_tools = json.loads(raw_tools) if raw_tools.strip() else []
        for t in turns:
            if t.get("from") == "system" and not raw_tools and (m := _TOOLS.search(str(t.get("value", "")))):
                block = m.group(1)
                try:
                    raw_tools = json.loads(block)
                except json.JSONDecodeError:  # Hermes also writes one JSON object per line
                    raw_tools = [json.loads(line) for line in block.splitlines() if line.strip()]
        tools = tools_from(raw_tools if isinstance(raw_tools, list) else [raw_tools])
        history: list[dict[str, str]] = []
        results: list[dict[str, str]] = []
        for t in turns:
            who, value = t.get("from"), str(t.get("value", ""))
            if who in ("human", "user"):
                history.append({"role": "user", "content": value})
                results = []
            elif who in ("observation", "tool", "function_response"):
                results.append({"role": "tool", "content": f"tool -> {value}"})
            elif who in ("function_call", "gpt", "assistant"):
                if who == "function_call":
                    items = _json_items(value, where)
                else:
                    items = [i for block in _TOOL_CALL.findall(value) for i in _json_items(block, where)]
                calls = [RecordCall(name=i["name"], arguments=_arguments(i.get("arguments", {}), where)) for i in items]
                if history:
                    _assistant_turn(records, where, tools, history, results, calls, value, source)
    return records


def from_agent_runs(path: str | os.PathLike[str], tools: Sequence[Any]) -> list[TrainingRecord]:
    """Planner records from saved agent runs (``AgentRun`` JSON per line, e.g. ``agentslm run --json``): the
    first round's calls that were **verified and ran successfully** (calls refused by the verifier, denied,
    or failed are never used); ``tools`` are the tools the agent offered (a registry or tool specs)."""
    from agentslm.agent import AgentRun
    from agentslm.events import PlanEvent, ResultEvent, VerdictEvent

    p = Path(path)
    offered = tools_from(list(tools))
    records: list[TrainingRecord] = []
    for lineno, row in _load_rows(p):
        where = f"{p}:{lineno}"
        try:
            run = AgentRun.model_validate(row)
        except ValueError as exc:
            raise DatasetError(f"{where}: not an agent run ({str(exc).splitlines()[0]}).") from None
        plans = [e for e in run.events if isinstance(e, PlanEvent)]
        if not plans:
            if run.status == "no_tool":
                _finish(records, where, _trace_record(offered, run.request, [], "irrelevant"))
            continue
        first = {t.id for t in plans[0].tasks}
        approved = {e.task_id for e in run.events if isinstance(e, VerdictEvent) and e.verdict.approved}
        succeeded = {e.task_id for e in run.events if isinstance(e, ResultEvent) and e.observation.ok}
        calls = [
            RecordCall(name=t.tool, arguments=t.arguments)
            for t in plans[0].tasks
            if t.id in first and t.id in approved and t.id in succeeded and "$" not in json.dumps(t.arguments)
        ]
        if calls and len(calls) == len(plans[0].tasks):
            _finish(records, where, _trace_record(offered, run.request, calls, "trace"))
    return records


def _trace_record(tools: list[Any], request: str, calls: list[RecordCall], kind: str) -> TrainingRecord:
    return TrainingRecord(
        role="planner",
        tools=tools,
        messages=[{"role": "user", "content": request}],
        target_calls=calls,
        source="trace",
        kind=kind,
    )


# -- cleaning and splitting ---------------------------------------------------------------------------------


def dedupe(records: Iterable[TrainingRecord]) -> list[TrainingRecord]:
    """Drop records with the same role, tools, conversation and target (first kept); fill in ids."""
    seen: set[str] = set()
    out: list[TrainingRecord] = []
    for r in records:
        key = record_key(r)
        if key in seen:
            continue
        seen.add(key)
        out.append(r if r.id else r.model_copy(update={"id": key}))
    return out


def split_records(
    records: Sequence[TrainingRecord], val_fraction: float, *, seed: int = 0
) -> tuple[list[TrainingRecord], list[TrainingRecord]]:
    """A random (seeded) train/validation split of records."""
    if not 0 <= val_fraction < 1:
        raise DatasetError(f"val_fraction={val_fraction} must be in [0, 1).")
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_val = round(len(records) * val_fraction)
    val = set(order[:n_val])
    return [r for i, r in enumerate(records) if i not in val], [r for i, r in enumerate(records) if i in val]


# -- BFCL contamination -------------------------------------------------------------------------------------

_SHINGLE = 12
_MIN_QUESTION_WORDS = 6


def _norm_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


@cache
def _bfcl_index() -> tuple[frozenset[str], frozenset[tuple[str, ...]]]:
    from agentslm.bench.bfcl_data import bfcl_data_dir

    questions: set[str] = set()
    shingles: set[tuple[str, ...]] = set()
    for path in sorted(bfcl_data_dir().glob("BFCL_v*.json")):
        text = path.read_text(encoding="utf-8")
        try:
            rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError:
            continue  # not a question file (format_sensitivity is one JSON object of case ids)
        for row in rows:
            for turn in row.get("question", []):
                for m in turn if isinstance(turn, list) else [turn]:
                    if isinstance(m, dict) and m.get("role") == "user" and isinstance(m.get("content"), str):
                        words = _norm_words(m["content"])
                        questions.add(" ".join(words))
                        shingles.update(tuple(words[i : i + _SHINGLE]) for i in range(len(words) - _SHINGLE + 1))
    return frozenset(questions), frozenset(shingles)


def bfcl_contamination(records: Iterable[TrainingRecord]) -> list[tuple[str, str]]:
    """``(record id, reason)`` for every record whose user text contains a whole BFCL question (normalised words,
    questions of 6+ words) or shares a run of 12 consecutive words with one. Needs ``bfcl-eval``'s data files."""
    questions, shingles = _bfcl_index()
    hits: list[tuple[str, str]] = []
    for r in records:
        for m in r.messages:
            if m.get("role") != "user":
                continue
            words = _norm_words(m["content"])
            reason = None
            for i in range(len(words)):
                for j in range(i + _MIN_QUESTION_WORDS, len(words) + 1):
                    if " ".join(words[i:j]) in questions:
                        reason = f"contains the BFCL question {' '.join(words[i:j])!r}"
                        break
                if reason is None and tuple(words[i : i + _SHINGLE]) in shingles:
                    reason = f"shares {' '.join(words[i : i + _SHINGLE])!r} with a BFCL question"
                if reason:
                    break
            if reason:
                hits.append((r.id or record_key(r), reason))
                break
    return hits


def check_no_bfcl(records: Iterable[TrainingRecord]) -> None:
    """Raise :class:`DatasetError` if any record contains BFCL test data (see :func:`bfcl_contamination`)."""
    hits = bfcl_contamination(records)
    if hits:
        shown = "\n".join(f"  {rid}: {why}" for rid, why in hits[:10])
        raise DatasetError(
            f"{len(hits)} training record(s) contain BFCL test questions:\n{shown}",
            hint="BFCL data is for evaluation only; remove those records.",
        )


# -- strict task benchmark contamination --------------------------------------------------------------------

TASK_CASES = Path(__file__).resolve().parents[2] / "examples" / "tasks" / "cases.jsonl"
"""The strict task benchmark's cases (``agentslm bench tasks``, :mod:`agentslm.bench.tasks`) in a source checkout."""

_SHORT_TASK_WORDS = 5
"""Requests shorter than this ("What's the weather?") count when a whole sentence of a record is the request; longer
ones count wherever their words appear in a row."""
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n")


def _task_texts(cases: Path) -> tuple[frozenset[str], frozenset[str]]:
    """(short, long) normalised texts of the task benchmark: every turn of every case, and the longer texts of its
    world (the messages, notes and files its results show, such as its injected instruction)."""
    from agentslm.bench.task_world import SEED

    short: set[str] = set()
    long: set[str] = set()
    for _, row in _load_rows(cases):
        for turn in row.get("turns", []) if isinstance(row, dict) else []:
            if isinstance(turn, str) and (words := _norm_words(turn)):
                (long if len(words) >= _SHORT_TASK_WORDS else short).add(" ".join(words))

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, str) and len(words := _norm_words(value)) >= _MIN_QUESTION_WORDS:
            long.add(" ".join(words))

    walk(SEED)
    return frozenset(short), frozenset(long)


def _task_hit(text: str, short: frozenset[str], long: frozenset[str], lengths: Sequence[int]) -> str | None:
    for sentence in _SENTENCE.split(text):
        if (said := " ".join(_norm_words(sentence))) in short:
            return said
    words = _norm_words(text)
    for k in lengths:
        for i in range(len(words) - k + 1):
            if (run := " ".join(words[i : i + k])) in long:
                return run
    return None


def task_contamination(
    records: Iterable[TrainingRecord], *, cases: str | os.PathLike[str] | None = None
) -> list[tuple[str, str]]:
    """``(record id, reason)`` for every record with a message that contains a whole request of the strict task
    benchmark (normalised words; a request under 5 words must be a whole sentence of the message) or a text of its
    world of 6+ words (its inbox, notes and files). ``cases``: the benchmark's cases file (default :data:`TASK_CASES`)."""
    path = Path(cases) if cases is not None else TASK_CASES
    if not path.is_file():
        raise DatasetError(f"No task benchmark cases at {str(path)!r}.", hint="pass the cases file of `agentslm bench tasks`.")
    short, long = _task_texts(path)
    lengths = sorted({len(t.split()) for t in long})
    hits: list[tuple[str, str]] = []
    for r in records:
        for m in r.messages:
            if found := _task_hit(m.get("content", ""), short, long, lengths):
                hits.append((r.id or record_key(r), f"contains the task benchmark's text {found!r}"))
                break
    return hits


def check_no_task_requests(records: Iterable[TrainingRecord], *, cases: str | os.PathLike[str] | None = None) -> None:
    """Raise :class:`DatasetError` if any record contains a request of the strict task benchmark (see
    :func:`task_contamination`)."""
    hits = task_contamination(records, cases=cases)
    if hits:
        shown = "\n".join(f"  {rid}: {why}" for rid, why in hits[:10])
        raise DatasetError(
            f"{len(hits)} training record(s) contain requests of the task benchmark:\n{shown}",
            hint="the task benchmark is for evaluation only; remove those records or rephrase the templates.",
        )
