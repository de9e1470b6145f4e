"""What a request asks for: the tools it names, the values it states, the side effects it allows.

The planner's policy reads requests with these (see :class:`agentslm.roles.planner.PlannerPolicy`): a side effect
is made only when the request names its tool (:func:`named_by`), a call whose values no source supports waits or is
not made (:func:`supported`), and a request whose named tools have run with its values is covered
(:func:`request_covered`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from agentslm.models.base import Message
from agentslm.plan import REFERENCE
from agentslm.provenance import Sources, argument_sources, field_kind, identifier_spans
from agentslm.registry import Effect, Tool
from agentslm.step_types import ToolCall
from agentslm.write_candidates import (
    refers_back,
    request_values,
    stated_pairs,
    stated_text,
    stated_values_like,
    unused_values,
)

__all__ = [
    "found_by_lookup",
    "instructed_reads",
    "invoked_by",
    "name_words",
    "named_by",
    "READ_VERBS",
    "pending_writes",
    "plural_write_left",
    "request_covered",
    "requested",
    "scope_words",
    "starts_with_instruction",
    "uses_any",
    "supported",
    "verb_used",
    "words",
]


def name_words(text: str) -> set[str]:
    """Words of four letters or more, plural s removed: ``delete_all_notes`` -> {delete, note}."""
    words = re.findall(r"[a-z]{4,}", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower().replace("_", " "))
    return {w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words}


def request_covered(request: str, tools: Sequence[Tool], ran: Sequence[ToolCall]) -> bool:
    """Whether calls ``ran`` cover ``request`` (see :attr:`PlannerPolicy.stop_when_covered`): no tool that has not run
    shares a name word with the request, and every value the request states appears in a call's arguments."""
    said = name_words(request)
    names = {c.name for c in ran}
    if any(name_words(t.name) & said for t in tools if t.name not in names):
        return False
    used = " ".join(json.dumps(c.arguments, ensure_ascii=False, default=str) for c in ran).lower()
    if not all(v.lower() in used for v in request_values(request)):
        return False
    if any(v.lower() not in used for kind in ("path", "url") for v in identifier_spans(request, kind, quoted=False)):
        return False  # "Read todo.txt and reports/q3.txt" after todo.txt
    return not plural_write_left(request, tools, ran)


def plural_write_left(request: str, tools: Sequence[Tool], ran: Sequence[ToolCall]) -> bool:
    """Whether a write the request asks for in the plural has a record left: a date, time or id of the kind the write
    took ("Create two events: ... on 2026-12-11 ... and ... on 2026-12-13") or a label it pairs with a text ("Save two
    notes: one titled Call ..., one titled Stamps ...") that no call of that write has carried. A read that happened to
    take the value ("list_events(date=2026-12-13)") covers no record."""
    by_name = {t.name: t for t in tools}
    plural = set(re.findall(r"[a-z]{4,}s\b", request.lower()))
    pairs = stated_pairs(request)
    for call in ran:
        tool = by_name.get(call.name)
        if tool is None or not tool.effects - {Effect.READ}:
            continue
        objects = {w + "s" for w in name_words(tool.name) - {_verb(tool)[0]}}
        if not objects & plural:
            continue
        written = " ".join(
            json.dumps(c.arguments, ensure_ascii=False, default=str) for c in ran if c.name == call.name
        ).casefold()
        for value in call.arguments.values():
            if str(value) in pairs and any(label.casefold() not in written for label in pairs):
                return True
            if str(value).casefold() in request.casefold() and any(
                v.casefold() not in written for v in stated_values_like(request, str(value))
            ):
                return True
    return False


