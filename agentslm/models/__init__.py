"""Model backends behind one small protocol, selected by a string.

``load_model()`` / ``load_model("embedded")`` → the embedded SmolLM2-135M on llama.cpp with agentslm's
function-calling LoRA adapter (the default configuration); ``"embedded-base"`` → the same model without it;
``"llamacpp:/path/model.gguf"`` or a bare ``.gguf`` path → llama.cpp;
``"transformers:/path/dir"`` (or a ``.gguf`` file) → transformers (extra ``hf``);
``"openai:http://host:port/v1#model"`` → an OpenAI-compatible server; a catalog name (``"qwen2.5-coder-1.5b"``,
``agentslm models list``) → its pulled GGUF on llama.cpp, pulled first when missing (``pull=False``: refuse instead).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentslm.errors import MissingExtraError, ModelNotFoundError, UserError
from agentslm.models.base import Generation, Message, Model, TokenLogprob
from agentslm.models.embedded import embedded_adapter_path, embedded_adapters, embedded_model_path

if TYPE_CHECKING:
    from agentslm.models.local import LocalModel

EMBEDDED_NO_TOOL_THRESHOLD = 0.85
"""The default configuration's ``min_no_tool``: with the shipped adapter, an empty plan chosen with p < 0.85 is
checked with a forced, evidence-filtered call (calibrated on BFCL live_*: docs/benchmarks/no-tool-calibration)."""

__all__ = [
    "Generation",
    "LocalModel",
    "Message",
    "Model",
    "TokenLogprob",
    "embedded_adapter_path",
    "embedded_adapters",
    "embedded_model_path",
    "load_model",
]


def __getattr__(name: str) -> Any:
    # LocalModel needs numpy, which the core install leaves out (it comes with the llamacpp and hf extras)
    if name == "LocalModel":
        from agentslm.models.local import LocalModel

        return LocalModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_model(spec: str | os.PathLike[str] | Model | None = None, **options: Any) -> Model:
    """Load a model from a spec string (see the module docstring); a :class:`Model` passes through."""
    if isinstance(spec, Model):
        return spec
    allow_pull = bool(options.pop("pull", True))
    text = "embedded" if spec is None else os.fspath(spec)
    backend, sep, rest = text.partition(":")
    if backend == "openai" and sep:
        from agentslm.models.openai_compat import OpenAICompatModel, openai_spec_options, parse_openai_spec

        url, name = parse_openai_spec(text)
        options = {**openai_spec_options(text), **options}
        if options.pop("adapters", None):
            raise UserError("Per-role adapters (adapters=...) need a local GGUF model.", hint="serve one model per role.")
        return OpenAICompatModel(url, name, **options)
    if not sep or backend not in ("llamacpp", "transformers", "embedded"):
        backend, rest = (text, "") if text in ("embedded", "embedded-base") else ("auto", text)
    if backend in ("embedded", "embedded-base") or (backend == "llamacpp" and not rest):
        LlamaCppModel = _llamacpp_model_class()
        if backend != "embedded-base" and options.get("lora_path") is None:  # the default configuration: base + adapters
            options.setdefault("adapters", embedded_adapters())
            model = LlamaCppModel(embedded_model_path(), **options)
            model.no_tool_threshold = EMBEDDED_NO_TOOL_THRESHOLD
            return model
        return LlamaCppModel(embedded_model_path(), **options)
    path = Path(rest).expanduser()
    if backend == "auto" and not path.exists():
        named = _catalog_file(rest, allow_pull)
        if named is not None:
            backend, path = "llamacpp", named
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
                hint="pass an existing .gguf file or HF model directory, a model name (agentslm models list), "
                "'llamacpp:PATH', 'transformers:PATH', 'openai:URL#MODEL', or nothing for the embedded SmolLM2.",
            )
    if backend == "llamacpp":
        return _llamacpp_model_class()(path, **options)
    if options.get("adapters"):
        raise UserError(
            "Per-role adapters (adapters=...) need a GGUF model on llama.cpp.",
            hint="pass a .gguf model, or one peft adapter folder with adapter=PATH for a transformers model.",
        )
    options.pop("adapters", None)
    from agentslm.models.transformers import TransformersModel

    return TransformersModel(path, **options)


def _catalog_file(name: str, allow_pull: bool) -> Path | None:
    """The pulled file of the catalog model ``name`` (pulled now if missing and allowed); None if no such name."""
    from agentslm.models.catalog import catalog_model, pulled_path

    entry = catalog_model(name)
    if entry is None:
        return None
    path = pulled_path(entry)
    if path.is_file():
        return path
    if not allow_pull:
        raise ModelNotFoundError(f"{entry.name} is not pulled yet.", hint=f"run: agentslm models pull {entry.name}")
    from agentslm.models.pull import pull

    return pull(entry)


def _llamacpp_model_class() -> Any:
    """``LlamaCppModel``, or a :class:`MissingExtraError` saying which extra brings llama.cpp."""
    try:
        import llama_cpp  # noqa: F401
        import numpy  # noqa: F401
    except ImportError as exc:
        raise MissingExtraError(
            f"llama.cpp models (the embedded SmolLM2 included) need llama-cpp-python and numpy ({exc.name} is not installed).",
            hint="pip install 'agentslm[llamacpp]', or pass model='openai:http://HOST:PORT/v1#MODEL' or your own Model.",
        ) from exc
    from agentslm.models.llamacpp import LlamaCppModel

    return LlamaCppModel
