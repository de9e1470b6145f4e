"""The README's first two commands are the ones CI runs."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_commands_are_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text().splitlines()
    start = readme.index("```bash")
    install, test = readme[start + 1], readme[start + 2]
    assert readme[start + 3] == "```", "the README starts with exactly two commands"
    assert "agentslm demo" in install and "pytest" in test
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert install in ci and ".venv/bin/python -m pytest" in ci and test == ".venv/bin/python -m pytest"
