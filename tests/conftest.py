from __future__ import annotations

import pytest

from agentslm.models.llamacpp import LlamaCppModel


@pytest.fixture(scope="session")
def embedded_model() -> LlamaCppModel:
    """The real embedded SmolLM2-135M (Q4_1) on llama.cpp, loaded once per session."""
    from agentslm.models import load_model

    model = load_model()
    assert isinstance(model, LlamaCppModel)
    return model
