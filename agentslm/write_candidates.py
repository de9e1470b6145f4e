"""Candidate values for a write the planner completes: copies of the request's parts and of the results.

When a request names a write that the model did not make after its lookups ("convert 420 USD to EUR and save the
result in a note titled Invoice"), the planner decodes that write once more with every string field limited to
copies (see :attr:`agentslm.roles.planner.PlannerPolicy.finish_named_writes`): a small model that writes such a text
freely restates the request ("420 USD to EUR and saved in a note") or copies an unrelated result. Here:

* identifier fields: the request's spans and the identifier fields of the result records that mention a name the
  requests state ("Email Ana" takes Ana's contact's address, never an address quoted in an inbox message's text);
* free-text fields: the text the request states ("saying I will be 10 minutes late"), else the results as text (all
  together, then each: "386.4", "id: 2, title: Wifi, text: network HomeNet, password tulip-42") where the request asks
  for what another step finds, else the request's clauses;
* other required strings (a title, a subject): what the request names ("titled Q3"), else its names and clauses.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from agentslm.provenance import MAX_CANDIDATES, SHAPED_KINDS, Sources, field_kind, identifier_spans

__all__ = [
    "INSTRUCTIONS",
    "as_stated",
    "asked_fields",
    "asked_kinds",
    "copies_a_result",
    "copy_parameters",
    "field_words",
    "identifier_values",
    "linked_identifiers",
    "named_labels",
    "records",
    "refers_back",
    "request_values",
    "result_texts",
    "stated_pairs",
    "stated_text",
    "stated_texts",
    "stated_values_like",
    "text_parts",
    "unlinked_names",
    "unused_values",
    "waits_for_names",
]

_QUOTED = re.compile(r"\"([^\"]{1,80})\"|(?<!\w)'([^']{1,80})'(?!\w)")  # not the apostrophes of "Chloe's and David's"
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?(?![\w])")
_NAME = re.compile(r"(?<![.!?:]\s)(?<!^)\b([A-Z][a-zA-Z0-9]+)")
_NAMED = re.compile(
    r"\b(?:titled|called|named|subject|title)\s+[\"']?([^\"'.,;:!?\n]{1,60}?)(?=\s+with\s+the\b|[\"'.,;:!?\n]|$)",
    re.IGNORECASE,
)
_CLAUSE_SPLIT = re.compile(r"[.;:!?\n]+|,\s+|\s+(?:saying|that|and|then|to say)\s+", re.IGNORECASE)


def request_values(request: str) -> list[str]:
    """The values a request states: quoted text, numbers and capitalised words that do not start a sentence."""
    values = [a or b for a, b in _QUOTED.findall(request)]
    values += _NUMBER.findall(request)
    values += [w for w in _NAME.findall(request.strip()) if w != "I"]
    return values


_STATED = [
    re.compile(p + r"(?P<text>[^\n]+?)\s*[.!?]?\s*$", re.IGNORECASE)
    for p in (
        r"\bwith the (?:text|content|body|message)\b:?\s+",
        r"\bsay(?:ing|s)?\s+(?:that\s+)?",
        r"\b(?:make|take|leave|add|save|write|create)\s+a\s+note\s+that\s+",
        r"\b(?:reply|tell|write|inform|notify|email)\b[^.:?!]*?\bthat\s+"
        r"(?!(?:note|list|result|amount|answer|address|number|email|message|file|event|one|contact|text)\b)",
        r":\s+",
    )
]
"""Where a request gives a text, most specific first."""


_LABELS = re.compile(r",?\s+(?:with\s+)?(?:the\s+|a\s+)?(?:subject|titled|title)\b|,\s+(?:one|and then)\b", re.IGNORECASE)
_NO_TEXT = frozenset({"one", "it", "that", "this", "them", "those", "these"})


def stated_text(request: str) -> str | None:
    """The text a request gives for a message or a note, after ``:``, "saying", "tell ... that", "with the text":
    "Email Ana: the meeting moved to 3pm." -> "the meeting moved to 3pm"."""
    for sentence in re.split(r"(?<=[.!?])\s+", request.strip()):
        for pattern in _STATED:
            match = pattern.search(sentence)
            text = _LABELS.split(match.group("text"))[0].strip(" \"'") if match else ""
            if text and text.lower() not in _NO_TEXT:
                return text
    return None


_PAIRED = re.compile(
    r"\b(?:titled|called|named)\s+[\"']?(?P<label>[^\"'.,;:!?\n]{1,60}?)[\"']?\s+with\s+the\s+(?:text|content|body|message)"
    r":?\s+[\"']?(?P<text>[^\"'\n]+?)[\"']?(?=\s*(?:,\s+(?:and\s+)?(?:one|another|a|the)\b|,?\s+and\s+(?:one|another)\b|[.;!?]\s|[.;!?]?$))",
    re.IGNORECASE,
)


def stated_pairs(request: str) -> dict[str, str]:
    """The label -> text pairs a request gives for two or more records: "Save two notes: one titled Call with the text
    call mom, one titled Stamps with the text buy stamps." -> {"Call": "call mom", "Stamps": "buy stamps"}; empty for
    fewer than two."""
    pairs = {m.group("label").strip(): m.group("text").strip() for m in _PAIRED.finditer(request)}
    return pairs if len(pairs) > 1 else {}


def stated_texts(request: str) -> list[str]:
    """Every text a request gives: each pair's (:func:`stated_pairs`), else the one :func:`stated_text` finds."""
    pairs = stated_pairs(request)
    if pairs:
        return list(dict.fromkeys(pairs.values()))
    stated = stated_text(request)
    return [stated] if stated else []


