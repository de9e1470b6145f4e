"""The planner: decides the next step of a run under a grammar with explicit outcomes.

The model writes, after ``<tool_call>``, a JSON list under :func:`agentslm.constraints.plan_schema.plan_schema`
(SmolLM2's own function-calling format): tasks ``1..k`` whose arguments may reference earlier
results as ``"$N"``. The decision is read off that list and its probabilities:

* ``plan`` — one or more tasks to run (independent ones run in parallel);
* ``no_tool`` — the empty list on the first round: no available tool fits the request;
* ``done`` — after observations, the list holds nothing not already run: time to answer;
* ``ask`` — a task's values do not appear in the conversation (argument grounding): the agent
  asks the user for them instead of guessing;
* ``give_up`` — the output could not be used (budget ran out mid-list).

A confidence gate closes the list early where the decoder started a further task with low
probability (see :meth:`agentslm.step_types.CallList.gated`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Literal

from pydantic import BaseModel, Field

from agentslm.constraints.call_schema import DecodeLimits
from agentslm.constraints.plan_schema import plan_item_schema, plan_schema
from agentslm.grounding import (
    directed_enum_parameters,
    directed_pairs,
    enum_member_stated,
    grounding_report,
    is_grounded_string,
    scoped_grounding_report,
    times_stated,
)
from agentslm.models.base import Generation, Message, Model, ToolCompletionModel
from agentslm.plan import REFERENCE, Plan, Task
from agentslm.provenance import Sources, field_kind, identifier_spans, restrict_parameters
from agentslm.registry import Effect, Tool
from agentslm.roles.call_format import CallWriter, Prompt
from agentslm.roles.caller import signals_from_generation
from agentslm.roles.planner_policy import PlannerPolicy, read_policy_file
from agentslm.roles.request_scope import (
    READ_VERBS,
    found_by_lookup,
    instructed_reads,
    name_words,
    named_by,
    pending_writes,
    request_covered,
    requested,
    starts_with_instruction,
    supported,
    uses_any,
    verb_used,
    words,
)
from agentslm.step_types import CallList, CallSignals, ToolCall
from agentslm.write_candidates import (
    as_stated,
    copies_a_result,
    copy_parameters,
    identifier_values,
    named_labels,
    refers_back,
    request_values,
    stated_pairs,
    stated_text,
    stated_values_like,
    text_parts,
    unlinked_names,
    unused_values,
    waits_for_names,
)

__all__ = [
    "AFTER_RESULTS_ROLE",
    "Decision",
    "Planner",
    "PlannerPolicy",
    "empty_list_probability",
    "name_lookups",
    "read_policy_file",
    "value_lookups",
]

AFTER_RESULTS_ROLE = "planner-after-results"
"""The role name of planning rounds that follow results (:meth:`Model.for_role`): a model whose adapter was trained
on first-round plans only (the embedded default's) plans them with its base weights."""

_log = logging.getLogger(__name__)


class Decision(BaseModel):
    kind: Literal["plan", "no_tool", "done", "ask", "give_up"]
    plan: Plan = Field(default_factory=Plan)
    question: str = ""
    missing: list[str] = Field(default_factory=list)
    tool: str = ""
    reason: str = ""
    raw: str = ""
    signals: CallSignals = Field(default_factory=CallSignals)
    open_probabilities: list[float] = Field(default_factory=list)
    escalation: dict[str, Any] | None = None
    """Set by :class:`agentslm.router.RoutedPlanner` when the step went to the fallback model."""


def _ask(name: str, fields: list[str]) -> dict[str, Any]:
    """The fields of an ``ask`` decision for the values ``name`` lacks."""
    question = f"To use {name} I need {', '.join(fields)}: which value should I use?"
    return {"kind": "ask", "question": question, "missing": list(fields), "tool": name}


def _grounded(
    fresh: list[dict[str, Any]], by_name: dict[str, Tool], source: str, *, scope: str = "every"
) -> tuple[list[dict[str, Any]], tuple[str, list[str]] | None]:
    """The tasks whose values all appear in ``source`` (a task that uses a dropped one's result is dropped too), and
    the first dropped task's tool and missing fields. The rest is planned again once these results are in, if still
    wanted."""
    grounded: list[dict[str, Any]] = []
    ungrounded: set[int] = set()
    first_missing: tuple[str, list[str]] | None = None
    for item in fresh:
        tool = by_name.get(item["name"])
        plain = _plain(item["arguments"])
        missing = scoped_grounding_report(plain, tool.parameters, source, scope=scope) if tool is not None else []
        refs = {int(m.group(1)) for v in item["arguments"].values() if isinstance(v, str) and (m := REFERENCE.match(v))}
        if missing or refs & ungrounded:
            first_missing = first_missing or (item["name"], missing)
            ungrounded.add(item["id"])
            continue
        grounded.append(item)
    return grounded, first_missing


def _consistent_chains(
    fresh: list[dict[str, Any]], by_name: dict[str, Tool], executed: Sequence[tuple[int, ToolCall, ToolCall]]
) -> list[dict[str, Any]]:
    """``fresh`` with a conversion that takes an earlier conversion's result (``amount="$1"``) from another unit than
    that result is in given the earlier call's own value instead: after ``convert(100, USD -> EUR)``, "and to GBP" is
    ``convert(100, USD -> GBP)``, not 92 (euros) taken as dollars. A chain in the same unit (EUR -> GBP after USD ->
    EUR) is kept."""
    earlier: dict[int, tuple[str, dict[str, Any]]] = {t: (a.name, a.arguments) for t, _, a in executed}
    earlier.update({f["id"]: (f["name"], f["arguments"]) for f in fresh})
    out: list[dict[str, Any]] = []
    for item in fresh:
        tool = by_name.get(item["name"])
        arguments = dict(item["arguments"])
        for source_field, target_field in directed_pairs(tool.parameters) if tool is not None else []:
            for key, value in item["arguments"].items():
                match = REFERENCE.match(value) if isinstance(value, str) else None
                target = earlier.get(int(match.group(1))) if match else None
                if target is None or target[0] != item["name"] or arguments.get(source_field) == target[1].get(target_field):
                    continue
                own = target[1].get(key)
                if own is not None and not (isinstance(own, str) and REFERENCE.match(own)):
                    arguments[key] = own
        out.append({**item, "arguments": arguments} if arguments != item["arguments"] else item)
    return out


def _plain(arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` without the references to earlier results (``$1``, ``$2.email``): the values a source must state."""
    return {k: v for k, v in arguments.items() if not (isinstance(v, str) and REFERENCE.match(v))}


def _ungrounded(item: dict[str, Any], by_name: dict[str, Tool], source: str) -> bool:
    """Whether a task holds a value (not a reference) that ``source`` does not state."""
    return bool(grounding_report(_plain(item["arguments"]), by_name[item["name"]].parameters, source))


class _Round:
    """What one planning round's steps share: the tools, the conversation, the calls handled so far (their keys, for
    the repeat check) and the texts values may come from."""

    def __init__(
        self,
        tools: Sequence[Tool],
        usable: list[Tool],
        conversation: Sequence[Message],
        executed: Sequence[tuple[int, ToolCall, ToolCall]],
        messages: list[Message],
        model: Model,
        sources: Sources,
        next_id: int,
    ) -> None:
        self.usable, self.conversation, self.executed, self.messages = usable, conversation, executed, messages
        self.model, self.sources, self.next_id = model, sources, next_id
        self.by_name = {t.name: t for t in tools}
        self.known: dict[str, int] = {}
        for task_id, planned, actual in executed:
            self.known.setdefault(_call_key(planned.name, planned.arguments, self.by_name.get(planned.name)), task_id)
            self.known.setdefault(_call_key(actual.name, actual.arguments, self.by_name.get(actual.name)), task_id)
        self.source = "\n".join(m["content"] for m in conversation)
        self.said = words("\n".join(m["content"] for m in conversation if m["role"] == "user"))

    def numbered(self, planner: Planner, calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
        reads = [  # reads that found something: narrowing one that found nothing ("Wifi password" -> "Wifi") may help
            (task_id, actual)
            for task_id, _, actual in self.executed
            if not _writes({"name": actual.name}, self.by_name) and self.sources.results.get(task_id) not in (None, [], {}, "")
        ]
        request = self.sources.requests[-1] if self.sources.requests else ""
        return planner._numbered(calls, self.by_name, self.known, self.next_id, self.source, reads, request)


def _drop_ungrounded_optional(arguments: dict[str, Any], tool: Tool, source: str) -> dict[str, Any]:
    """``arguments`` without the optional ones whose values do not appear in ``source`` (their defaults apply)."""
    plain = _plain(arguments)
    required = set(tool.parameters.get("required", []))
    dropped = {m for m in grounding_report(plain, tool.parameters, source) if m not in required}
    return {k: v for k, v in arguments.items() if k not in dropped}


def _call_key(name: str, arguments: Any, tool: Tool | None = None) -> str:
    """Identity of a call for the repeat check: arguments equal to their schema default count as absent
    (``get_weather(city="Paris", unit="celsius")`` repeats ``get_weather(city="Paris")`` when celsius is the default)."""
    if tool is not None and isinstance(arguments, dict):
        props = tool.parameters.get("properties", {})
        arguments = {
            k: v
            for k, v in arguments.items()
            if not (isinstance(props.get(k), dict) and "default" in props[k] and props[k]["default"] == v)
        }
    return name + "\x00" + json.dumps(arguments, sort_keys=True, default=str)


class Planner:
    """Decodes plans on ``model`` (its own lock serialises calls)."""

    def __init__(
        self,
        model: Model,
        *,
        policy: PlannerPolicy | None = None,
        max_tokens: int = 384,
        limits: DecodeLimits | None = None,
        engine: str | None = None,
    ) -> None:
        self.model = model
        self.policy = policy or PlannerPolicy.for_model(model)
        self.after_results_model = model.for_role(AFTER_RESULTS_ROLE)
        """The model for rounds after results: ``model`` itself, unless it holds weights for first plans only."""
        self.max_tokens = max_tokens
        self.limits = limits or DecodeLimits()
        self.engine = engine
        self.writer = CallWriter(model)
        """The model's call format (its profile's native one, or agentslm's APIGen list)."""

    def messages(self, tools: Sequence[Tool], conversation: Sequence[Message]) -> Prompt:
        """The planner's prompt: the tools (in the system prompt, or for the chat template to render) and the
        conversation."""
        return self.writer.prompt(tools, conversation)

    def decide(
        self,
        tools: Sequence[Tool],
        conversation: Sequence[Message],
        *,
        executed: Sequence[tuple[int, ToolCall, ToolCall]] = (),
        next_id: int = 1,
        round_failed: bool = False,
        sources: Sources | None = None,
    ) -> Decision:
        """The next step for ``conversation`` (user turns, earlier calls and their results).

        ``executed`` lists the calls already handled in this run as ``(task id, call as planned with
        run-wide references, call as run)``; the plan's tasks are numbered from ``next_id`` and its
        references point to run-wide task ids (a reference to a re-emitted earlier call points to that
        call's task). ``round_failed``: a call of the previous round failed (the covered-request stop does not apply).
        ``sources``: the requests and results values may be copied from (default: the conversation's user and tool
        messages).
        """
        if not tools:
            return Decision(kind="no_tool", reason="the agent has no tools")
        sources = sources if sources is not None else Sources.from_conversation(conversation)
        found_nothing = any(  # a lookup that found nothing covers nothing: another round may widen it
            sources.results.get(task_id, "?") in ([], {}, "") for task_id, _, _ in executed if task_id in sources.results
        )
        if executed and self.policy.stop_when_covered and not round_failed and not found_nothing:
            requests = [m["content"] for m in conversation if m["role"] == "user"]
            if requests and request_covered(requests[-1], tools, [actual for _, _, actual in executed]):
                return Decision(kind="done", reason="the request is covered: the tools it names have run with its values")
        usable, blocked = self._grammar_tools(tools, sources)
        usable = self._back_reference_writes(usable, executed, conversation, sources)
        if self.policy.provenance and sources.requests:  # "titled Books with the text: ..." is titled Books
            request = sources.requests[-1]
            usable = [replace(t, parameters=named_labels(t.parameters, request)) if _creates(t) else t for t in usable]
            # "Convert 50 CHF to EUR": CHF is the source currency, EUR the target (a small model swaps them)
            directed = [directed_enum_parameters(t.parameters, request) for t in usable]
            usable = [t if d == t.parameters else replace(t, parameters=d) for t, d in zip(usable, directed, strict=True)]
        schema = plan_schema(usable, self.limits, max_tasks=self.policy.max_tasks) if usable else {"type": "array", "maxItems": 0}
        messages = self.messages(tools, conversation)
        model = self.after_results_model if executed else self.model
        listed, gen = self.writer.decode_list(
            model,
            messages,
            list_schema=schema,
            item_schema=lambda position: plan_item_schema(
                usable, self.limits, position=position, max_tasks=self.policy.max_tasks
            ),
            max_tasks=self.policy.max_tasks,
            max_tokens=self.max_tokens,
            engine=self.engine,
        )
        base = Decision(kind="give_up", raw=listed.raw, signals=listed.signals, open_probabilities=listed.open_probabilities)
        if listed.parse_error is not None:
            return base.model_copy(update={"reason": listed.parse_error})
        rnd = _Round(tools, usable, conversation, executed, messages, model, sources, next_id)
        fresh, asked_for = self._fresh(rnd, self._model_calls(rnd, listed, gen), blocked, round_failed)
        if not fresh and asked_for:  # "Create an event called Dentist": when? (not "no tool fits"); after a lookup that
            # found nothing ("Add a contact named Hugo" -> no Hugo): which address? (not "done" with nothing done)
            name, fields = asked_for
            return base.model_copy(update=_ask(name, fields))
        if not fresh:
            if executed:
                return base.model_copy(update={"kind": "done", "reason": "no new call after the results"})
            reason = "the model chose no tool" if not listed.calls else "the model was unsure that any tool fits"
            return base.model_copy(update={"kind": "no_tool", "reason": reason})
        if self.policy.grounding:
            planned = fresh
            fresh, missing = _grounded(fresh, rnd.by_name, rnd.source, scope=self.policy.grounding_scope)
            if missing is not None and not fresh:  # "Othings" for "the weather in Oslo": the read once more, on the
                # names the request states; else nothing can run without the user's answer
                call = next((f for f in planned if f["name"] == missing[0]), None)
                again = self._restated(rnd, *missing, call=call)
                fresh, _ = _grounded(again, rnd.by_name, rnd.source, scope=self.policy.grounding_scope)
                if not fresh:
                    return base.model_copy(update=_ask(*missing))
        plan = Plan(tasks=[Task(id=f["id"], tool=f["name"], arguments=f["arguments"]) for f in fresh])
        return base.model_copy(update={"kind": "plan", "plan": plan})

    def _model_calls(self, rnd: _Round, listed: CallList, gen: Generation | None) -> list[ToolCall]:
        """The round's calls as the model proposes them: past the confidence gate, with further calls probed, or one
        call forced when the model was unsure that none fits (``min_no_tool``)."""
        usable, messages, conversation = rnd.usable, rnd.messages, rnd.conversation
        gated = listed.gated(min_first=self.policy.min_first, min_more=self.policy.min_more, dedupe=False)
        calls = list(gated.calls)
        if len(calls) < len(listed.calls):
            _log.debug("the confidence gate kept %d of the model's %d calls", len(calls), len(listed.calls))
        if self.policy.probe_more and calls and len(calls) == len(listed.calls) and usable:
            calls += self._probe(usable, messages, conversation, calls, rnd.model)
        if not listed.calls and not rnd.executed and self.policy.min_no_tool > 0 and usable:
            p_empty = empty_list_probability(gen) if gen is not None else None
            if p_empty is not None and p_empty < self.policy.min_no_tool:
                forced = self._forced_call(usable, messages, conversation)
                if forced is not None:
                    calls = [forced]
        return calls

    def _fresh(
        self, rnd: _Round, calls: list[ToolCall], blocked: dict[str, list[str]], round_failed: bool
    ) -> tuple[list[dict[str, Any]], tuple[str, list[str]] | None]:
        """The round's new tasks after the request and provenance rules (with the named write finished, or the value
        it lacks looked up, when the model proposed nothing), and the first named write whose values are missing
        (tool name and fields: what to ask for)."""
        by_name, executed, conversation, sources, said = rnd.by_name, rnd.executed, rnd.conversation, rnd.sources, rnd.said
        fresh = _consistent_chains(rnd.numbered(self, calls), by_name, executed)
        if self.policy.stop_unrequested_effects:
            fresh = requested(fresh, by_name, executed, conversation)
        named_blocked = {name: fields for name, fields in blocked.items() if name_words(name) & said}
        if self.policy.provenance:
            fresh = supported(fresh, by_name, sources, named_blocked, said)
            # "Look up Ana and David and add both phone numbers ...": no write before David's lookup, whatever decoded it
            fresh = [
                f for f in fresh if not (_writes(f, by_name) and waits_for_names(sources, write_words=name_words(f["name"])))
            ]
        lookup_for = [n for n, fields in named_blocked.items() if found_by_lookup(by_name[n], fields)]
        if executed:
            fresh = self._after_results(rnd, fresh)
        request = sources.requests[-1] if sources.requests else ""
        wanted = [n for n in lookup_for if named_by(by_name[n], words(request)) and verb_used(by_name[n], request)]
        if wanted:  # a lookup for a name takes the name itself, not the clause around it ("Ana: the meeting ...")
            names = unlinked_names(sources)
            fresh = [f for f in fresh if not _sloppy_lookup(f, by_name, names)]
        stated_names = [v for v in request_values(request) if not v[:1].isdigit()]
        fresh = [f for f in fresh if not _two_names(f, by_name, stated_names)]  # one lookup finds one record
        model = rnd.model
        if executed and all(_writes(f, by_name) for f in fresh) and _decodes_one_call(model) and self.policy.finish_named_writes:
            again = self._write_again(rnd) if not fresh else []  # "Create two events: ... 12-11 ... and ... 12-13"
            fresh = again or self._read_before_writing(rnd, fresh) or fresh
        if executed and not fresh and _decodes_one_call(model):  # "Read todo.txt and reports/q3.txt": the second file
            fresh = self._read_stated_identifiers(rnd)
        incomplete: dict[str, list[str]] = {}
        if not fresh and self.policy.finish_named_writes and not round_failed and _decodes_one_call(model):
            wrote, incomplete = self._finish_writes(rnd.usable, by_name, executed, conversation, sources, rnd.messages, model)
            fresh = supported(rnd.numbered(self, wrote), by_name, sources, {}, said)
            fresh = requested(fresh, by_name, executed, conversation)
            lookup_for += [n for n, fields in incomplete.items() if found_by_lookup(by_name[n], fields)]
        ran_names = {actual.name for _, _, actual in executed}
        instructed = [t for t in instructed_reads(sources.requests[-1] if sources.requests else "", rnd.usable)]
        request_words = words(sources.requests[-1]) if sources.requests else set()
        texts_missing = [n for n, fields in incomplete.items() if not found_by_lookup(by_name[n], fields)]
        if texts_missing and not instructed and request_words & READ_VERBS and not executed:
            # "Look up Elena's email address and save it ...": the text is what a lookup of the name finds
            instructed = name_lookups([t for t in rnd.usable if not t.effects - {Effect.READ}], sources)
        for n in texts_missing:  # "Send Ben the Wifi password from my notes": the text is in the notes
            other = request_words - name_words(n)
            instructed += [t for t in rnd.usable if not t.effects - {Effect.READ} and name_words(t.name) & other]
        instructed = list({t.name: t for t in instructed if t.name not in ran_names}.values())
        if texts_missing and not instructed and request_words & READ_VERBS and executed and unlinked_names(sources):
            # "Look up Ana and David and add both phone numbers": David's lookup, by a tool that has not tried his name
            ran_calls = [actual for _, _, actual in executed]
            instructed = name_lookups([t for t in rnd.usable if not t.effects - {Effect.READ}], sources, ran_calls)
        if not fresh and incomplete and instructed and _decodes_one_call(model):  # "Read ... and save its content": read
            fresh = supported(
                rnd.numbered(self, self._lookup(instructed, rnd.messages, conversation, model)), by_name, sources, {}, said
            )
        if not fresh and lookup_for and _decodes_one_call(model):  # look the value up first (e.g. an address)
            reads = [t for t in rnd.usable if not t.effects - {Effect.READ}]
            wanted += [n for n in incomplete if n in lookup_for]
            offered = name_lookups(reads, sources, [actual for _, _, actual in executed]) if wanted else reads
            ids = [n for n in wanted if _waits_for_ids(by_name[n], {**named_blocked, **incomplete}.get(n, []))]
            if ids:  # a note's id is found by the notes tool ("Find the note about Groceries and delete it")
                objects = {w for n in ids for w in name_words(n) - {_leading(n)}}
                by_object = [t for t in reads if name_words(t.name) & objects and t.name not in ran_names]
                offered = by_object or offered
            if not offered and not unlinked_names(sources):  # no name waits: the model's own lookup (an id, a path)
                offered = reads
            looked = self._lookup(offered, rnd.messages, conversation, model) if offered else []
            fresh = supported(rnd.numbered(self, looked), by_name, sources, {}, said)
        fresh = [f for f in fresh if not _two_names(f, by_name, stated_names)]  # nor one a lookup path proposed
        request = next((m["content"] for m in reversed(conversation) if m["role"] == "user"), "")
        ran = {actual.name for _, _, actual in executed}
        waiting = {**incomplete, **named_blocked}
        asked_for = [
            n
            for n in waiting
            if n not in ran
            and by_name[n].effects - {Effect.READ}
            and named_by(by_name[n], said)
            and verb_used(by_name[n], request)
            and not request.rstrip().endswith("?")
        ]
        return fresh, ((asked_for[0], list(waiting[asked_for[0]])) if asked_for else None)

    def _restated(self, rnd: _Round, name: str, fields: list[str], call: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """A read-only call of ``name`` decoded once more with its ungrounded ``fields`` limited to the names the
        request states: the model, unsure, wrote ``get_weather(city="Othings")`` for "What's the weather in Oslo?".
        Empty for a tool with side effects (asking is the safe way there) or one the request does not name, for a
        field that is not a plain string, when the request states no name, or when the model cannot decode one call."""
        tool = next((t for t in rnd.usable if t.name == name), None)
        request = rnd.sources.requests[-1] if rnd.sources.requests else ""
        taken = [
            set(_norm_words(v)) for k, v in (call or {}).get("arguments", {}).items() if k not in fields and isinstance(v, str)
        ]
        stated = [  # not a part of another argument's value (season="LeBron" beside player_name="LeBron James")
            v
            for v in dict.fromkeys(request_values(request))
            if not v[:1].isdigit() and not any(set(_norm_words(v)) <= t for t in taken)
        ]
        if tool is None or tool.effects - {Effect.READ} or not named_by(tool, rnd.said) or not stated or not fields:
            return []
        if not _decodes_one_call(rnd.model):
            return []
        props = tool.parameters.get("properties", {})
        specs = {f: props.get(f) for f in fields}
        if not all(
            isinstance(sp, dict) and sp.get("type") == "string" and field_kind(f, sp) == "plain" for f, sp in specs.items()
        ):
            return []
        limited = {f: {"type": "string", "enum": stated, "x-sources": True} for f in fields}
        again = replace(tool, parameters={**tool.parameters, "properties": {**props, **limited}})
        calls = [c for c in self._one_call([again], rnd.messages, rnd.model) if all(c.arguments.get(f) in stated for f in fields)]
        _log.debug("restated %s on %s: %s", name, stated, [c.arguments for c in calls])
        return supported(rnd.numbered(self, calls), rnd.by_name, rnd.sources, {}, rnd.said)

    def _after_results(self, rnd: _Round, fresh: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``fresh`` less what results make pointless: a read with only values that calls already used (it finds nothing
        new: "Hugo" in every tool) and, under grounding, a call of a tool the request does not name with a value nobody
        stated: get_weather() after "Convert 100 USD to EUR and to GBP and save ..." is no part of the request (not a
        question to ask the user; the request's own steps go on)."""
        by_name, sources = rnd.by_name, rnd.sources
        request_said = words(sources.requests[-1]) if sources.requests else set()
        fresh = [f for f in fresh if not _same_values_again(f, by_name, rnd.executed, request_said)]
        if self.policy.grounding:
            fresh = [f for f in fresh if named_by(by_name[f["name"]], rnd.said) or not _ungrounded(f, by_name, rnd.source)]
        return fresh

    def _write_again(self, rnd: _Round) -> list[dict[str, Any]]:
        """The named write once more, for the second record a request asks for in the plural: "Create two events: Gym
        on 2026-12-11 at 07:00 and Gym on 2026-12-13 at 07:00" after the first event, "Delete notes 1 and 4" after
        note 1, "Save two notes: one titled Call with the text ..., one titled Stamps with the text ..." after the
        first note. Decoded with the field that differs limited to the values of its kind the request states that no
        call has used (the label and its paired text, for pairs); empty when the request names the write's object in
        the singular, or no such value is left."""
        request = rnd.sources.requests[-1] if rnd.sources.requests else ""
        ran = [actual for _, _, actual in rnd.executed]
        plural = {w for w in re.findall(r"[a-z]{4,}s\b", request.lower())}
        usable = {t.name: t for t in rnd.usable}
        pairs = stated_pairs(request)
        for call in ran:
            # a read that took a value ("list_events(date=2026-12-13)") wrote no record: only this write's calls count
            used = " ".join(json.dumps(c.arguments, ensure_ascii=False, default=str) for c in ran if c.name == call.name)
            used = used.casefold()
            labels = [label for label in pairs if label.casefold() not in used]
            tool = usable.get(call.name)
            if tool is None or not _writes({"name": call.name}, rnd.by_name) or not verb_used(tool, request):
                continue
            if not {w + "s" for w in name_words(tool.name) - {_leading(tool.name)}} & plural:
                continue  # "Create an event ... and remind me on 12-10": one event
            props = tool.parameters.get("properties", {})
            for field, value in call.arguments.items():
                spec = props.get(field)
                if not isinstance(spec, dict) or str(value).casefold() not in request.casefold():
                    continue
                if str(value) in pairs and labels:  # the next pair: its label, its text
                    texts = {n: [pairs[labels[0]]] for n, sp in props.items() if isinstance(sp, dict) and sp.get("x-free-text")}
                    limited = {field: [labels[0]], **texts}
                else:
                    same = [v for v in stated_values_like(request, str(value)) if v.casefold() not in used]
                    if not same:
                        continue
                    declared = rnd.by_name[call.name].parameters.get("properties", {}).get(field, {})
                    integer = isinstance(value, int) or declared.get("type") == "integer"
                    values: list[Any] = [int(v) for v in same if v.isdigit()] if integer else same
                    limited = {field: values} if values else {}
                if not limited:
                    continue
                restricted = {
                    **props,
                    **{
                        n: {"type": "integer" if isinstance(vals[0], int) else "string", "enum": vals}
                        for n, vals in limited.items()
                    },
                }
                again = replace(tool, parameters={**tool.parameters, "properties": restricted})
                calls = self._one_call([again], rnd.messages, rnd.model)
                calls = [c for c in calls if all(c.arguments.get(n) in vals for n, vals in limited.items())]
                if calls:
                    return supported(rnd.numbered(self, calls), rnd.by_name, rnd.sources, {}, rnd.said)
        return []

    def _read_stated_identifiers(self, rnd: _Round) -> list[dict[str, Any]]:
        """A read-only tool that ran in this run, once more for an identifier of the same kind the request states and no
        call has used: "Read todo.txt and reports/q3.txt" reads reports/q3.txt after todo.txt, "List my events on
        2026-12-11 and 2026-12-13" lists the second day. Decoded with that field limited to the unused values; empty
        when there is none."""
        request = rnd.sources.requests[-1] if rnd.sources.requests else ""
        ran = [actual for _, _, actual in rnd.executed]
        used = " ".join(json.dumps(c.arguments, ensure_ascii=False, default=str) for c in ran).casefold()
        ran_names = {c.name for c in ran}
        # "... and write its first item to a file budget.txt": that path is the pending write's, not one to read
        writes = pending_writes(rnd.usable, rnd.executed, rnd.conversation)
        taken = {
            field_kind(n, spec)
            for w in writes
            for n, spec in rnd.by_name[w.name].parameters.get("properties", {}).items()
            if isinstance(spec, dict)
        }
        for tool in rnd.usable:
            original = rnd.by_name.get(tool.name)
            if tool.name not in ran_names or original is None or tool.effects - {Effect.READ}:
                continue
            props = original.parameters.get("properties", {})
            for name, spec in props.items() if isinstance(props, dict) else ():
                kind = field_kind(name, spec) if isinstance(spec, dict) else "plain"
                if kind not in ("path", "date", "email", "url") or kind in taken:
                    continue
                left = [v for v in identifier_spans(request, kind, quoted=False) if v.casefold() not in used]
                if not left:
                    continue
                limited = {**{k: spec[k] for k in ("description", "type") if k in spec}, "enum": left, "x-sources": True}
                again = replace(
                    tool, parameters={**tool.parameters, "properties": {**tool.parameters["properties"], name: limited}}
                )
                calls = [c for c in self._one_call([again], rnd.messages, rnd.model) if c.arguments.get(name) in left]
                if calls:
                    return supported(rnd.numbered(self, calls), rnd.by_name, rnd.sources, {}, rnd.said)
        return []

    def _read_before_writing(self, rnd: _Round, writes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Read-only calls for the values the request states that no call has used yet, decoded (list forced
        non-empty) before the round's ``writes`` are made or the named write is finished: "Convert 100 USD to EUR and
        to GBP and save both amounts in a note" converts to GBP too before the note is written, "Check the weather in
        Lisbon and Porto and save it" checks Porto. Empty when every value is used (or is the write's own label or
        text), or the model proposes no such read; the writes then go ahead as planned."""
        request = rnd.sources.requests[-1] if rnd.sources.requests else ""
        unused = unused_values(request, [actual for _, _, actual in rnd.executed])
        if not unused:
            return []
        reads = [t for t in rnd.usable if not t.effects - {Effect.READ}]
        ran = [actual for _, _, actual in rnd.executed]
        request_words = words(request) - {w for _, _, a in rnd.executed for w in name_words(a.name)}
        named = [t for t in reads if name_words(t.name) & request_words and t.name not in {a.name for a in ran}]
        pending = {t.name for t in pending_writes(rnd.usable, rnd.executed, rnd.conversation)}
        named = [t for t in named if not any(name_words(t.name) & name_words(p) for p in pending)]
        reads = named or reads  # "Find my note about the Trip and email ...": the notes, not a contact named Trip
        members = {t.name: _enum_members(t) for t in reads}
        listed = {v for v in unused if any(v.casefold() in m for m in members.values())}  # GBP: a currency field's
        offered = value_lookups(reads, [v for v in unused if v not in listed], ran)  # Porto: get_weather(city="Porto")
        offered += [t for t in reads if listed & {v for v in unused if v.casefold() in members[t.name]}]
        offered = offered or reads
        looked = self._lookup(offered, rnd.messages, rnd.conversation, rnd.model) if reads else []
        wanted = {v.casefold() for v in unused}
        fresh = rnd.numbered(self, [c for c in looked if uses_any(c.arguments, wanted)])
        return supported(fresh, rnd.by_name, rnd.sources, {}, rnd.said) if fresh else []

    def _numbered(
        self,
        calls: Sequence[ToolCall],
        by_name: dict[str, Tool],
        known: dict[str, int],
        next_id: int,
        source: str,
        reads: Sequence[tuple[int, ToolCall]] = (),
        request: str = "",
    ) -> list[dict[str, Any]]:
        """The decoded calls that are new in this run, numbered from ``next_id``, references re-pointed to run-wide ids.
        A read-only call that only narrows or widens one that ran (``reads``: ``find_contact(name="Ana Souza")`` after
        ``find_contact(name="Ana")``) counts as that call again: it finds nothing new and takes a round."""
        position_ids: dict[int, int] = {}  # position in the decoded list -> run-wide task id
        fresh: list[dict[str, Any]] = []
        seen: dict[str, int] = {}
        for position, call in enumerate(calls, 1):
            arguments = _point(call.arguments, position_ids)
            tool = by_name.get(call.name)
            if tool is not None:
                arguments = _trimmed(arguments, tool)
                if request and _creates(tool):  # "one titled Stamps with the text buy stamps": that text, that title
                    arguments = as_stated(arguments, tool.parameters, request)
            if self.policy.grounding and self.policy.drop_ungrounded_optional and tool is not None:
                arguments = _drop_ungrounded_optional(arguments, tool, source)  # before the repeat check
            key = _call_key(call.name, arguments, tool)
            near = _near_repeat(call.name, arguments, reads) if tool is not None and not tool.effects - {Effect.READ} else None
            if near is not None:
                position_ids[position] = near
            elif key in known:
                position_ids[position] = known[key]
            elif key in seen:
                position_ids[position] = seen[key]
            else:
                task_id = next_id + len(fresh)
                position_ids[position] = seen[key] = task_id
                fresh.append({"id": task_id, "name": call.name, "arguments": arguments})
        return fresh

    def _lookup(
        self, reads: Sequence[Tool], messages: list[Message], conversation: Sequence[Message], model: Model
    ) -> list[ToolCall]:
        """Read-only calls decoded with the list forced non-empty, when the tool the request wants needs a value no
        source holds yet (an address, an id): "Email Ana ..." first looks Ana up. Kept only when every value appears
        in the conversation; further lookups are probed as usual ("Email Ana and Ben")."""
        source = "\n".join(m["content"] for m in conversation)
        calls = self._one_call(reads, messages, model)
        if not calls or not calls[0].arguments:
            return []
        first = calls[0]
        tool = next(t for t in reads if t.name == first.name)
        if grounding_report(first.arguments, tool.parameters, source):
            return []
        more = self._probe(reads, messages, conversation, [first], model) if self.policy.probe_more else []
        return [first, *more]

    def _grammar_tools(self, tools: Sequence[Tool], sources: Sources) -> tuple[list[Tool], dict[str, list[str]]]:
        """The tools as the grammar offers them this round (identifier fields limited to the sources' values; see
        :attr:`PlannerPolicy.provenance`) and, for each tool left out, the required identifier fields no source holds."""
        if not self.policy.provenance:
            return list(tools), {}
        usable: list[Tool] = []
        blocked: dict[str, list[str]] = {}
        for t in tools:
            parameters, missing = restrict_parameters(t.parameters, sources)
            if missing:
                blocked[t.name] = missing
            else:
                usable.append(replace(t, parameters=parameters) if parameters != t.parameters else t)
        return usable, blocked

    def _back_reference_writes(
        self,
        usable: list[Tool],
        executed: Sequence[tuple[int, ToolCall, ToolCall]],
        conversation: Sequence[Message],
        sources: Sources,
    ) -> list[Tool]:
        """``usable`` with the writes the request names limited to copies (:func:`agentslm.write_candidates.copy_parameters`)
        where their text is given: by the request ("Send him an email saying thanks for the invoice": that text, not
        "Thank you for the invoice. I hope it's well received."), or by an earlier turn the request points back at
        ("Save that in a note titled Refund": what it found, not "80 EUR has been converted to USD and saved ...").
        Unchanged otherwise, and where a field has no candidate."""
        if not (self.policy.finish_named_writes and self.policy.provenance) or not sources.requests:
            return usable
        request = sources.requests[-1]
        stated = stated_text(request) is not None  # "Send him an email saying thanks ...": the body is that text
        back = not stated and refers_back(request) and any(t < 0 for t in sources.results)
        # after this run's lookups, a write that carries what they found: "... Lisbon and Porto and save it" offers
        # both results together first, as the finished write does (not the model's copy of one of them)
        found = not stated and bool(executed) and any(t > 0 for t in sources.results)
        if not stated and not back and not found:
            return usable
        pending = {t.name for t in pending_writes(usable, executed, conversation)}
        parts = text_parts(request)
        out: list[Tool] = []
        said = words(request)
        reads = [t for t in usable if not t.effects - {Effect.READ}]
        for t in usable:
            if t.name in pending:
                asking = [p for p in parts if named_by(t, words(p)) or starts_with_instruction(p, reads)]
                other = said - name_words(t.name)
                from_results = back or bool(other & READ_VERBS) or any(name_words(r.name) & other for r in reads)
                if found and not from_results:
                    out.append(t)
                    continue
                parameters, missing = copy_parameters(
                    t.parameters, sources, skip_parts=asking, from_results=True, write_words=name_words(t.name)
                )
                if missing:
                    pass
                elif back or found:
                    t = replace(t, parameters=parameters)
                else:  # the stated text goes into the fields declared as free text; the rest stays the model's
                    props, copied = t.parameters.get("properties", {}), parameters["properties"]
                    free = {n: copied[n] for n, spec in props.items() if isinstance(spec, dict) and spec.get("x-free-text")}
                    t = replace(t, parameters={**t.parameters, "properties": {**props, **free}})
            out.append(t)
        return out

    def _forced_call(self, tools: Sequence[Tool], messages: list[Message], conversation: Sequence[Message]) -> ToolCall | None:
        """One call decoded with the list forced non-empty (see ``min_no_tool``), or None without evidence.

        Only tools the request names are offered in the grammar (the prompt stays as it was): a read-only tool
        whose name shares a word with the request, or a tool with side effects whose every name word (four
        letters or more) is in the request (``delete_all_notes`` needs "delete" and "note(s)"). The call then
        meets the same grounding as any other: a required value the request does not hold makes the agent ask
        for it ("What's the weather?" -> which city?), instead of answering that no tool fits."""
        if not self.model.continues_reply:
            return None
        said = words("\n".join(m["content"] for m in conversation if m["role"] == "user"))
        candidates = [t for t in tools if named_by(t, said)]
        calls = self._one_call(candidates, messages, self.model) if candidates else []
        return calls[0] if calls else None

    def _finish_writes(
        self,
        usable: Sequence[Tool],
        by_name: dict[str, Tool],
        executed: Sequence[tuple[int, ToolCall, ToolCall]],
        conversation: Sequence[Message],
        sources: Sources,
        messages: list[Message],
        model: Model,
    ) -> tuple[list[ToolCall], dict[str, list[str]]]:
        """The named writes the round did not plan (see ``finish_named_writes``), decoded with every string field
        limited to copies (:func:`agentslm.write_candidates.copy_parameters`), and the named writes that cannot be
        completed from the sources, with the fields they lack (an address of a person no result mentions yet: to look
        up; a message's text the request does not give: to ask for)."""
        pending: list[Tool] = []
        incomplete: dict[str, list[str]] = {}
        request = sources.requests[-1] if sources.requests else ""
        parts, said = text_parts(request), words(request)
        reads = [t for t in by_name.values() if not t.effects - {Effect.READ}]
        for t in pending_writes(usable, executed, conversation):
            # "save it in a note titled Tokyo" is no note text; nor is "Read reports/q3.txt" (an instruction)
            asking = [p for p in parts if named_by(t, words(p)) or starts_with_instruction(p, reads)]
            other = said - name_words(t.name)  # "convert ... and save": another step's result is the text
            from_results = refers_back(request) or bool(other & READ_VERBS) or any(name_words(r.name) & other for r in reads)
            parameters, missing = copy_parameters(
                by_name[t.name].parameters,
                sources,
                skip_parts=asking,
                from_results=from_results,
                write_words=name_words(t.name),
            )
            if not missing:
                pending.append(replace(t, parameters=parameters))
            else:
                incomplete[t.name] = missing
        if not pending:
            return [], incomplete
        wrote = self._one_call(pending, messages, model)  # the round's model: its prompt is already evaluated
        if wrote and self.policy.probe_more:  # "Email Ana and Ben": one email each, to another address
            first = {v for c in wrote for v in identifier_values(c.arguments, by_name[c.name].parameters)}
            seen = "\n".join(m["content"] for m in conversation)  # its address comes from a result
            more = self._probe(pending, messages, conversation, wrote, model, grounded_in=seen)
            # not back onto what a read of this run took ("Read meeting/agenda.md and write its first item to a file
            # budget.txt": no second file written over the agenda)
            read = {str(v) for _, _, a in executed if not _writes({"name": a.name}, by_name) for v in a.arguments.values()}
            wrote += [
                c
                for c in more
                if set(identifier_values(c.arguments, by_name[c.name].parameters)) - first
                and not set(identifier_values(c.arguments, by_name[c.name].parameters)) & read
            ]
        if stated_text(request):  # the request gives the text ("Save a note: call the plumber"): nothing to wait for
            return wrote, incomplete
        if executed:  # after results, a write is completed to carry what they brought: not the request alone
            back = refers_back(request)  # "Email the list to Chloe" after her lookup: the list an earlier turn found
            wrote = [c for c in wrote if copies_a_result(c.arguments, sources, this_run=not back)]
        elif sources.results and refers_back(sources.requests[-1]):  # "Save that in a note": an earlier turn's result
            wrote = [c for c in wrote if copies_a_result(c.arguments, sources, this_run=False)]
        return wrote, incomplete

    def _one_call(self, tools: Sequence[Tool], messages: list[Message], model: Model) -> list[ToolCall]:
        """One call of ``tools``, decoded with the list forced non-empty; empty when the output is unusable."""
        schema = self.writer.item_schema(plan_item_schema(tools, self.limits, position=1, max_tasks=self.policy.max_tasks))
        gen = model.generate(
            messages,
            schema=schema,
            max_tokens=self.max_tokens,
            engine=self.engine,
            response_prefix=self.writer.one_call_prefix(),
            tools=getattr(messages, "tools", None),
        )
        item = self.writer.parse_item(gen.text)
        tool = {t.name: t for t in tools}.get(item["name"]) if item is not None else None
        if tool is None or item is None:
            return []
        return [ToolCall(name=tool.name, arguments=item["arguments"], raw=gen.text, signals=signals_from_generation(gen))]

    def _probe(
        self,
        tools: Sequence[Tool],
        messages: list[Message],
        conversation: Sequence[Message],
        calls: list[ToolCall],
        model: Model,
        *,
        grounded_in: str | None = None,
    ) -> list[ToolCall]:
        """Further tasks ``model`` proposes when its list is continued with ``,`` (see ``probe_more``); their values
        must be in the requests (or in ``grounded_in``)."""
        if not model.continues_reply:
            return []
        requests = "\n".join(m["content"] for m in conversation if m["role"] == "user")
        said, source = words(requests), requests if grounded_in is None else grounded_in
        by_name = {t.name: t for t in tools}
        keys = {_call_key(c.name, c.arguments, by_name.get(c.name)) for c in calls}
        extra: list[ToolCall] = []
        while len(calls) + len(extra) < self.policy.max_tasks:
            position = len(calls) + len(extra) + 1
            so_far = [{"name": c.name, "arguments": c.arguments} for c in [*calls, *extra]]
            prefix = self.writer.continued_prefix(so_far)
            if prefix is None:  # the format holds one call per reply (Llama 3.x)
                break
            schema = self.writer.item_schema(
                plan_item_schema(tools, self.limits, position=position, max_tasks=self.policy.max_tasks)
            )
            gen = model.generate(
                messages,
                schema=schema,
                max_tokens=self.max_tokens,
                engine=self.engine,
                response_prefix=prefix,
                tools=getattr(messages, "tools", None),
            )
            item = self.writer.parse_item(gen.text)
            tool = by_name.get(item["name"]) if item is not None else None
            if tool is None or item is None or _call_key(item["name"], item["arguments"], tool) in keys:
                _log.debug("probe %d stops: %s", position, "a repeat" if tool is not None else f"no call in {gen.text!r}")
                break
            plain = _plain(item["arguments"])
            if not item["arguments"] or grounding_report(plain, tool.parameters, source, free_text=True):
                _log.debug("probe %d stops: %s%s has a value the request does not state", position, tool.name, plain)
                break  # a probed call is kept only when the request states all of it, its text included
            if tool.effects - {Effect.READ} and not named_by(tool, said):
                _log.debug("probe %d stops: %s, a side effect the request does not name", position, tool.name)
                break  # nor a side effect the request does not name (the address just emailed, now added as a contact)
            if tool.name not in {c.name for c in [*calls, *extra]} and not named_by(tool, said):
                _log.debug("probe %d stops: %s, another tool the request does not name", position, tool.name)
                break  # nor another tool on a part of the request the first call took (search_book after "price of ...")
            if not _new_values(item, [*calls, *extra], tool, source):
                _log.debug("probe %d stops: %s%s states no new value", position, tool.name, item["arguments"])
                break  # the same values again (another tool on the same city), or only a flag flipped: not a new part
            keys.add(_call_key(item["name"], item["arguments"], tool))
            extra.append(
                ToolCall(name=item["name"], arguments=item["arguments"], raw=gen.text, signals=signals_from_generation(gen))
            )
        return extra


def _decodes_one_call(model: Model) -> bool:
    """Whether the planner may decode one call on its own (a lookup before a write, a named write after results): a
    local model continues the reply after the wrapper; a served one decodes the call object under its schema
    (``response_format``), whatever its tool format. Probing for further calls still needs a continued reply."""
    return model.continues_reply or isinstance(model, ToolCompletionModel)


def empty_list_probability(gen: Generation) -> float | None:
    """Probability with which the decoder closed the list right after ``[`` (renormalised over the grammar's
    choices), or None when the list is not empty or the token was forced."""
    if not gen.text.replace(" ", "").startswith("[]"):
        return None
    position = 0
    for tok in gen.tokens:
        end = position + len(tok.text)
        if position <= gen.text.index("]") < end:
            if tok.forced or tok.constrained_logprob is None:
                return None
            return math.exp(tok.constrained_logprob)
        position = end
    return None


def _new_values(item: dict[str, Any], calls: Sequence[ToolCall], tool: Tool, source: str) -> bool:
    """Whether a further call states a value that no earlier call gave: a string, list or number no call used, or a
    number no call of the same tool gave that argument ("a = 1, b = 2, c = 1" after calls that used 1 and 2 for other
    coefficients), as long as the calls then use it no more often than ``source`` states it (not ``mass=15,
    volume=15`` after ``mass=45, volume=15`` for "45 kg in 15 m3"). Not a flipped flag, not values moved to other
    arguments (London -> Edinburgh, then Edinburgh -> London), and not an enum member the request does not state
    (route "Scenic" after "Shortest")."""
    used = {_value_key(v) for c in calls for v in c.arguments.values()}
    used |= {_value_key(str(v)) for c in calls for v in c.arguments.values() if _is_number(v)}  # "2019" after 2019
    numbers = [v for args in [*(c.arguments for c in calls), item["arguments"]] for v in args.values() if _is_number(v)]
    same_tool = [c for c in calls if c.name == item["name"]]
    props = tool.parameters.get("properties", {})
    if any(_only_adds_optional(item["arguments"], c.arguments, tool) for c in same_tool):
        return False
    for name, value in item["arguments"].items():
        if isinstance(value, bool) or not isinstance(value, str | int | float | list):
            continue
        if isinstance(value, list) and any(_within(value, c.arguments.get(name)) for c in same_tool):
            continue  # part of an earlier call's list (["Dow Jones"] after ["S&P 500", "Dow Jones"])
        if isinstance(value, str) and not REFERENCE.match(value) and not _stated_whole(value, name, same_tool, source):
            continue  # "Luxury Museum" after "Louvre Museum", "Lakers" after "Los Angeles Lakers"
        spec = props.get(name, {}) if isinstance(props, dict) else {}
        own_member = isinstance(spec, dict) and "enum" in spec and not spec.get("x-sources")  # not a source's value
        if own_member and not enum_member_stated(value, source):
            continue
        if isinstance(value, int | float) and sum(n == value for n in numbers) > times_stated(value, source):
            continue  # a number the request does not state (a 0 for "from rest"), or not this often
        if _value_key(value) not in used:
            return True
        if (
            isinstance(value, int | float)
            and same_tool
            and all(_value_key(c.arguments.get(name)) != _value_key(value) for c in same_tool)
        ):
            return True
    return False


def _only_adds_optional(arguments: dict[str, Any], earlier: dict[str, Any], tool: Tool) -> bool:
    """Whether ``arguments`` is ``earlier`` with optional arguments added that ``earlier`` left out (``format=
    "percentage"`` on the same two species): the same part of the request, spelled out differently."""
    required = set(tool.parameters.get("required", []) or [])
    added = set(arguments) - set(earlier)
    return bool(added) and not added & required and all(_value_key(arguments.get(k)) == _value_key(v) for k, v in earlier.items())


def _stated_whole(value: str, name: str, same_tool: Sequence[ToolCall], source: str) -> bool:
    """Whether the string ``value`` of argument ``name`` is a value of its own that ``source`` states: every word
    of it stated, and not a part of what an earlier call of the same tool gave ``name`` where ``source`` states that
    earlier value as written ("Lakers" after "Los Angeles Lakers"; "Ben" after a joined "Ana Ben" is new)."""
    if not is_grounded_string(value, source, min_overlap=1.0):
        return False
    words_of, said = set(_norm_words(value)), " " + " ".join(_norm_words(source)) + " "
    return not any(
        isinstance(c.arguments.get(name), str)
        and words_of < set(_norm_words(c.arguments[name]))
        and f" {' '.join(_norm_words(c.arguments[name]))} " in said
        for c in same_tool
    )


def _norm_words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.casefold())


def _within(value: list[Any], earlier: Any) -> bool:
    """Whether every item of ``value`` is an item of the list ``earlier``."""
    return isinstance(earlier, list) and {_value_key(v) for v in value} <= {_value_key(v) for v in earlier}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sloppy_lookup(item: dict[str, Any], by_name: dict[str, Tool], names: Sequence[str]) -> bool:
    """Whether ``item`` is a read-only call whose string value holds one of ``names`` (the names a lookup has still to
    find) inside other text: ``search_emails(query="Ana: the meeting moved to 3pm")``, ``find_contact(name="Ana and
    David")``. Such a call finds nothing, or the wrong record."""
    tool = by_name.get(item["name"])
    if tool is None or tool.effects - {Effect.READ}:
        return False
    for value in item["arguments"].values():
        if not isinstance(value, str) or REFERENCE.match(value):
            continue
        tokens = re.findall(r"[\w'-]+", value)
        if all(t[:1].isupper() for t in tokens):
            continue  # a name as a whole ("Ana Souza")
        if any(n.casefold() in {t.casefold() for t in tokens} for n in names):
            return True
    return False


def _two_names(item: dict[str, Any], by_name: dict[str, Tool], names: Sequence[str]) -> bool:
    """Whether ``item`` is a read-only call whose one string value holds two of the names the request states
    (``search_emails(query="Ana and David")``): it finds neither, or whatever else matches the joining words."""
    tool = by_name.get(item["name"])
    if tool is None or tool.effects - {Effect.READ}:
        return False
    for value in item["arguments"].values():
        if isinstance(value, str) and re.search(r"\b(and|or)\b|[&+]", value, re.IGNORECASE):  # "Ana and David"; not
            # "Los Angeles, CA" (a comma also separates a place from its region)
            tokens = {t.casefold() for t in re.findall(r"[\w'-]+", value)}  # not "Europe/Paris": one name
            if sum(n.casefold() in tokens for n in dict.fromkeys(names)) >= 2:
                return True
    return False


_CREATING = re.compile(r"^(add|create|new|save|make|send|write|schedule|book|post|record)([_.\-]|$)", re.IGNORECASE)


def _creates(tool: Tool) -> bool:
    """Whether ``tool`` makes something new (``add_note``, ``create_event``, ``send_email``): its label is the one
    the request gives ("titled Books"), unlike a rename or an update, whose request names the old label too."""
    return bool(tool.effects - {Effect.READ}) and bool(_CREATING.match(tool.name))


_PERSON_FIELD = re.compile(r"(^|_)(name|person|contact|user|username|who|recipient)$")


def _enum_members(tool: Tool) -> set[str]:
    """The members of the enums of ``tool``'s top-level fields, casefolded."""
    props = tool.parameters.get("properties", {})
    return {str(m).casefold() for spec in props.values() if isinstance(spec, dict) for m in spec.get("enum", []) or []}


def _leading(name: str) -> str:
    """The leading word of a tool name: ``delete_note`` -> "delete"."""
    parts = [p for p in re.split(r"[_.\-]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()) if p]
    return parts[0] if parts else ""


def _waits_for_ids(tool: Tool, fields: Sequence[str]) -> bool:
    """Whether every field ``tool`` lacks is an id (a record's number, found by the tool of that record's kind)."""
    props = tool.parameters.get("properties", {})
    return bool(fields) and all(field_kind(f, props.get(f, {})) == "id" for f in fields)


def _same_values_again(
    item: dict[str, Any], by_name: dict[str, Tool], executed: Sequence[tuple[int, ToolCall, ToolCall]], said: set[str]
) -> bool:
    """Whether ``item`` is a read-only call, not of a tool the request names that has still to run, whose every value
    an earlier call of this run already used: ``search_emails(query="Hugo")`` after ``find_contact(name="Hugo")``
    found nobody."""
    tool = by_name.get(item["name"])
    if tool is None or tool.effects - {Effect.READ} or not item["arguments"]:
        return False
    ran = {actual.name for _, _, actual in executed}
    if tool.name not in ran and name_words(tool.name) & said:
        return False
    used = {_value_key(v) for _, _, actual in executed for v in actual.arguments.values()}
    return all(_value_key(v) in used for v in item["arguments"].values())


def _near_repeat(name: str, arguments: dict[str, Any], reads: Sequence[tuple[int, ToolCall]]) -> int | None:
    """The task id of a read in ``reads`` of the same tool whose values equal these, or hold the same words but for
    some added or left out ("Ana" and "Ana Souza"); None when there is none."""
    for task_id, ran in reads:
        if ran.name != name or set(ran.arguments) != set(arguments) or not arguments:
            continue
        if all(_same_or_nested(arguments[k], ran.arguments[k]) for k in arguments):
            return task_id
    return None


def _same_or_nested(a: Any, b: Any) -> bool:
    if a == b:
        return True
    if not (isinstance(a, str) and isinstance(b, str)):
        return False
    wa, wb = set(re.findall(r"\w+", a.casefold())), set(re.findall(r"\w+", b.casefold()))
    return bool(wa) and bool(wb) and (wa <= wb or wb <= wa)


def _writes(item: dict[str, Any], by_name: dict[str, Tool]) -> bool:
    tool = by_name.get(item["name"])
    return tool is not None and bool(tool.effects - {Effect.READ})


_TRAILING = ",;:"


def _trimmed(arguments: dict[str, Any], tool: Tool) -> dict[str, Any]:
    """``arguments`` with the list punctuation a copy from the request carried along removed from short values that
    are not free text: "What's the weather in Paris, Rome and Berlin?" gives ``city="Paris,"``, which no tool knows."""
    props = tool.parameters.get("properties", {})
    out = dict(arguments)
    for name, value in arguments.items():
        spec = props.get(name) if isinstance(props, dict) else None
        if not isinstance(value, str) or not isinstance(spec, dict) or spec.get("x-free-text") or "enum" in spec:
            continue
        trimmed = value.strip().rstrip(_TRAILING).rstrip()
        if trimmed and trimmed != value and len(trimmed.split()) <= 6:
            out[name] = trimmed
    return out


def name_lookups(reads: Sequence[Tool], sources: Sources, ran: Sequence[ToolCall] = ()) -> list[Tool]:
    """The read-only tools as a lookup for a missing identifier offers them: each string field that takes a name
    (not an identifier, not from a fixed list) limited to the names the request states that no result mentions yet
    ("Email Ana: ..." looks up ``Ana``, not "Ana: the meeting moved to 3pm"); tools without such a field are left out,
    and where some tools' field is a person's name field (``name``, ``contact``, ``user``), only those are offered (none
    once they have all tried the name: "Add a contact named Hugo" then asks for the address).
    A name a tool was already called with in this run (``ran``) is not offered to it again. Empty when every name the
    request states is already in a result."""
    names = unlinked_names(sources)
    person = [t for t in reads if any(_PERSON_FIELD.search(n) for n in t.parameters.get("required", []))]
    return value_lookups(person or reads, names, ran)  # a person's name goes to a name field, not a query or a city


def value_lookups(reads: Sequence[Tool], names: Sequence[str], ran: Sequence[ToolCall] = ()) -> list[Tool]:
    """The read-only tools with one required field, a string that takes a name or a word (not an identifier, not from
    a fixed list), that field limited to ``names`` less those the tool already ran with (``ran``)."""
    if not names:
        return []
    out: list[Tool] = []
    for t in reads:
        props = t.parameters.get("properties", {})
        required = t.parameters.get("required", [])
        takes = [
            n
            for n in required
            if isinstance(props.get(n), dict)
            and props[n].get("type") == "string"
            and "enum" not in props[n]
            and field_kind(n, props[n]) not in ("email", "url", "path", "date", "time", "phone", "id", "identifier")
        ]
        if len(takes) != 1 or len(required) != 1:
            continue
        tried = {str(c.arguments.get(takes[0], "")).casefold() for c in ran if c.name == t.name}
        left = [n for n in names if n.casefold() not in tried]
        if not left:
            continue
        spec = {k: v for k, v in props[takes[0]].items() if k in ("description", "type")}
        out.append(replace(t, parameters={**t.parameters, "properties": {**props, takes[0]: {**spec, "enum": left}}}))
    return out


def _value_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str).lower()


def _point(value: Any, position_ids: dict[int, int]) -> Any:
    """Re-point ``$N`` (a position in the decoded list) to run-wide task ids; unknown positions to ``$0``."""
    if isinstance(value, str):
        match = REFERENCE.match(value)
        if match:
            return f"${position_ids.get(int(match.group(1)), 0)}{match.group(2)}"
        return value
    if isinstance(value, dict):
        return {k: _point(v, position_ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_point(v, position_ids) for v in value]
    return value
