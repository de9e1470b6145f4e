"""The MCP client against real servers nobody here wrote: PyPI mcp-server-time / mcp-server-git and
npm @modelcontextprotocol/server-filesystem / server-everything.

For each: list the tools, compile every tool's call grammar on the embedded model (any that cannot
compile is reported with its reason), then have the embedded model decode a call under the grammar,
verify it (schema, types, grounding in the request, policy) and run it on the server.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from agentslm import Agent, Verifier
from agentslm.mcp import grammar_report

from .conftest import npm_bin


def _servers(git_repo: Path, workspace: Path) -> dict[str, dict[str, Any]]:
    return {
        "time": {"server": [sys.executable, "-m", "mcp_server_time"]},
        "git": {"server": [sys.executable, "-m", "mcp_server_git", "--repository", str(git_repo)]},
        "fs": {"server": [npm_bin("mcp-server-filesystem"), str(workspace)]},
        "everything": {"server": [npm_bin("mcp-server-everything")]},
    }


# Requests, and the tools offered for them: a user who builds an agent for a narrow job offers the tools it
# needs (the 135M model picks among a handful of tools far better than among 14).
CASES: dict[str, tuple[str, list[str] | None, str, str]] = {
    "time": ("What time is it now in the Europe/Paris timezone?", None, "time.get_current_time", "Europe/Paris"),
    # the git server is started on one repository, so the operator binds repo_path (the model never writes it)
    "git": ("Show the working tree status of the git repository", ["git_status", "git_log"], "git.git_status", "notes.txt"),
    "fs": ("Read the text file {workspace}/budget.txt", ["list_directory", "read_text_file"], "fs.read_text_file", "1200 EUR"),
    "everything": ("Echo the message 'hello world'", None, "everything.echo", "hello world"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_lists_tools_and_every_grammar_compiles(name: str, embedded_model: Any, git_repo: Path, workspace: Path) -> None:
    spec = _servers(git_repo, workspace)[name]
    with Agent(embedded_model) as agent:
        toolset = agent.add_mcp_server(spec["server"], namespace=name)
        assert toolset.tools, f"{name} listed no tools"
        assert not toolset.skipped, toolset.skipped
        report = grammar_report(toolset.tools, embedded_model)
        failures = {tool: reason for tool, reason in report.items() if reason}
        assert not failures, f"tool grammars that do not compile (with reasons): {failures}"
        assert set(report) == {t.name for t in toolset.tools}


@pytest.mark.parametrize("name", list(CASES))
def test_embedded_model_makes_a_verified_call(name: str, embedded_model: Any, git_repo: Path, workspace: Path) -> None:
    spec = _servers(git_repo, workspace)[name]
    template, include, expected_tool, expected_text = CASES[name]
    request = template.format(repo=git_repo, workspace=workspace)
    with Agent(embedded_model) as agent:
        bind = {"repo_path": str(git_repo)} if name == "git" else None
        agent.add_mcp_server(spec["server"], namespace=name, include=include, bind=bind)
        call = agent.call(request)
        verdict = Verifier(agent.registry, grounding=True).verify(call, source=request)
        assert call.name == expected_tool, call
        assert verdict.approved, verdict
        observation = agent.executor.execute(agent.registry[call.name], verdict.arguments or call.arguments)
        assert observation.ok, observation.text
        assert expected_text in observation.text
