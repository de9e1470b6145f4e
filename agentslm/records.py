"""The training-record format: one JSON object per line, one example for one role.

A record holds the tools offered, the conversation and the target output. The prompt is *not*
stored: it is rendered by the runtime's own prompt builders when the record is used
(:mod:`agentslm.finetune.render`), so training and inference prompts cannot drift apart.
The JSON Schema is published as ``schemas/training_record.schema.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentslm.constraints.validation import validate
from agentslm.errors import UserError
from agentslm.plan import REFERENCE

__all__ = [
    "RECORD_VERSION",
    "DatasetError",
    "RecordCall",
    "RecordTool",
    "TrainingRecord",
    "check_record",
    "read_records",
    "record_key",
    "write_records",
]

RECORD_VERSION = 1


class DatasetError(UserError):
    """A dataset file or record is malformed; the message names the file and line."""


class RecordTool(BaseModel):
    """A tool as offered to the model (the function spec of OpenAI's format)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


class RecordCall(BaseModel):
    """One call in a target."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict)


class TrainingRecord(BaseModel):
    """One training example.

    * ``planner`` — the runtime's call-list prompt (used by the planner and the benchmark's caller):
      ``target_calls`` is the list of calls to make, ``[]`` when no tool fits or a required value is missing.
    * ``caller`` — the single-call prompt: ``target_calls`` holds exactly one call.
    * ``summarizer`` — the answer prompt: ``target_text`` is the answer.
    """

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    id: str = ""
    """Stable id (``record_key`` of the content when empty)."""
    role: Literal["planner", "caller", "summarizer"]
    tools: list[RecordTool] = Field(default_factory=list)
    messages: list[dict[str, str]] = Field(min_length=1)
    """The conversation before the target: ``{"role": "user" | "assistant" | "tool" | "system", "content"}``."""
    target_calls: list[RecordCall] | None = None
    target_text: str | None = None
    source: str = "synthetic"
    """Where the example came from: ``synthetic``, ``trace``, ``escalation``, ``openai``, ``sharegpt``, ..."""
    kind: str = ""
    """What the example teaches (``single``, ``choice``, ``parallel``, ``irrelevant``, ``missing``, ...)."""
    meta: dict[str, Any] = Field(default_factory=dict)

    def request(self) -> str:
        """The last user message (the text checks such as BFCL contamination look at)."""
        return next((m["content"] for m in reversed(self.messages) if m.get("role") == "user"), "")


def record_key(record: TrainingRecord) -> str:
    """Content hash used for deduplication: role, tool names, conversation and target."""
    payload = {
        "role": record.role,
        "tools": sorted(t.name for t in record.tools),
        "messages": record.messages,
        "calls": [c.model_dump() for c in record.target_calls] if record.target_calls is not None else None,
        "text": record.target_text,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def _references(arguments: dict[str, Any], parameters: dict[str, Any]) -> dict[str, int]:
    """Top-level arguments that are plan references (``"$N"`` / ``"$N.field"``): name -> N."""
    props = parameters.get("properties", {})
    found = {}
    for name, value in arguments.items():
        if isinstance(value, str) and name in props and (match := REFERENCE.match(value)):
            found[name] = int(match.group(1))
    return found


def check_record(record: TrainingRecord) -> list[str]:
    """Problems that make a record unusable (empty when it is fine): a target that does not match its
    role, a call to a tool that is not offered, or arguments that do not satisfy the tool's schema.

    In a planner target, call ``k`` may hold a reference to an earlier call's result (``"$N"`` / ``"$N.field"``,
    ``N < k``, as the planner's plan schema admits) in place of any argument value; a reference to itself or a later
    call is a problem, as it is for the runtime's plan check."""
    problems: list[str] = []
    if record.role == "summarizer":
        if not record.target_text:
            problems.append("a summarizer record needs target_text")
        return problems
    if record.target_calls is None:
        return [f"a {record.role} record needs target_calls ([] for no call)"]
    if record.role == "caller" and len(record.target_calls) != 1:
        problems.append(f"a caller record needs exactly one target call, got {len(record.target_calls)}")
    tools = {t.name: t for t in record.tools}
    if len(tools) != len(record.tools):
        problems.append("two offered tools share a name")
    for i, call in enumerate(record.target_calls):
        tool = tools.get(call.name)
        if tool is None:
            problems.append(f"target call {i} names {call.name!r}, which is not among the offered tools")
            continue
        schema = tool.parameters
        refs = _references(call.arguments, schema) if record.role == "planner" else {}
        for name, n in refs.items():
            if not 1 <= n <= i:
                problems.append(
                    f"target call {i} to {call.name!r}: {name}={call.arguments[name]!r} refers to call {n}, which is not an "
                    "earlier call of the plan"
                )
        if refs:  # the referenced value is checked at run time, against the producing tool's result
            schema = {**schema, "properties": {**schema["properties"], **{name: {} for name in refs}}}
        try:
            validate(call.arguments, schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(arguments)"
            problems.append(f"target call {i} to {call.name!r} does not satisfy its schema at {where}: {exc.message}")
        except jsonschema.SchemaError as exc:
            problems.append(f"tool {call.name!r} has an invalid parameters schema: {exc.message}")
    return problems


def read_records(path: str | os.PathLike[str], *, check: bool = True) -> list[TrainingRecord]:
    """Read a JSONL dataset. Any malformed line raises :class:`DatasetError` naming the file and line
    (all bad lines are listed, up to 20); ``check`` also applies :func:`check_record`."""
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"No dataset file at {str(p)!r}.", hint="build one with `agentslm train data`.")
    records: list[TrainingRecord] = []
    errors: list[str] = []
    with p.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = TrainingRecord.model_validate_json(line)
            except ValidationError as exc:
                first = exc.errors()[0]
                where = ".".join(str(x) for x in first["loc"]) or "(record)"
                kind = "invalid JSON" if first["type"] == "json_invalid" else f"{where}: {first['msg']}"
                errors.append(f"{p}:{lineno}: {kind}")
                continue
            problems = check_record(record) if check else []
            if problems:
                errors.append(f"{p}:{lineno}: {problems[0]}")
                continue
            records.append(record)
    if errors:
        more = f"\n... and {len(errors) - 20} more" if len(errors) > 20 else ""
        raise DatasetError(
            f"{len(errors)} bad record(s) in {p}:\n" + "\n".join(errors[:20]) + more,
            hint="fix or drop those lines; the format is schemas/training_record.schema.json.",
        )
    return records


def write_records(path: str | os.PathLike[str], records: Iterable[TrainingRecord]) -> int:
    """Write records as JSONL (ids filled in); returns how many were written."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    tmp = p.with_suffix(p.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            if not record.id:
                record = record.model_copy(update={"id": record_key(record)})
            fh.write(record.model_dump_json(exclude_none=True) + "\n")
            n += 1
    tmp.replace(p)
    return n


def tools_from(specs: Sequence[Any]) -> list[RecordTool]:
    """RecordTools from agentslm Tools, OpenAI tool specs or plain function specs."""
    out: list[RecordTool] = []
    for spec in specs:
        if hasattr(spec, "parameters") and hasattr(spec, "name"):
            out.append(RecordTool(name=spec.name, description=spec.description, parameters=dict(spec.parameters)))
        elif isinstance(spec, dict):
            fn = spec.get("function", spec) if spec.get("type") == "function" else spec
            out.append(RecordTool.model_validate({k: fn[k] for k in ("name", "description", "parameters") if k in fn}))
        else:
            raise DatasetError(f"Cannot read a tool from {type(spec).__name__}.")
    return out
