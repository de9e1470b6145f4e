"""Contacts (SQLite): add, find, delete."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from agentslm.registry import ToolRegistry

from .context import PackContext
from .store import PackStore

__all__ = ["find", "register"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS contacts (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL DEFAULT '',
  phone TEXT NOT NULL DEFAULT '')
"""


def _store(ctx: PackContext) -> PackStore:
    return PackStore(ctx.data_dir / "contacts.db", SCHEMA, label="contacts")


def find(ctx: PackContext, name: str) -> list[dict[str, Any]]:
    """Contacts whose name contains ``name`` (case-insensitive)."""
    with _store(ctx).transaction() as db:
        rows = db.execute(
            "SELECT id, name, email, phone FROM contacts WHERE name LIKE ? ESCAPE '\\' ORDER BY name LIMIT 20",
            ("%" + name.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%",),
        ).fetchall()
    return [dict(r) for r in rows]


def register(registry: ToolRegistry, ctx: PackContext) -> None:
    """Add the contact tools to ``registry``."""
    store = _store(ctx)

    @registry.tool(effects=["write"])
    def add_contact(
        name: Annotated[str, Field(min_length=1, max_length=200)],
        email: Annotated[str, Field(max_length=254, pattern=r"^$|^[^@\s]+@[^@\s]+$")] = "",
        phone: Annotated[str, Field(max_length=40)] = "",
    ) -> str:
        """Add a person to the contacts.

        Args:
            name: The person's name.
            email: Email address (optional).
            phone: Phone number (optional).
        """
        with store.transaction() as db:
            cur = db.execute("INSERT INTO contacts(name, email, phone) VALUES (?, ?, ?)", (name.strip(), email, phone))
        return f"added contact #{cur.lastrowid}: {name.strip()}"

    @registry.tool
    def find_contact(name: Annotated[str, Field(min_length=1, max_length=200)]) -> list[dict[str, Any]]:
        """Look up a person's email and phone in the contacts.

        Args:
            name: The person's name or part of it, e.g. "Ana".
        """
        return find(ctx, name)

    @registry.tool(effects=["destructive"])
    def delete_contact(contact_id: Annotated[int, Field(ge=1)]) -> str:
        """Remove a contact by its number. Cannot be undone.

        Args:
            contact_id: The contact's number.
        """
        return store.delete_row("contacts", contact_id, "contact")
