"""The answer check: the summary never states a value the results do not support."""

from __future__ import annotations

import pytest

from agentslm.roles.answer_check import check_answer
from agentslm.roles.summarizer import ResultForAnswer, Summarizer
from agentslm.testing import ScriptedModel

WEATHER = '{"city": "Paris", "temperature": 18, "unit": "celsius", "sky": "cloudy"}'
ASKED = ["What's the weather in Paris?", "get_weather(city='Paris')"]


@pytest.mark.parametrize(
    ("answer", "found"),
    [
        ("The weather in Paris is mostly sunny.", "'sunny' (weather)"),
        ("It is 21 degrees and cloudy in Paris.", "the number 21"),
        ("It is cloudy in London.", "the name 'London'"),
        ("It is 18 °F in Paris.", "'°f' (temperature unit)"),
    ],
)
def test_contradictions_are_found(answer: str, found: str) -> None:
    problems = check_answer(answer, [WEATHER], supporting=ASKED).problems
    assert len(problems) == 1 and problems[0].startswith(found)


@pytest.mark.parametrize(
    "answer",
    [
        "It is cloudy in Paris, 18°C.",
        "Paris: clouds, 18 degrees celsius [1].",
        "The weather in Paris is cloudy with a temperature of 18.0 degrees.",
    ],
)
def test_faithful_paraphrases_pass(answer: str) -> None:
    assert check_answer(answer, [WEATHER], supporting=ASKED).supported


def test_rounding_dates_and_booleans() -> None:
    assert check_answer("About 18.3 degrees.", ["18.333"]).supported
    assert not check_answer("About 18.4 degrees.", ["18.333"]).supported
    assert check_answer("Your meeting is on 2026-12-06 at 14:30.", ['{"start": "2026-12-06T14:30"}']).supported
    assert not check_answer("It is -5 degrees.", ["5"]).supported
    assert check_answer("It costs 1,250 EUR.", ['{"amount": 1250, "currency": "EUR"}']).supported
    assert check_answer("No, it is not open.", ['{"open": false}']).supported
    assert check_answer("Yes, it is open.", ['{"open": false}']).problems == ["the answer says yes; the result says false"]
    assert check_answer("No, it is not open.", ['{"open": true}']).problems == ["the answer says no; the result says true"]


def test_summarizer_replaces_an_unsupported_answer_with_the_results() -> None:
    results = [ResultForAnswer(1, "get_weather(city='Paris')", WEATHER)]
    model = ScriptedModel([], answers=["It is mostly sunny in Paris today."])
    text, cited, problems = Summarizer(model).checked_answer("What's the weather in Paris?", results)
    assert problems == ["'sunny' (weather) is in no result"]
    assert text == f"get_weather(city='Paris') -> {WEATHER}" and cited == [1]
    faithful = ScriptedModel([], answers=["It is cloudy in Paris, 18 degrees."])
    text, cited, problems = Summarizer(faithful).checked_answer("What's the weather in Paris?", results)
    assert (text, cited, problems) == ("It is cloudy in Paris, 18 degrees.", [1], [])


def test_restated_call_markup_is_not_an_answer() -> None:
    text = "<tool_call>get_weather(city='Paris')</tool_call>"
    assert check_answer(text, [WEATHER], supporting=ASKED).problems == ["the answer repeats the calls instead of answering"]


def test_quoted_call_arguments_are_not_names() -> None:
    answer = "convert_time(when='3pm', from_place='London', to_place='New York') -> Thu 15:00 in London is Thu 10:00 in New York"
    call = "convert_time(when='3pm', from_place='London', to_place='New York')"
    assert check_answer(answer, ["Thu 15:00 in London is Thu 10:00 in New York"], supporting=[call]).supported
    assert check_answer("It's cloudy in Paris.", [WEATHER]).supported
