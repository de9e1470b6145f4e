"""What a retriever indexes for a tool: its name split into words, its description, its parameters.

Names are split at ``_``, ``.``, ``-`` and camelCase (``get_current_time``, ``math.factorial``,
``sendEmail``), so a request's words meet a tool's words. Parameter names, their descriptions and
enum values are included: a request often names an argument ("in celsius", "by email").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from agentslm.registry import Tool

__all__ = ["STOPWORDS", "index_key", "tokenize", "tool_document"]

STOPWORDS = frozenset(
    """a an the of to in on for and or is are be by with from at as it this that what which who how me my i you your
    we our can could would should please do does get give find tell show""".split()
)
"""Words too common to tell tools apart (``get``/``find``/``show`` start half of all tool names)."""


def _words(text: str) -> str:
    return re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", text).replace("_", " ").replace(".", " ").replace("-", " ")


def _parameters(schema: Mapping[str, Any], depth: int = 0) -> Iterable[str]:
    if depth > 3:
        return
    for name, sub in (schema.get("properties") or {}).items():
        yield _words(str(name))
        if isinstance(sub, Mapping):
            if isinstance(sub.get("description"), str):
                yield sub["description"]
            if isinstance(sub.get("enum"), list):
                yield " ".join(str(v) for v in sub["enum"][:20])
            if sub.get("type") == "object":
                yield from _parameters(sub, depth + 1)
            items = sub.get("items")
            if isinstance(items, Mapping) and items.get("type") == "object":
                yield from _parameters(items, depth + 1)


def tool_document(tool: Tool) -> str:
    """The text a retriever indexes for ``tool``."""
    parts = [_words(tool.name), tool.description or "", *_parameters(tool.parameters)]
    return ". ".join(p.strip().rstrip(".") for p in parts if p and p.strip().rstrip("."))


def tokenize(text: str) -> list[str]:
    """Lower-case word tokens for BM25, split like tool names, stopwords dropped, plural ``s`` stripped."""
    tokens = re.findall(r"[a-z0-9]+", _words(text).lower())
    return [t[:-1] if len(t) > 3 and t.endswith("s") and not t.endswith("ss") else t for t in tokens if t not in STOPWORDS]


def index_key(tools: Sequence[Tool], salt: str = "") -> str:
    """A version key for a tool set: changes when any tool's name, description or schema changes."""
    digest = hashlib.sha256(salt.encode())
    for tool in tools:
        digest.update(b"\0" + tool_document(tool).encode())
    return digest.hexdigest()[:24]
