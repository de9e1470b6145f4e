"""Run BFCL categories (or a user's BFCL-format files) through several systems on one model,
score every output with BFCL's official checker, and append one JSONL record per case and system.

Results are resumable: a rerun with the same output folder skips the (category, id, system)
records already written. ``meta.json`` holds the model, its load time, the machine and the command.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

from agentslm.bench.bfcl_checker import check_case
from agentslm.bench.bfcl_data import BfclCase
from agentslm.bench.systems import System, SystemOutput
from agentslm.errors import UserError
from agentslm.models.base import Message
from agentslm.registry import Tool, ToolRegistry
from agentslm.roles.prompts import CALLS_PROMPT_VERSION
from agentslm.step_types import ToolCall
from agentslm.verify import Verifier

__all__ = ["RssSampler", "Suite", "git_commit", "machine_description", "read_records", "run_suite", "score_output"]

RESULTS_FILE = "results.jsonl"
META_FILE = "meta.json"


@dataclass(kw_only=True)
class Suite:
    """What to run: named case lists (category -> cases), typically from :func:`load_bfcl`."""

    categories: dict[str, list[BfclCase]]
    out_dir: Path
    command: str = ""
    notes: dict[str, Any] = field(default_factory=dict)


class RssSampler:
    """Tracks the process's peak resident memory (MiB) since the last :meth:`reset`, sampling every 10 ms."""

    def __init__(self, interval: float = 0.01) -> None:
        self._peak = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rss-sampler", daemon=True)

    @staticmethod
    def current_kib() -> int:
        """The process's resident memory now (psutil: Linux, macOS, Windows)."""
        return int(psutil.Process().memory_info().rss // 1024)

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._peak = max(self._peak, self.current_kib())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def reset(self) -> None:
        self._peak = self.current_kib()

    @property
    def peak_mib(self) -> float:
        return max(self._peak, self.current_kib()) / 1024


def machine_description() -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = round(psutil.virtual_memory().total / 2**30, 1)
    from agentslm.models.cpu_buffers import decide_extra_buffers

    return {
        "cpu": cpu,
        "cpus": os.cpu_count(),
        "llama_extra_buffers": decide_extra_buffers().as_dict(),
        "git_commit": git_commit(),
        "memory_gib": mem_gib,
        "os": platform.platform(),
        "python": platform.python_version(),
        "llama_cpp_python": _version("llama-cpp-python"),
        "llguidance": _version("llguidance"),
        "bfcl_eval": _version("bfcl-eval"),
    }


@functools.cache
def git_commit() -> str | None:
    """The agentslm checkout's commit (``+dirty`` with uncommitted changes), or None outside a git checkout.

    Read once per process: a benchmark records the commit it started on (``agentslm bench`` reads it before
    any model loads), not one made while it ran.
    """
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True)
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except Exception:
        return None


def score_output(category: str, case: BfclCase, registry: ToolRegistry, output: SystemOutput) -> dict[str, Any]:
    """Checker verdict plus schema-valid and executable flags for one output."""
    result = check_case(category, case.functions, output.calls, case.answer)
    schema_ok = executable = output.calls is not None
    reasons: list[str] = []
    verifier = Verifier(registry, approve=lambda c, t: True)
    for call in output.calls or []:
        verdict = verifier.verify(call)
        failed = [c for c in verdict.checks if not c.ok]
        if any(c.stage in ("parse", "tool", "schema") for c in failed):
            schema_ok = False
        if any(c.stage in ("parse", "tool", "schema", "types") for c in failed):
            executable = False
        reasons += [f"{call.name}: {c.stage}: {c.reason}" for c in failed]
    return {
        "valid": result.valid,
        "error": "" if result.valid else result.error,
        "error_type": "" if result.valid else result.error_type,
        "schema_valid": schema_ok,
        "executable": executable,
        "verifier": reasons[:5],
    }


def read_records(out_dir: Path) -> list[dict[str, Any]]:
    """The records of a results folder; a torn last line (a crash mid-write) is ignored."""
    path = Path(out_dir) / RESULTS_FILE
    if not path.is_file():
        return []
    records: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def _update_meta(out: Path, suite: Suite, systems: Sequence[System], model_name: str, load_seconds: float) -> None:
    """Merge this run into the folder's ``meta.json`` (refusing another model's folder) and write it back."""
    meta_path = out / META_FILE
    meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8")) if meta_path.is_file() else {}
    if meta and meta.get("model") != model_name:
        raise UserError(
            f"{out} holds results of model {meta.get('model')!r}, not {model_name!r}.",
            hint="use another --out folder for another model.",
        )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    history = meta.get("commands") or ([{"command": meta["command"], "date": meta.get("date")}] if "command" in meta else [])
    meta.update(
        {
            "model": model_name,
            "load_seconds": round(load_seconds, 3),
            "machine": machine_description(),
            "date": now,
            "command": suite.command,
            "commands": [*history, {"command": suite.command, "date": now}],
            "prompt": CALLS_PROMPT_VERSION,
            "systems": sorted({*meta.get("systems", []), *(s.name for s in systems)}),
            "categories": {**meta.get("categories", {}), **{c: len(v) for c, v in suite.categories.items()}},
            **suite.notes,
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def _run_system(system: System, messages: Sequence[Message], tools: Sequence[Tool]) -> SystemOutput:
    """One system's output on one case; a system that raises gives an output with no decodable calls."""
    t0 = time.perf_counter()
    try:
        return system.run(messages, tools)
    except Exception as exc:  # a system that fails on a case scores it as no decodable output
        return SystemOutput(
            calls=None,
            raw=f"error: {type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - t0,
            completion_tokens=0,
            extra={"system_error": f"{type(exc).__name__}: {exc}"},
        )


def run_suite(
    suite: Suite,
    systems: Sequence[System],
    *,
    model_name: str,
    load_seconds: float,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every case of every category through every system; returns the new records."""
    out = Path(suite.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _update_meta(out, suite, systems, model_name, load_seconds)
    done = {(r["category"], r["id"], r["system"]) for r in read_records(out)}
    results = out / RESULTS_FILE
    if results.is_file() and results.stat().st_size and not results.read_bytes().endswith(b"\n"):
        with results.open("a", encoding="utf-8") as fh:  # a crash left a torn line: end it so new records parse
            fh.write("\n")
    new: list[dict[str, Any]] = []
    with RssSampler() as rss, results.open("a", encoding="utf-8") as fh:
        for category, cases in suite.categories.items():
            for case in cases:
                registry = case.registry or ToolRegistry.from_bfcl(case.functions)
                tools = list(registry)
                messages: list[Message] = [{"role": m["role"], "content": m["content"]} for m in case.messages]  # type: ignore[misc]
                for system in systems:
                    if (category, case.id, system.name) in done:
                        continue
                    rss.reset()
                    output = _run_system(system, messages, tools)
                    record = {
                        "category": category,
                        "id": case.id,
                        "system": system.name,
                        **score_output(category, case, registry, output),
                        "calls": None if output.calls is None else [_call_json(c) for c in output.calls],
                        "raw": output.raw[:2000],
                        "seconds": round(output.seconds, 4),
                        "completion_tokens": output.completion_tokens,
                        "prompt_tokens": output.prompt_tokens,
                        "rss_mib": round(rss.peak_mib, 1),
                        **({"extra": output.extra} if output.extra else {}),
                    }
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    fh.flush()
                    new.append(record)
                    if on_record:
                        on_record(record)
    return new


def _call_json(call: ToolCall) -> dict[str, Any]:
    return {"name": call.name, "arguments": call.arguments}
