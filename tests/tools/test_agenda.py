from __future__ import annotations

import pytest

from agentslm.registry import ToolRegistry
from agentslm_tools import PackContext

from .conftest import run


def test_events_in_the_users_words(registry: ToolRegistry) -> None:
    assert run(registry, "add_event", title="Dentist", when="Friday 10am") == "added 'Dentist' on Fri 27 Nov 2026 10:00"
    assert "already in the calendar" in str(run(registry, "add_event", title="Dentist", when="Friday 10am"))
    events = run(registry, "list_events", day="Friday")
    assert [(e["id"], e["title"], e["start"]) for e in events] == [(1, "Dentist", "2026-11-27T10:00+01:00")]  # type: ignore[union-attr,index]
    assert run(registry, "list_events", day="tomorrow") == events  # Thursday's tomorrow is Friday
    assert run(registry, "list_events", day="Monday") == []
    with pytest.raises(ValueError, match="cannot read 'blurgh' as a date"):
        run(registry, "add_event", title="x", when="blurgh")


def test_reminders(registry: ToolRegistry) -> None:
    assert (
        run(registry, "add_reminder", text="call Ana", when="tomorrow 9am")
        == "reminder #1 set for Fri 27 Nov 2026 09:00: call Ana"
    )
    assert run(registry, "list_reminders") == [{"id": 1, "text": "call Ana", "due": "2026-11-27T09:00+01:00"}]


def test_ics_round_trip(registry: ToolRegistry, ctx: PackContext, tmp_path: object) -> None:
    run(registry, "add_event", title="Dentist", when="Friday 10am", location="Calle Mayor 1")
    run(registry, "add_event", title="Review", when="2026-12-01 14:00", duration_minutes=30)
    assert run(registry, "export_calendar", path="cal.ics") == "exported 2 events to cal.ics"
    text = (ctx.workspace / "cal.ics").read_text()
    assert "SUMMARY:Dentist" in text and "LOCATION:Calle Mayor 1" in text
    with pytest.raises(FileExistsError, match="never overwritten"):  # an export never replaces a file
        run(registry, "export_calendar", path="cal.ics")
    other = PackContext(data_dir=ctx.data_dir / "other", workspace=ctx.workspace, timezone=ctx.timezone, now=ctx.now)
    from agentslm_tools import build_registry

    fresh = build_registry(["calendar"], other)
    assert run(fresh, "import_calendar", path="cal.ics") == "imported 2 events from cal.ics"
    assert run(fresh, "import_calendar", path="cal.ics") == "imported 0 events from cal.ics (2 already there)"
    assert [e["title"] for e in run(fresh, "list_events", day="2026-12-01")] == ["Review"]  # type: ignore[union-attr,index]
    (ctx.workspace / "bad.ics").write_text("not a calendar")
    with pytest.raises(ValueError, match="not a valid iCalendar"):
        run(fresh, "import_calendar", path="bad.ics")
    with pytest.raises(PermissionError):
        run(registry, "export_calendar", path="../escape.ics")
