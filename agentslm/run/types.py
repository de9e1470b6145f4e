"""The public value types of a run: budgets, sessions and their turns, and a run's outcome."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentslm.events import AgentEvent, AnswerEvent, AskEvent, CallEvent, ErrorEvent, NoToolEvent, ResultEvent
from agentslm.models.base import Message
from agentslm.step_types import ToolCall

__all__ = ["AgentRun", "Budgets", "Session", "Turn", "outcome"]


class Budgets(BaseModel):
    """Limits of one run (unbounded consumption is refused)."""

    max_steps: int = 8
    """Most tool calls executed per run."""
    max_rounds: int = 4
    """Most planning rounds per run."""
    max_replans: int = 1
    """Rounds allowed after a failed step (a bad plan, a failing tool)."""
    max_seconds: float = 120.0
    """Wall-clock budget of a run; checked between steps (a running tool is bounded by its own timeout)."""
    max_parallel: int = 4
    """Threads running independent tasks of one plan."""
    max_generated_tokens: int = 4096
    """Most tokens the models may generate in one run, all roles together; checked before each model step (a step
    itself is bounded by the agent's ``max_tokens``). When it is spent, the run answers from the results it has."""
    max_request_chars: int = 20_000
    """Longest request accepted (longer ones are refused with a clear error, before any model step)."""
    max_observation_chars: int = 6000
    """Most characters of tool results shown to the planner and the summarizer at once; when several results are
    longer together, each is cut to an equal share (and marked). One result is already capped by ``max_output_chars``."""


class Turn(BaseModel):
    """One request of a conversation and what came of it."""

    request: str
    calls: list[dict[str, Any]] = Field(default_factory=list)
    """``{"name", "arguments", "result"}`` of every call that ran."""
    answer: str | None = None
    status: str = ""


class Session(BaseModel):
    """A multi-turn conversation: later requests see earlier calls and results. JSON-serialisable."""

    turns: list[Turn] = Field(default_factory=list)

    def messages(self) -> list[Message]:
        """Earlier turns as chat messages for the planner."""
        out: list[Message] = []
        for turn in self.turns:
            out.append({"role": "user", "content": turn.request})
            if turn.calls:
                listed = [{"name": c["name"], "arguments": c["arguments"]} for c in turn.calls]
                out.append({"role": "assistant", "content": "<tool_call>" + json.dumps(listed) + "</tool_call>"})
                out.append({"role": "tool", "content": "\n".join(f"{c['name']}: {c['result']}" for c in turn.calls)})
            if turn.answer:
                out.append({"role": "assistant", "content": turn.answer})
        return out

    def to_json(self) -> str:
        return self.model_dump_json()

    @classmethod
    def from_json(cls, data: str | bytes) -> Session:
        return cls.model_validate_json(data)


class AgentRun(BaseModel):
    """The outcome of one request: status, answer (or question), the events and the calls that ran."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run_id: str
    request: str
    status: Literal["answered", "asked", "no_tool", "failed"]
    answer: str | None = None
    question: str | None = None
    events: list[AgentEvent] = Field(default_factory=list)
    generated_tokens: int = 0
    """Tokens the models generated in this run (all roles)."""
    prompt_tokens: int = 0
    """Prompt tokens the models evaluated in this run (all roles; a reused KV cache still counts)."""

    @property
    def results(self) -> list[ResultEvent]:
        return [e for e in self.events if isinstance(e, ResultEvent)]

    @property
    def calls(self) -> list[ToolCall]:
        """Calls that were executed."""
        executed = {e.task_id for e in self.results}
        return [e.call for e in self.events if isinstance(e, CallEvent) and e.task_id in executed]

    @property
    def errors(self) -> list[ErrorEvent]:
        return [e for e in self.events if isinstance(e, ErrorEvent)]


def outcome(request: str, events: list[AgentEvent]) -> AgentRun:
    """The :class:`AgentRun` of a finished event sequence: its status, answer or question."""
    run_id = events[0].run_id if events else ""
    answer = next((e for e in reversed(events) if isinstance(e, AnswerEvent)), None)
    ask = next((e for e in events if isinstance(e, AskEvent)), None)
    no_tool = next((e for e in events if isinstance(e, NoToolEvent)), None)
    status: Literal["answered", "asked", "no_tool", "failed"]
    if ask is not None:
        status = "asked"
    elif no_tool is not None:
        status = "no_tool"
    elif answer is not None:
        status = "answered"
    else:
        status = "failed"
    return AgentRun(
        run_id=run_id,
        request=request,
        status=status,
        answer=answer.text if answer else None,
        question=ask.question if ask else None,
        events=events,
    )
