"""The summarizer: writes the final answer from the observations and says which results it used."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from agentslm.models.base import Message, Model
from agentslm.roles.answer_check import check_answer
from agentslm.roles.prompts import render_prompt
from agentslm.write_candidates import asked_fields

__all__ = ["ResultForAnswer", "Summarizer", "asked_values", "cited_results", "cut_repetition", "fit_results"]


@dataclass(frozen=True)
class ResultForAnswer:
    id: int
    call: str
    """The call as text, e.g. ``get_weather(city='Paris')``."""
    text: str
    """The tool's output as the model saw it."""
    ok: bool = True


def fit_results(results: Sequence[ResultForAnswer], max_chars: int) -> list[ResultForAnswer]:
    """``results`` with texts cut to an equal share of ``max_chars`` when together they are longer."""
    if sum(len(r.text) for r in results) <= max_chars or not results:
        return list(results)
    share = max(80, max_chars // len(results))
    out = []
    for r in results:
        if len(r.text) > share:
            marker = f"…[cut {len(r.text) - share} of {len(r.text)} chars]"
            r = ResultForAnswer(r.id, r.call, r.text[: max(0, share - len(marker))] + marker, r.ok)
        out.append(r)
    return out


_STOPWORDS = frozenset(
    "the and for with that this from are was were has have had not but you your our its his her their they them "
    "there here what which who how all any can will into about also than then been being one".split()
)
"""Words too common to show that an answer uses a result ("the" is in nearly every answer and many results)."""


def _words(text: str) -> set[str]:
    found = re.findall(r"[a-z0-9][a-z0-9.\-]*", text.lower())
    return {w for w in found if (len(w) > 2 or w.isdigit()) and w not in _STOPWORDS}


def _values(data: object) -> list[str]:
    if isinstance(data, dict):
        return [v for item in data.values() for v in _values(item)]
    if isinstance(data, list):
        return [v for item in data for v in _values(item)]
    return [] if data is None or isinstance(data, bool) else [str(data)]


def _content_words(text: str) -> set[str]:
    """Distinctive words of a tool result: of its values only when it is JSON (field names like "text" or "id"
    are not content, and an answer that merely repeats them uses nothing)."""
    try:
        data = json.loads(text)
    except ValueError:
        return _words(text)
    return _words(" ".join(_values(data)))


def cut_repetition(text: str) -> str:
    """``text`` up to where a line or sentence (over 10 characters) starts repeating: a small model's loop."""
    seen: set[str] = set()
    position = 0
    for piece in re.split(r"(?<=[^\d\s][.!?:])\s+|\n+", text):
        key = " ".join(piece.lower().split())
        start = text.find(piece, position)
        if len(key) > 10 and key in seen:
            return text[:start].rstrip()
        seen.add(key)
        position = start + len(piece) if start >= 0 else position
    return text


def asked_values(request: str, results: Sequence[ResultForAnswer]) -> list[str]:
    """The values of the result fields the request asks for by name ("What are the email addresses of Ana and Ben?"
    asks for the ``email`` fields; "Ben's phone number" for ``phone``), from the results that succeeded."""
    found: list[str] = []
    for r in results:
        if not r.ok:
            continue
        try:
            data = json.loads(r.text)
        except ValueError:
            continue
        found += asked_fields(request, data)
    return list(dict.fromkeys(found))


def cited_results(answer: str, results: Sequence[ResultForAnswer]) -> list[int]:
    """Ids of the results the answer uses: cited as ``[n]`` or sharing distinctive words/numbers with it."""
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", answer)}
    words = _words(answer)
    for r in results:
        content = _content_words(r.text) - _words(r.call.split("(", 1)[0])
        if content and words & content:
            cited.add(r.id)
    return sorted(i for i in cited if any(r.id == i for r in results))


class Summarizer:
    """Answers from tool results with ``model`` (plain text, a short token budget)."""

    def __init__(self, model: Model, *, max_tokens: int = 96) -> None:
        self.model = model
        self.max_tokens = max_tokens

    def messages(self, request: str, results: Sequence[ResultForAnswer]) -> list[Message]:
        """System instructions, the user's request, the calls made, and the results in a ``tool`` message.
        Tool output is never placed in the system or user role (it is untrusted data)."""
        system = render_prompt("summarizer")
        calls = "<tool_call>" + "; ".join(r.call for r in results) + "</tool_call>"
        observed = "\n".join(f"[{r.id}] {r.call} -> {r.text}" for r in results)
        return [
            {"role": "system", "content": system},
            {"role": "user", "content": request},
            {"role": "assistant", "content": calls},
            {"role": "tool", "content": observed},
            # the request restated after the results: the 135M model answers the question instead of continuing
            # the tool text (docs/benchmarks/summarizer-v2: own answers 72 % -> 88 %, injected text echoed 19 -> 13 of 43)
            {"role": "user", "content": f"Answer from the tool results: {request}"},
        ]

    def answer(self, request: str, results: Sequence[ResultForAnswer]) -> tuple[str, list[int]]:
        """The answer text and the ids of the results it used (see :meth:`checked_answer`)."""
        text, cited, _ = self.checked_answer(request, results)
        return text, cited

    def checked_answer(self, request: str, results: Sequence[ResultForAnswer]) -> tuple[str, list[int], list[str]]:
        """The answer text, the ids of the results it used, and what the answer check found in the model's text.
        Falls back to listing the results when the model's text is empty, uses none of them, leaves out a value the
        request asks for by its field's name (:func:`asked_values`), or states something they do not support (:func:`~agentslm.roles.answer_check.check_answer`): the answer always rests on the
        observations."""
        text = ""
        if results:
            gen = self.model.generate(self.messages(request, results), max_tokens=self.max_tokens)
            text = cut_repetition(gen.text.strip())
        cited = cited_results(text, results)
        problems = check_answer(text, [r.text for r in results], supporting=[request, *(r.call for r in results)]).problems
        omitted = [v for v in asked_values(request, results) if v.casefold() not in text.casefold()]
        if omitted:
            problems = [*problems, *(f"the answer leaves out {v!r}, which the request asks for" for v in omitted)]
        if not text or not cited or problems:
            text = "; ".join(f"{r.call} -> {r.text}" for r in results) if results else text
            cited = [r.id for r in results]
        return text, cited, problems
