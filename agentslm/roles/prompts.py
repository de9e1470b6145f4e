"""Prompt templates (package data under ``roles/prompts/``) and compact tool rendering."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from functools import cache
from importlib.resources import files
from typing import Any

import jinja2

from agentslm.constraints.normalize import strip_extensions
from agentslm.registry import Tool

__all__ = ["render_prompt", "template_tools", "tools_json", "CALLS_PROMPT_VERSION", "PROMPT_VERSION", "SUMMARIZER_PROMPT_VERSION"]

PROMPT_VERSION = "caller-v2"
"""Bumped whenever a template changes, so traces and benchmark results say which prompt they used."""

CALLS_PROMPT_VERSION = "calls-v1"
"""Version of the call-list prompt (``calls.jinja``), used by the caller's list mode and the planner."""

SUMMARIZER_PROMPT_VERSION = "summarizer-v2"
"""Version of the summarizer prompt (``summarizer.jinja``)."""


@cache
def _template(name: str) -> jinja2.Template:
    source = files("agentslm.roles").joinpath("prompts", f"{name}.jinja").read_text(encoding="utf-8")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
    return env.from_string(source)


def tools_json(tools: list[Tool]) -> str:
    """The tools as a compact JSON list of function specs (name, description, parameters)."""
    return json.dumps(
        [{"name": t.name, "description": t.description, "parameters": strip_extensions(t.parameters)} for t in tools],
        ensure_ascii=False,
        separators=(", ", ": "),
    )


def render_prompt(name: str, **variables: Any) -> str:
    """Render the packaged template ``name`` (e.g. ``"caller"``)."""
    return _template(name).render(**variables).strip()


def template_tools(tools: Sequence[Tool]) -> list[dict[str, Any]]:
    """``tools`` as the function specs a chat template renders (their OpenAI form, without agentslm's ``x-`` extensions)."""
    return [replace(t, parameters=strip_extensions(t.parameters)).to_openai() for t in tools]
