"""The retrieval benchmark's pieces: the pooled registry, recall@k, a real accuracy record, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentslm import UserError
from agentslm.bench.bfcl_data import BfclCase, load_bfcl
from agentslm.bench.retrieval import (
    RetrievalCase,
    bfcl_function_sets,
    bfcl_labelled_requests,
    bfcl_tool_pool,
    check_adapter_disjoint,
    cross_validated_recall,
    gold_names,
    load_retrieval_cases,
    measure_accuracy,
    measure_recall,
    retrieval_report,
)
from agentslm.retrieval import EmbeddingRetriever, HybridRetriever, LabelledRequest, LexicalRetriever, QueryAdapter

from ..retrieval.test_retrieval import catalog, needs_embedding


def test_pool_recall_accuracy_and_report(tmp_path: Path, embedded_model: Any) -> None:
    pool = bfcl_tool_pool()
    assert len(pool) > 500 and len({t.name for t in pool}) == len(pool)
    cases = load_retrieval_cases(["multiple"], limit=6, seed=0)
    assert all(c.gold == gold_names(c.case) and c.gold[0] in {t.name for t in pool} for c in cases)
    rows = measure_recall([LexicalRetriever()], pool, cases, [1, 10])
    by_k = {r["k"]: r["recall"] for r in rows}
    assert 0.0 <= by_k[1] <= by_k[10] <= 1.0 and by_k[10] > 0.5
    records = measure_accuracy(embedded_model, [LexicalRetriever()], pool, cases[:1], [3], out=tmp_path)
    assert [(r["retriever"], r["k"]) for r in records] == [("case", "case"), ("lexical", "3")]
    assert all(r["prompt_tokens"] > 100 and isinstance(r["valid"], bool) for r in records)
    again = measure_accuracy(embedded_model, [LexicalRetriever()], pool, cases[:1], [3], out=tmp_path)
    assert len(again) == 2  # resumed: nothing decoded twice
    # 60 pool tools do not fit the 4,096-token context: recorded as a failed case, the run goes on
    over = measure_accuracy(embedded_model, [LexicalRetriever()], pool, cases[:1], [3, 60], out=tmp_path)
    failed = [r for r in over if r["k"] == "60"]
    assert len(over) == 3 and len(failed) == 1 and failed[0]["valid"] is False and failed[0]["calls"] is None
    assert "exceed the context" in failed[0]["error"] and failed[0]["prompt_tokens"] > embedded_model.context_length
    again = [r for r in over if r["k"] != "60"]
    report = retrieval_report(tmp_path, rows, again, {"pool_tools": len(pool)}).read_text()
    assert "| lexical | multiple | 6 |" in report and "top-k of" in report
    assert (tmp_path / "recall.png").read_bytes()[:4] == b"\x89PNG"
    # the agreement setting "1/3": one tool when both rankings agree on the first (here they always do), else 3
    hybrid = HybridRetriever(LexicalRetriever(), LexicalAsEmbedding())  # type: ignore[arg-type]
    agreed = measure_accuracy(embedded_model, [hybrid], pool, cases[:1], [3], out=tmp_path / "agree", agreed_ks=(1, 3))
    by_k = {r["k"]: r for r in agreed if r["retriever"] == "hybrid"}
    assert set(by_k) == {"3", "1/3"} and by_k["1/3"]["agreed"] is True
    assert by_k["1/3"]["prompt_tokens"] < by_k["3"]["prompt_tokens"]


class LexicalAsEmbedding(LexicalRetriever):
    """Stands in for the embedding ranking (the pool's embedding index takes a minute to build on 2 cores)."""

    adapter = None


def test_tuning_requests_leave_out_the_scored_sample_and_the_bench_checks_it() -> None:
    scored = load_retrieval_cases(["multiple", "live_multiple"], limit=5, seed=0)
    requests, ids = bfcl_labelled_requests(rc.case.id for rc in scored)
    assert len(requests) == len(ids) > 1000
    assert not {rc.case.id for rc in scored} & set(ids)
    assert all(r.request and r.tools for r in requests)
    apps = bfcl_function_sets()  # --cv-grouped keeps the cases offering the same functions in one fold
    assert set(ids) <= set(apps) and len(set(apps.values())) < len(apps) / 2
    first = next(i for i, case_id in enumerate(ids) if case_id.startswith("multiple"))
    assert requests[first].tools == tuple(gold_names(next(c for c in load_bfcl("multiple") if c.id == ids[first])))
    clean = QueryAdapter(matrix=np.zeros((4, 4), dtype=np.float32), meta={"bfcl_training_cases": ids})
    check_adapter_disjoint(clean, scored)  # disjoint: no error
    leaky = QueryAdapter(matrix=np.zeros((4, 4), dtype=np.float32), meta={"bfcl_training_cases": [scored[2].case.id]})
    with pytest.raises(UserError, match="trained on 1 of the cases this benchmark scores") as info:
        check_adapter_disjoint(leaky, scored)
    assert "--bfcl-holdout" in str(info.value.hint)


JARGON = {  # house jargon the tools' docs never use, four requests each
    "send_email": [
        "ping Sam about the standup",
        "ping the landlord about the boiler",
        "ping my sister I land at six",
        "ping Alex that the report is done",
    ],
    "convert_currency": [
        "what's 40 quid in yen",
        "how many dollars is 12 quid",
        "12 quid in euros please",
        "is 300 quid a lot of rupees",
    ],
    "get_weather": [
        "brolly or not in Leeds",
        "brolly or not in Cork tomorrow",
        "brolly needed in Bergen?",
        "do I need a brolly in Oslo",
    ],
}


def jargon_cases() -> tuple[list[RetrievalCase], list[tuple[str, LabelledRequest]]]:
    cases: list[RetrievalCase] = []
    for tool, requests in JARGON.items():
        for i, text in enumerate(requests):
            case = BfclCase(id=f"{tool}-{i}", messages=[{"role": "user", "content": text}], functions=[])
            cases.append(RetrievalCase("jargon", case, [tool]))
    return cases, [(rc.case.id, LabelledRequest(rc.query, tuple(rc.gold))) for rc in cases]


@needs_embedding
def test_cross_validation_scores_each_case_with_an_adapter_that_never_saw_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    tools = list(catalog())
    cases, labelled = jargon_cases()
    embedding, lexical = EmbeddingRetriever(), LexicalRetriever()
    trained: list[int] = []

    def cv(folds: int, groups: dict[str, str] | None = None) -> dict[tuple[str, int], dict[str, Any]]:
        rows = cross_validated_recall(
            ["embedding-tuned", "hybrid-tuned"], tools, cases, labelled, [1, 3], folds=folds, seed=0,
            embedding=embedding, lexical=lexical, groups=groups,
            on_fold=lambda fold, adapter, seconds: trained.append(adapter.meta["requests"]),
        )  # fmt: skip
        return {(r["retriever"], r["k"]): r for r in rows}

    plain = cv(3)
    # three adapters, each trained on the two folds a case is not in: every case scored once, never by its own fold
    assert trained == [8, 8, 8] and all(r["cases"] == len(cases) for r in plain.values())
    untuned = {r["k"]: r["recall"] for r in measure_recall([embedding], tools, cases, [1, 3])}
    # other requests in the same jargon teach it: better than the untuned ranking on requests it never saw
    assert plain[("embedding-tuned (3-fold CV)", 1)]["recall"] > untuned[1] + 0.2, (plain, untuned)
    assert plain[("hybrid-tuned (3-fold CV)", 3)]["recall"] >= plain[("hybrid-tuned (3-fold CV)", 1)]["recall"]
    # grouped by tool, a tool's jargon is never in the training folds of its own cases: no such gain
    trained.clear()
    grouped = cv(3, groups={case_id: case_id.rsplit("-", 1)[0] for case_id, _ in labelled})
    assert trained == [8, 8, 8]
    assert grouped[("embedding-tuned (3-fold grouped CV)", 1)]["recall"] <= untuned[1] + 0.1, (grouped, untuned)
    # the tuned retrievers share the base one's encoder and tool index
    tuned = embedding.with_adapter(QueryAdapter(matrix=np.zeros((384, 384), dtype=np.float32)))
    assert tuned._encoder() is embedding._encoder() and tuned.index(tools) is embedding.index(tools)
    assert tuned.name == "embedding-tuned" and len(list((tmp_path / "tool-index").glob("*.npy"))) == 1
    for kinds, folds, groups, message in [
        (["hybrid"], 3, None, "tuned retrievers only"),
        (["hybrid-tuned"], 1, None, "needs 2 to 12 folds"),
        (["hybrid-tuned"], 4, {case_id: case_id.rsplit("-", 1)[0] for case_id, _ in labelled}, "3 groups"),
    ]:
        with pytest.raises(UserError, match=message):
            cross_validated_recall(
                kinds, tools, cases, labelled, [1], folds=folds, seed=0, embedding=embedding, lexical=lexical, groups=groups
            )