def requested(
    fresh: list[dict[str, Any]],
    by_name: dict[str, Tool],
    executed: Sequence[tuple[int, ToolCall, ToolCall]],
    conversation: Sequence[Message],
) -> list[dict[str, Any]]:
    """``fresh`` without the side-effecting calls the request did not ask for (``stop_unrequested_effects``), and
    without the tasks that reference a dropped one.

    After results (``executed``), a side-effecting call is kept only when the current request names its tool
    (:func:`named_by`: "save ... note" names ``add_note``; "find my note" does not) with its verb used as a verb
    (:func:`verb_used`: not "What are the email addresses ...?") and that tool has not run yet in this run, or the call
    takes a value the request states that no call has used yet ("Delete notes 1 and 4" after note 1): copying a result into a new write is no reason by itself (the models, once an email is sent, go on to add
    the addressee to the contacts or to save the message as a note). In the first round, the list's first
    side-effecting call is the model's reading of the request when the request names or invokes its tool
    (:func:`invoked_by`: "Order a large pizza" invokes no ``add_note``); a further one must be named, its verb used as
    a verb ("send Ana an email" does not ask to add Ana to the contacts; "Add Gina to my contacts, email
    gina@rossi.it" asks for no email)."""
    requests = [m["content"] for m in conversation if m["role"] == "user"]
    request = requests[-1] if requests else ""
    said = scope_words(conversation)
    ran = {actual.name for _, _, actual in executed}
    unused = {v.casefold() for v in unused_values(request, [actual for _, _, actual in executed])}
    dropped: set[int] = set()
    kept: list[dict[str, Any]] = []
    first_write = not executed
    for item in fresh:
        tool = by_name.get(item["name"])
        refs = {int(m.group(1)) for v in item["arguments"].values() if isinstance(v, str) and (m := REFERENCE.match(v))}
        if refs & dropped:
            dropped.add(item["id"])
            continue
        if tool is not None and tool.effects - {Effect.READ}:
            again = tool.name in ran and not uses_any(item["arguments"], unused)  # "Delete notes 1 and 4": 4 is new
            if not first_write and not (named_by(tool, said) and verb_used(tool, request) and not again):
                dropped.add(item["id"])  # "..., email gina@rossi.it" labels an address: it asks for no email
                continue
            named = named_by(tool, words(request)) or (named_by(tool, said) and verb_used(tool, request))
            # "Now email that note to David" invokes send_email: the note is what it sends, not a note to add
            invoked = invoked_by(tool, request) and (
                verb_used(tool, request)
                or not any(
                    o is not tool and o.effects - {Effect.READ} and named_by(o, words(request)) and verb_used(o, request)
                    for o in by_name.values()
                )
            )
            if first_write and not (named or invoked):  # an earlier turn's words need this turn's verb
                dropped.add(item["id"])  # "Order a large pizza" -> add_note stands in for a tool nobody has
                continue
            first_write = False
        kept.append(item)
    return kept


_LOOKUP_KINDS = frozenset({"email", "phone", "id", "url", "path"})


def scope_words(conversation: Sequence[Message]) -> set[str]:
    """The words of the current request (:func:`words`), with those of the request before it when the current one
    points back at it: "Delete it." after "Search my notes for Old idea" names ``delete_note`` (its verb must still be
    the current request's: see :func:`verb_used`)."""
    requests = [m["content"] for m in conversation if m["role"] == "user"]
    if not requests:
        return set()
    said = words(requests[-1])
    if len(requests) > 1 and refers_back(requests[-1]):
        said |= words(requests[-2])
    return said


def _clause_starts(request: str) -> set[str]:
    """The first word of each clause of ``request``, lowercased."""
    return {m.group(1).lower() for m in re.finditer(r"(?:^|[.!?:;,]\s*|\band\s+|\bthen\s+)([A-Za-z]+)", request)}


def instructed_reads(request: str, tools: Sequence[Tool]) -> list[Tool]:
    """The read-only ``tools`` a clause of ``request`` starts with the leading verb of: "Read reports/q3.txt and save
    its content in a note" instructs ``read_file``; such a clause is an instruction, never a text to write."""
    starts = _clause_starts(request)
    return [t for t in tools if not t.effects - {Effect.READ} and _verb(t)[0] in starts]


READ_VERBS = frozenset({"look", "check", "find", "get", "fetch", "search", "read", "convert", "list", "show", "tell"})
"""Words that ask to read or compute something, whatever the tool is called ("Look up Elena's email address")."""


def starts_with_instruction(text: str, reads: Sequence[Tool]) -> bool:
    """Whether ``text`` starts with the leading verb of one of ``reads`` ("Read reports/q3") or a word of
    :data:`READ_VERBS` ("Look up Elena's email address"): the request's instruction copied as a value."""
    first = re.findall(r"[a-z]+", text.lower())[:1]
    return bool(first) and (first[0] in READ_VERBS or any(_verb(t)[0] == first[0] for t in reads))


def uses_any(arguments: Any, values: set[str]) -> bool:
    """Whether the JSON text of ``arguments`` holds one of ``values`` (casefolded)."""
    text = json.dumps(arguments, ensure_ascii=False, default=str).casefold()
    return any(v in text for v in values)


