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


def test_core_installs_alone_and_runs_an_agent(tmp_path: Path) -> None:
    """`pip install agentslm` without extras: a fresh venv gets the core only, and a full agent run (scripted model)
    works there without numpy, llama.cpp, MCP, outlines or torch; the default model names the extra it needs."""
    from agentslm.bench.install_size import HEAVY_MODULES, measure_install

    result = measure_install((), workdir=tmp_path)
    assert "smoke" in result, result.get("smoke_error")
    smoke = result["smoke"]
    assert smoke["status"] == "answered" and smoke["calls"] == ["get_weather"]
    assert smoke["results"] == ["18 C, cloudy in Paris"]
    assert smoke["verifier_refuses_bad_type"] is True
    assert smoke["heavy_imported"] == []
    assert smoke["default_model"].startswith("MissingExtraError: pip install 'agentslm[llamacpp]'")
    installed = {p.lower().replace("_", "-") for p in result["packages"]}
    assert "agentslm" in installed
    assert not installed & {"numpy", "llama-cpp-python", "mcp", "outlines", "torch", "transformers", "rank-bm25"}
    assert {m.replace("_", "-") for m in HEAVY_MODULES} & installed == set()
