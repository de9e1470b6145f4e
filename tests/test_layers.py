"""The layer contracts (pyproject's [tool.importlinter], run by `lint-imports` in .ci/run) cover every module: a new
module must be placed in the core or in the periphery, or the contract would silently not apply to it."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_is_in_a_layer() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (core,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"].startswith("The core never imports")]
    layered = set(core["source_modules"]) | set(core["forbidden_modules"])
    package = ROOT / "agentslm"
    modules = {f"agentslm.{p.stem}" for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {f"agentslm.{p.parent.name}" for p in package.glob("*/__init__.py")}
    assert modules - layered == set(), "add these modules to the core's source_modules or to its forbidden_modules"
    assert layered - modules == set(), "these listed modules do not exist (renamed or removed?)"
