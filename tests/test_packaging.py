"""The wheel carries the library, the tool packs (tools/agentslm_tools), the assistant's web assets and the
embedded model's function-calling adapter."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_contents(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("agentslm-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    packs = {p.name for p in (ROOT / "tools" / "agentslm_tools").glob("*.py")}
    assert {f"agentslm_tools/{name}" for name in packs} <= names
    assert {"agentslm_tools/py.typed", "agentslm/py.typed"} <= names
    assets = {f"agentslm/assistant/static/{p.name}" for p in (ROOT / "agentslm" / "assistant" / "static").iterdir()}
    assert assets and assets <= names
    assert "agentslm/models/adapters/smollm2-135m-calls-A.gguf" in names  # the default configuration's adapter
    assert not any(n.startswith(("tests/", "tools/")) for n in names)
