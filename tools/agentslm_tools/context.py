"""What every tool pack is built with: where its data lives, the workspace folder, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

__all__ = ["PackContext"]


def _local_now() -> datetime:
    return datetime.now().astimezone()


@dataclass
class PackContext:
    """Settings shared by the packs of one assistant."""

    data_dir: Path
    """Folder of the packs' SQLite databases (one file per pack)."""
    workspace: Path
    """The only folder the files pack may touch."""
    timezone: str | None = None
    """IANA zone of the user (default: the machine's)."""
    now: Callable[[], datetime] = field(default=_local_now)
    """The clock (tests pass a fixed one)."""

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser()
        self.workspace = Path(self.workspace).expanduser()

    def local_now(self) -> datetime:
        now = self.now()
        return now.astimezone(ZoneInfo(self.timezone)) if self.timezone else now.astimezone()