def as_stated(arguments: Mapping[str, Any], parameters: Mapping[str, Any], request: str) -> dict[str, Any]:
    """``arguments`` of a call that creates a record, put as the request states them:

    * a text the request pairs with another label goes with its own label ("one titled Call with the text call mom,
      one titled Stamps with the text buy stamps": the Stamps note's text is "buy stamps", never "call mom");
    * a label (title, name, subject) that carries the call's other values is cut before them ("Create two events: Gym
      on 2026-12-11 at 07:00 and ..." is titled ``Gym``, its date and time go in their own fields);
    * a text cut short of the one text the request gives is that whole text ("Save a note: buy milk and eggs" is not
      a note "buy milk").
    """
    props = parameters.get("properties")
    if not isinstance(props, Mapping):
        return dict(arguments)
    out = dict(arguments)
    labels = [
        n
        for n, spec in props.items()
        if isinstance(spec, Mapping)
        and spec.get("type") == "string"
        and _LABEL_FIELDS.search(n.lower())
        and field_kind(n, spec) not in ("free_text", "schema", *SHAPED_KINDS)
    ]
    texts = [n for n, spec in props.items() if isinstance(spec, Mapping) and field_kind(n, spec) == "free_text"]
    pairs = {k.casefold(): v for k, v in stated_pairs(request).items()}
    paired_texts = {v.casefold() for v in pairs.values()}
    for label in labels:
        value = out.get(label)
        if not isinstance(value, str):
            continue
        own = pairs.get(value.strip().casefold())
        for text in texts:
            current = out.get(text)
            if own and isinstance(current, str) and current.strip().casefold() in paired_texts:
                out[text] = own
        others = [  # the call's own dates, times, addresses: values no label needs to repeat
            str(v)
            for n, v in out.items()
            if n != label
            and isinstance(v, str)
            and any(identifier_spans(v, k, quoted=False) == [v] for k in ("date", "time", "email", "url", "phone"))
        ]
        full = re.search(
            rf"(?<![\w-]){re.escape(value.strip())}(?:\s+(?!(?:To|And|On|At|In|For|With|From|My|The|Of|By)\b)[A-Z][\w'-]*[a-z][\w'-]*)+",
            request,
        )
        if full and label.lower().endswith("name") and value.strip()[:1].isupper():  # "Add Ana Ruiz ...": not "Ana"
            out[label] = value = full.group(0)
        cut = min((value.find(o) for o in others if o in value and value.find(o) > 0), default=-1)
        if cut > 0:
            head = _CONNECTOR_TAIL.sub("", value[:cut]).strip()
            if head and head.casefold() in request.casefold():
                out[label] = head
    whole = stated_texts(request)
    bodies = texts or [  # a plain `text: str` (the demo's add_note) is a text too
        n
        for n, spec in props.items()
        if isinstance(spec, Mapping)
        and spec.get("type") == "string"
        and _TEXT_FIELD.search(n.lower())
        and field_kind(n, spec) == "plain"
    ]
    for text in bodies if len(whole) == 1 else []:  # "Save a note: buy milk and eggs" is not a note "buy milk"
        current = out.get(text)
        if isinstance(current, str) and _cut_short(current, whole[0]):
            out[text] = whole[0]
    return out


