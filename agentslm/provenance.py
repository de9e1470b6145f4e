"""Value provenance: where each argument value of a call comes from, and which values a field may take.

Every argument value has a source: a span of the request (``request``), an earlier result (``result``: an exact
copy of a result value, or ``reference``: a ``$N.field`` reference), the tool's schema (``schema``: enum member,
default, boolean), or a field the tool declares as free text (``free_text``). A value with none of these is
``unsupported``.

*Identifiers* (emails, URLs, paths, ids, phone numbers, dates and times) must be exact copies of a source: word
overlap is not enough (``ana@brightmail.com`` shares half its words with "email Ana"). A field is an identifier
field by its schema (``format``, an ``@`` or ``http`` pattern, ``x-identifier``) or its name (``email``, ``url``,
``path``, ``*_id``, ``date``, ...); any string value shaped like an identifier counts as one too.

:func:`candidates` lists, for an identifier field, the values the sources hold of its kind; the planner puts them
into the grammar (the model can only copy, not invent), and :func:`argument_sources` checks every call again before
it runs (for what decoding could not enforce: references, other engines, remote models).

Tools declare free-text fields with :data:`FreeText` (``body: FreeText``) or ``"x-free-text": true`` in the JSON
Schema; identifiers that are not recognisable by name or format with :data:`Identifier`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from agentslm.registry import FREE_TEXT_KEY, IDENTIFIER_KEY, FreeText, Identifier

__all__ = [
    "FREE_TEXT_KEY",
    "IDENTIFIER_KEY",
    "ArgumentSource",
    "FreeText",
    "Identifier",
    "Sources",
    "argument_sources",
    "candidates",
    "copies_description",
    "field_kind",
    "identifier_spans",
    "junk_reason",
    "restrict_parameters",
]

Kind = Literal["email", "url", "path", "date", "time", "phone", "id", "identifier"]

_SHAPES: dict[str, re.Pattern[str]] = {
    "email": re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}"),
    "url": re.compile(r"https?://[^\s\"'<>)\]]+"),
    "date": re.compile(r"\b\d{4}-\d{2}-\d{2}\b"),
    "time": re.compile(r"(?<![\d:])\d{1,2}:\d{2}(?![\d:])"),
    "phone": re.compile(r"\+\d[\d\- ]{6,}\d|(?<![\d.])\(?\d{3}\)?[\- ]\d{3}(?:[\- ]\d{4})?(?![\d.])"),
    "path": re.compile(r"(?<![\w@/.])(?:[\w\-]+/)*[\w\-]+\.[A-Za-z][A-Za-z0-9]{1,4}(?![\w@])"),
}
_NAME_KINDS: list[tuple[re.Pattern[str], Kind]] = [
    (re.compile(r"(^|_)(e_?mail|email_address)$"), "email"),
    (re.compile(r"(^|_)(url|uri|link|href)$"), "url"),
    (re.compile(r"(^|_)(path|file|filename|file_name)$"), "path"),
    (re.compile(r"(^|_)(phone|phone_number|mobile)$"), "phone"),
]
"""Names that make a string field an identifier field (dates and times only by format or pattern: a field named
``day`` may well take "tomorrow"); integer fields named ``id`` / ``*_id`` are ids."""
_FORMAT_KINDS: dict[str, Kind] = {
    "email": "email",
    "idn-email": "email",
    "uri": "url",
    "url": "url",
    "iri": "url",
    "date": "date",
    "time": "time",
    "date-time": "identifier",
    "uuid": "identifier",
    "hostname": "identifier",
    "ipv4": "identifier",
    "ipv6": "identifier",
}
MAX_CANDIDATES = 24


def field_kind(name: str, spec: Mapping[str, Any]) -> Kind | Literal["free_text", "schema", "plain"]:
    """How a field's values are sourced: an identifier kind, ``free_text``, ``schema`` (enum/const/boolean) or ``plain``."""
    if not isinstance(spec, Mapping):
        return "plain"
    if spec.get(FREE_TEXT_KEY):
        return "free_text"
    if "enum" in spec or "const" in spec or spec.get("type") == "boolean":
        return "schema"
    if spec.get(IDENTIFIER_KEY):
        return "identifier"
    fmt = spec.get("format")
    if isinstance(fmt, str) and fmt in _FORMAT_KINDS:
        return _FORMAT_KINDS[fmt]
    pattern = spec.get("pattern")
    if isinstance(pattern, str):
        if "@" in pattern:
            return "email"
        if "http" in pattern:
            return "url"
        if re.search(r"\\d\{4\}-", pattern):
            return "date"
        if re.search(r"\\d\{(1,)?2\}:", pattern):
            return "time"
    types = spec.get("type")
    lowered = name.lower()
    if types == "integer":
        return "id" if re.search(r"(^|_)id$", lowered) else "plain"
    if types != "string":
        return "plain"
    for regex, kind in _NAME_KINDS:
        if regex.search(lowered):
            return kind
    return "plain"


