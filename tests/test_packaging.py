"""The wheel carries the library, the tool packs (tools/agentslm_tools), the assistant's web assets, the
embedded model's function-calling adapter, and the licence (Apache-2.0) with the NOTICE of what it ships."""

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
    (dist_info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    assert {f"{dist_info}/licenses/LICENSE", f"{dist_info}/licenses/NOTICE"} <= names
    metadata = zipfile.ZipFile(wheel).read(f"{dist_info}/METADATA").decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "Apache License" in (ROOT / "LICENSE").read_text() and "Version 2.0" in (ROOT / "LICENSE").read_text()