_TEXT_FIELD = re.compile(r"(^|_)(text|body|content|message|note)$")


def _cut_short(value: str, stated: str) -> bool:
    """Whether ``value`` is the start of the text ``stated``, ended at a word boundary before its end."""
    v, s = value.strip().casefold(), stated.strip().casefold()
    return bool(v) and len(v) < len(s) and s.startswith(v) and not s[len(v)].isalnum()


_CONNECTOR_TAIL = re.compile(r"(?:[\s,;:\-]+(?:on|at|for|to|from|with|in|by|@)?)+\s*$", re.IGNORECASE)


def text_parts(request: str) -> list[str]:
    """The request's clauses of two words or more: "Email Ana: the meeting moved to 3pm." -> ["Email Ana", "the
    meeting moved to 3pm"]."""
    parts = [p.strip(" \"'") for p in _CLAUSE_SPLIT.split(request)]
    return [p for p in parts if len(p.split()) >= 2]


_TOOL_LINE = re.compile(r"^[A-Za-z_][\w.\-]*: (?=[\[{])")


def _parsed(value: Any) -> Any:
    """A result as data: JSON text parsed, and an earlier turn's tool message ("find_contact: [...]" per line) as the
    list of its lines' values."""
    if not isinstance(value, str):
        return value
    lines = [_TOOL_LINE.sub("", line, count=1) for line in value.splitlines() if line.strip()]
    parsed: list[Any] = []
    for line in lines:
        try:
            parsed.append(json.loads(line) if line[:1] in "[{" else line)
        except json.JSONDecodeError:
            parsed.append(line)
    if len(parsed) == 1:
        return parsed[0]
    return parsed if any(not isinstance(p, str) for p in parsed) else value


def _rendered(value: Any) -> str:
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_rendered(v)}" for k, v in value.items() if not isinstance(v, Mapping | list))
    if isinstance(value, list | tuple):
        return "; ".join(_rendered(v) for v in value)
    return str(value)


def result_texts(value: Any) -> list[str]:
    """A result as text a write may copy: the whole result and each item of a list (not its single values: a small
    model then copies a contact's name as the message)."""
    value = _parsed(value)
    texts = [_rendered(value)]
    if isinstance(value, list | tuple):
        texts += [_rendered(v) for v in value]
    return [t for t in dict.fromkeys(texts) if t.strip()]


