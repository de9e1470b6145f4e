"""Whether a GGUF LoRA adapter fits a base model: read from both files' metadata before llama.cpp loads them.

llama.cpp loads an adapter trained for another base without complaint when the shapes happen to agree, and then
decodes garbage; this check refuses it with the reason (another architecture, other shapes, another model name).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from agentslm.errors import UserError

__all__ = ["AdapterMismatchError", "adapter_metadata", "base_identity", "check_adapter", "gguf_metadata"]


class AdapterMismatchError(UserError):
    """A LoRA adapter was trained for another base model."""


_BASE_KEYS = ("architecture", "block_count", "embedding_length", "head_count", "head_count_kv", "vocab_size")
_GGUF_KEYS = {"head_count": "attention.head_count", "head_count_kv": "attention.head_count_kv"}


def gguf_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Scalar and string metadata of a GGUF file (arrays skipped), read without loading tensors."""
    from agentslm.models.gguf_meta import gguf_scalars

    return gguf_scalars(path)


def base_identity(base_meta: dict[str, Any]) -> dict[str, Any]:
    """Architecture, name and shapes of a base model from its GGUF metadata (what an adapter must match)."""
    arch = base_meta.get("general.architecture", "")
    out: dict[str, Any] = {"architecture": arch, "name": base_meta.get("general.name", "")}
    for key in _BASE_KEYS[1:]:
        value = base_meta.get(f"{arch}.{_GGUF_KEYS.get(key, key)}")
        if value is not None:
            out[key] = value
    return out


def adapter_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``agentslm.base.*`` record of an exported adapter (empty for adapters made elsewhere)."""
    meta = gguf_metadata(path)
    return {k.removeprefix("agentslm.base."): v for k, v in meta.items() if k.startswith("agentslm.base.")} | {
        "_general.type": meta.get("general.type"),
        "_general.architecture": meta.get("general.architecture"),
    }


def check_adapter(base_path: str | os.PathLike[str], adapter_path: str | os.PathLike[str]) -> None:
    """Raise :class:`AdapterMismatchError` if the GGUF adapter is not a LoRA adapter for this base: another
    architecture, other shapes (layers, width, heads, vocabulary) or, for agentslm adapters, another model name."""
    try:
        adapter = adapter_metadata(adapter_path)
    except (ValueError, OSError) as exc:
        raise AdapterMismatchError(f"{adapter_path} is not a readable GGUF file ({exc}).") from None
    if adapter.get("_general.type") != "adapter":
        raise AdapterMismatchError(
            f"{adapter_path} is not a GGUF adapter (general.type={adapter.get('_general.type')!r}).",
            hint="export one with `agentslm train export`.",
        )
    base = base_identity(gguf_metadata(base_path))
    if adapter.get("_general.architecture") != base["architecture"]:
        raise AdapterMismatchError(
            f"The adapter {Path(adapter_path).name} is for architecture {adapter.get('_general.architecture')!r}, "
            f"the base {Path(base_path).name} is {base['architecture']!r}.",
            hint="load the adapter onto the base model it was trained on.",
        )
    differing = [
        f"{k}: adapter {adapter[k]!r} vs base {base[k]!r}"
        for k in ("name", *_BASE_KEYS[1:])
        if k in adapter and k in base and adapter[k] != base[k]
    ]
    if differing:
        raise AdapterMismatchError(
            f"The adapter {Path(adapter_path).name} was trained on another base model than {Path(base_path).name} ("
            + "; ".join(differing)
            + ").",
            hint="load it onto the base it names, or train an adapter for this model.",
        )
