"""agentslm: reliable tool-using agents on small local language models.

The public API is exactly ``__all__``. Logging goes to the standard ``logging`` module under ``agentslm.*`` (a
run's status at INFO, each event at DEBUG); the library adds only a ``NullHandler``, so an application's own
logging configuration decides what is shown.
"""

import logging

from agentslm.agent import Agent, AgentRun, Budgets, Session
from agentslm.audit import AuditLog, read_audit_log
from agentslm.constraints import DecodeLimits, call_schema
from agentslm.errors import (
    AgentslmError,
    GenerationError,
    MissingExtraError,
    ModelNotFoundError,
    RunError,
    SchemaCompileError,
    ToolRegistrationError,
    UserError,
)
from agentslm.events import AgentEvent, describe_event
from agentslm.execute import Executor
from agentslm.models import Generation, Model, TokenLogprob, embedded_adapter_path, embedded_model_path, load_model
from agentslm.registry import Effect, FreeText, Identifier, Tool, ToolRegistry, tool
from agentslm.retrieval import RetrievalPolicy
from agentslm.roles.planner import PlannerPolicy
from agentslm.step_types import CallList, CallSignals, Check, Observation, ToolCall, Verdict
from agentslm.verify import Verifier

__version__ = "0.1.0"
"""The package version (pyproject reads it from here: one source)."""

logging.getLogger("agentslm").addHandler(logging.NullHandler())

__all__ = [
    "Agent",
    "AgentEvent",
    "AgentRun",
    "AgentslmError",
    "AuditLog",
    "Budgets",
    "CallList",
    "CallSignals",
    "Check",
    "DecodeLimits",
    "Effect",
    "Executor",
    "FreeText",
    "Generation",
    "GenerationError",
    "Identifier",
    "MissingExtraError",
    "Model",
    "ModelNotFoundError",
    "Observation",
    "PlannerPolicy",
    "RetrievalPolicy",
    "RunError",
    "SchemaCompileError",
    "Session",
    "TokenLogprob",
    "Tool",
    "ToolCall",
    "ToolRegistrationError",
    "ToolRegistry",
    "UserError",
    "Verdict",
    "Verifier",
    "__version__",
    "call_schema",
    "describe_event",
    "embedded_adapter_path",
    "embedded_model_path",
    "load_model",
    "read_audit_log",
    "tool",
]
