"""A JSON Schema rewritten so that an inference server's grammar converter takes it and means the same by it.

Servers turn ``response_format`` schemas into grammars, and the converters of llama.cpp's servers handle only part
of JSON Schema (measured with llama-cpp-python 0.3.x's ``llama_cpp.server`` and its C++ grammar parser):

- ``prefixItems`` becomes a tuple of *every* listed item, so a plan schema of "up to four calls" forced exactly
  four. Here it becomes ``anyOf`` of the allowed lengths, each a tuple (:func:`tuples_for_prefix_items`).
- ``maxLength`` unrolls into nested optional rules; 2000 (a note's text) exceeds the grammar parser's limits and the
  server answers "failed to parse grammar". Bounds above :data:`MAX_SERVED_LENGTH` are left out
  (:func:`without_long_bounds`); ``max_tokens`` still bounds the reply, and the client validates the full schema.
- llama-cpp-python's own converter (the ``json_object`` variant) copies regex escapes into string literals the
  grammar parser rejects (``\\.``, ``\\$``, ``\\d``), mistranslates ``-\\d`` and top-level ``|``, and refuses patterns
  without both anchors. :func:`llama_cpp_python_pattern` rewrites a pattern into the subset it handles (classes for
  escapes) or returns None, and the pattern is then left out of what is sent.

Whatever is left out is still checked: :class:`~agentslm.models.openai_compat.OpenAICompatModel` validates every
reply against the original schema.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "MAX_SERVED_LENGTH",
    "for_llama_cpp_python",
    "for_server",
    "llama_cpp_python_pattern",
    "tuples_for_prefix_items",
    "without_long_bounds",
]

MAX_SERVED_LENGTH = 500
"""The longest ``maxLength`` sent to a server (llama.cpp's grammar parser took 1,000 and refused 2,000)."""

_CLASS_SHORTHAND = {"d": "0-9", "w": "A-Za-z0-9_", "s": " \\t\\n\\r"}


def tuples_for_prefix_items(schema: Any) -> Any:
    """``schema`` with each ``prefixItems`` array (no further items) replaced by ``anyOf`` of one tuple per allowed
    length (``minItems`` .. ``min(maxItems, len(prefixItems))``): the same set of arrays, in the form llama.cpp's
    converters read as written."""
    if isinstance(schema, list):
        return [tuples_for_prefix_items(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: tuples_for_prefix_items(v) for k, v in schema.items()}
    prefix = out.get("prefixItems")
    if not isinstance(prefix, list) or out.get("items", False) is not False:
        return out
    low = int(out.get("minItems", 0))
    high = min(int(out.get("maxItems", len(prefix))), len(prefix))
    rest = {k: v for k, v in out.items() if k not in ("prefixItems", "items", "minItems", "maxItems", "type")}
    alternatives = [{"type": "array", "prefixItems": prefix[:n], "items": False, "minItems": n} for n in range(low, high + 1)]
    return {**rest, "anyOf": alternatives}


def without_long_bounds(schema: Any, limit: int = MAX_SERVED_LENGTH) -> Any:
    """``schema`` without ``maxLength`` bounds above ``limit``."""
    if isinstance(schema, list):
        return [without_long_bounds(v, limit) for v in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        k: without_long_bounds(v, limit) for k, v in schema.items() if not (k == "maxLength" and isinstance(v, int) and v > limit)
    }


def llama_cpp_python_pattern(pattern: str) -> str | None:
    """``pattern`` in the regex subset llama-cpp-python's schema converter translates correctly, or None.

    Escapes become character classes (``\\.`` -> ``[\\x2E]``, ``\\d`` -> ``[0-9]``, inside a class ``\\s`` ->
    `` \\t\\n\\r``); a pattern without both anchors, with a top-level ``|``, a group modifier ``(?``, a word
    boundary or a negated shorthand inside a class is not translated."""
    if not (pattern.startswith("^") and pattern.endswith("$")) or pattern.endswith("\\$") or len(pattern) < 2:
        return None
    body = pattern[1:-1]
    out: list[str] = []
    depth = 0
    in_class = False
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body):
                return None
            escaped = _escape(body[i + 1], body[i + 2 : i + 4], in_class)
            if escaped is None:
                return None
            out.append(escaped)
            i += 4 if body[i + 1] == "x" else 2
            continue
        if in_class:
            if c == "]" and not (out and out[-1] in ("[", "[^")):
                in_class = False
            out.append(c)
        elif c == "[":
            in_class = True
            opened = "[^" if body[i + 1 : i + 2] == "^" else "["
            out.append(opened)
            i += len(opened)
            continue
        elif c in "^$":
            return None
        elif c == "(":
            if body[i + 1 : i + 2] == "?":
                return None
            depth += 1
            out.append(c)
        elif c == ")":
            depth -= 1
            out.append(c)
        elif c == "|" and depth == 0:
            return None
        else:
            out.append(c)
        i += 1
    if in_class or depth != 0:
        return None
    return "^" + "".join(out) + "$"


def _escape(char: str, after: str, in_class: bool) -> str | None:
    """One regex escape ``\\char`` as the converter should see it (``after``: the two characters after ``\\x``)."""
    if char == "x":
        if len(after) != 2 or not all(h in "0123456789abcdefABCDEF" for h in after):
            return None
        return f"\\x{after}" if in_class else f"[\\x{after}]"
    if char in _CLASS_SHORTHAND:
        return _CLASS_SHORTHAND[char] if in_class else f"[{_CLASS_SHORTHAND[char]}]"
    if char.lower() in _CLASS_SHORTHAND:  # \D \W \S
        return None if in_class else f"[^{_CLASS_SHORTHAND[char.lower()]}]"
    if char in "tnr":
        return f"\\{char}" if in_class else f"[\\{char}]"
    if char.isalnum() or char == "_":  # \b, \B, \A, back-references: no equivalent
        return None
    code = f"\\x{ord(char):02X}" if ord(char) < 0x80 else None
    if code is None:
        return None
    return code if in_class else f"[{code}]"


def for_llama_cpp_python(schema: Any) -> Any:
    """``schema`` for llama-cpp-python's ``{"type": "json_object", "schema": ...}``: :func:`for_server`, and each
    string ``pattern`` rewritten by :func:`llama_cpp_python_pattern` or left out."""
    return _patterns(for_server(schema))


def _patterns(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_patterns(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "pattern" and isinstance(value, str):
            rewritten = llama_cpp_python_pattern(value)
            if rewritten is not None:
                out[key] = rewritten
        else:
            out[key] = _patterns(value)
    return out


def for_server(schema: Any) -> Any:
    """``schema`` as sent under ``response_format`` to any server: :func:`tuples_for_prefix_items` and
    :func:`without_long_bounds` (each accepts the same replies as before, or more; the client validates the rest)."""
    return without_long_bounds(tuples_for_prefix_items(schema))
