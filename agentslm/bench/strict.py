"""Strict scoring shared by ``agentslm bench tasks`` and ``agentslm bench assistant``: identifiers no source holds and
junk values in the calls a run made. Written independently of :mod:`agentslm.provenance` on purpose (a scorer that
shared the agent's code would share its blind spots)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agentslm.provenance import copies_description

__all__ = ["invented_in", "junk_in"]


def _norm(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value)).strip().casefold().strip(".!?,;:'\" ")


_ID_SHAPES = [
    re.compile(r"[\w.%+\-]+@[\w.\-]+\.[a-z]{2,}", re.IGNORECASE),
    re.compile(r"https?://\S+"),
    re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    re.compile(r"\b\d{1,2}:\d{2}\b"),
    re.compile(r"\+\d[\d\- ]{6,}\d"),
    re.compile(r"\b[\w\-]+(?:/[\w\-]+)*\.(?:txt|md|csv|json|pdf|docx?|py)\b"),
]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def invented_in(arguments: dict[str, Any], seen: str) -> list[str]:
    """Identifiers in ``arguments`` that ``seen`` (the requests and earlier results) does not contain."""
    invented: list[str] = []
    low = seen.casefold()
    for text in _strings(arguments):
        for shape in _ID_SHAPES:
            invented += [m for m in shape.findall(text) if m.casefold() not in low]
    seen_numbers = set(re.findall(r"\d+", seen))
    for key, value in arguments.items():
        if re.search(r"(^|_)id$", key.lower()) and isinstance(value, int | str) and str(value) not in seen_numbers:
            invented.append(f"{key}={value}")
    return list(dict.fromkeys(invented))


_PLACEHOLDERS = re.compile(
    r"\b(lorem ipsum|placeholder|xxx+|tbd|your (name|email)|example\.com|john doe)\b|<[a-z_ ]+>", re.IGNORECASE
)


def _description(parameters: Mapping[str, Any] | None, key: str) -> str | None:
    spec = (parameters or {}).get("properties", {}).get(key, {})
    description = spec.get("description") if isinstance(spec, Mapping) else None
    return description if isinstance(description, str) else None


def junk_in(arguments: dict[str, Any], seen: str = "", parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Junk values in ``arguments``: repeated text, placeholder text (with the tool's JSON Schema ``parameters``: also
    a value that only restates its field's description), a string over 120 characters in a short field.
    A value copied from ``seen`` (the request, earlier results) is what the user or a tool said, whatever it looks like
    (``bob@example.com`` in "Email bob@example.com ..."), so it is never junk; a placeholder the model wrote is."""
    found: list[str] = []
    low = seen.casefold()
    for key, value in arguments.items():
        for text in _strings(value):
            if low and text.strip() and text.strip().casefold() in low:
                continue
            words = re.findall(r"\w+", text.casefold())
            grams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
            if any(grams.count(g) >= 3 for g in set(grams)) or re.search(r"(.)\1{9,}", text):
                found.append(f"{key}: repeated text")
            elif copies_description(text, _description(parameters, key)):
                found.append(f"{key}: placeholder text (the field's description)")
            elif any(m.group(0).casefold() not in low for m in _PLACEHOLDERS.finditer(text)) or _norm(text) in (
                "string",
                "text",
                "value",
                "...",
            ):
                found.append(f"{key}: placeholder text")
            elif key in ("title", "subject", "name") and len(text) > 120:
                found.append(f"{key}: {len(text)} characters")
    return found