def found_by_lookup(tool: Tool, fields: Sequence[str]) -> bool:
    """Whether the missing identifiers of ``tool`` are of kinds a read-only tool can look up (addresses, numbers, ids,
    links, paths), rather than values only the user can give (a date, a time)."""
    props = tool.parameters.get("properties", {})
    return bool(fields) and all(field_kind(f, props.get(f, {})) in _LOOKUP_KINDS for f in fields)


def supported(
    fresh: list[dict[str, Any]],
    by_name: dict[str, Tool],
    sources: Sources,
    named_blocked: dict[str, list[str]],
    said: set[str],
) -> list[dict[str, Any]]:
    """``fresh`` without the calls that cannot be made yet or at all (see :attr:`PlannerPolicy.provenance`).

    A call with an unsupported value (an identifier no source holds, a free text with junk or a number no source
    states) is not made this round: when the round's other calls bring results, the model plans it again with them
    in view (a converted amount copied from the conversion's result). So is a side-effecting call that writes text of
    its own (a free text, or words not copied from a source) in a round that also looks something up: "check the
    weather in Lisbon and Porto and save it in a note" otherwise saves "Weather: " before the weather is known. While
    the request names a tool that cannot run yet (a required identifier no source holds), side-effecting calls of
    tools the request does not name are not made: they would stand in for it."""
    kept: list[dict[str, Any]] = []
    dropped: set[int] = set()
    request = sources.requests[-1] if sources.requests else ""
    instructs = stated_text(request) is None and bool(_clause_starts(request) & READ_VERBS)
    pointing = stated_text(request) is None and refers_back(request)
    reads = any((t := by_name.get(item["name"])) is not None and not t.effects - {Effect.READ} for item in fresh)
    for item in fresh:
        tool = by_name.get(item["name"])
        refs = {int(m.group(1)) for v in item["arguments"].values() if isinstance(v, str) and (m := REFERENCE.match(v))}
        if refs & dropped or tool is None:
            if tool is None:
                kept.append(item)
            else:
                dropped.add(item["id"])
            continue
        plain = {k: v for k, v in item["arguments"].items() if not (isinstance(v, str) and REFERENCE.match(v))}
        found = argument_sources(plain, tool.parameters, sources, grounded=lambda value, spec: True)
        bad = [name for name, src in found.items() if src.source == "unsupported"]
        effects = bool(tool.effects - {Effect.READ})
        written = [n for n, src in found.items() if src.source == "free_text" or src.detail == "words of the request"]
        waits = effects and reads and bool(written)  # its text would be written before the round's lookups return
        readers = [t for t in by_name.values() if not t.effects - {Effect.READ}]
        if effects and any(isinstance(plain.get(n), str) and starts_with_instruction(plain[n], readers) for n in written):
            waits = True  # "Read reports/q3" as a note's text: the read has still to run
        if effects and written and instructs and not any(t > 0 for t in sources.results):
            waits = True  # "Look up Chloe's and David's addresses and save them": the text is what the lookups find
        if (
            effects
            and written
            and pointing
            and not any(t > 0 for t in sources.results)
            and any(sources.find(str(plain.get(n, ""))) is None for n in written)
        ):
            waits = True  # "Add her phone number to a note": the model's own text is no earlier result
        if bad or waits or (effects and named_blocked and not (name_words(tool.name) & said)):
            dropped.add(item["id"])
            continue
        kept.append(item)
    return kept


_VERB_CLASSES: tuple[frozenset[str], ...] = (
    frozenset({"add", "create", "save", "make", "new", "write", "store", "record", "put", "schedule", "book", "log", "jot"}),
    frozenset({"send", "email", "mail", "message", "tell", "reply", "forward", "notify", "text", "share", "post"}),
    frozenset({"delete", "remove", "erase", "clear", "cancel", "drop", "trash", "wipe"}),
    frozenset({"update", "edit", "change", "rename", "move", "modify", "set", "replace"}),
)
"""Words a request uses for what a tool's leading verb does (``add_note``: "save a note", "put it in a note")."""


def words(text: str) -> set[str]:
    """Words of three letters or more, plural s removed (for verbs such as "add" and "put")."""
    words = re.findall(r"[a-z]{3,}", re.sub(r"([a-z])([A-Z])", r"\1 \2", text).lower().replace("_", " "))
    return {w[:-1] if w.endswith("s") and len(w) > 4 else w for w in words} | name_words(text)