def identifier_spans(text: str, kind: str, *, quoted: bool = True) -> list[str]:
    """The values of ``kind`` written in ``text`` (in order, without repeats). ``quoted``: a quoted text counts as a
    path too (a user's "my file"; not in a JSON result, where every key is quoted)."""
    if kind == "id":
        found = re.findall(r"(?<![\w.])\d+(?!\w)(?!\.\d)", text)
    elif kind == "path":  # a token with a slash or a file extension, or a quoted text
        tokens = [t.strip(".,;:!?()[]{}<>\"'") for t in text.split()]
        found = [t for t in tokens if t and ("/" in t or _SHAPES["path"].fullmatch(t)) and "@" not in t and "://" not in t]
        found += identifier_spans(text, "identifier") if quoted else []
    elif kind in _SHAPES:
        found = _SHAPES[kind].findall(text)
        if kind == "phone":
            found = [f for f in found if not _SHAPES["date"].fullmatch(f.strip())]
    else:
        # a quote, not the apostrophes of "Chloe's and David's" (a word's own letter on the outer side of either)
        found = re.findall(r"\"([^\"\n]{1,120})\"|(?<!\w)'([^'\n]{1,120})'(?!\w)", text)
        found = [a or b for a, b in found]
    return list(dict.fromkeys(f.strip() for f in found if f.strip()))


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        yield str(value)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _result_ids(value: Any, key: str = "") -> Iterable[str]:
    """Integer values held under an ``id``-like key in a result."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            yield from _result_ids(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _result_ids(v, key)
    elif isinstance(value, int) and not isinstance(value, bool) and re.search(r"(^|_)id$", key.lower()):
        yield str(value)


@dataclass(frozen=True)
class Sources:
    """What a run's calls may copy values from: the user's requests and the results so far (task id -> value)."""

    requests: Sequence[str]
    results: Mapping[int, Any]

    @classmethod
    def from_conversation(cls, conversation: Sequence[Mapping[str, Any]]) -> Sources:
        """The user's messages and the tool messages of a chat (for callers that hold no typed results)."""
        requests = [str(m["content"]) for m in conversation if m.get("role") == "user"]
        tools = [str(m["content"]) for m in conversation if m.get("role") == "tool"]
        return cls(requests=requests, results={-i: text for i, text in enumerate(tools, 1)})

    @property
    def request_text(self) -> str:
        return "\n".join(self.requests)

    def result_text(self, task_id: int) -> str:
        value = self.results[task_id]
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)

    def values(self, kind: str) -> list[str]:
        """Candidates of ``kind``: the request's spans first, then the results' (newest result first)."""
        found = identifier_spans(self.request_text, kind)
        for task_id in sorted(self.results, reverse=True):
            if kind == "id":
                value = self.results[task_id]
                if isinstance(value, int) and not isinstance(value, bool):
                    found.append(str(value))  # a lookup that returns the id itself (find_user -> 42)
                found += list(_result_ids(value))
                text = self.result_text(task_id)
                found += [m for m in re.findall(r"#(\d+)\b", text)]  # "note #4 saved"
            else:
                found += identifier_spans(self.result_text(task_id), kind, quoted=False)
        return list(dict.fromkeys(found))[:MAX_CANDIDATES]

    def find(self, value: str) -> tuple[str, str] | None:
        """Where ``value`` occurs as an exact copy (case-insensitive): ``("request", "")`` or ``("result", "task N")``."""
        needle = value.strip().casefold()
        if not needle:
            return None
        if needle in self.request_text.casefold():
            return ("request", "")
        for task_id in sorted(self.results, reverse=True):
            if needle in self.result_text(task_id).casefold():
                return ("result", f"task {task_id}")
            if any(needle == s.strip().casefold() for s in _strings(self.results[task_id])):
                return ("result", f"task {task_id}")
        return None


