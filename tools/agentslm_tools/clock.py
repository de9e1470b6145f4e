"""Clock and time zones (zoneinfo)."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import Field

from agentslm.registry import ToolRegistry

from .agenda import parse_when
from .context import PackContext

__all__ = ["register", "zone"]

_ALIASES = {"utc": "UTC", "gmt": "UTC"}


def zone(name: str) -> ZoneInfo:
    """A time zone from an IANA name ("Europe/Paris") or a city name ("Paris", "New York")."""
    text = name.strip()
    key = _ALIASES.get(text.casefold(), text)
    try:
        return ZoneInfo(key)
    except (ZoneInfoNotFoundError, ValueError):
        pass
    city = text.replace(" ", "_").casefold()
    for candidate in sorted(available_timezones()):
        if candidate.rsplit("/", 1)[-1].casefold() == city:
            return ZoneInfo(candidate)
    raise LookupError(f"unknown time zone or city {name!r}; use a name like 'Europe/Paris' or a large city")


def register(registry: ToolRegistry, ctx: PackContext) -> None:
    """Add the clock tools to ``registry``."""

    @registry.tool
    def current_time(place: Annotated[str, Field(max_length=80)] = "") -> str:
        """Tell the current date and time, here or in a city / time zone.

        Args:
            place: A city or time zone, e.g. "Tokyo" (empty: the user's own).
        """
        now = ctx.local_now()
        if place.strip():
            now = now.astimezone(zone(place))
        return f"{now:%A %d %B %Y, %H:%M} ({now.tzname()})"

    @registry.tool
    def convert_time(
        when: Annotated[str, Field(min_length=1, max_length=80)],
        from_place: Annotated[str, Field(min_length=1, max_length=80)],
        to_place: Annotated[str, Field(min_length=1, max_length=80)],
    ) -> str:
        """Convert a time from one city / time zone to another.

        Args:
            when: The time, e.g. "3pm" or "tomorrow 9:00".
            from_place: The city or zone that time is in.
            to_place: The city or zone to convert to.
        """
        moment = parse_when(when, ctx).replace(tzinfo=zone(from_place))
        there = moment.astimezone(zone(to_place))
        return f"{moment:%a %H:%M} in {from_place} is {there:%a %H:%M} in {to_place}"
