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
from functools import lru_cache
from typing import Any

from agentslm.provenance import identifier_spans

__all__ = [
    "ENUM_ALIASES",
    "directed_enum_parameters",
    "directed_pairs",
    "enum_member_stated",
    "grounding_report",
    "is_grounded_number",
    "is_grounded_string",
    "scoped_grounding_report",
    "times_stated",
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


def _number_mentions(source: str) -> list[float]:
    """Every number ``source`` states, in digits or as a number word, once per mention."""
    found: list[float] = []
    for match in _NUMBER.findall(source):
        try:
            found.append(float(match.replace(",", "")))
        except ValueError:
            continue
    found.extend(float(_WORDS[word]) for word in _norm(source).split() if word in _WORDS)
    return found


def _numbers_in(source: str) -> set[float]:
    return set(_number_mentions(source))


def _same_number(value: float, stated: float) -> bool:
    """Whether ``value`` is ``stated`` as written, as a percentage (5 -> 0.05) or x100."""
    return abs(value - stated) < 1e-9 or abs(value - stated / 100) < 1e-9 or abs(value - stated * 100) < 1e-6


def is_grounded_number(value: float, source: str) -> bool:
    """True if ``value`` appears in ``source`` as digits or a number word (also as a percentage or x100)."""
    return any(_same_number(value, n) for n in _numbers_in(source))


def times_stated(value: float, source: str) -> int:
    """How often ``source`` states the number ``value`` (digits, number words, percentages as in
    ``is_grounded_number``): "45 kg in 15 m3" states 15 once, "a = 1, b = 2, c = 1" states 1 twice."""
    return sum(_same_number(value, n) for n in _number_mentions(source))


_ENUM_TOKEN = re.compile(r"[^\W_]+|[$€£¥₹]|°[cf]")
"""A word, a currency sign or a degree unit: how a request states an enum member."""

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
    words = set(_ENUM_TOKEN.findall(lower))
    if text in words or (len(text.split()) > 1 and _norm(text) in _norm(source)):
        return True
    return bool(ENUM_ALIASES.get(text, frozenset()) & words)


_FROM_WORDS = frozenset({"from", "source", "src", "base", "origin", "input", "in"})
_TO_WORDS = frozenset({"to", "target", "dst", "dest", "destination", "quote", "output", "out", "into"})
_TOWARDS = frozenset({"to", "into", "in"})


def _side(name: str) -> str | None:
    """``"from"`` for ``from_currency`` / ``source_unit``, ``"to"`` for ``to_currency`` / ``target_unit``, else None."""
    parts = set(re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()))
    if parts & _FROM_WORDS and not parts & _TO_WORDS:
        return "from"
    if parts & _TO_WORDS and not parts & _FROM_WORDS:
        return "to"
    return None


def _stated_sides(members: list[Any], source: str) -> tuple[list[Any], list[Any]]:
    """The ``members`` ``source`` states before and after a "to" / "into" / "in": "Convert 100 USD to EUR and to GBP"
    -> ([USD], [EUR, GBP]). A member stated "from" is a from-member wherever it stands. Empty lists when the source
    states no member after such a word (no direction given)."""
    tokens = _ENUM_TOKEN.findall(source.lower())
    by_word: dict[str, Any] = {}
    for member in members:
        text = str(member).strip().lower()
        if text and len(text.split()) == 1:
            by_word[text] = member
            for alias in ENUM_ALIASES.get(text, frozenset()):
                by_word.setdefault(alias, member)
    before: list[Any] = []
    after: list[Any] = []
    for i, token in enumerate(tokens):
        member = by_word.get(token)
        if member is None:
            continue
        lead = tokens[max(0, i - 2) : i]
        towards = bool(lead) and (lead[-1] in _TOWARDS or (len(lead) == 2 and lead[0] in _TOWARDS and lead[1] not in by_word))
        if towards and "from" not in lead:
            after.append(member)
        else:
            before.append(member)
    if not after:
        return [], []
    return list(dict.fromkeys(before)), list(dict.fromkeys(after))


def directed_pairs(parameters: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The ``(from field, to field)`` pairs of ``parameters`` that share one enum: ``[("from_currency",
    "to_currency")]`` for a currency conversion, ``[("source_unit", "target_unit")]`` for a unit one."""
    props = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if not isinstance(props, Mapping):
        return []
    groups: dict[str, dict[str, str]] = {}
    for name, spec in props.items():
        side = _side(name)
        if side and isinstance(spec, Mapping) and isinstance(spec.get("enum"), list) and spec["enum"]:
            groups.setdefault(repr(sorted(map(str, spec["enum"]))), {}).setdefault(side, name)
    return [(sides["from"], sides["to"]) for sides in groups.values() if set(sides) == {"from", "to"}]


def directed_enum_parameters(parameters: Mapping[str, Any], source: str) -> dict[str, Any]:
    """``parameters`` with a from/to pair of fields that share one enum (``from_currency`` / ``to_currency``) limited to
    the members ``source`` states on each side: "Convert 50 CHF to EUR" allows only CHF as ``from_currency`` and EUR
    as ``to_currency`` (a small model swaps them), and "100 USD to EUR and to GBP" keeps USD as the second
    conversion's source. A side the source states no member for is left as it is; unchanged without a "to"."""
    pairs = directed_pairs(parameters)
    if not pairs:
        return dict(parameters)
    props = parameters["properties"]
    out = dict(props)
    for pair in pairs:
        members = list(props[pair[0]]["enum"])
        for name, stated in zip(pair, _stated_sides(members, source), strict=True):
            if stated and len(stated) < len(members):
                out[name] = {**props[name], "enum": stated}
    return {**parameters, "properties": out} if out != dict(props) else dict(parameters)


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


_TOKEN_KINDS = ("email", "url", "path")
"""Identifier kinds whose parts are no values of their own (the ``q3`` of ``reports/q3.txt``)."""


def _is_identifier(value: str) -> bool:
    return any(identifier_spans(value, kind, quoted=False) for kind in _TOKEN_KINDS)


@lru_cache(maxsize=32)
def _outside_identifiers(source: str) -> str:
    """``source`` with its addresses, URLs and paths blanked out (cached: one source is checked for many calls)."""
    for kind in _TOKEN_KINDS:
        for span in identifier_spans(source, kind, quoted=False):
            source = source.replace(span, " ")
    return source


_CONTRACTION = re.compile(r"^(s|t|d|m|ll|re|ve)\b", re.IGNORECASE)


def _starts_mid_word(value: str, source: str) -> bool:
    """Whether ``value`` starts with the tail of a word the source writes with an apostrophe: "s and David" from
    "Chloe's and David's" (the value is a cut of the request, not a name or a phrase in it)."""
    match = _CONTRACTION.match(value.strip())
    if match is None:
        return False
    tail = re.escape(match.group(1))
    return re.search(rf"(?<![\w'\u2019]){tail}\b", source, re.IGNORECASE) is None


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
            # a plain value is no part of a path, address or URL: get_weather(city="Q3") for "Read reports/q3.txt"
            within = source if _is_identifier(value) else _outside_identifiers(source)
            if not is_grounded_string(value, within) or _starts_mid_word(value, source):
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
