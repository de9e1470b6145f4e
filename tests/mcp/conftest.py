"""Fixtures for the MCP tests: real third-party peers (PyPI and npm) and our misbehaving server.

The npm peers are installed by ``.ci/run`` with ``npm install --prefix tests/mcp/peers``. Locally,
a missing install skips those tests with that command; under CI (``CI`` set) it fails instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

PEERS = Path(__file__).parent / "peers" / "node_modules" / ".bin"
FAULT_SERVER = [sys.executable, str(Path(__file__).parent / "fault_server.py")]
INSTALL = "npm install --prefix tests/mcp/peers"


def npm_bin(name: str) -> str:
    path = PEERS / name
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: run `{INSTALL}` (.ci/run does).")
        pytest.skip(f"npm MCP peers are not installed; run `{INSTALL}`.")
    if shutil.which("node") is None:
        pytest.fail("node is not on PATH; the npm MCP peers need it.")
    return str(path)


@pytest.fixture()
def short_tmp() -> Iterator[Path]:
    """A fresh folder with a short, readable path (the 135M model copies short paths far more reliably)."""
    base = Path(tempfile.gettempdir()) / "agentslm-mcp"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture()
def git_repo(short_tmp: Path) -> Path:
    """A small git repository with one commit and one modified file."""
    repo = short_tmp / "repo"
    repo.mkdir()
    run = {"cwd": repo, "check": True, "capture_output": True}
    subprocess.run(["git", "init", "-q", "-b", "main"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "config", "user.email", "t@example.com"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "config", "user.name", "T"], **run)  # type: ignore[call-overload]
    (repo / "notes.txt").write_text("first\n")
    subprocess.run(["git", "add", "notes.txt"], **run)  # type: ignore[call-overload]
    subprocess.run(["git", "commit", "-q", "-m", "first"], **run)  # type: ignore[call-overload]
    (repo / "notes.txt").write_text("first\nsecond\n")
    return repo


@pytest.fixture()
def workspace(short_tmp: Path) -> Iterator[Path]:
    """A folder with two files for the filesystem server."""
    folder = short_tmp / "workspace"
    folder.mkdir()
    (folder / "budget.txt").write_text("Budget 2026: 1200 EUR\n")
    (folder / "todo.txt").write_text("buy milk\n")
    yield folder
