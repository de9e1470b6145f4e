"""Ready tool packs for agentslm (installed as ``agentslm_tools``; the source folder is ``tools/``).

Each pack is a module with ``register(registry, ctx)`` that adds its tools to a
:class:`~agentslm.ToolRegistry`; data lives in ``ctx.data_dir`` (one SQLite file per pack), files in
``ctx.workspace``. Destructive tools (deleting) and external ones (email, links) need approval.

>>> from agentslm_tools import PackContext, build_registry
>>> registry = build_registry(["notes", "calc"], PackContext(data_dir=tmp, workspace=tmp / "ws"))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from agentslm.errors import UserError
from agentslm.registry import ToolRegistry

from . import actions, agenda, calc, clock, contacts, files, notes
from .context import PackContext
from .store import PackStore, ToolDataError

__all__ = ["PACKS", "PackContext", "PackStore", "ToolDataError", "build_registry"]

PACKS: dict[str, Callable[[ToolRegistry, PackContext], None]] = {
    "notes": notes.register,
    "calendar": agenda.register,
    "contacts": contacts.register,
    "files": files.register,
    "clock": clock.register,
    "calc": calc.register,
    "actions": actions.register,
}
"""Pack name → its ``register`` function."""


def build_registry(packs: Iterable[str], ctx: PackContext, registry: ToolRegistry | None = None) -> ToolRegistry:
    """A registry with the tools of ``packs`` (names from :data:`PACKS`)."""
    registry = registry if registry is not None else ToolRegistry()
    for name in packs:
        if name not in PACKS:
            raise UserError(f"Unknown tool pack {name!r}.", hint=f"choose among {', '.join(PACKS)}.")
        PACKS[name](registry, ctx)
    return registry