def candidates(name: str, spec: Mapping[str, Any], sources: Sources) -> list[str] | None:
    """The values an identifier field may take from ``sources`` (None: the field is not an identifier field)."""
    kind = field_kind(name, spec)
    if kind in ("free_text", "schema", "plain", "identifier"):
        return None  # a generic identifier has no shape to enumerate: checked after decoding
    return sources.values(kind)


SHAPED_KINDS = ("email", "url", "path", "date", "time", "phone", "id")
"""Identifier kinds whose values the sources can be searched for (a generic ``x-identifier`` field has no shape)."""


def _fits_spec(value: Any, spec: Mapping[str, Any]) -> bool:
    from jsonschema import Draft202012Validator

    try:
        return bool(Draft202012Validator(dict(spec)).is_valid(value))
    except Exception:  # an odd schema: let validation after decoding decide
        return True


def restrict_parameters(parameters: Mapping[str, Any], sources: Sources) -> tuple[dict[str, Any], list[str]]:
    """``parameters`` with each top-level identifier field limited to the values ``sources`` hold of its kind (an
    ``enum`` for the grammar; the prompt keeps the original schema), and the required identifier fields no source
    holds a value for yet. An optional identifier field with no candidate is left out (its default applies)."""
    props = parameters.get("properties")
    if not isinstance(props, Mapping):
        return dict(parameters), []
    required = set(parameters.get("required", []))
    out: dict[str, Any] = {}
    blocked: list[str] = []
    for name, spec in props.items():
        kind = field_kind(name, spec) if isinstance(spec, Mapping) else "plain"
        if kind not in SHAPED_KINDS:
            out[name] = spec
            continue
        values: list[Any] = sources.values(kind)
        if spec.get("type") == "integer":
            values = [int(v) for v in values if str(v).isdigit()]
        values = [v for v in values if _fits_spec(v, spec)]
        if values:
            out[name] = {
                "enum": values,
                "x-sources": True,  # the sources' values, not the tool's own members (stripped from grammars and prompts)
                **({"description": spec["description"]} if "description" in spec else {}),
            }
        elif name in required:
            blocked.append(name)
            out[name] = spec
    restricted = {**parameters, "properties": out}
    if "required" in parameters:
        restricted["required"] = [r for r in parameters["required"] if r in out]
    return restricted, blocked


class ArgumentSource(BaseModel):
    """Where one argument value came from."""

    source: Literal["request", "result", "reference", "schema", "free_text", "unsupported"]
    detail: str = ""
    """The task a result or reference came from, the junk found in a free text, or why a value is unsupported."""
    identifier: bool = False
    """Whether the value had to be an exact copy (an identifier)."""


_PLACEHOLDER = re.compile(
    r"\b(lorem|ipsum|placeholder|xxx+|tbd|your[_ ]?(name|email|address)|example\.(com|org)|john doe|foo|bar|baz)\b"
    r"|<[a-z_ ]{2,30}>|\{[a-z_ ]{2,30}\}|\[(insert|your|enter|add|the|[a-z]+'s)\b[^\]]{0,40}\]"
    r"|\[[^\]]{0,30}\b(here|address|name|amount|date|time|number|phone|value|email|text)\]",
    re.IGNORECASE,
)


def _plain_words(text: str) -> str:
    text = re.sub(r"\((optional|required)\)|['\u2019]", "", text.casefold())
    return " ".join(re.findall(r"\w+", text))


def copies_description(value: str, description: str | None) -> bool:
    """Whether a written value only restates its field's description (``"The note's text."`` for ``text``): the
    model copied the schema's words in place of a value, a placeholder in the user's eyes."""
    if not description:
        return False
    words = _plain_words(value)
    return bool(words) and words == _plain_words(description)


def junk_reason(value: str, description: str | None = None) -> str | None:
    """Why a written text is junk (repeated or placeholder text, or the field's own ``description`` restated), or
    None."""
    text = value.strip()
    if copies_description(text, description):
        return f"placeholder text {text!r} (the field's description)"
    if text in ("...", "…", "string", "text", "value", "null", "none", "N/A"):
        return f"placeholder text {text!r}"
    match = _PLACEHOLDER.search(text)
    if match:
        return f"placeholder text {match.group(0)!r}"
    if re.search(r"(.)\1{9,}", text):
        return "a character repeated ten times or more"
    words = re.findall(r"\w+", text.lower())
    grams = [" ".join(words[i : i + 3]) for i in range(len(words) - 2)]
    for gram in set(grams):
        if grams.count(gram) >= 3:
            return f"repeated text ({gram!r} three times)"
    return None


