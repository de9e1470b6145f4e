"""Saved KV states of prompt prefixes, so each role's stable prompt prefix survives the other roles' steps.

One llama.cpp context holds one sequence. The planner's prompt (system prompt + tool list, ~600 tokens on the demo)
and the summarizer's share almost nothing, and a LoRA adapter switched off for a role invalidates everything computed
with it on; without saved states every role step re-evaluates its whole prompt (3-4 s of a 4-10 s request on 2 cores).
:class:`PrefixCache` keeps the states that would otherwise be thrown away, keyed by the weights they were computed
under (an adapter on or off) and by their tokens; a new prompt restores the saved state sharing its longest prefix and
evaluates only the rest. Memory is bounded (least recently used entries go first); a state computed under other
weights is never offered.

The cache stores bytes; the backend (:class:`agentslm.models.llamacpp.LlamaCppModel`) saves and restores them with
``llama_state_seq_get_data`` / ``llama_state_seq_set_data``; ``agentslm bench latency`` reports the memory the saved
states take (docs/benchmarks/latency).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["PrefixCache", "SavedPrefix", "common_prefix"]


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    if n == 0:
        return 0
    diff = np.flatnonzero(np.asarray(a[:n], dtype=np.int64) != np.asarray(b[:n], dtype=np.int64))
    return int(diff[0]) if diff.size else n


@dataclass(frozen=True)
class SavedPrefix:
    """One saved state: the tokens it holds and the backend's buffer for them."""

    weights: Hashable
    """What the state was computed under (e.g. ``("lora", 1.0)`` or ``"base"``); only offered for the same weights."""
    tokens: tuple[int, ...]
    data: Any
    """The backend's state (bytes, or a ctypes buffer the backend reads back without a copy)."""
    nbytes: int
    """Size of ``data`` in bytes."""


class PrefixCache:
    """Least-recently-used saved states, at most ``max_bytes`` in all.

    Args:
        max_bytes: memory bound for the saved states (an entry larger than this is not kept).
        min_tokens: states shorter than this are not worth keeping (restoring costs about as much as evaluating).
    """

    def __init__(self, max_bytes: int, *, min_tokens: int = 32) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes={max_bytes} must be >= 0 (0 turns the cache off)")
        self.max_bytes = max_bytes
        self.min_tokens = min_tokens
        self._entries: OrderedDict[int, SavedPrefix] = OrderedDict()
        self._next = 0
        self.hits = 0
        """Lookups that found a usable saved state."""
        self.stores = 0
        """States saved."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        """Bytes held by the saved states now."""
        return sum(e.nbytes for e in self._entries.values())

    def entries(self) -> list[SavedPrefix]:
        """The saved states, least recently used first."""
        return list(self._entries.values())

    def lookup(self, weights: Hashable, tokens: Sequence[int]) -> tuple[SavedPrefix | None, int]:
        """The saved state under ``weights`` sharing the longest prefix with ``tokens``, and that prefix's length.
        A found entry becomes the most recently used."""
        best_id, best, best_len = -1, None, 0
        for entry_id, entry in self._entries.items():
            if entry.weights != weights:
                continue
            n = common_prefix(entry.tokens, tokens)
            if n > best_len:
                best_id, best, best_len = entry_id, entry, n
        if best is None:
            return None, 0
        self._entries.move_to_end(best_id)
        self.hits += 1
        return best, best_len

    def wants(self, tokens: Sequence[int]) -> bool:
        """Whether a state of ``tokens`` would be kept (worth the bytes of saving it)."""
        return self.max_bytes > 0 and len(tokens) >= self.min_tokens

    def store(self, weights: Hashable, tokens: Sequence[int], data: Any, nbytes: int | None = None) -> bool:
        """Keep a state (``nbytes``: its size, ``len(data)`` by default). Entries under the same weights that it covers
        (half or more of their tokens are its prefix) are replaced; then the least recently used go until the bound
        holds. Returns whether it was kept."""
        size = len(data) if nbytes is None else nbytes
        if not self.wants(tokens) or size > self.max_bytes:
            return False
        tokens = tuple(tokens)
        for entry_id, entry in list(self._entries.items()):
            if entry.weights == weights and common_prefix(entry.tokens, tokens) * 2 >= len(entry.tokens):
                del self._entries[entry_id]
        self._entries[self._next] = SavedPrefix(weights=weights, tokens=tokens, data=data, nbytes=size)
        self._next += 1
        self.stores += 1
        total = self.nbytes
        while total > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            total -= dropped.nbytes
        return True

    def clear(self) -> None:
        """Drop every saved state."""
        self._entries.clear()
