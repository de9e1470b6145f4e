"""What an install of agentslm costs: build the wheel, install it (with chosen extras) into a fresh virtual
environment, and measure the time, the size of what it added, and that the package imports and runs there.

``agentslm bench install`` prints and records the figures; ``tests/test_packaging.py`` uses the same steps to
check that the core installs alone and works without the heavy extras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["CORE_SMOKE", "HEAVY_MODULES", "build_wheel", "measure_install", "tree_size"]

ROOT = Path(__file__).resolve().parents[2]

HEAVY_MODULES = ("numpy", "llama_cpp", "mcp", "outlines", "rank_bm25", "torch", "transformers", "sentence_transformers")
"""Modules the core must not need: each comes with an extra."""

_VENV_OWN = ("pip", "setuptools", "_distutils_hack", "pkg_resources", "distutils-precedence.pth", "__pycache__")
"""What ``python -m venv`` puts in site-packages itself (not counted as the install's size)."""

CORE_SMOKE = (
    f"HEAVY = {HEAVY_MODULES!r}\n"
    + """
import json, sys
from agentslm import Agent, ToolCall, ToolRegistry, Verifier, __version__, call_schema
from agentslm.testing import ScriptedModel

tools = ToolRegistry()

@tools.tool
def get_weather(city: str) -> str:
    \"\"\"Get the weather for a city.\"\"\"
    return f"18 C, cloudy in {city}"

model = ScriptedModel(plans=[[{"name": "get_weather", "arguments": {"city": "Paris"}}]], answers=["18 C, cloudy in Paris."])
run = Agent(tools=tools, model=model).run("What's the weather in Paris?")
refused = not Verifier(tools).verify(ToolCall(name="get_weather", arguments={"city": ["Paris"]})).approved
schema = call_schema([tools.get("get_weather")])  # the grammar the planner decodes under
heavy = sorted(m for m in HEAVY if m in sys.modules)
try:  # without the llamacpp extra, the default model must say which extra brings it
    import llama_cpp
    default_model = "installed"
except ImportError:
    from agentslm import MissingExtraError
    try:
        Agent(tools=tools)
        default_model = "loaded without llama_cpp?"
    except MissingExtraError as exc:
        default_model = "MissingExtraError: " + str(exc.hint)
print(json.dumps({"version": __version__, "status": run.status, "calls": [c.name for c in run.calls],
                  "results": [r.observation.text for r in run.results], "verifier_refuses_bad_type": refused,
                  "call_schema_keys": sorted(schema), "heavy_imported": heavy,
                  "default_model": default_model}))
"""
)
"""A full agent run on a scripted model (registry, planning, verification, execution, answer) with the heavy modules
listed as imported or not; prints one JSON line."""


def build_wheel(out_dir: Path) -> Path:
    """Build agentslm's wheel into ``out_dir`` (no dependencies, this environment's setuptools)."""
    cmd = [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out_dir)]
    subprocess.run(cmd, check=True, capture_output=True)
    (wheel,) = out_dir.glob("agentslm-*.whl")
    return wheel


def tree_size(path: Path, *, skip: Sequence[str] = ()) -> int:
    """Bytes of the files under ``path`` (links not followed), leaving out its top-level entries named in ``skip``."""
    total = 0
    for entry in path.iterdir():
        if entry.name in skip:
            continue
        if entry.is_symlink():
            continue
        if entry.is_file():
            total += entry.stat().st_size
        elif entry.is_dir():
            for root, _dirs, files in os.walk(entry):
                total += sum((Path(root) / f).lstat().st_size for f in files)
    return total


def _site_packages(venv: Path) -> Path:
    (site,) = venv.glob("lib/python3*/site-packages")
    return site


def measure_install(
    extras: Sequence[str] = (), *, wheel: Path | None = None, workdir: Path | None = None, pip_args: Sequence[str] = ()
) -> dict[str, Any]:
    """Install agentslm (``extras`` or the core alone) into a fresh venv; time it, size it, run :data:`CORE_SMOKE`.

    Returns the figures: ``install_seconds`` (``pip install`` of the wheel and its dependencies, wall clock),
    ``added_mib`` (site-packages less what venv itself puts there), ``venv_mib`` (the whole venv), the packages
    installed, and the smoke run's output (``smoke``; ``smoke_error`` if it failed).
    """
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        base = Path(tmp)
        wheel = wheel or build_wheel(base / "wheel")
        venv = base / "venv"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        python = venv / "bin" / "python"
        before = tree_size(_site_packages(venv))
        target = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
        start = time.perf_counter()
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *pip_args, target],
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"pip install {target} failed:\n{done.stderr[-4000:]}")
        site = _site_packages(venv)
        listed = subprocess.run([str(python), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True)
        packages = sorted(p["name"] for p in json.loads(listed.stdout) if p["name"] not in ("pip", "setuptools"))
        smoke = subprocess.run([str(python), "-c", CORE_SMOKE], capture_output=True, text=True, cwd=base)
        result: dict[str, Any] = {
            "extras": list(extras),
            "wheel_mib": round(wheel.stat().st_size / 2**20, 1),
            "install_seconds": round(seconds, 1),
            "added_mib": round(tree_size(site, skip=_VENV_OWN) / 2**20, 1),
            "venv_mib": round(tree_size(venv) / 2**20, 1),
            "venv_own_mib": round(before / 2**20, 1),
            "packages": packages,
        }
        if smoke.returncode == 0:
            result["smoke"] = json.loads(smoke.stdout.strip().splitlines()[-1])
        else:
            result["smoke_error"] = smoke.stderr[-4000:]
        return result
