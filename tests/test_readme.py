"""The README's first two commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentslm import AgentRun, ToolCall

ROOT = Path(__file__).resolve().parent.parent


def test_readme_commands_are_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index("```bash")
    install, test = readme[start + 1], readme[start + 2]
    assert readme[start + 3] == "```", "the README starts with exactly two commands"
    assert "agentslm demo" in install and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in ci and ".venv/bin/python -m pytest" in ci and test == ".venv/bin/python -m pytest"


def test_readme_python_example_runs_on_the_embedded_model(capsys: pytest.CaptureFixture[str]) -> None:
    """The README's Python example, executed as written (its own ``assert`` included) on the default model."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {"__name__": "readme_example"}
    exec(compile(example, "README.md (Python example)", "exec"), namespace)
    run, call, wipe = namespace["run"], namespace["call"], namespace["wipe"]
    assert isinstance(run, AgentRun) and isinstance(wipe, AgentRun) and isinstance(call, ToolCall)
    assert call.name == "get_weather" and call.arguments == {"city": "Paris"}
    assert run.status == "answered" and [c.name for c in run.calls] == ["get_weather"]
    assert wipe.status != "answered" or not wipe.results
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("answered ") and printed[0].endswith("['get_weather']")
    assert printed[-1] == "answer"  # the stream's last event
