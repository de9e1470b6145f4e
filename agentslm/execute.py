"""Executor: runs an approved call with a timeout, captures exceptions, truncates large outputs.

A sync tool runs in a daemon thread; on timeout the call returns an error observation at
once (a Python thread cannot be killed, so the thread is abandoned and its result dropped).
An async tool runs in its own event loop under ``asyncio.wait_for`` and is cancelled on timeout.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentslm.registry import Tool
from agentslm.step_types import Observation

__all__ = ["Executor", "render_value"]


def render_value(value: Any) -> str:
    """A tool's return value as text for the model."""
    if isinstance(value, str):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    try:
        return json.dumps(value, ensure_ascii=False, default=lambda o: o.model_dump() if isinstance(o, BaseModel) else str(o))
    except (TypeError, ValueError):
        return repr(value)


class Executor:
    """Runs tools. ``max_output_chars`` bounds the text handed back to the model."""

    def __init__(self, *, max_output_chars: int = 8000) -> None:
        if max_output_chars < 16:
            raise ValueError("max_output_chars must be at least 16")
        self.max_output_chars = max_output_chars

    def execute(self, tool: Tool, arguments: Mapping[str, Any], *, loop: asyncio.AbstractEventLoop | None = None) -> Observation:
        """Run ``tool`` with validated ``arguments``; never raises for tool failures.

        An async tool is awaited on ``loop`` when it is given and running (the application's event loop, from
        :meth:`~agentslm.agent.Agent.astream`: the tool may use clients bound to it), else in an event loop of its own;
        either way it is cancelled on timeout."""
        start = time.perf_counter()
        if tool.fn is None:
            return Observation(ok=False, text=f"error: tool {tool.name!r} has no handler", error="NoHandler: spec-only tool")
        outcome: dict[str, Any] = {}
        done = threading.Event()
        fn = tool.fn

        def awaited(awaitable: Any) -> Any:
            bounded = asyncio.wait_for(_as_coroutine(awaitable), tool.timeout)
            if loop is not None and loop.is_running():
                return asyncio.run_coroutine_threadsafe(bounded, loop).result()
            return asyncio.run(bounded)

        def target() -> None:
            try:
                value = fn(**arguments)
                outcome["value"] = awaited(value) if inspect.isawaitable(value) else value
            except BaseException as exc:
                outcome["error"] = exc
            finally:
                done.set()

        thread = threading.Thread(target=target, name=f"agentslm-tool-{tool.name}", daemon=True)
        thread.start()
        finished = done.wait(tool.timeout)
        seconds = time.perf_counter() - start
        error = outcome.get("error")
        timed_out = not finished or (isinstance(error, asyncio.TimeoutError) and inspect.iscoroutinefunction(fn))
        if timed_out:
            return Observation(
                ok=False,
                text=f"error: {tool.name} timed out after {tool.timeout:g}s",
                error=f"Timeout: no result within {tool.timeout:g}s",
                seconds=seconds,
            )
        if "error" in outcome:
            exc = outcome["error"]
            message = f"{type(exc).__name__}: {exc}"
            return Observation(ok=False, text=f"error: {self._cut(message)[0]}", error=message, seconds=seconds)
        value = outcome.get("value")
        text, truncated = self._cut(render_value(value))
        return Observation(ok=True, text=text, value=value, truncated=truncated, seconds=seconds)

    def _cut(self, text: str) -> tuple[str, bool]:
        if len(text) <= self.max_output_chars:
            return text, False
        marker = f"…[truncated {len(text) - self.max_output_chars} of {len(text)} chars]"
        return text[: max(0, self.max_output_chars - len(marker))] + marker, True


async def _as_coroutine(awaitable: Any) -> Any:
    return await awaitable
