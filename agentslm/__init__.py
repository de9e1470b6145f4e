"""agentslm: reliable tool-using agents on small local language models.

The public API is exactly ``__all__``.
"""

from agentslm.agent import Agent
from agentslm.calls import CallSignals, Check, Observation, RunResult, ToolCall, Verdict
from agentslm.errors import (
    AgentslmError,
    CallRefused,
    ControlSignal,
    GenerationError,
    MissingExtraError,
    ModelNotFoundError,
    RunError,
    SchemaCompileError,
    ToolRegistrationError,
    UserError,
)
from agentslm.execute import Executor
from agentslm.models import Generation, Model, TokenLogprob, embedded_model_path, load_model
from agentslm.registry import Effect, Tool, ToolRegistry, tool
from agentslm.schema import DecodeLimits, call_schema
from agentslm.verify import Verifier

__version__ = "0.1.0"

__all__ = [
    "Agent",
    "AgentslmError",
    "CallRefused",
    "CallSignals",
    "Check",
    "ControlSignal",
    "DecodeLimits",
    "Effect",
    "Executor",
    "Generation",
    "GenerationError",
    "MissingExtraError",
    "Model",
    "ModelNotFoundError",
    "Observation",
    "RunError",
    "RunResult",
    "SchemaCompileError",
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
    "embedded_model_path",
    "load_model",
    "tool",
]
