"""Actions that leave the assistant: sending email and opening links. Both are *external* effects, so
the agent asks the user first and shows the exact arguments.

Mail is queued in an outbox (SQLite); nothing is sent over the network by this pack — a mail client or
a hook of yours can deliver the queue. ``open_link`` hands an http(s) link to the system's browser.
"""

from __future__ import annotations

import webbrowser
from typing import Annotated, Any
from urllib.parse import urlparse

from pydantic import Field

from agentslm.registry import FreeText, ToolRegistry

from .contacts import find
from .context import PackContext
from .store import PackStore

__all__ = ["register"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY, recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL,
  queued TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'queued')
"""


def register(registry: ToolRegistry, ctx: PackContext) -> None:
    """Add the external actions to ``registry``."""
    store = PackStore(ctx.data_dir / "outbox.db", SCHEMA, label="outbox")

    @registry.tool(effects=["external"])
    def send_email(
        to: Annotated[str, Field(min_length=1, max_length=254)],
        subject: Annotated[str, Field(max_length=200)],
        body: Annotated[FreeText, Field(max_length=20_000)],
    ) -> str:
        """Send an email (a contact's name is looked up in the contacts).

        Args:
            to: Email address or contact name, e.g. "Ana".
            subject: The subject line.
            body: The message.
        """
        address = to.strip()
        if "@" not in address:
            matches = [c for c in find(ctx, address) if c["email"]]
            if not matches:
                raise LookupError(f"no contact named {to!r} has an email address; add one or give the address")
            if len(matches) > 1:
                names = ", ".join(f"{c['name']} <{c['email']}>" for c in matches)
                raise LookupError(f"{to!r} matches several contacts ({names}); say which")
            address = matches[0]["email"]
        with store.transaction() as db:
            cur = db.execute(
                "INSERT INTO outbox(recipient, subject, body, queued) VALUES (?, ?, ?, ?)",
                (address, subject, body, ctx.local_now().isoformat(timespec="seconds")),
            )
        return f"email #{cur.lastrowid} to {address} queued in the outbox"

    @registry.tool(effects=["external"])
    def open_link(url: Annotated[str, Field(min_length=1, max_length=2000, pattern=r"^https?://")]) -> str:
        """Open a web link in the browser.

        Args:
            url: The http(s) address.
        """
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"{url!r} is not an http(s) link")
        opened: Any = webbrowser.open(url)
        return f"opened {url}" if opened else f"no browser could open {url}"
