"""Scalar metadata of a GGUF file, read from its header without building its arrays.

``gguf.GGUFReader`` parses every field, including the tokenizer's 49k-entry arrays, which took 3-7 s for the
embedded model on every load with an adapter. This reader walks the header once, skips arrays, and returns
the scalar and string values (what adapter checks and model identities need) in milliseconds.
"""

from __future__ import annotations

import os
import struct
from typing import Any, BinaryIO

__all__ = ["gguf_scalars"]

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize(fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack(fmt, data)[0]


def _string(fh: BinaryIO) -> str:
    length = _read(fh, "<Q")
    return fh.read(length).decode("utf-8", "replace")


def _skip(fh: BinaryIO, kind: int) -> None:
    if kind == _STRING:
        fh.seek(_read(fh, "<Q"), os.SEEK_CUR)
    elif kind == _ARRAY:
        inner, count = _read(fh, "<I"), _read(fh, "<Q")
        if inner in _SCALARS:
            fh.seek(struct.calcsize(_SCALARS[inner]) * count, os.SEEK_CUR)
        else:
            for _ in range(count):
                _skip(fh, inner)
    elif kind in _SCALARS:
        fh.seek(struct.calcsize(_SCALARS[kind]), os.SEEK_CUR)
    else:
        raise ValueError(f"unknown GGUF value type {kind}")


def gguf_scalars(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Scalar and string metadata of a GGUF file (arrays skipped). Raises ValueError if it is not GGUF."""
    with open(path, "rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError(f"{os.fspath(path)} is not a GGUF file")
        version = _read(fh, "<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is not supported")
        _read(fh, "<Q")  # tensor count
        meta: dict[str, Any] = {}
        for _ in range(_read(fh, "<Q")):
            key, kind = _string(fh), _read(fh, "<I")
            if kind == _STRING:
                meta[key] = _string(fh)
            elif kind in _SCALARS:
                meta[key] = _read(fh, _SCALARS[kind])
            else:
                _skip(fh, kind)
        return meta
