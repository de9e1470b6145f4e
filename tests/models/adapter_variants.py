"""Distinct LoRA adapters for tests of per-role switching: the shipped adapter with its ``lora_b`` scaled."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def scaled_adapter(source: Path, target: Path, factor: float) -> Path:
    """Write ``source`` (a GGUF LoRA adapter) to ``target`` with every ``lora_b`` tensor multiplied by ``factor``."""
    import gguf

    reader = gguf.GGUFReader(str(source))
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(target), arch)
    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        kind = field.types[0]
        value = field.contents()
        if kind == gguf.GGUFValueType.STRING:
            writer.add_string(key, value)
        elif kind == gguf.GGUFValueType.FLOAT32:
            writer.add_float32(key, value)
        elif kind == gguf.GGUFValueType.UINT32:
            writer.add_uint32(key, value)
        else:
            raise ValueError(f"unexpected field type {kind} of {key}")
    for tensor in reader.tensors:
        data = np.array(tensor.data, dtype=np.float32)
        if tensor.name.endswith(".lora_b"):
            data = data * np.float32(factor)
        writer.add_tensor(tensor.name, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return target
