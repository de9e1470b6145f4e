"""Tool retrieval: documents, the three retrievers, the selection policy and the agent's use of it."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from agentslm import Agent, RetrievalPolicy, ToolRegistry, UserError
from agentslm.events import NoToolEvent, RetrievalEvent
from agentslm.retrieval import (
    EmbeddingRetriever,
    HybridRetriever,
    LexicalRetriever,
    ToolSelector,
    embedding_available,
    tokenize,
    tool_document,
)
from agentslm.testing import ScriptedModel

from ..test_agent import call


def catalog(n_filler: int = 40) -> ToolRegistry:
    """A large registry: a few real tools among generated distractors."""
    registry = ToolRegistry()

    @registry.tool
    def get_weather(city: str) -> str:
        """Get the current weather forecast for a city.

        Args:
            city: City name, e.g. Paris.
        """
        return f"sunny in {city}"

    @registry.tool
    def send_email(to: str, subject: str) -> str:
        """Send an email message to a contact.

        Args:
            to: Recipient address.
            subject: Subject line.
        """
        return "sent"

    @registry.tool
    def convert_currency(amount: float, target: str) -> float:
        """Convert money between currencies using exchange rates.

        Args:
            amount: How much.
            target: Target currency code like EUR.
        """
        return amount

    topics = ["invoice", "playlist", "garden", "telescope", "recipe", "parcel", "vaccine", "mortgage", "violin", "glacier"]
    verbs = ["archive", "list", "rate", "count"]
    for i in range(n_filler):
        topic, verb = topics[i % len(topics)], verbs[i // len(topics) % len(verbs)]
        registry.add_spec(
            f"{verb}_{topic}_{i}",
            f"{verb.title()} the {topic} records of the account.",
            {"type": "object", "properties": {f"{topic}_id": {"type": "integer"}}},
        )
    return registry


def test_documents_split_names_and_include_parameters() -> None:
    registry = catalog(0)
    doc = tool_document(registry["convert_currency"])
    assert doc.startswith("convert currency. Convert money between currencies using exchange rates. amount")
    assert "target" in doc and "Target currency code" in doc
    assert tokenize("getCurrentTime of the cities") == ["current", "time", "citie"]  # stopwords out, plural s cut
    assert "the" not in tokenize("the weather") and "weather" in tokenize("the weather")


@pytest.mark.parametrize(
    "request_text, expected",
    [
        ("What's the weather like in Oslo today?", "get_weather"),
        ("Email Ana the subject 'budget'", "send_email"),
        ("How much is 30 dollars in EUR?", "convert_currency"),
    ],
)
def test_lexical_ranks_the_right_tool_first(request_text: str, expected: str) -> None:
    registry = catalog()
    ranked = LexicalRetriever().rank(request_text, list(registry))
    assert len(ranked) == len(registry)
    assert ranked[0][0].name == expected, [t.name for t, _ in ranked[:5]]


needs_embedding = pytest.mark.skipif(not embedding_available(), reason="pip install 'agentslm[retrieval]'")


@needs_embedding
def test_embedding_and_hybrid_rank_paraphrases(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTSLM_CACHE", str(tmp_path))
    registry = catalog()
    embedding = EmbeddingRetriever()
    # no shared words with the tools' texts ("mail" is not "email", "hot" is not "weather"): only meaning connects them
    ranked = embedding.rank("Let my colleague know by mail that I'm late", list(registry))
    assert ranked[0][0].name == "send_email"
    assert embedding.rank("How hot will it be in Rome?", list(registry))[0][0].name == "get_weather"
    hybrid = HybridRetriever(LexicalRetriever(), embedding)
    assert hybrid.rank("How much is 30 dollars in EUR?", list(registry))[0][0].name == "convert_currency"
    # the index is cached on disk per registry version; a new retriever reuses it
    cached = list((tmp_path / "tool-index").glob("*.npy"))
    assert len(cached) == 1
    again = EmbeddingRetriever()
    assert again.rank("Let my colleague know by mail that I'm late", list(registry))[0][0].name == "send_email"
    # a changed registry is a new version: re-indexed
    registry.add_spec("tide_times", "Tide tables for a harbour.", {"type": "object", "properties": {}})
    again.rank("tides", list(registry))
    assert len(list((tmp_path / "tool-index").glob("*.npy"))) == 2


def test_selector_threshold_and_widening() -> None:
    registry = catalog()
    selector = ToolSelector(RetrievalPolicy(retriever="lexical", k=3, min_tools=10, widen_k=8))
    small = selector.select("weather in Paris", list(registry)[:5])
    assert not small.active and len(small.tools) == 5
    chosen = selector.select("weather in Paris", list(registry))
    assert chosen.active and len(chosen.tools) == 3 and chosen.tools[0].name == "get_weather"
    wide = selector.select("weather in Paris", list(registry), widen=True)
    assert wide.widened and len(wide.tools) == 8 and wide.tools[:3] == chosen.tools
    with pytest.raises(UserError):
        RetrievalPolicy(k=5, widen_k=2)


def test_agent_offers_only_retrieved_tools() -> None:
    model = ScriptedModel([[call("get_weather", city="Paris")], []], answers=["Sunny."])
    agent = Agent(model, catalog(), retrieval=RetrievalPolicy(retriever="lexical", k=3, min_tools=10))
    run = agent.run("What is the weather in Paris?")
    retrieval = [e for e in run.events if isinstance(e, RetrievalEvent)]
    assert len(retrieval) == 1 and retrieval[0].tools[0] == "get_weather" and retrieval[0].of == 43
    assert retrieval[0].agreed is None  # the policy did not ask for agreement
    # the planner's grammar admitted the 3 retrieved tools only
    offered = set(re.findall(r'"const": "([^"]+)"', json.dumps(model.schemas[0])))
    assert offered == set(retrieval[0].tools) and len(offered) == 3
    assert run.status == "answered" and run.calls[0].name == "get_weather"


def test_agent_widens_once_when_no_retrieved_tool_fits() -> None:
    # first plan: [] (none of the 3 fit) -> widened to 8; second plan: [] again -> no_tool
    model = ScriptedModel([[], []])
    agent = Agent(model, catalog(), retrieval=RetrievalPolicy(retriever="lexical", k=3, min_tools=10, widen_k=8))
    run = agent.run("Rate the violin records please")
    retrieval = [e for e in run.events if isinstance(e, RetrievalEvent)]
    assert [e.widened for e in retrieval] == [False, True] and len(retrieval[1].tools) == 8
    assert any(isinstance(e, NoToolEvent) for e in run.events) and run.status == "no_tool"
    assert len(model.schemas) == 2


def test_agent_without_retrieval_offers_everything() -> None:
    model = ScriptedModel([[]])
    agent = Agent(model, catalog(), retrieval=None)
    run = agent.run("anything")
    assert not [e for e in run.events if isinstance(e, RetrievalEvent)]
    assert '"send_email"' in json.dumps(model.schemas[0])


def test_embedded_model_agent_over_a_large_catalog(base_model: Any) -> None:
    # the bare weights: the default's adapter answers [] here (p >= 0.85) among the retrieved look-alikes
    agent = Agent(base_model, catalog(), retrieval=RetrievalPolicy(retriever="lexical", k=3))
    run = agent.run("What is the weather in Oslo?")
    retrieval = next(e for e in run.events if isinstance(e, RetrievalEvent))
    assert retrieval.tools[0] == "get_weather" and len(retrieval.tools) == 3
    assert [c.name for c in run.calls] == ["get_weather"] and run.calls[0].arguments == {"city": "Oslo"}
