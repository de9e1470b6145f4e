"""Library code logs through ``logging`` under ``agentslm.*`` and never prints (the CLI, benchmarks and scripts'
``__main__`` blocks may)."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from agentslm import Agent
from agentslm.testing import ScriptedModel
from tests.sample_tools import registry

PACKAGE = Path(__file__).resolve().parents[1] / "agentslm"
PRINTING = ("cli", "bench", "demo.py")
"""The periphery that talks to a terminal."""
SCRIPTS = ("finetune/sft.py", "models/llamacpp_server.py")
"""Modules that are also programs (``python -m`` / a GPU machine's script): their ``main`` reports on stdout/stderr."""


def test_a_run_logs_its_events_and_status(caplog) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel(plans=[[{"name": "get_weather", "arguments": {"city": "Paris"}}]], answers=["Sunny in Paris."])
    agent = Agent(model, registry)
    with caplog.at_level(logging.DEBUG, logger="agentslm"):
        run = agent.run("What's the weather in Paris?")
    assert run.status == "answered"
    mine = [r for r in caplog.records if r.name.startswith("agentslm.")]
    assert any(r.levelno == logging.INFO and run.run_id in r.getMessage() and "answered" in r.getMessage() for r in mine)
    debug = [r.getMessage() for r in mine if r.levelno == logging.DEBUG and run.run_id in r.getMessage()]
    assert len(debug) == len(run.events) and any("get_weather" in m for m in debug)


def test_the_library_has_a_null_handler_only() -> None:
    handlers = logging.getLogger("agentslm").handlers
    assert handlers and all(isinstance(h, logging.NullHandler) for h in handlers)


def _prints_outside_main(tree: ast.Module) -> list[int]:
    main_blocks = [
        n
        for n in tree.body
        if isinstance(n, ast.If) and isinstance(n.test, ast.Compare) and ast.unparse(n.test) == "__name__ == '__main__'"
    ]
    inside = {id(sub) for block in main_blocks for sub in ast.walk(block)}
    return [
        n.lineno
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print" and id(n) not in inside
    ]


def test_library_code_never_prints() -> None:
    offenders = {}
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(PRINTING) or relative in SCRIPTS:
            continue
        lines = _prints_outside_main(ast.parse(path.read_text()))
        if lines:
            offenders[relative] = lines
    assert offenders == {}, "log with logging.getLogger(__name__) instead of print"
