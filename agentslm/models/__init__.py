"""Model backends behind one small protocol, selected by a string.

``load_model()`` / ``load_model("embedded")`` → the embedded SmolLM2-135M on llama.cpp;
``"llamacpp:/path/model.gguf"`` or a bare ``.gguf`` path → llama.cpp;
``"transformers:/path/dir"`` (or a ``.gguf`` file) → transformers (extra ``hf``);
``"openai:http://host:port/v1#model"`` → an OpenAI-compatible server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentslm.errors import ModelNotFoundError, UserError
from agentslm.models.base import Generation, LocalModel, Message, Model, TokenLogprob
from agentslm.models.embedded import embedded_model_path

__all__ = ["Generation", "LocalModel", "Message", "Model", "TokenLogprob", "embedded_model_path", "load_model"]


def load_model(spec: str | os.PathLike[str] | Model | None = None, **options: Any) -> Model:
    """Load a model from a spec string (see the module docstring); a :class:`Model` passes through."""
    if isinstance(spec, Model):
        return spec
    text = "embedded" if spec is None else os.fspath(spec)
    backend, sep, rest = text.partition(":")
    if backend == "openai" and sep:
        from agentslm.models.openai_compat import OpenAICompatModel, parse_openai_spec

        url, name = parse_openai_spec(text)
        return OpenAICompatModel(url, name, **options)
    if not sep or backend not in ("llamacpp", "transformers", "embedded"):
        backend, rest = ("embedded", "") if text == "embedded" else ("auto", text)
    if backend == "embedded" or (backend == "llamacpp" and not rest):
        from agentslm.models.llamacpp import LlamaCppModel

        return LlamaCppModel(embedded_model_path(), **options)
    path = Path(rest).expanduser()
    if backend == "auto":
        if path.suffix == ".gguf" or (path.is_file() and path.suffix != ".json"):
            backend = "llamacpp"
        elif path.is_dir():
            backend = "transformers"
        elif "://" in text:
            raise UserError(f"Unsupported model URL {text!r}.", hint="use a GGUF path, 'llamacpp:PATH' or 'transformers:PATH'.")
        else:
            raise ModelNotFoundError(
                f"No model at {text!r}.",
                hint="pass an existing .gguf file or HF model directory, "
                "'llamacpp:PATH', 'transformers:PATH', or nothing for the embedded SmolLM2.",
            )
    if backend == "llamacpp":
        from agentslm.models.llamacpp import LlamaCppModel

        return LlamaCppModel(path, **options)
    from agentslm.models.transformers import TransformersModel

    return TransformersModel(path, **options)
