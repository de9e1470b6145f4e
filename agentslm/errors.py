"""The error hierarchy of agentslm.

Two kinds of failure are kept apart:

* :class:`UserError` - a usage mistake (bad registration, unknown model path, a schema
  the grammar compiler cannot handle). The message says how to fix it.
* :class:`RunError` - something failed while running (the model misbehaved, a budget ran out).

Every error carries ``hint`` (how to fix it, when known) and ``retryable``.
"""

from __future__ import annotations

__all__ = [
    "AgentslmError",
    "UserError",
    "ToolRegistrationError",
    "ModelNotFoundError",
    "MissingExtraError",
    "SchemaCompileError",
    "RunError",
    "GenerationError",
    "ModelDownloadError",
    "ChecksumMismatchError",
]


class AgentslmError(Exception):
    """Base class of every error raised by agentslm."""

    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.hint = hint
        super().__init__(f"{message} Hint: {hint}" if hint else message)


class UserError(AgentslmError):
    """A usage mistake. The message names the fix."""


class ToolRegistrationError(UserError):
    """A function or tool spec cannot become a tool (missing hints, duplicate name, ...)."""


class ModelNotFoundError(UserError):
    """A model path, file or URL given to ``load_model`` does not exist or cannot be parsed."""


class MissingExtraError(UserError):
    """An optional dependency is not installed; the message names the pip extra."""


class SchemaCompileError(UserError):
    """A JSON Schema cannot be compiled to a decoding grammar without loosening it."""


class RunError(AgentslmError):
    """A failure while running: the model, a tool or a budget."""


class GenerationError(RunError):
    """The model produced no valid output (budget exhausted, grammar dead end)."""

    retryable = True


class ModelDownloadError(RunError):
    """Pulling a catalog model failed (no network, a server error); what was downloaded is kept and the next pull
    resumes from it."""

    retryable = True


class ChecksumMismatchError(ModelDownloadError):
    """A pulled model file's sha256 is not the expected one; the file was deleted (never left where a load finds it)."""

    retryable = False
