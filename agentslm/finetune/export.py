"""Export a peft LoRA adapter to a GGUF LoRA adapter that llama.cpp applies on top of the unchanged base
GGUF (``LlamaCppModel(..., lora_path=...)``), and check that an adapter fits a base before loading it.

The GGUF adapter carries llama.cpp's keys (``general.type=adapter``, ``adapter.type=lora``,
``adapter.lora.alpha``; tensors ``blk.N.<tensor>.weight.lora_a/.lora_b``) and agentslm's record of the
base it was trained on (``agentslm.base.*``), which :func:`check_adapter` compares with the base.
llama.cpp stores the q/k projections of LLaMA-family models with their rows permuted for its RoPE
layout, so ``lora_b`` of q and k gets the same permutation.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from agentslm.errors import UserError
from agentslm.models.adapter_check import AdapterMismatchError, adapter_metadata, base_identity, check_adapter, gguf_metadata

__all__ = ["AdapterMismatchError", "adapter_metadata", "check_adapter", "export_gguf_adapter", "gguf_metadata"]


_HF_TO_GGUF = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
}
_KEY = re.compile(r"(?:base_model\.model\.)?model\.layers\.(\d+)\.(.+)\.lora_([AB])\.weight$")
_SUPPORTED = ("llama",)


def _permute(w: np.ndarray, n_head: int, n_head_kv: int | None = None) -> np.ndarray:
    """llama.cpp's q/k row permutation (``convert_hf_to_gguf.LlamaModel.permute``)."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _check_trained_on(trained_on: dict[str, Any], base_gguf: str | os.PathLike[str]) -> None:
    """Refuse a base whose architecture or shape differs from the one the adapter was trained on (``trained_on``)."""
    identity = base_identity(gguf_metadata(base_gguf))
    compared = {"model_type": "architecture", "hidden_size": "embedding_length", "num_hidden_layers": "block_count"}
    differing = [
        f"{theirs}: trained {trained_on[ours]!r} vs base {identity[theirs]!r}"
        for ours, theirs in compared.items()
        if trained_on.get(ours) is not None and theirs in identity and trained_on[ours] != identity[theirs]
    ]
    if differing:
        raise AdapterMismatchError(
            f"The adapter was trained on another base model than {Path(base_gguf).name} (" + "; ".join(differing) + ").",
            hint="export it with --base set to the GGUF of the model it was trained on.",
        )


def _lora_pairs(tensors: dict[str, np.ndarray], n_head: int, n_head_kv: int) -> dict[str, dict[str, np.ndarray]]:
    """peft LoRA tensors as float32 ``{"A": ..., "B": ...}`` halves by llama.cpp tensor name (q/k ``lora_B`` permuted)."""
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, value in tensors.items():
        match = _KEY.search(key)
        if match is None or match.group(2) not in _HF_TO_GGUF:
            raise UserError(
                f"Adapter tensor {key!r} has no llama.cpp counterpart.", hint="train with the default target modules."
            )
        layer, module, ab = match.groups()
        name = f"blk.{layer}.{_HF_TO_GGUF[module]}.weight"
        w = value.astype(np.float32)
        if ab == "B" and module == "self_attn.q_proj":
            w = _permute(w, n_head, n_head)
        elif ab == "B" and module == "self_attn.k_proj":
            w = _permute(w, n_head, n_head_kv)
        pairs.setdefault(name, {})[ab] = w
    return pairs


def export_gguf_adapter(
    adapter_dir: str | os.PathLike[str],
    base_gguf: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    trained_on: dict[str, Any] | None = None,
    dtype: Literal["f32", "f16"] = "f32",
) -> Path:
    """Write the peft adapter in ``adapter_dir`` (``adapter_config.json`` + ``adapter_model.safetensors``)
    as a GGUF LoRA adapter for ``base_gguf`` (float32 tensors, which reproduce the trained adapter's greedy outputs
    on llama.cpp, or float16 with ``dtype="f16"``: half the size, some outputs change; the shipped adapters are f16,
    measured on the benchmarks, docs/TRAINING.md). ``trained_on`` (a run's ``training.json``
    ``base_config``) is compared with the base first: another architecture or shape is refused."""
    import gguf
    from safetensors.numpy import load_file

    if trained_on:
        _check_trained_on(trained_on, base_gguf)

    src = Path(adapter_dir)
    config_path, weights_path = src / "adapter_config.json", src / "adapter_model.safetensors"
    if not config_path.is_file() or not weights_path.is_file():
        raise UserError(f"{src} is not a peft adapter folder (adapter_config.json + adapter_model.safetensors).")
    config = json.loads(config_path.read_text(encoding="utf-8"))
    if config.get("peft_type", "LORA") != "LORA":
        raise UserError(f"{src} holds a {config.get('peft_type')} adapter; only LoRA exports to GGUF.")
    base_meta = gguf_metadata(base_gguf)
    identity = base_identity(base_meta)
    arch = identity["architecture"]
    if arch not in _SUPPORTED:
        raise UserError(f"Exporting LoRA adapters for {arch!r} models is not supported (only {', '.join(_SUPPORTED)}).")
    n_head = int(identity["head_count"])
    n_head_kv = int(identity.get("head_count_kv", n_head))
    tensors = load_file(str(weights_path))
    pairs = _lora_pairs(tensors, n_head, n_head_kv)
    if int(identity.get("block_count", 0)) and max(int(n.split(".")[1]) for n in pairs) >= int(identity["block_count"]):
        raise AdapterMismatchError(f"The adapter has more layers than {Path(base_gguf).name}.")
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(out_path), arch)
    writer.add_string("general.type", "adapter")
    writer.add_string("adapter.type", "lora")
    writer.add_float32("adapter.lora.alpha", float(config.get("lora_alpha", config.get("r", 8))))
    writer.add_string("general.name", f"{identity['name']} LoRA")
    for key, value in identity.items():
        if isinstance(value, str):
            writer.add_string(f"agentslm.base.{key}", value)
        else:
            writer.add_uint32(f"agentslm.base.{key}", int(value))
    for name in sorted(pairs, key=lambda n: (int(n.split(".")[1]), n)):
        ab = pairs[name]
        if set(ab) != {"A", "B"}:
            raise UserError(f"Adapter tensor {name} lacks its lora_A or lora_B half.")
        cast = np.float16 if dtype == "f16" else np.float32
        writer.add_tensor(f"{name}.lora_a", ab["A"].astype(cast))
        writer.add_tensor(f"{name}.lora_b", ab["B"].astype(cast))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_path
