from __future__ import annotations

import sys

from agentslm.bench.bfcl_checker import check_case, is_relevance_category, load_ast_checker
from agentslm.bench.bfcl_data import load_bfcl
from agentslm.step_types import ToolCall


def _first_answer(answer: list[dict]) -> list[ToolCall]:
    """One correct call per expected call: the first acceptable value of each argument given."""
    calls = []
    for item in answer:
        ((name, args),) = item.items()
        calls.append(ToolCall(name=name, arguments={k: v[0] for k, v in args.items() if v and v[0] != ""}))
    return calls


def test_checker_loads_through_the_shim_without_model_handlers() -> None:
    checker, language = load_ast_checker()
    assert callable(checker) and language.PYTHON
    shim = sys.modules["bfcl_eval.constants.model_config"]
    assert shim.MODEL_CONFIG_MAPPING["anything"].underscore_to_dot is False
    assert not any(name.startswith("bfcl_eval.model_handler") for name in sys.modules)


def test_official_checker_accepts_possible_answers_and_rejects_wrong_ones() -> None:
    for category in ("simple_python", "multiple", "parallel", "parallel_multiple", "live_simple"):
        case = load_bfcl(category, limit=3)[2]
        assert case.answer is not None
        good = _first_answer(case.answer)
        assert check_case(category, case.functions, good, case.answer).valid, (category, case.id)
        assert not check_case(category, case.functions, [], case.answer).valid
        assert not check_case(category, case.functions, None, case.answer).valid
        wrong = [ToolCall(name=good[0].name, arguments={k: "definitely wrong" for k in good[0].arguments}), *good[1:]]
        result = check_case(category, case.functions, wrong, case.answer)
        assert not result.valid and result.error_type


def test_relevance_categories_score_whether_a_call_was_made() -> None:
    assert is_relevance_category("irrelevance") and is_relevance_category("live_relevance")
    assert not is_relevance_category("simple_python")
    case = load_bfcl("irrelevance", limit=1)[0]
    call = [ToolCall(name=case.functions[0]["name"], arguments={})]
    assert check_case("irrelevance", case.functions, [], None).valid
    assert check_case("irrelevance", case.functions, None, None).valid  # no decodable call counts as no call (BFCL rule)
    assert not check_case("irrelevance", case.functions, call, None).valid
    assert check_case("live_relevance", case.functions, call, None).valid
    assert not check_case("live_relevance", case.functions, [], None).valid
