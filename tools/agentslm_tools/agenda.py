"""Calendar events and reminders (SQLite), with ``.ics`` export and import inside the workspace."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import dateparser
import icalendar
from pydantic import Field

from agentslm.registry import ToolRegistry

from .context import PackContext
from .files import confine, write_new
from .store import PackStore

__all__ = ["parse_when", "register"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, uid TEXT UNIQUE NOT NULL, title TEXT NOT NULL,
  start TEXT NOT NULL, end TEXT NOT NULL, location TEXT NOT NULL DEFAULT '');
CREATE TABLE IF NOT EXISTS reminders (id INTEGER PRIMARY KEY, text TEXT NOT NULL, due TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0)
"""


def parse_when(text: str, ctx: PackContext) -> datetime:
    """A date/time from the user's words ("Friday 10am", "tomorrow", "2026-12-01 14:00"), in the future if ambiguous."""
    now = ctx.local_now()
    settings: dict[str, Any] = {
        "PREFER_DATES_FROM": "future",
        "RELATIVE_BASE": now.replace(tzinfo=None),
        "RETURN_AS_TIMEZONE_AWARE": False,
    }
    parsed = dateparser.parse(text, settings=settings)  # type: ignore[arg-type]
    if parsed is None:
        raise ValueError(f"cannot read {text!r} as a date or time; say e.g. 'Friday 10am' or '2026-12-01 14:00'")
    return parsed.replace(tzinfo=now.tzinfo)


def register(registry: ToolRegistry, ctx: PackContext) -> None:  # noqa: C901 - complexity exception, issue 22
    """Add the calendar and reminder tools to ``registry``."""
    store = PackStore(ctx.data_dir / "calendar.db", SCHEMA, label="calendar")

    def insert_event(db: Any, uid: str, title: str, start: datetime, end: datetime, location: str) -> int:
        cur = db.execute(
            "INSERT INTO events(uid, title, start, end, location) VALUES (?, ?, ?, ?, ?) ON CONFLICT(uid) DO NOTHING",
            (uid, title, start.isoformat(timespec="minutes"), end.isoformat(timespec="minutes"), location),
        )
        return int(cur.rowcount)

    @registry.tool(effects=["write"])
    def add_event(
        title: Annotated[str, Field(min_length=1, max_length=200)],
        when: Annotated[str, Field(min_length=1, max_length=80)],
        duration_minutes: Annotated[int, Field(ge=1, le=1440)] = 60,
        location: str = "",
    ) -> str:
        """Put an event in the calendar.

        Args:
            title: What the event is, e.g. "Dentist".
            when: When it starts, in the user's words, e.g. "Friday 10am".
            duration_minutes: How long it lasts.
            location: Where (optional).
        """
        start = parse_when(when, ctx)
        end = start + timedelta(minutes=duration_minutes)
        uid = f"{start.isoformat()}-{title}@agentslm"
        with store.transaction() as db:
            added = insert_event(db, uid, title.strip(), start, end, location.strip())
        if not added:
            return f"'{title}' on {start:%a %d %b %H:%M} is already in the calendar"
        return f"added '{title}' on {start:%a %d %b %Y %H:%M}"

    @registry.tool
    def list_events(day: Annotated[str, Field(min_length=1, max_length=80)] = "today") -> list[dict[str, Any]]:
        """List the calendar events of a day.

        Args:
            day: The day, in the user's words, e.g. "tomorrow" or "Monday".
        """
        start = parse_when(day, ctx).replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)
        with store.transaction() as db:
            rows = db.execute(
                "SELECT id, title, start, end, location FROM events WHERE start >= ? AND start < ? ORDER BY start",
                (start.isoformat(timespec="minutes"), end.isoformat(timespec="minutes")),
            ).fetchall()
        return [dict(r) for r in rows]

    @registry.tool(effects=["destructive"])
    def delete_event(event_id: Annotated[int, Field(ge=1)]) -> str:
        """Remove an event from the calendar by its number. Cannot be undone.

        Args:
            event_id: The event's number.
        """
        return store.delete_row("events", event_id, "event")

    @registry.tool(effects=["write"])
    def add_reminder(
        text: Annotated[str, Field(min_length=1, max_length=500)], when: Annotated[str, Field(min_length=1, max_length=80)]
    ) -> str:
        """Create a reminder.

        Args:
            text: What to be reminded of, e.g. "call Ana".
            when: When, in the user's words, e.g. "Friday" or "tomorrow 9am".
        """
        due = parse_when(when, ctx)
        with store.transaction() as db:
            cur = db.execute("INSERT INTO reminders(text, due) VALUES (?, ?)", (text.strip(), due.isoformat(timespec="minutes")))
        return f"reminder #{cur.lastrowid} set for {due:%a %d %b %Y %H:%M}: {text.strip()}"

    @registry.tool
    def list_reminders() -> list[dict[str, Any]]:
        """List the reminders that are not done yet."""
        with store.transaction() as db:
            rows = db.execute("SELECT id, text, due FROM reminders WHERE done = 0 ORDER BY due").fetchall()
        return [dict(r) for r in rows]

    @registry.tool(effects=["write"])
    def export_calendar(path: Annotated[str, Field(pattern=r"^[^\x00]*\.ics$", max_length=255)] = "calendar.ics") -> str:
        """Save the whole calendar as a new .ics file in the workspace (an existing file is never overwritten).

        Args:
            path: File name inside the workspace, ending in .ics.
        """
        target = confine(ctx.workspace, path)
        cal = icalendar.Calendar()
        cal.add("prodid", "-//agentslm//assistant//EN")
        cal.add("version", "2.0")
        with store.transaction() as db:
            rows = db.execute("SELECT uid, title, start, end, location FROM events ORDER BY start").fetchall()
        for row in rows:
            event = icalendar.Event()
            event.add("uid", row["uid"])
            event.add("summary", row["title"])
            event.add("dtstart", datetime.fromisoformat(row["start"]))
            event.add("dtend", datetime.fromisoformat(row["end"]))
            if row["location"]:
                event.add("location", row["location"])
            cal.add_component(event)
        write_new(target, cal.to_ical())  # atomic, never replaces a file
        return f"exported {len(rows)} events to {target.relative_to(ctx.workspace.resolve())}"

    @registry.tool(effects=["write"])
    def import_calendar(path: Annotated[str, Field(pattern=r"^[^\x00]*\.ics$", max_length=255)]) -> str:
        """Add the events of an .ics file from the workspace to the calendar (events already there are skipped).

        Args:
            path: File name inside the workspace, ending in .ics.
        """
        source = confine(ctx.workspace, path, must_exist=True)
        try:
            cal = icalendar.Calendar.from_ical(Path(source).read_bytes())
        except ValueError as exc:
            raise ValueError(f"{path} is not a valid iCalendar file: {exc}") from exc
        added = skipped = 0
        with store.transaction() as db:  # all events or none
            for event in cal.walk("VEVENT"):
                start = event.decoded("dtstart")
                if not isinstance(start, datetime):
                    start = datetime(start.year, start.month, start.day)
                end = event.decoded("dtend") if "dtend" in event else start + timedelta(hours=1)
                if not isinstance(end, datetime):
                    end = datetime(end.year, end.month, end.day)
                uid = str(event.get("uid") or f"{start.isoformat()}-{event.get('summary')}@import")
                n = insert_event(db, uid, str(event.get("summary", "(no title)")), start, end, str(event.get("location", "")))
                added += n
                skipped += 1 - n
        return f"imported {added} events from {path}" + (f" ({skipped} already there)" if skipped else "")
