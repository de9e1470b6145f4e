"""The answer check: a summary may state only what the tool results (or the request and the calls) support.

A small model paraphrasing results sometimes states a value that is not in them: "mostly sunny" for a result
that says "cloudy", 21 °C for 18, "Yes" for ``false``. The check finds, in the answer text:

- **numbers** that match no number of the results, the calls or the request (an answer may round: 18.33 → 18.3);
- **named values** from closed vocabularies (weather, units, weekdays, months, on/off-like states) that the
  supporting text does not contain — "sunny" when the result says "cloudy";
- **names** (capitalised words inside a sentence) that appear nowhere in the supporting text;
- **yes/no** openings that contradict the one boolean the results hold;
- call markup (``<tool_call>``): the model restating its calls instead of answering.

Anything it finds makes the answer unsupported; the summarizer then answers with the results themselves.
The check is deliberately strict: a replaced paraphrase costs style, a contradiction costs the user's trust.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = ["AnswerCheck", "VALUE_CLASSES", "check_answer"]

VALUE_CLASSES: dict[str, frozenset[str]] = {
    "weather": frozenset(
        "sunny sun cloudy clouds cloud overcast clear rain rainy raining showers drizzle snow snowy snowing storm "
        "stormy thunderstorm thunderstorms fog foggy mist misty windy hail sleet humid".split()
    ),
    "temperature unit": frozenset("celsius fahrenheit kelvin °c °f".split()),
    "distance unit": frozenset("km kilometer kilometers kilometre kilometres mile miles meter meters metre metres".split()),
    "mass unit": frozenset("kg kilogram kilograms pound pounds lb lbs gram grams ounce ounces".split()),
    "weekday": frozenset("monday tuesday wednesday thursday friday saturday sunday".split()),
    "month": frozenset(
        "january february march april june july august september october november december".split()  # not "may"
    ),
    "state": frozenset(
        "open closed opened enabled disabled active inactive pending done completed cancelled canceled failed "
        "succeeded available unavailable online offline".split()
    ),
}
_CLASS_OF = {word: name for name, words in VALUE_CLASSES.items() for word in words}
_SYMBOLS = {"°c": "celsius", "°f": "fahrenheit"}


def _stem(word: str) -> str:
    """cloudy/clouds/cloud -> cloud, sunny -> sun, rainy -> rain, °c -> celsius: one form per named value."""
    word = _SYMBOLS.get(word, word)
    for suffix in ("ing", "s", "y"):
        if len(word) > 4 and word.endswith(suffix):
            word = word[: -len(suffix)]
    if len(word) > 3 and word[-1] == word[-2]:
        word = word[:-1]
    return word


_NUMBER = re.compile(r"(?<![\d.])(-?)(\d+(?:\.\d+)?)")
_CITATION = re.compile(r"\[\d+\]")
_WORD = re.compile(r"°[cf]\b|[^\W\d_](?:[\w\-]|['\u2019](?=\w))*", re.IGNORECASE)  # it's: one word; 'Friday': Friday
# capitalised words that are not names: sentence openers and the answer's own phrasing
_NOT_NAMES = frozenset(
    "i i'm i've i'll ok okay yes no note notes the it its this that there here today tomorrow yesterday utc gmt am pm".split()
)
_YES = re.compile(r"^\s*(yes|yeah|yep|correct|true)\b", re.IGNORECASE)
_NO = re.compile(r"^\s*(no|nope|false|not)\b", re.IGNORECASE)


@dataclass(frozen=True, kw_only=True)
class AnswerCheck:
    """What the check found in one answer."""

    problems: list[str] = field(default_factory=list)
    """Each unsupported claim, e.g. ``"'sunny' (weather) is in no result"``."""

    @property
    def supported(self) -> bool:
        return not self.problems


def _numbers(text: str) -> list[str]:
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", _CITATION.sub(" ", text))  # 1,000 -> 1000
    found = []
    for match in _NUMBER.finditer(text):
        sign, digits = match.groups()
        before = text[match.start() - 1] if match.start() else " "
        found.append(digits if before.isalnum() else sign + digits)  # 2026-12-06: a date, not minus twelve
    return found


def _close(stated: str, known: float) -> bool:
    """``stated`` equals ``known`` up to the precision it was written with (rounding allowed, not truncation of sign)."""
    value = float(stated)
    decimals = len(stated.split(".", 1)[1]) if "." in stated else 0
    return abs(value - known) <= 0.5 * 10**-decimals + 1e-9


def _leaves(data: object) -> Iterable[object]:
    if isinstance(data, dict):
        for value in data.values():
            yield from _leaves(value)
    elif isinstance(data, list):
        for value in data:
            yield from _leaves(value)
    else:
        yield data


def _booleans(results: Sequence[str]) -> list[bool]:
    found: list[bool] = []
    for text in results:
        try:
            data = json.loads(text)
        except ValueError:
            continue
        found += [v for v in _leaves(data) if isinstance(v, bool)]
    return found


def check_answer(answer: str, results: Sequence[str], *, supporting: Sequence[str] = ()) -> AnswerCheck:
    """Check ``answer`` against the tool ``results`` (their text as the model saw it); ``supporting`` adds text the
    answer may also restate (the request, the calls)."""
    support = " ".join([*results, *supporting])
    support_lower = support.lower()
    support_words = {w.lower() for w in _WORD.findall(support)}
    known = [float(n) for n in _numbers(support)]
    problems: list[str] = []
    if re.search(r"</?tool_call>", answer):
        problems.append("the answer repeats the calls instead of answering")
    for stated in dict.fromkeys(_numbers(answer)):
        if not any(_close(stated, k) for k in known):
            problems.append(f"the number {stated} is in no result")
    words = _WORD.findall(_CITATION.sub(" ", answer))
    support_stems = {_stem(w) for w in support_words}
    for word in dict.fromkeys(w.lower() for w in words):
        cls = _CLASS_OF.get(word)
        if cls and _stem(word) not in support_stems:
            problems.append(f"{word!r} ({cls}) is in no result")
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n+", _CITATION.sub(" ", answer)):
        for word in _WORD.findall(sentence)[1:]:
            lower = word.lower()
            if (
                word[0].isupper()
                and lower not in _NOT_NAMES
                and lower not in _CLASS_OF
                and lower not in support_words
                and lower not in support_lower
            ):
                problems.append(f"the name {word!r} is in no result")
    booleans = _booleans(results)
    if len(booleans) == 1:
        if booleans[0] is False and _YES.match(answer):
            problems.append("the answer says yes; the result says false")
        elif booleans[0] is True and _NO.match(answer):
            problems.append("the answer says no; the result says true")
    return AnswerCheck(problems=list(dict.fromkeys(problems)))
