"""Argument grounding: are a call's free-text and numeric argument values supported by the conversation?

A small model that is asked for a call it cannot make (no tool fits, or a required value is
missing) tends to invent values. A value is *grounded* when it appears in the source text:
strings by normalised substring or word overlap, numbers by their digits (``5`` matches
"5", "5.0" or "five"). Enum members, booleans and values equal to the schema default are
exempt (they come from the tool, not the user), and so are fields the tool declares as free text (``FreeText``: an
email body is the model's own writing; :mod:`agentslm.provenance` checks it for junk and unsupported identifiers).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = [
    "ENUM_ALIASES",
    "enum_member_stated",
    "grounding_report",
    "is_grounded_number",
    "is_grounded_string",
    "scoped_grounding_report",
]

_WORDS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "twenty": 20,
    "thirty": 30,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "dozen": 12,
    "half": 0.5,
    "once": 1,
    "twice": 2,
    "single": 1,
    "double": 2,
    "triple": 3,
}
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", " ", text).strip()


def is_grounded_string(value: str, source: str, *, min_overlap: float = 0.5) -> bool:
    """True if ``value`` (normalised) occurs in ``source`` or at least ``min_overlap`` of its words do."""
    v, s = _norm(value), _norm(source)
    if not v:
        return True
    if v in s:
        return True
    words = [w for w in v.split() if len(w) > 2 or w.isdigit()]
    if not words:
        return v.replace(" ", "") in s.replace(" ", "")
    source_words = set(s.split())
    hits = sum(1 for w in words if w in source_words or any(sw.startswith(w[:5]) for sw in source_words if len(w) >= 5))
    return hits / len(words) >= min_overlap


def _numbers_in(source: str) -> set[float]:
    found: set[float] = set()
    for match in _NUMBER.findall(source):
        try:
            found.add(float(match.replace(",", "")))
        except ValueError:
            continue
    for word in _norm(source).split():
        if word in _WORDS:
            found.add(float(_WORDS[word]))
    return found


def is_grounded_number(value: float, source: str) -> bool:
    """True if ``value`` appears in ``source`` as digits or a number word (also as a percentage or x100)."""
    numbers = _numbers_in(source)
    return any(abs(value - n) < 1e-9 or abs(value - n / 100) < 1e-9 or abs(value - n * 100) < 1e-6 for n in numbers)


ENUM_ALIASES: dict[str, frozenset[str]] = {
    "usd": frozenset({"dollar", "dollars", "$", "buck", "bucks"}),
    "eur": frozenset({"euro", "euros", "€"}),
    "gbp": frozenset({"pound", "pounds", "sterling", "£"}),
    "jpy": frozenset({"yen", "¥"}),
    "chf": frozenset({"franc", "francs"}),
    "cny": frozenset({"yuan", "renminbi", "rmb"}),
    "inr": frozenset({"rupee", "rupees", "₹"}),
    "celsius": frozenset({"°c", "centigrade"}),
    "fahrenheit": frozenset({"°f"}),
    "kilometers": frozenset({"km", "kilometres", "kilometer", "kilometre"}),
    "miles": frozenset({"mile", "mi"}),
}
"""Words a request uses for common enum members (currency codes, units): "Convert 50 dollars" states ``USD``."""


def enum_member_stated(member: Any, source: str) -> bool:
    """Whether ``source`` states the enum ``member``: the member itself as a word, or a word of :data:`ENUM_ALIASES`."""
    text = str(member).strip().lower()
    if not text:
        return False
    lower = source.lower()
    words = set(re.findall(r"[^\W_]+|[$€£¥₹]|°[cf]", lower))
    if text in words or (len(text.split()) > 1 and _norm(text) in _norm(source)):
        return True
    return bool(ENUM_ALIASES.get(text, frozenset()) & words)


def _unstated_enum_pairs(arguments: Mapping[str, Any], props: Mapping[str, Any], required: Any, source: str) -> list[str]:
    """Required fields that share one enum with another required field (``from_currency`` / ``to_currency``) and hold a
    member the source does not state: "Convert 50 dollars" states one currency, so the other is a guess."""
    groups: dict[str, list[str]] = {}
    for name in required if isinstance(required, list) else []:
        spec = props.get(name)
        if isinstance(spec, Mapping) and isinstance(spec.get("enum"), list) and "default" not in spec and name in arguments:
            groups.setdefault(repr(sorted(map(str, spec["enum"]))), []).append(name)
    return [
        name for names in groups.values() if len(names) > 1 for name in names if not enum_member_stated(arguments[name], source)
    ]


def grounding_report(
    arguments: Mapping[str, Any], schema: Mapping[str, Any], source: str, *, free_text: bool = False
) -> list[str]:
    """Names of the top-level arguments whose values are not grounded in ``source`` (empty if all are). Enum members
    come from the tool, except where two required fields share one enum and the source states only one of the two
    values (see :func:`_unstated_enum_pairs`).

    ``free_text``: check fields declared as free text too (by default they are the model's own writing)."""
    props: Mapping[str, Any] = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    if not isinstance(props, Mapping):
        props = {}
    missing: list[str] = _unstated_enum_pairs(arguments, props, schema.get("required", []), source)
    for name, value in arguments.items():
        spec = props.get(name, {}) if isinstance(props, Mapping) else {}
        if not isinstance(spec, Mapping):
            spec = {}
        if name in missing or "enum" in spec or "const" in spec or ("default" in spec and spec["default"] == value):
            continue
        if (
            spec.get("x-free-text") and not free_text
        ):  # the model writes it (an email body): see agentslm.provenance for its checks
            continue
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, str):
            if not is_grounded_string(value, source):
                missing.append(name)
        elif isinstance(value, int | float):
            if value not in (0, 1) and not is_grounded_number(float(value), source):
                missing.append(name)
        elif (
            isinstance(value, list) and value and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in value)
        ):
            grounded = [
                is_grounded_string(v, source) if isinstance(v, str) else is_grounded_number(float(v), source) for v in value
            ]
            if not any(grounded):
                missing.append(name)
    return missing


def scoped_grounding_report(
    arguments: Mapping[str, Any], schema: Mapping[str, Any], source: str, *, scope: str = "every"
) -> list[str]:
    """:func:`grounding_report` under a model's grounding scope (``PlannerPolicy.grounding_scope``): ``every`` value
    must appear in ``source``; under ``any``, a call that states one value the request holds (a string or a number,
    not an enum member, a default or a flag) may normalise the others ("500 US dollars" -> ``USD``), except a paired
    enum the request leaves open, which is still reported (to be asked for)."""
    missing = grounding_report(arguments, schema, source)
    if missing and scope == "any" and _states_a_value(arguments, missing, schema):
        props = schema.get("properties", {})
        missing = [m for m in missing if isinstance(props.get(m), dict) and "enum" in props[m]]
    return missing


def _states_a_value(arguments: Mapping[str, Any], missing: list[str], schema: Mapping[str, Any]) -> bool:
    """Whether a value the request states (a string or number that grounding found, not an enum member, a default or a
    flag) is among ``arguments``."""
    props = schema.get("properties", {})
    for name, value in arguments.items():
        spec = props.get(name, {}) if isinstance(props, dict) else {}
        if name in missing or not isinstance(spec, dict) or "enum" in spec or "const" in spec or spec.get("x-free-text"):
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if (isinstance(value, str) or (number and value not in (0, 1))) and spec.get("default") != value:
            return True
    return False
