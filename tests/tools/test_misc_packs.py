from __future__ import annotations

import pytest

from agentslm.registry import Effect, ToolRegistry
from agentslm_tools import PackContext, build_registry
from agentslm_tools.calc import evaluate

from .conftest import run


@pytest.mark.parametrize(
    ("expression", "value"),
    [("12.5 * 4 + 3", 53.0), ("2^10", 1024), ("(1+2)*3", 9), ("7 // 2", 3), ("-3 + 1", -2), ("3x4", 12), ("1,000 + 1", 1001)],
)
def test_calculate(expression: str, value: float) -> None:
    assert evaluate(expression) == value


@pytest.mark.parametrize("expression", ["__import__('os')", "9**9**9", "1/0", "a + 1", "[1, 2]"])
def test_calculate_refuses(expression: str) -> None:
    with pytest.raises(ValueError):
        evaluate(expression)


def test_convert_units(registry: ToolRegistry) -> None:
    assert run(registry, "convert_units", value=5, from_unit="miles", to_unit="km") == "5 miles = 8.04672 km"
    assert run(registry, "convert_units", value=100, from_unit="degC", to_unit="degF") == "100 degC = 212 degF"
    with pytest.raises(ValueError, match="measure different things"):
        run(registry, "convert_units", value=1, from_unit="kg", to_unit="m")
    with pytest.raises(ValueError, match="unknown unit"):
        run(registry, "convert_units", value=1, from_unit="blorps", to_unit="m")


def test_clock(registry: ToolRegistry) -> None:
    assert run(registry, "current_time") == "Thursday 26 November 2026, 09:30 (CET)"
    assert run(registry, "current_time", place="Tokyo") == "Thursday 26 November 2026, 17:30 (JST)"
    assert run(registry, "current_time", place="new york") == "Thursday 26 November 2026, 03:30 (EST)"
    assert (
        run(registry, "convert_time", when="3pm", from_place="London", to_place="Madrid")
        == "Thu 15:00 in London is Thu 16:00 in Madrid"
    )
    with pytest.raises(LookupError, match="unknown time zone"):
        run(registry, "current_time", place="Atlantis")


def test_send_email_needs_approval_and_resolves_contacts(registry: ToolRegistry, ctx: PackContext) -> None:
    assert registry["send_email"].effects == frozenset({Effect.EXTERNAL})
    assert registry["open_link"].effects == frozenset({Effect.EXTERNAL})
    with pytest.raises(LookupError, match="no contact named 'Ana'"):
        run(registry, "send_email", to="Ana", subject="Budget", body="see notes")
    run(registry, "add_contact", name="Ana Ruiz", email="ana@example.org")
    assert (
        run(registry, "send_email", to="Ana", subject="Budget", body="see notes")
        == "email #1 to ana@example.org queued in the outbox"
    )
    run(registry, "add_contact", name="Ana Gil", email="agil@example.org")
    with pytest.raises(LookupError, match="matches several contacts"):
        run(registry, "send_email", to="Ana", subject="x", body="y")
    assert [c["name"] for c in run(registry, "find_contact", name="ana")] == ["Ana Gil", "Ana Ruiz"]  # type: ignore[union-attr,index]
    assert run(registry, "find_contact", name="%") == []  # LIKE wildcards are literal
    import sqlite3

    rows = sqlite3.connect(ctx.data_dir / "outbox.db").execute("SELECT recipient, subject, status FROM outbox").fetchall()
    assert rows == [("ana@example.org", "Budget", "queued")]


def test_every_pack_registers_and_unknown_packs_are_refused(ctx: PackContext) -> None:
    from agentslm.errors import UserError

    registry = build_registry(["notes", "calendar", "contacts", "files", "clock", "calc", "actions"], ctx)
    needs_approval = {t.name for t in registry if t.effects & {Effect.DESTRUCTIVE, Effect.EXTERNAL}}
    assert needs_approval == {"delete_note", "delete_event", "delete_contact", "delete_file", "send_email", "open_link"}
    assert all(t.description and t.parameters["type"] == "object" for t in registry)
    with pytest.raises(UserError, match="Unknown tool pack 'mail'"):
        build_registry(["mail"], ctx)