def _verb(tool: Tool) -> tuple[str, frozenset[str] | None]:
    """The leading word of ``tool``'s name (``add_note`` -> "add") and the words a request uses for it (None: unknown)."""
    parts = [p for p in re.split(r"[_.\-]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", tool.name).lower()) if p]
    verb = parts[0] if parts else ""
    return verb, next((c for c in _VERB_CLASSES if verb in c), None)


def invoked_by(tool: Tool, request: str) -> bool:
    """A looser reading than :func:`named_by` for the one write of a first round: the request starts with a word for
    the tool's verb ("Remember: ..." is no such word; "Save ...", "Send ..." are), or a word of the request shares its
    a stem of four letters or more with an object word of the tool's name ("Remind me ..." and ``add_reminder``). A question
    ("What is Ben's phone number?") or another action ("Order a large pizza", "Play some music") invokes no note."""
    first = re.findall(r"[a-z]+", request.lower())[:1]
    verb, known = _verb(tool)
    verbs = known or frozenset({verb})
    objects = name_words(tool.name) - verbs
    said = words(request)
    if first and first[0] in _OWN_OBJECT_VERBS and first[0] != verb and not objects & said:
        return False  # "Book a flight to Lisbon": a booking of a flight, not a note (nor "Schedule a meeting" an event)
    if first and first[0] in verbs:
        return True
    return any(len(w) >= 4 and (o.startswith(w) or w.startswith(o)) for w in said for o in objects)


_OWN_OBJECT_VERBS = frozenset({"book", "schedule", "order", "reserve"})
"""Creating verbs that take their own object ("book a flight"): they invoke a tool only when its object is named."""


def named_by(tool: Tool, said: set[str]) -> bool:
    """Whether a request whose words are ``said`` (:func:`words`) names ``tool``.

    A read-only tool: a word of its name is in the request. A tool with side effects and a known leading verb: its
    object words are in the request together with a word for its verb ("save ... note" for ``add_note``, "email Ana"
    for ``send_email``), or its verb is a sending verb and the request says it ("send Ben the password"); otherwise
    every name word of four letters or more (``transfer_funds`` needs "transfer" and "fund(s)")."""
    words = name_words(tool.name)
    if not words:
        return False
    if not tool.effects - {Effect.READ}:
        return bool(words & said)
    verb, verbs = _verb(tool)
    if verbs is None:
        return words <= said
    objects = words - {verb}
    return (objects <= said and bool(verbs & said)) or (verbs is _VERB_CLASSES[1] and verb in said)


def pending_writes(
    tools: Sequence[Tool], executed: Sequence[tuple[int, ToolCall, ToolCall]], conversation: Sequence[Message]
) -> list[Tool]:
    """The side-effecting ``tools`` the current request names (:func:`named_by`) that have not run in this run
    (``executed``: ``(task id, call as planned, call as run)``); none for a question."""
    requests = [m["content"] for m in conversation if m["role"] == "user"]
    request = requests[-1] if requests else ""
    if request.rstrip().endswith("?"):  # a question asks to read ("What are the email addresses of Ana and Ben?")
        return []
    said = scope_words(conversation)
    ran = {actual.name for _, _, actual in executed}
    return [t for t in tools if t.effects - {Effect.READ} and t.name not in ran and named_by(t, said) and verb_used(t, request)]


def verb_used(tool: Tool, request: str) -> bool:
    """Whether ``request`` uses a word for the verb of ``tool`` as a verb. A word that is the tool's object too ("email"
    for ``send_email``) counts only where a clause starts with it and no address follows: "Email Ana: ...", "... and
    email it to Ben", not "Add Gina to my contacts, email gina@rossi.it" (the address's label)."""
    verb, known = _verb(tool)
    verbs = known or frozenset({verb})
    objects = name_words(tool.name) - {verb}
    said = words(request)
    if (verbs - objects) & said:
        return True
    for word in verbs & objects & said:
        start = r"(?:^|[.!?:;,]\s*|\band\s+)(?:(?:now|then|please|also)\s+)?"
        if re.search(start + word + r"\b(?!\s+[\w.+\-]+@)", request.strip(), re.IGNORECASE):
            return True
    return False