def _numbers(text: str) -> list[str]:
    return re.findall(r"(?<![\w.])\d+(?:[.,]\d+)*(?![\w])", text)


def _number_found(number: str, sources: Sources) -> bool:
    """Whether a number written in a free text is stated by a source (the request or a result, as digits)."""
    try:
        wanted = float(number.replace(",", ""))
    except ValueError:
        return True
    texts = [sources.request_text, *(sources.result_text(t) for t in sources.results)]
    for text in texts:
        for found in _numbers(text):
            try:
                got = float(found.replace(",", ""))
            except ValueError:
                continue
            if abs(got - wanted) < 1e-9 or abs(round(got, 2) - wanted) < 1e-9 or abs(round(got) - wanted) < 1e-9:
                return True
    return False


def argument_sources(
    arguments: Mapping[str, Any],
    parameters: Mapping[str, Any],
    sources: Sources,
    *,
    planned: Mapping[str, Any] | None = None,
    grounded: Any = None,
) -> dict[str, ArgumentSource]:
    """The source of each top-level argument of a call (see the module docstring).

    ``planned``: the arguments as planned, before references were substituted (a ``$N`` there is a ``reference``).
    ``grounded(value, spec) -> bool``: the word-overlap check applied to plain (non-identifier) text; by default a
    plain value must occur in a source like an identifier."""
    from agentslm.plan import REFERENCE

    props = parameters.get("properties", {}) if isinstance(parameters, Mapping) else {}
    out: dict[str, ArgumentSource] = {}
    for name, value in arguments.items():
        spec = props.get(name, {}) if isinstance(props, Mapping) else {}
        spec = spec if isinstance(spec, Mapping) else {}
        kind = field_kind(name, spec)
        plan_value = planned.get(name) if planned is not None else None
        if isinstance(plan_value, str) and REFERENCE.match(plan_value):
            out[name] = ArgumentSource(source="reference", detail=plan_value, identifier=kind not in ("plain", "free_text"))
            continue
        if kind == "schema" or isinstance(value, bool) or value is None or ("default" in spec and spec["default"] == value):
            out[name] = ArgumentSource(source="schema", detail="enum" if "enum" in spec else "default or boolean")
            continue
        if kind == "free_text":
            out[name] = _free_text(value, sources, spec.get("description"))
            continue
        shaped = isinstance(value, str) and any(
            _SHAPES[k].fullmatch(value.strip()) for k in ("email", "url", "date", "time", "phone")
        )
        identifier = kind != "plain" or shaped
        texts = [value] if not isinstance(value, list | dict) else list(_strings(value))
        places = [sources.find(str(v)) for v in texts]
        if texts and all(p is not None for p in places):
            first = next(p for p in places if p is not None)
            out[name] = ArgumentSource(source=first[0], detail=first[1], identifier=identifier)  # type: ignore[arg-type]
        elif not identifier and grounded is not None and grounded(value, spec):
            out[name] = ArgumentSource(source="request", detail="words of the request")
        else:
            missing = next((str(v) for v, p in zip(texts, places, strict=True) if p is None), str(value))
            why = "not an exact copy of the request or a result" if identifier else "not in the request or a result"
            out[name] = ArgumentSource(source="unsupported", detail=f"{missing[:60]!r}: {why}", identifier=identifier)
    return out


def _free_text(value: Any, sources: Sources, description: str | None = None) -> ArgumentSource:
    """A free text is fine unless it is junk (``description``: the field's, which a value must not merely restate)
    or states an identifier or number that no source holds."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    said = isinstance(description, str) and sources.find(text) is not None  # the user's words, whatever they are
    junk = junk_reason(text, description if isinstance(description, str) and not said else None)
    if junk is not None:
        return ArgumentSource(source="unsupported", detail=f"junk: {junk}")
    for kind in ("email", "url", "phone"):
        for span in identifier_spans(text, kind):
            if sources.find(span) is None:
                return ArgumentSource(source="unsupported", detail=f"{span!r} in the text is in no source", identifier=True)
    for number in _numbers(text):
        if len(number.replace(",", "").replace(".", "")) >= 2 and not _number_found(number, sources):
            return ArgumentSource(source="unsupported", detail=f"the number {number} in the text is in no source")
    return ArgumentSource(source="free_text")
