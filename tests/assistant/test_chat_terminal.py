"""``agentslm chat`` in a pseudo-terminal (pexpect) on the real embedded model: a destructive call stops at a
y/N prompt that shows the exact arguments; the default (Enter) denies, ``y`` approves; bad input is refused."""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect", reason="pexpect is not installed (extra dev)")


def notes(data_dir: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(data_dir / "notes.db") as conn:
        return conn.execute("SELECT id, text FROM notes ORDER BY id").fetchall()


def test_chat_with_approval_prompt(tmp_path: Path) -> None:
    from agentslm_tools import PackContext, build_registry

    data, ws = tmp_path / "data", tmp_path / "ws"
    build_registry(["notes"], PackContext(data_dir=data, workspace=ws))["add_note"].invoke({"text": "old list"})
    config = tmp_path / "assistant.toml"
    config.write_text(
        f'[tools]\npacks = ["notes", "calc"]\ndata_dir = "{data}"\nworkspace = "{ws}"\n[server]\nmax_message_chars = 1000\n'
    )
    env = {**os.environ, "AGENTSLM_ASSISTANT_CONFIG": str(config), "COLUMNS": "200", "TERM": "dumb"}
    child = pexpect.spawn(
        sys.executable,
        ["-m", "agentslm.cli", "chat"],  # everything from the config file named by the environment
        env=env,
        encoding="utf-8",
        timeout=120,
        dimensions=(50, 200),
    )
    try:
        child.expect("6 tools")  # the config's two packs: notes (4) and calc (2)
        child.expect("type /quit")
        child.expect("you> ")
        child.sendline("   ")
        child.expect("The message is empty")
        child.expect("you> ")
        child.sendline("y" * 3000)  # (a terminal line holds at most 4095 characters)
        child.expect("3,000 characters; the limit is 1,000")
        child.expect("you> ")

        child.sendline("Delete note 1")
        child.expect("approval needed")
        child.expect('"note_id": 1')
        child.expect(r"Allow\? \[y/N\] ")
        child.sendline("")  # Enter: the default is No
        child.expect("denied")
        child.expect("assistant> ")
        child.expect("you> ")
        assert notes(data) == [(1, "old list")]

        child.sendline("Delete note 1")
        child.expect(r"Allow\? \[y/N\] ")
        child.sendline("y")
        child.expect("approved")
        child.expect("deleted note #1")
        child.expect("you> ")
        assert notes(data) == []

        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, child.before
