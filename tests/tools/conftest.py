from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from agentslm.registry import ToolRegistry
from agentslm_tools import PackContext, build_registry

FIXED_NOW = datetime(2026, 11, 26, 9, 30, tzinfo=ZoneInfo("Europe/Madrid"))  # a Thursday


@pytest.fixture
def ctx(tmp_path: Path) -> PackContext:
    return PackContext(data_dir=tmp_path / "data", workspace=tmp_path / "ws", timezone="Europe/Madrid", now=lambda: FIXED_NOW)


@pytest.fixture
def registry(ctx: PackContext) -> ToolRegistry:
    return build_registry(["notes", "calendar", "contacts", "files", "clock", "calc", "actions"], ctx)


def run(registry: ToolRegistry, tool_name: str, /, **arguments: object) -> object:
    """Call a tool the way the executor does: arguments validated by its schema first."""
    tool = registry[tool_name]
    return tool.invoke(tool.parse_arguments(arguments))
