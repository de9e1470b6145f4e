"""Which LoRA adapter each agent role decodes with, on one loaded base model.

The planner, caller and summarizer (the alpha-UMi roles) can each have their own adapter; a llama.cpp model loads every
adapter file once and switches between them per step (:class:`~agentslm.models.llamacpp.LlamaCppModel`), so the base
weights are loaded once. A role without an entry decodes with the ``"*"`` entry if there is one, else with the base
weights; planning rounds after results (``planner-after-results``) use the planner's adapter unless listed themselves.

.. code-block:: python

    Agent(adapters={"planner": "planner.gguf", "caller": "caller.gguf", "summarizer": None})
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agentslm.errors import ModelNotFoundError, UserError

__all__ = ["ADAPTER_ROLES", "AdapterSpec", "RoleAdapters", "parse_adapter_option"]

ADAPTER_ROLES = ("planner", "planner-after-results", "caller", "summarizer")
"""The roles an adapter can be set for (``"*"``: every role not listed)."""

AdapterSpec = Mapping[str, "str | os.PathLike[str] | None"]
"""Role -> GGUF adapter file (None: the base weights)."""


@dataclass(frozen=True)
class RoleAdapters:
    """Role -> adapter file (None: the base weights). Build it with :meth:`parse` or :meth:`single`."""

    by_role: Mapping[str, Path | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, adapters: AdapterSpec) -> RoleAdapters:
        """Checked role names and existing files (relative paths are kept as given, ``~`` expanded)."""
        unknown = sorted(set(adapters) - {*ADAPTER_ROLES, "*"})
        if unknown:
            raise UserError(
                f"Unknown role(s) {unknown} in adapters.", hint=f"use {', '.join(ADAPTER_ROLES)} or '*' (every other role)."
            )
        by_role: dict[str, Path | None] = {}
        for role, spec in adapters.items():
            if spec is None or spec == "":
                by_role[role] = None
                continue
            path = Path(spec).expanduser()
            if not path.is_file():
                raise ModelNotFoundError(
                    f"No LoRA adapter file at {str(path)!r} (the {role} adapter).",
                    hint="pass an existing GGUF adapter file (agentslm train export writes one).",
                )
            by_role[role] = path
        return cls(by_role)

    @classmethod
    def single(cls, path: str | os.PathLike[str] | None, roles: Sequence[str] | None = None) -> RoleAdapters:
        """One adapter for ``roles`` (None: every role) and the base weights for the others, planning after results
        included unless listed (an adapter trained on first-round plans)."""
        if path is None:
            return cls({})
        if roles is None:
            return cls.parse({"*": path})
        spec: dict[str, str | os.PathLike[str] | None] = {role: path for role in roles}
        spec.setdefault("planner-after-results", None)
        return cls.parse(spec)

    def for_role(self, role: str) -> Path | None:
        """The adapter ``role`` decodes with (None: the base weights)."""
        if role in self.by_role:
            return self.by_role[role]
        if role == "planner-after-results" and "planner" in self.by_role:
            return self.by_role["planner"]
        return self.by_role.get("*")

    @property
    def files(self) -> list[Path]:
        """Every distinct adapter file, in the order given."""
        return list(dict.fromkeys(p for p in self.by_role.values() if p is not None))

    def describe(self) -> str:
        """``planner=a.gguf caller=a.gguf summarizer=base`` (for logs and names)."""
        return " ".join(f"{role}={p.name if p else 'base'}" for role, p in self.by_role.items())


def parse_adapter_option(items: Sequence[str]) -> dict[str, str | None]:
    """``["planner=p.gguf", "summarizer=base"]`` (the CLI's ``--adapter ROLE=PATH``) -> a role mapping
    (``base`` or an empty path: the base weights)."""
    out: dict[str, str | None] = {}
    for item in items:
        role, sep, path = item.partition("=")
        if not sep or not role.strip():
            raise UserError(f"--adapter {item!r} is not ROLE=PATH.", hint="e.g. --adapter planner=planner.gguf")
        out[role.strip()] = None if path.strip() in ("", "base") else path.strip()
    return out
