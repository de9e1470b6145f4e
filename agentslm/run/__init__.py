"""The run engine (:class:`RunState` over a :class:`RunContext`) and the value types of a run."""

from agentslm.run.state import RunContext, RunState
from agentslm.run.types import AgentRun, Budgets, Session, Turn, outcome

__all__ = ["AgentRun", "Budgets", "RunContext", "RunState", "Session", "Turn", "outcome"]
