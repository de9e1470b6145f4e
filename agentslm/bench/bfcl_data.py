"""BFCL data from the pip package ``bfcl-eval`` (installed with ``--no-deps``; never imported here,
only its data files are read: importing it would pull every model handler's dependencies).

BFCL data is for evaluation only: never for training or few-shot examples.
"""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from agentslm.errors import MissingExtraError, UserError

__all__ = [
    "BfclCase",
    "bfcl_categories",
    "bfcl_data_dir",
    "heldout_cases",
    "load_bfcl",
    "load_bfcl_files",
    "read_jsonl",
    "select_cases",
]


@dataclass(kw_only=True)
class BfclCase:
    id: str
    messages: list[dict[str, str]]
    functions: list[dict[str, Any]]
    answer: list[dict[str, Any]] | None = None
    registry: Any = None
    """The tools to offer, when not built from ``functions`` (``agentslm eval`` passes the user's own)."""


def bfcl_data_dir() -> Path:
    """The ``bfcl_eval/data`` folder of the installed ``bfcl-eval`` package."""
    try:
        dist = distribution("bfcl-eval")
    except PackageNotFoundError:
        raise MissingExtraError("BFCL data needs the bfcl-eval package.", hint="pip install --no-deps bfcl-eval") from None
    path = Path(str(dist.locate_file("bfcl_eval/data")))
    if not path.is_dir():
        raise MissingExtraError(
            f"bfcl-eval is installed but {path} is missing.", hint="pip install --force-reinstall --no-deps bfcl-eval"
        )
    return path


_CATEGORY_FILE = re.compile(r"BFCL_v(\d+)_(.+)\.json")

UNSUPPORTED = ("multi_turn", "memory", "web_search", "format_sensitivity")
"""Categories that need BFCL's executable environments or multi-turn state (not single-turn AST checks)."""


def bfcl_categories() -> dict[str, Path]:
    """Single-turn BFCL categories of the installed data: name -> question file (latest version)."""
    found: dict[str, tuple[int, Path]] = {}
    for path in bfcl_data_dir().glob("BFCL_v*_*.json"):
        match = _CATEGORY_FILE.fullmatch(path.name)
        if match and not match.group(2).startswith(UNSUPPORTED):
            version, name = int(match.group(1)), match.group(2)
            if name not in found or found[name][0] < version:
                found[name] = (version, path)
    return {name: path for name, (_, path) in sorted(found.items())}


def load_bfcl(category: str, *, limit: int | None = None, seed: int | None = None) -> list[BfclCase]:
    """Load a BFCL category (e.g. ``simple_python``) with its possible answers when present.

    ``limit`` keeps that many cases: the first ones, or a random sample drawn with ``seed`` (kept in file order).
    """
    if category.startswith(UNSUPPORTED):
        raise UserError(
            f"BFCL category {category!r} needs BFCL's executable environments or multi-turn state.",
            hint="use a single-turn category such as simple_python, multiple, parallel, parallel_multiple, irrelevance, live_*.",
        )
    categories = bfcl_categories()
    if category not in categories:
        raise UserError(f"Unknown BFCL category {category!r}.", hint=f"known categories: {', '.join(categories)}.")
    questions = categories[category]
    answers = questions.parent / "possible_answer" / questions.name
    cases = load_bfcl_files(questions, answers if answers.is_file() else None)
    return select_cases(cases, limit=limit, seed=seed)


def select_cases(cases: list[BfclCase], *, limit: int | None, seed: int | None) -> list[BfclCase]:
    """The first ``limit`` cases, or ``limit`` cases sampled with ``seed`` (file order kept)."""
    if limit is None or limit >= len(cases):
        return cases
    if seed is None:
        return cases[:limit]
    keep = set(random.Random(seed).sample(range(len(cases)), limit))
    return [c for i, c in enumerate(cases) if i in keep]


def heldout_cases(category: str, *, holdout: int, limit: int | None, seed: int) -> list[BfclCase]:
    """``limit`` cases of ``category`` sampled with ``seed`` from those that ``load_bfcl(category, limit=holdout,
    seed=seed)`` does *not* pick: calibration data disjoint from a benchmark's scored sample."""
    scored = {c.id for c in load_bfcl(category, limit=holdout, seed=seed)}
    rest = [c for c in load_bfcl(category) if c.id not in scored]
    if not rest:
        raise UserError(f"Holding out {holdout} {category} cases leaves none to calibrate on.", hint="lower --holdout.")
    return select_cases(rest, limit=limit, seed=seed)


def load_bfcl_files(questions: str | os.PathLike[str], answers: str | os.PathLike[str] | None = None) -> list[BfclCase]:
    """Cases from a BFCL-format questions file (JSONL: id, question, function) and, optionally, its
    possible-answers file (JSONL: id, ground_truth). Errors name the file and line."""
    answer_rows: dict[str, Any] = {}
    if answers is not None:
        for lineno, row in read_jsonl(Path(answers)):
            if "id" not in row or "ground_truth" not in row:
                raise UserError(f"{answers}:{lineno}: a possible-answer row needs 'id' and 'ground_truth'.")
            answer_rows[row["id"]] = row["ground_truth"]
    cases: list[BfclCase] = []
    for lineno, row in read_jsonl(Path(questions)):
        missing = [k for k in ("id", "question", "function") if k not in row]
        if missing:
            raise UserError(f"{questions}:{lineno}: missing {missing}.", hint="each row needs id, question, function.")
        turn = row["question"][0] if row["question"] and isinstance(row["question"][0], list) else row["question"]
        try:
            messages = [{"role": m["role"], "content": m["content"]} for m in turn]
        except (TypeError, KeyError):
            raise UserError(f"{questions}:{lineno}: 'question' must be a list of {{role, content}} messages.") from None
        if answers is not None and row["id"] not in answer_rows:
            raise UserError(f"{answers} has no possible answer for {row['id']!r} ({questions}:{lineno}).")
        cases.append(BfclCase(id=row["id"], messages=messages, functions=row["function"], answer=answer_rows.get(row["id"])))
    return cases


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise UserError(f"No file at {str(path)!r}.", hint="pass an existing BFCL-format JSONL file.")
    """``(line number, object)`` for each non-empty line; errors name the file and line."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{lineno}: invalid JSON ({exc.msg}).", hint="one JSON object per line.") from None
        if not isinstance(row, dict):
            raise UserError(f"{path}:{lineno}: expected a JSON object.")
        rows.append((lineno, row))
    return rows
