"""Synthetic planner records from tools: varied requests with argument values, built from templates.

A **catalog entry** is a tool plus how people ask for it::

    {"tool": {"name": ..., "description": ..., "parameters": {...JSON Schema...}},
     "values": {"param": [value, {"value": V, "text": "surface form"}, ...]},
     "requests": ["... {param} ... {other} ..."],
     "missing": ["a request that leaves out a required value"]}

The target of a request holds exactly the parameters whose ``{slots}`` appear in its template, so
every value the model must write is in the request (what argument grounding checks at run time).
Tools without templates (any registry) get generic templates from their names and schemas
(:func:`entry_for_tool`). :func:`synthesize` mixes the kinds a small model must learn:

* ``single`` — one tool offered, one call;
* ``choice`` — the tool among 1-4 others, one call to the right one;
* ``parallel`` — two requests in one message, two calls;
* ``irrelevant`` — only tools from other domains offered: ``[]``;
* ``missing`` — the tool offered but a required value absent from the request: ``[]``.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from agentslm.records import DatasetError, RecordCall, RecordTool, TrainingRecord

__all__ = ["CHAINS_FILE", "CatalogEntry", "DEFAULT_MIX", "entry_for_tool", "load_catalog", "synthesize", "template_slots"]

DEFAULT_MIX: dict[str, float] = {"single": 0.25, "choice": 0.35, "parallel": 0.1, "irrelevant": 0.18, "missing": 0.12}
"""Share of each record kind in :func:`synthesize`."""

_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def template_slots(template: str) -> list[str]:
    """The ``{slot}`` names of a request template, in order."""
    return _SLOT.findall(template)


@dataclass
class CatalogEntry:
    tool: RecordTool
    values: dict[str, list[Any]]
    requests: list[str]
    missing: list[str] = field(default_factory=list)
    domain: str = ""
    """Where the entry came from (a catalog file's stem); irrelevant examples offer tools of other domains."""


def _surface(item: Any) -> tuple[Any, str]:
    """(argument value, text in the request) of a pool item."""
    if isinstance(item, dict) and set(item) == {"value", "text"}:
        return item["value"], str(item["text"])
    if isinstance(item, bool) or isinstance(item, (list, dict)):
        raise ValueError(f"{item!r} needs the {{'value': ..., 'text': ...}} form")
    return item, str(item)


def _check_entry(entry: CatalogEntry, where: str) -> None:  # noqa: C901 - complexity exception, issue 22
    props: dict[str, Any] = entry.tool.parameters.get("properties", {})
    required = set(entry.tool.parameters.get("required", []))
    try:
        jsonschema.Draft202012Validator.check_schema(entry.tool.parameters)
    except jsonschema.SchemaError as exc:
        raise DatasetError(f"{where}: tool {entry.tool.name!r} has an invalid parameters schema: {exc.message}") from None
    if not entry.requests:
        raise DatasetError(f"{where}: tool {entry.tool.name!r} has no request templates.")
    for template in entry.requests + entry.missing:
        slots = template_slots(template)
        unknown = [s for s in slots if s not in props]
        if unknown:
            raise DatasetError(f"{where}: template {template!r} uses unknown slot(s) {unknown} (not parameters).")
        if len(set(slots)) != len(slots):
            raise DatasetError(f"{where}: template {template!r} repeats a slot.")
        if template.count("{") != len(slots) or template.count("}") != len(slots):
            raise DatasetError(f"{where}: template {template!r} has braces that are not slots.")
        lacking = [s for s in slots if s not in entry.values]
        if lacking:
            raise DatasetError(f"{where}: tool {entry.tool.name!r} has no value pool for {lacking}.")
    for template in entry.requests:
        absent = required - set(template_slots(template))
        if absent:
            raise DatasetError(f"{where}: request {template!r} lacks required parameter(s) {sorted(absent)}.")
    for template in entry.missing:
        if required <= set(template_slots(template)):
            raise DatasetError(f"{where}: 'missing' template {template!r} has every required value.")
    for name, pool in entry.values.items():
        if name not in props:
            raise DatasetError(f"{where}: value pool {name!r} is not a parameter of {entry.tool.name!r}.")
        for item in pool:
            try:
                value, _ = _surface(item)
                jsonschema.validate({name: value}, {"type": "object", "properties": {name: props[name]}})
            except (ValueError, jsonschema.ValidationError) as exc:
                msg = exc.message if isinstance(exc, jsonschema.ValidationError) else str(exc)
                raise DatasetError(f"{where}: value {item!r} of {entry.tool.name}.{name}: {msg}") from None


CHAINS_FILE = "chains.json"
"""The multi-round chains (:mod:`agentslm.finetune.rounds`) live in the catalog folder under this name; a folder scan
skips it (it is not a list of catalog entries)."""


def load_catalog(paths: Iterable[str | os.PathLike[str]]) -> list[CatalogEntry]:
    """Catalog entries from JSON files (each a list of entries) or folders of them (less :data:`CHAINS_FILE`); every
    entry is checked (slots, required values, value types) and errors name the file and entry."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.glob("*.json") if f.name != CHAINS_FILE)
        elif p.is_file():
            files.append(p)
        else:
            raise DatasetError(f"No catalog file or folder at {str(p)!r}.")
    entries: list[CatalogEntry] = []
    names: dict[str, str] = {}
    for path in files:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg}).") from None
        if not isinstance(data, list):
            raise DatasetError(f"{path}: a catalog file is a JSON list of entries.")
        for i, raw in enumerate(data):
            where = f"{path} entry {i}"
            try:
                entry = CatalogEntry(
                    tool=RecordTool.model_validate(raw["tool"]),
                    values={k: list(v) for k, v in raw.get("values", {}).items()},
                    requests=list(raw["requests"]),
                    missing=list(raw.get("missing", [])),
                    domain=path.stem,
                )
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{where}: needs 'tool' and 'requests' ({exc}).") from None
            if entry.tool.name in names:
                raise DatasetError(f"{where}: tool {entry.tool.name!r} is also defined in {names[entry.tool.name]}.")
            names[entry.tool.name] = where
            _check_entry(entry, where)
            entries.append(entry)
    return entries


# -- generic templates for tools without a catalog entry ----------------------------------------------------

_WORDS = {
    "city": ["Lisbon", "Osaka", "Nairobi", "Denver", "Krakow", "Montevideo"],
    "location": ["Lisbon", "Osaka", "Nairobi", "Denver", "Krakow", "Montevideo"],
    "country": ["Portugal", "Japan", "Kenya", "Chile", "Norway", "Vietnam"],
    "name": ["Amara Okafor", "Lars Eriksen", "Mei Lin", "Diego Rojas", "Fatima Zahra", "Tom Becker"],
    "email": ["amara@example.org", "lars.e@example.com", "mei.lin@example.net", "diego@example.io"],
    "date": ["2026-12-03", "2027-01-15", "2027-03-09", "2026-11-30"],
    "time": ["09:30", "14:00", "18:15", "07:45"],
    "query": ["solar panels", "vegan lasagna", "used bikes", "jazz concerts", "tax forms"],
    "title": ["Quarterly plan", "Garden ideas", "Trip checklist", "Reading notes"],
    "text": ["call the plumber", "buy oat milk", "send the slides", "water the plants"],
    "language": ["French", "German", "Japanese", "Spanish"],
    "currency": ["EUR", "USD", "JPY", "GBP"],
    "unit": ["meters", "kilograms", "celsius", "miles"],
}


def _pool_for(name: str, schema: Mapping[str, Any], rng: random.Random) -> list[Any]:
    if "enum" in schema:
        return list(schema["enum"])
    kind = schema.get("type")
    if kind == "integer":
        lo = int(schema.get("minimum", 1))
        hi = int(schema.get("maximum", max(lo + 10, 500)))
        return rng.sample(range(lo, hi + 1), min(6, hi - lo + 1))
    if kind == "number":
        return [round(rng.uniform(0.5, 900), rng.choice([0, 1, 2])) for _ in range(6)]
    if kind == "boolean":
        words = name.replace("_", " ")
        return [{"value": True, "text": f"with {words}"}, {"value": False, "text": f"without {words}"}]
    if kind == "string" or kind is None:
        key = next((k for k in _WORDS if k in name.lower()), None)
        if key is not None:
            return list(_WORDS[key])
        return [f"{w}-{rng.randint(10, 99)}" for w in rng.sample(["alpha", "delta", "orion", "maple", "cobalt", "river"], 4)]
    return []


def entry_for_tool(tool: RecordTool, *, seed: int = 0) -> CatalogEntry:
    """A catalog entry with generic templates for a tool that has none (strings get plausible values by
    parameter name; arrays and objects are left to optional slots the templates do not use)."""
    rng = random.Random(f"{seed}:{tool.name}")
    props: dict[str, Any] = tool.parameters.get("properties", {})
    required: list[str] = list(tool.parameters.get("required", []))
    values = {p: pool for p, s in props.items() if (pool := _pool_for(p, s, rng))}
    usable_required = [p for p in required if p in values]
    if len(usable_required) != len(required):
        raise DatasetError(
            f"tool {tool.name!r}: cannot make generic values for required parameter(s) "
            f"{sorted(set(required) - set(usable_required))}.",
            hint="add a catalog entry with value pools for it.",
        )
    optional = [p for p in props if p in values and p not in required]
    action = tool.description.rstrip(".") if tool.description else tool.name.replace("_", " ").replace(".", " ")

    def phrase(params: Sequence[str]) -> str:
        parts = [f"{p.replace('_', ' ')} {{{p}}}" for p in params]
        return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1] if parts else ""

    requests = []
    for extra in ([], optional[:1], optional[:2]):
        params = usable_required + [p for p in extra if p not in usable_required]
        with_ = phrase(params)
        requests.append(f"{action} with {with_}." if with_ else f"{action}.")
        requests.append(f"Please {action[:1].lower() + action[1:]} for {with_}." if with_ else f"Please {action.lower()}.")
    missing = []
    if required:
        rest = [p for p in usable_required[1:]]
        missing.append(f"{action} with {phrase(rest)}." if rest else f"{action}.")
    return CatalogEntry(tool=tool, values=values, requests=sorted(set(requests)), missing=missing, domain="registry")


# -- generation ---------------------------------------------------------------------------------------------

_JOINERS = [" Also, ", " And ", " Then ", " After that, ", " Plus, "]


def _fill(template: str, entry: CatalogEntry, rng: random.Random) -> tuple[str, dict[str, Any]]:
    arguments: dict[str, Any] = {}

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        value, text = _surface(rng.choice(entry.values[name]))
        arguments[name] = value
        return text

    return _SLOT.sub(sub, template), arguments


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:2] != text[:2].upper() else text


def _vary(text: str, rng: random.Random) -> str:
    """Light surface variation: sometimes lowercase start or drop the final period."""
    r = rng.random()
    if r < 0.1:
        text = _lower_first(text)
    elif r < 0.2 and text.endswith("."):
        text = text[:-1]
    return text


def _pick_others(entries: Sequence[CatalogEntry], exclude: set[str], n: int, rng: random.Random) -> list[CatalogEntry]:
    pool = [e for e in entries if e.tool.name not in exclude]
    return rng.sample(pool, min(n, len(pool)))


def synthesize(
    entries: Sequence[CatalogEntry],
    n: int,
    *,
    seed: int = 0,
    mix: Mapping[str, float] | None = None,
    distractors: Sequence[CatalogEntry] | None = None,
    max_tools: int = 5,
) -> list[TrainingRecord]:
    """``n`` planner records whose targets call tools of ``entries``; ``distractors`` (default: ``entries``)
    are the other tools offered. Deterministic for a given seed."""
    if not entries:
        raise DatasetError("No tools to synthesize examples for.", hint="pass a catalog or a registry with tools.")
    shares = dict(mix or DEFAULT_MIX)
    unknown = set(shares) - set(DEFAULT_MIX)
    if unknown:
        raise DatasetError(f"Unknown record kind(s) {sorted(unknown)} in mix.", hint=f"use {sorted(DEFAULT_MIX)}.")
    rng = random.Random(seed)
    others = list(distractors or entries)
    kinds = list(shares)
    weights = [shares[k] for k in kinds]
    records: list[TrainingRecord] = []
    attempts = 0
    while len(records) < n and attempts < n * 20:
        attempts += 1
        kind = rng.choices(kinds, weights)[0]
        entry = rng.choice(entries)
        record = _make(kind, entry, entries, others, rng, max_tools)
        if record is not None:
            records.append(record)
    return records


def _record(
    kind: str, request: str, offered: list[CatalogEntry], calls: list[RecordCall], rng: random.Random, source: CatalogEntry
) -> TrainingRecord:
    rng.shuffle(offered)
    return TrainingRecord(
        role="planner",
        tools=[e.tool for e in offered],
        messages=[{"role": "user", "content": request}],
        target_calls=calls,
        source="synthetic",
        kind=kind,
        meta={"request_tool": source.tool.name, "domain": source.domain},
    )


def _make(
    kind: str,
    entry: CatalogEntry,
    entries: Sequence[CatalogEntry],
    others: Sequence[CatalogEntry],
    rng: random.Random,
    max_tools: int,
) -> TrainingRecord | None:
    name = entry.tool.name
    if kind == "single":
        text, args = _fill(rng.choice(entry.requests), entry, rng)
        return _record(kind, _vary(text, rng), [entry], [RecordCall(name=name, arguments=args)], rng, entry)
    if kind == "choice":
        text, args = _fill(rng.choice(entry.requests), entry, rng)
        offered = [entry, *_pick_others(others, {name}, rng.randint(1, max_tools - 1), rng)]
        return _record(kind, _vary(text, rng), offered, [RecordCall(name=name, arguments=args)], rng, entry)
    if kind == "parallel":
        second = entry if rng.random() < 0.4 else rng.choice(entries)
        t1, a1 = _fill(rng.choice(entry.requests), entry, rng)
        t2, a2 = _fill(rng.choice(second.requests), second, rng)
        if second is entry and a1 == a2:
            return None
        text = t1.rstrip() + rng.choice(_JOINERS) + _lower_first(t2)
        offered = [entry] if second is entry else [entry, second]
        offered += _pick_others(others, {e.tool.name for e in offered}, rng.randint(0, max(0, max_tools - len(offered) - 1)), rng)
        calls = [RecordCall(name=name, arguments=a1), RecordCall(name=second.tool.name, arguments=a2)]
        return _record(kind, text, offered, calls, rng, entry)
    if kind == "irrelevant":
        text, _ = _fill(rng.choice(entry.requests), entry, rng)
        foreign = [e for e in others if e.domain != entry.domain and e.tool.name != name]
        if not foreign:
            return None
        offered = rng.sample(foreign, min(len(foreign), rng.randint(1, max_tools - 1)))
        return _record(kind, _vary(text, rng), offered, [], rng, entry)
    if kind == "missing":
        if not entry.missing:
            return None
        text, _ = _fill(rng.choice(entry.missing), entry, rng)
        offered = [entry, *_pick_others(others, {name}, rng.randint(0, 2), rng)]
        return _record(kind, _vary(text, rng), offered, [], rng, entry)
    raise DatasetError(f"Unknown record kind {kind!r}.")