def field_words(key: str) -> set[str]:
    """Words of a result's field name, singular: ``temp_c`` -> {temp}, ``email`` -> {email}, ``phoneNumber`` -> {phone,
    number}."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", key).lower()
    return {_singular(w) for w in re.split(r"[^a-z]+", spaced) if len(w) > 2}


def _singular(word: str) -> str:
    """addresses -> address, numbers -> number, emails -> email (not address -> addres)."""
    if word.endswith("sses"):
        return word[:-2]
    return word[:-1] if word.endswith("s") and not word.endswith("ss") and len(word) > 3 else word


def records(data: Any) -> list[Mapping[str, Any]]:
    """The records (objects) of a result, nested ones included, outermost first."""
    data = _parsed(data)
    if isinstance(data, Mapping):
        return [data, *(r for v in data.values() for r in records(v))]
    if isinstance(data, list | tuple):
        return [r for v in data for r in records(v)]
    return []


def asked_fields(request: str, value: Any, *, not_words: Iterable[str] = ()) -> list[str]:
    """The values of ``value``'s record fields that ``request`` asks for by their name: "Look up Ana and David and add
    both phone numbers to a note" asks for the ``phone`` fields, "What are the email addresses of Ana and Ben?" for
    ``email``. ``not_words``: words that name something else here (a write's own tool: "email" in "email its text to
    Ben" is the verb of ``send_email``)."""
    skip = {_singular(w) for w in not_words}
    said = {_singular(w) for w in re.findall(r"[a-z]+", request.lower()) if len(w) > 2} - skip
    found: list[str] = []
    for record in records(value):
        for key, v in record.items():
            named = field_words(key)
            if named and named <= said and isinstance(v, str | int | float) and not isinstance(v, bool) and str(v).strip():
                found.append(str(v))
    return list(dict.fromkeys(found))


def _items(value: Any) -> Iterable[Any]:
    """The innermost records of a result (a contact, a message), or the result itself."""
    value = _parsed(value)
    if isinstance(value, list | tuple):
        for v in value:
            yield from _items(v)
    else:
        yield value


def linked_identifiers(sources: Sources, kind: str) -> list[str]:
    """Identifiers of ``kind`` from the request, and the fields of ``kind`` of the result records (a contact, a message)
    that mention a name the requests state: Ben's message's sender, not an address its text asks to reply to."""
    names = {v.casefold() for r in sources.requests for v in request_values(r) if not v[:1].isdigit()}
    found = identifier_spans(sources.request_text, kind)
    for task_id in sorted(sources.results, reverse=True):
        for item in _items(sources.results[task_id]):
            if isinstance(item, Mapping) and any(n in _rendered(item).casefold() for n in names):
                for v in item.values():  # a field that is an identifier, not one quoted inside a message's text
                    if (
                        isinstance(v, str | int)
                        and not isinstance(v, bool)
                        and identifier_spans(str(v), kind, quoted=False) == [str(v)]
                    ):
                        found.append(str(v))
    return list(dict.fromkeys(found))[:MAX_CANDIDATES]


_LABEL_FIELDS = re.compile(r"(^|_)(title|name|subject|label|heading)$")


def named_labels(parameters: Mapping[str, Any], request: str) -> dict[str, Any]:
    """``parameters`` with each required label field (a title, a name, a subject) limited to the labels the request
    gives with "titled", "called" or "named": "Save a note titled Books with the text: Dune" is titled ``Books``, not
    "Books with the text". Unchanged when the request gives none."""
    named = list(dict.fromkeys(v.strip() for v in _NAMED.findall(request) if v.strip()))
    props = parameters.get("properties")
    if not named or not isinstance(props, Mapping):
        return dict(parameters)
    out = dict(props)
    for name in parameters.get("required", []):
        spec = props.get(name)
        if (
            isinstance(spec, Mapping)
            and spec.get("type") == "string"
            and "enum" not in spec
            and _LABEL_FIELDS.search(name.lower())
            and field_kind(name, spec) not in (*SHAPED_KINDS, "identifier", "free_text")
        ):
            values = [v for v in named if _fits(v, spec)]
            if values:
                out[name] = {**{k: spec[k] for k in ("description", "type") if k in spec}, "enum": values, "x-sources": True}
    return {**parameters, "properties": out}


def unused_values(request: str, ran: Iterable[Any]) -> list[str]:
    """The values ``request`` states (:func:`request_values`) that no call of ``ran`` (``ToolCall``-like: ``.arguments``)
    used, less the labels it gives ("titled Rates") and the text it states (both are a write's, not a lookup's)."""
    used = " ".join(json.dumps(c.arguments, ensure_ascii=False, default=str) for c in ran).casefold()
    labels = {v.strip().casefold() for v in _NAMED.findall(request)}
    stated = " ".join(stated_texts(request)).casefold()
    return [
        v
        for v in dict.fromkeys(request_values(request))
        if v.casefold() not in used and v.casefold() not in labels and v.casefold() not in stated
    ]


def unlinked_names(sources: Sources) -> list[str]:
    """The names the current request states (capitalised words, not numbers) that no result mentions yet: whose
    address, number or id a lookup has still to find ("Email Ana and Ben: ..." before any lookup: Ana, Ben)."""
    request = sources.requests[-1] if sources.requests else ""
    labels = {v.strip().casefold() for v in _NAMED.findall(request)}

    def label_only(v: str) -> bool:  # "a note titled Phones": no one to look up (but "Look up Elena ... titled Elena")
        return v.casefold() in labels and len(re.findall(rf"\b{re.escape(v)}\b", request)) == 1

    names = [v for v in request_values(request) if not v[:1].isdigit() and not identifier_spans(v, "path") and not label_only(v)]
    seen = [_rendered(_parsed(r)).casefold() for r in sources.results.values()]
    return [n for n in dict.fromkeys(names) if not any(n.casefold() in text for text in seen)]


def _fits(value: str, spec: Mapping[str, Any]) -> bool:
    low, high = spec.get("minLength", 1), spec.get("maxLength", 4000)
    return isinstance(low, int) and isinstance(high, int) and low <= len(value) <= high


def _free_text_candidates(
    sources: Sources,
    request: str,
    skip_parts: Iterable[str],
    from_results: bool,
    addressed: Iterable[str] = (),
    write_words: Iterable[str] = (),
    own_kinds: Iterable[str] = (),
) -> list[str]:
    """The text a request states ("saying I will be 10 minutes late"); else this run's results where the request asks
    for what another step finds (``from_results``: "convert ... and save the result in a note"; not "Send an email to
    Ana": her contact record is no message), else the earlier turns' results where the request points back ("Save that
    in a note"), else the request's clauses (not the one naming the write, nor "in a note titled Refund"). This run's
    results are offered all together first ("save both amounts"), then one by one, leaving out those that hold an
    ``addressed`` identifier (David's contact record is no message to David). Where the request asks for the results'
    fields by name ("add both phone numbers to a note": :func:`asked_fields`, less the write's own ``write_words``),
    those fields' values are the text, not the whole records; and while a name it states is in no result yet ("Look
    up Ana and David" after Ana's lookup), a request for all of them ("both") offers nothing: the write waits."""
    stated = stated_texts(request)
    if stated:
        return stated
    said = sources.request_text.casefold()
    # "her phone number" asks the text for a number, unless the write has its own field of that kind (an email's `to`)
    kinds = [k for k in asked_kinds(request, not_words=write_words) if k not in set(own_kinds)]

    def texts(ids: Iterable[int]) -> list[str]:
        found = [t for task_id in sorted(ids, reverse=True) for t in result_texts(sources.results[task_id])]
        # a value the request states adds nothing; a text that gives orders ("ignore all previous instructions") is
        # data the user never asked to pass on
        return [t for t in dict.fromkeys(found) if t.casefold() not in said and not INSTRUCTIONS.search(t)]

    def fields(ids: Iterable[int]) -> list[str]:
        found = [v for t in ids for v in asked_fields(request, sources.results[t], not_words=write_words)]
        return [v for v in dict.fromkeys(found) if not any(a in v for a in addressed) and not INSTRUCTIONS.search(v)]

    def shaped(found: list[str]) -> list[str]:  # "her phone number": a text with a phone number in it, or none
        return [t for t in found if all(identifier_spans(t, k, quoted=False) for k in kinds)]

    this_run = [t for t in sources.results if t > 0]
    if this_run and not from_results:
        return []
    if this_run:  # all of them together first ("save both amounts"), then each; not the record that gave the address
        held = [
            t
            for t in sorted(this_run)
            if _rendered(_parsed(sources.results[t])).strip() and not INSTRUCTIONS.search(_rendered(_parsed(sources.results[t])))
        ]
        asked = fields(held)
        if asked:  # "add both phone numbers": the numbers, once every name the request states has a result
            if _PLURAL.search(request) and unlinked_names(sources):
                return []
            together = [", ".join(asked)] if len(asked) > 1 else []
            wanted = together if together and _asks_for_all(request, [sources.results[t] for t in held]) else []
            return wanted or [*together, *asked]
        together = ["; ".join(_rendered(_parsed(sources.results[t])) for t in held)] if len(held) > 1 else []
        found = [t for t in dict.fromkeys([*together, *texts(this_run)]) if not any(a in t for a in addressed)]
        found = shaped(found)
        if together and found and found[0] == together[0] and _asks_for_all(request, [sources.results[t] for t in held]):
            return found[:1]  # "save both amounts", "Lisbon and Porto": one of them alone would drop what was asked
        if found or not refers_back(request):
            return found
    earlier = [t for t in sources.results if t < 0]
    if earlier and refers_back(request):  # "Email the list to Chloe": the list an earlier turn found
        asked = fields(earlier)  # "Add her phone number to a note": the number the earlier lookup found
        if asked:
            return asked
        found = [t for t in texts(earlier) if not any(a in t for a in addressed)]
        if _WHOLE.search(request):  # "the list", "all of them": each result whole, not one of its items
            whole = {_rendered(_parsed(sources.results[t])) for t in earlier}
            found = [t for t in found if t in whole]
        return shaped(found)
    return [p for p in text_parts(request) if p not in set(skip_parts) and not _NAMED.search(p)]


def waits_for_names(sources: Sources, *, write_words: Iterable[str] = ()) -> bool:
    """Whether a write that carries the results' fields the request asks for must wait for another lookup: the request
    wants them all ("add both phone numbers") and a name it states is in no result yet (David, after Ana's lookup)."""
    request = sources.requests[-1] if sources.requests else ""
    this_run = [t for t in sources.results if t > 0]
    return bool(
        this_run
        and _PLURAL.search(request)
        and any(asked_fields(request, sources.results[t], not_words=write_words) for t in this_run)
        and unlinked_names(sources)
    )


def stated_values_like(request: str, value: str) -> list[str]:
    """The identifiers of ``value``'s kind (a date, a time, an id, an address) that ``request`` states: "Delete notes 1
    and 4" -> ["1", "4"] for 1; empty when ``value`` is of no such kind."""
    for kind in ("date", "time", "email", "phone", "url", "id"):
        if identifier_spans(value, kind, quoted=False) == [value]:
            return identifier_spans(request, kind, quoted=False)
    return []


_KIND_WORDS = {"phone": "phone", "email": "email", "url": "url", "link": "url"}


def asked_kinds(request: str, *, not_words: Iterable[str] = ()) -> list[str]:
    """The identifier kinds a request asks a text to carry by their word ("her phone number", "David's email
    address"), less ``not_words`` (a write's own tool: "email" is the verb of "email its text to Ben")."""
    skip = {_singular(w) for w in not_words}
    said = [_singular(w) for w in re.findall(r"[a-z]+", request.lower())]
    return list(dict.fromkeys(_KIND_WORDS[w] for w in said if w in _KIND_WORDS and w not in skip))


_WHOLE = re.compile(r"\bthe (list|results?)\b|\ball of (them|it)\b|\beverything\b", re.IGNORECASE)
INSTRUCTIONS = re.compile(
    r"\b(ignore|disregard|forget) (all |any )?(the )?(previous|prior|above|earlier) (instructions|messages|rules)\b"
    r"|^\s*(system|assistant)\s*:|\bSYSTEM:",
    re.IGNORECASE | re.MULTILINE,
)
"""Text that gives the agent orders (prompt injection in a tool result): never copied into a write."""
_PLURAL = re.compile(r"\b(both|them|all|each|these|those)\b", re.IGNORECASE)


def _asks_for_all(request: str, results: list[Any]) -> bool:
    """Whether the request wants every one of ``results`` in the write: it says "both", "them", "all", or two of the
    names or values it states are each found in a different result ("the weather in Lisbon and Porto")."""
    if _PLURAL.search(request):
        return True
    rendered = [_rendered(_parsed(r)).casefold() for r in results]
    hits = {i for v in request_values(request) for i, text in enumerate(rendered) if v.casefold() in text}
    return len(hits) > 1


def copy_parameters(
    parameters: Mapping[str, Any],
    sources: Sources,
    *,
    skip_parts: Iterable[str] = (),
    from_results: bool = True,
    write_words: Iterable[str] = (),
) -> tuple[dict[str, Any], list[str]]:
    """``parameters`` with each string field limited to copies from ``sources`` (see the module), and the required
    fields that have no candidate (the write cannot be completed from what the sources hold). ``skip_parts``: request
    clauses a text may not copy (the clause that asks for the write itself: "save it in a note titled Tokyo");
    ``from_results``: whether the request asks for a text that another step finds (see :func:`_free_text_candidates`);
    ``write_words``: the words of the write's own tool name (not a field the request asks for: "email it to Ben")."""
    props = parameters.get("properties")
    if not isinstance(props, Mapping):
        return dict(parameters), []
    required = set(parameters.get("required", []))
    request = sources.requests[-1] if sources.requests else ""
    out: dict[str, Any] = {}
    blocked: list[str] = []
    kinds = {name: field_kind(name, spec) for name, spec in props.items() if isinstance(spec, Mapping)}
    linked = {kind: linked_identifiers(sources, kind) for kind in set(kinds.values()) & set(SHAPED_KINDS)}
    addressed = [
        v for name, kind in kinds.items() if kind in linked and props[name].get("type") == "string" for v in linked[kind]
    ]
    for name, spec in props.items():
        if not isinstance(spec, Mapping) or spec.get("type") not in ("string", "integer") or "enum" in spec:
            out[name] = spec
            continue
        kind = kinds[name]
        if kind in linked:
            values: list[Any] = list(linked[kind])
            if spec.get("type") == "integer":
                values = [int(v) for v in values if str(v).isdigit()]
        elif spec.get("type") != "string" or name not in required:
            out[name] = spec
            continue
        elif kind == "free_text":
            values = _free_text_candidates(
                sources, request, skip_parts, from_results, addressed, write_words, set(kinds.values())
            )
        else:
            named = [v.strip() for v in _NAMED.findall(request)]
            names = [v for v in request_values(request) if not v[:1].isdigit()]
            values = named or list(dict.fromkeys([*names, *text_parts(request)]))
        values = [v for v in values if isinstance(v, int) or _fits(v, spec)][:MAX_CANDIDATES]
        if values:
            keep = {k: spec[k] for k in ("description", "type") if k in spec}
            out[name] = {**keep, "enum": values, "x-sources": True}
        elif name in required:
            blocked.append(name)
            out[name] = spec
    return {**parameters, "properties": out}, blocked


def identifier_values(arguments: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[str]:
    """The values of ``arguments`` in identifier fields (an address, an id, a path) of ``parameters``."""
    props = parameters.get("properties", {})
    return [
        str(v)
        for k, v in arguments.items()
        if isinstance(props.get(k), Mapping) and field_kind(k, props[k]) in (*SHAPED_KINDS, "identifier")
    ]


_BACK_REFERENCE = re.compile(
    r"\b(that|it|its|this|those|these|them|him|her|his|their|both|the (result|list|amount|answer|address|number))\b", re.I
)


def refers_back(request: str) -> bool:
    """Whether a request points at something said or found before ("Save that in a note", "email it to Ben")."""
    return bool(_BACK_REFERENCE.search(request))


def copies_a_result(arguments: Mapping[str, Any], sources: Sources, *, this_run: bool = True) -> bool:
    """Whether an argument value is a copy of a result that the requests do not state (what the write waited for);
    ``this_run``: of this run's results only (else of earlier turns' too)."""
    request = sources.request_text.casefold()
    ids = [t for t in sources.results if t > 0 or not this_run]
    results = [t.casefold() for task_id in ids for t in result_texts(sources.results[task_id])]
    for value in arguments.values():
        text = str(value).strip().casefold()
        if not text or text in request:
            continue
        if any(text in r for r in results):
            return True
        # the results together ("92.0; 79.0", "+1-555-0101, +1-555-0104"): each part a copy of one of them
        parts = [p.strip() for p in re.split(r";\s+|,\s+", text) if p.strip()]
        if len(parts) > 1 and all(any(p in r for r in results) for p in parts):
            return True
    return False
