"""The transformers backend loads the same GGUF through transformers' GGUF loader; outlines drives decoding."""

from __future__ import annotations

import json

import jsonschema
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from agentslm import embedded_model_path, load_model
from agentslm.models.transformers import TransformersModel

pytestmark = pytest.mark.hf


@pytest.fixture(scope="module")
def hf_model() -> TransformersModel:
    model = load_model(f"transformers:{embedded_model_path()}")
    assert isinstance(model, TransformersModel)
    return model


def test_transformers_constrained_call_with_logprobs(hf_model: TransformersModel) -> None:
    assert hf_model.default_engine == "outlines"
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}, "unit": {"enum": ["celsius", "fahrenheit"]}},
        "required": ["city", "unit"],
        "additionalProperties": False,
    }
    for engine in ("outlines", "llguidance"):
        gen = hf_model.generate(
            [{"role": "user", "content": "Weather in Oslo in celsius, as JSON."}], schema=schema, max_tokens=48, engine=engine
        )
        assert gen.finish_reason == "stop", gen.text
        jsonschema.validate(json.loads(gen.text), schema)
        decided = [t for t in gen.tokens if not t.forced]
        assert decided and all(t.logprob is not None and t.logprob <= 0 for t in decided)
