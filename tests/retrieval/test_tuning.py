"""Tuning the embedding retriever to a registry from labelled requests (the query adapter)."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agentslm import Agent, RetrievalPolicy, UserError
from agentslm.events import RetrievalEvent, describe_event
from agentslm.records import RecordCall, RecordTool, TrainingRecord
from agentslm.retrieval import (
    EmbeddingRetriever,
    HybridRetriever,
    LabelledRequest,
    LexicalRetriever,
    QueryAdapter,
    ToolSelector,
    cross_validate_adapter,
    make_retriever,
    requests_from_records,
    tune_query_adapter,
)
from agentslm.retrieval.tuning import assign_folds
from agentslm.testing import ScriptedModel

from ..test_agent import call
from .test_retrieval import catalog, needs_embedding

# house jargon the tools' docs never use: "ping" is an email, "quid" is money, "brolly" is weather
LABELLED = [
    LabelledRequest("ping Sam about the standup", ("send_email",)),
    LabelledRequest("ping the landlord about the boiler", ("send_email",)),
    LabelledRequest("ping my sister that I land at six", ("send_email",)),
    LabelledRequest("what's 40 quid in yen", ("convert_currency",)),
    LabelledRequest("how many dollars is 12 quid", ("convert_currency",)),
    LabelledRequest("brolly or not in Leeds", ("get_weather",)),
    LabelledRequest("brolly or not in Cork tomorrow", ("get_weather",)),
]
HELD_OUT = {
    "ping Alex that the report is done": "send_email",
    "what's 5 quid in euros": "convert_currency",
    "brolly or not in Bergen": "get_weather",
}


def rank_of(retriever: Any, text: str, name: str, tools: list[Any]) -> int:
    return [t.name for t, _ in retriever.rank(text, tools)].index(name) + 1


@needs_embedding
def test_adapter_learns_house_jargon_and_keeps_the_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    tools = list(catalog())
    base = EmbeddingRetriever()
    before = {text: rank_of(base, text, name, tools) for text, name in HELD_OUT.items()}
    adapter = tune_query_adapter([*LABELLED, LabelledRequest("book a table", ("no_such_tool",))], tools, base, epochs=50)
    assert adapter.meta["requests"] == len(LABELLED) and adapter.meta["skipped_pairs"] == 1
    assert adapter.meta["tools_seen"] == 3 and adapter.meta["tools"] == len(tools)
    tuned = EmbeddingRetriever(adapter=adapter)
    after = {text: rank_of(tuned, text, name, tools) for text, name in HELD_OUT.items()}
    # requests phrased like the labelled ones (not seen in training) now find their tool first
    assert after == dict.fromkeys(HELD_OUT, 1), (before, after)
    assert sum(before.values()) > len(HELD_OUT), before  # the untuned retriever did not
    # the tools' index is the same file: an adapter changes how requests are embedded only
    assert len(list((tmp_path / "tool-index").glob("*.npy"))) == 1
    # a request with the tools' own words still ranks as before
    assert tuned.rank("Get the current weather forecast for Paris", tools)[0][0].name == "get_weather"
    hybrid = HybridRetriever(LexicalRetriever(), tuned)
    assert (hybrid.name, hybrid.embedding_weight) == ("hybrid-tuned", 2.0)
    assert HybridRetriever(LexicalRetriever(), base).embedding_weight == 1.0
    assert rank_of(hybrid, "ping Alex that the report is done", "send_email", tools) == 1


@needs_embedding
def test_policy_with_an_adapter_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    tools = list(catalog())
    path = tune_query_adapter(LABELLED, tools, EmbeddingRetriever(), epochs=50).save(tmp_path / "adapter.npz")
    selector = ToolSelector(RetrievalPolicy(adapter=path, k=1))
    assert selector.retriever.name == "hybrid-tuned"
    assert [t.name for t in selector.select("ping Alex that the report is done", tools).tools] == ["send_email"]
    assert make_retriever("embedding", adapter=path).name == "embedding-tuned"
    with pytest.raises(UserError, match="lexical retriever takes no query adapter"):
        make_retriever("lexical", adapter=path)
    with pytest.raises(UserError, match="applies to a named retriever"):
        RetrievalPolicy(retriever=LexicalRetriever(), adapter=path)


def test_adapter_file_round_trip_and_bad_files(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    adapter = QueryAdapter(matrix=rng.normal(size=(8, 8)).astype(np.float32) * 0.1, meta={"requests": 3})
    path = adapter.save(tmp_path / "sub" / "a.npz")
    loaded = QueryAdapter.load(path)
    assert loaded.meta == {"requests": 3} and loaded.encoder == "all-MiniLM-L6-v2"
    vectors = rng.normal(size=(2, 8)).astype(np.float32)
    np.testing.assert_allclose(loaded.apply(vectors), adapter.apply(vectors))
    assert np.allclose(np.linalg.norm(loaded.apply(vectors), axis=1), 1.0)
    assert not list((tmp_path / "sub").glob(".*tmp"))  # the atomic write left no temporary file
    with pytest.raises(UserError, match="384-dimensional"):
        QueryAdapter(matrix=np.zeros((384, 384), dtype=np.float32)).apply(vectors)
    (tmp_path / "notes.npz").write_text("not numpy")
    with pytest.raises(UserError, match="is not a query adapter") as info:
        QueryAdapter.load(tmp_path / "notes.npz")
    assert "agentslm train retriever" in str(info.value.hint)
    np.savez(tmp_path / "other.npz", matrix=np.zeros((2, 3)), header=np.array(json.dumps({"format": "x"})))
    with pytest.raises(UserError, match="wrong header"):
        QueryAdapter.load(tmp_path / "other.npz")
    with pytest.raises(UserError, match="No query adapter"):
        QueryAdapter.load(tmp_path / "missing.npz")


def test_requests_from_records_keeps_user_text_and_called_tools() -> None:
    tool = RecordTool(name="get_weather", description="Weather.", parameters={"type": "object", "properties": {}})
    records = [
        TrainingRecord(
            role="planner",
            tools=[tool],
            messages=[
                {"role": "user", "content": "Is it warm in Oslo?"},
                {"role": "assistant", "content": "Which day?"},
                {"role": "user", "content": "today"},
            ],
            target_calls=[RecordCall(name="get_weather", arguments={}), RecordCall(name="get_weather", arguments={})],
        ),
        TrainingRecord(role="planner", tools=[tool], messages=[{"role": "user", "content": "Hi"}], target_calls=[]),
        TrainingRecord(role="summarizer", tools=[tool], messages=[{"role": "user", "content": "Hi"}], target_text="Hello"),
    ]
    assert requests_from_records(records) == [LabelledRequest("Is it warm in Oslo?\ntoday", ("get_weather",))]


def test_tuning_needs_requests_that_name_registry_tools() -> None:
    class NoEncoder:  # never reached: the check comes first
        def index(self, tools: Any) -> Any:
            raise AssertionError

    with pytest.raises(UserError, match="names a tool of the registry") as info:
        tune_query_adapter([LabelledRequest("hi", ("nope",))], list(catalog()), NoEncoder())  # type: ignore[arg-type]
    assert "--tools" in str(info.value.hint)
    with pytest.raises(UserError, match="epochs >= 1"):
        tune_query_adapter(LABELLED, list(catalog()), NoEncoder(), epochs=0)  # type: ignore[arg-type]
    with pytest.raises(UserError, match="2 request vectors for 7 requests"):
        rows = np.zeros((2, 384), dtype=np.float32)
        tune_query_adapter(LABELLED, list(catalog()), NoEncoder(), request_vectors=rows)  # type: ignore[arg-type]


@needs_embedding
def test_train_retriever_command_on_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from agentslm.cli import app
    from agentslm.records import write_records

    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    specs = [RecordTool(name=t.name, description=t.description, parameters=t.parameters) for t in catalog()]
    arguments = {
        "send_email": {"to": "sam@example.com", "subject": "standup"},
        "convert_currency": {"amount": 40, "target": "JPY"},
        "get_weather": {"city": "Leeds"},
    }
    records = [
        TrainingRecord(
            role="planner",
            tools=specs,
            messages=[{"role": "user", "content": r.request}],
            target_calls=[RecordCall(name=r.tools[0], arguments=arguments[r.tools[0]])],
        )
        for r in LABELLED
    ]
    write_records(tmp_path / "log.jsonl", records)
    out = tmp_path / "adapter.npz"
    args = ["train", "retriever", "--records", str(tmp_path / "log.jsonl"), "--epochs", "50", "--val", "0.3", "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "held-out requests" in result.output and "embedding, tuned" in result.output
    adapter = QueryAdapter.load(out)
    assert adapter.meta["requests"] == len(LABELLED) and adapter.meta["tools"] == len(specs)
    assert rank_of(EmbeddingRetriever(adapter=adapter), "brolly or not in Bergen", "get_weather", list(catalog())) == 1
    nothing = CliRunner().invoke(app, ["train", "retriever", "--out", str(tmp_path / "b.npz")])
    assert nothing.exit_code != 0 and isinstance(nothing.exception, UserError)
    assert "Nothing to tune on" in str(nothing.exception)
    assert not (tmp_path / "b.npz").exists()
    share = CliRunner().invoke(app, [*args[:-2], "--val", "1.5", "--out", str(tmp_path / "c.npz")])
    assert isinstance(share.exception, UserError) and "is not a share" in str(share.exception)
    assert not (tmp_path / "c.npz").exists()
    both = CliRunner().invoke(app, [*args[:-2], "--cv", "2", "--out", str(tmp_path / "d.npz")])  # args has --val 0.3
    assert isinstance(both.exception, UserError) and "give one" in str(both.exception)
    cv_args = ["train", "retriever", "--records", str(tmp_path / "log.jsonl"), "--epochs", "50", "--cv", "2"]
    cv = CliRunner().invoke(app, [*cv_args, "--out", str(tmp_path / "e.npz")])
    assert cv.exit_code == 0, cv.output
    assert "2-fold CV, all 7 requests" in cv.output and "hybrid-tuned" in cv.output
    assert QueryAdapter.load(tmp_path / "e.npz").meta["requests"] == len(LABELLED)  # then trained on all of them


@needs_embedding
def test_cross_validation_ranks_each_request_with_an_adapter_that_never_saw_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    requests = [*LABELLED, *(LabelledRequest(text, (name,)) for text, name in HELD_OUT.items())]
    estimate = cross_validate_adapter(requests, list(catalog()), EmbeddingRetriever(), folds=2, epochs=50)
    assert set(estimate) == {"embedding", "embedding-tuned", "hybrid", "hybrid-tuned"}
    assert all(set(by_k) == {1, 5} and all(0 <= v <= 1 for v in by_k.values()) for by_k in estimate.values())
    # each fold's adapter learnt the jargon from the other fold's requests
    assert estimate["embedding-tuned"][1] > estimate["embedding"][1] + 0.2, estimate
    folds = assign_folds([f"r{i}" for i in range(10)], 3, seed=1, groups={"r0": "a", "r1": "a", "r2": "a"})
    assert sorted(collections.Counter(folds.values()).values()) == [3, 3, 4] and len({folds[f"r{i}"] for i in range(3)}) == 1
    with pytest.raises(UserError, match="needs 2 to 10 folds"):
        assign_folds([f"r{i}" for i in range(10)], 11)


@needs_embedding
def test_policy_offers_fewer_tools_when_both_rankings_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    tools = list(catalog())
    selector = ToolSelector(RetrievalPolicy(retriever="hybrid", k=5, k_agreed=1))
    both = selector.select("How much is 30 dollars in EUR? Convert the currency.", tools)
    assert (both.agreed, [t.name for t in both.tools]) == (True, ["convert_currency"])
    # no word in common with any tool: the lexical ranking has no vote, so no agreement and k tools
    apart = selector.select("Let my colleague know by mail that I'm late", tools)
    assert apart.agreed is False and len(apart.tools) == 5
    widened = selector.select("How much is 30 dollars in EUR? Convert the currency.", tools, widen=True)
    assert widened.agreed is None and len(widened.tools) == 15
    assert ToolSelector(RetrievalPolicy(retriever="hybrid")).select("How much is 30 dollars in EUR?", tools).agreed is None
    with pytest.raises(UserError, match="k_agreed <= k"):
        RetrievalPolicy(k=3, k_agreed=4)
    # the agent's retrieval event says so: one tool offered because both rankings agreed
    model = ScriptedModel([[call("convert_currency", amount=30, target="EUR")], []], answers=["About 28 EUR."])
    policy = RetrievalPolicy(retriever="hybrid", k=5, k_agreed=1, min_tools=10)
    run = Agent(model, catalog(), retrieval=policy).run("How much is 30 dollars in EUR? Convert the currency.")
    event = next(e for e in run.events if isinstance(e, RetrievalEvent))
    assert (event.agreed, event.tools) == (True, ["convert_currency"]) and run.status == "answered"
    assert describe_event(event).startswith("tools   1 of 43 by hybrid (rankings agreed): convert_currency")
