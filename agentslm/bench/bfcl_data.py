"""BFCL data from the pip package ``bfcl-eval`` (installed with ``--no-deps``; never imported here,
only its data files are read: importing it would pull every model handler's dependencies).

BFCL data is for evaluation only: never for training or few-shot examples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path
from typing import Any

from agentslm.errors import MissingExtraError, UserError

__all__ = ["BfclCase", "bfcl_data_dir", "load_bfcl"]


@dataclass(kw_only=True)
class BfclCase:
    id: str
    messages: list[dict[str, str]]
    functions: list[dict[str, Any]]
    answer: list[dict[str, Any]] | None = None


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


def load_bfcl(category: str, *, limit: int | None = None) -> list[BfclCase]:
    """Load a BFCL category (e.g. ``simple_python``) with its possible answers when present."""
    root = bfcl_data_dir()
    matches = sorted(root.glob(f"BFCL_v*_{category}.json"))
    if not matches:
        known = sorted(p.name.split("_", 2)[2].removesuffix(".json") for p in root.glob("BFCL_v*_*.json"))
        raise UserError(f"Unknown BFCL category {category!r}.", hint=f"known categories: {known}.")
    answers: dict[str, Any] = {}
    answer_file = root / "possible_answer" / matches[-1].name
    if answer_file.is_file():
        for line in answer_file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                answers[row["id"]] = row.get("ground_truth")
    cases: list[BfclCase] = []
    for line in matches[-1].read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        turn = row["question"][0] if row["question"] and isinstance(row["question"][0], list) else row["question"]
        cases.append(
            BfclCase(
                id=row["id"],
                messages=[{"role": m["role"], "content": m["content"]} for m in turn],
                functions=row["function"],
                answer=answers.get(row["id"]),
            )
        )
        if limit is not None and len(cases) >= limit:
            break
    return cases
