"""Tool retrieval for large tool catalogs: offer a small model only the tools a request needs.

Lexical (BM25), embedding (all-MiniLM-L6-v2, offline, extra ``retrieval``) and hybrid retrievers;
the agent applies a :class:`RetrievalPolicy` automatically above a tool count. A :class:`QueryAdapter`
trained on labelled requests (:func:`tune_query_adapter`) tunes the embedding ranking to a registry.
"""

from typing import TYPE_CHECKING, Any

from agentslm.retrieval.documents import tokenize, tool_document
from agentslm.retrieval.select import RetrievalPolicy, Selection, ToolSelector

if TYPE_CHECKING:
    from agentslm.retrieval.retrievers import (
        EmbeddingRetriever,
        HybridRetriever,
        LexicalRetriever,
        ToolRetriever,
        embedding_available,
        make_retriever,
    )
    from agentslm.retrieval.tuning import (
        LabelledRequest,
        QueryAdapter,
        cross_validate_adapter,
        requests_from_records,
        tune_query_adapter,
    )

_LAZY = {  # these need numpy (extra ``retrieval``): imported on first access, so the core installs without it
    **dict.fromkeys(
        ("EmbeddingRetriever", "HybridRetriever", "LexicalRetriever", "ToolRetriever", "embedding_available", "make_retriever"),
        "agentslm.retrieval.retrievers",
    ),
    **dict.fromkeys(
        ("LabelledRequest", "QueryAdapter", "cross_validate_adapter", "requests_from_records", "tune_query_adapter"),
        "agentslm.retrieval.tuning",
    ),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EmbeddingRetriever",
    "HybridRetriever",
    "LabelledRequest",
    "LexicalRetriever",
    "QueryAdapter",
    "RetrievalPolicy",
    "Selection",
    "ToolRetriever",
    "ToolSelector",
    "cross_validate_adapter",
    "embedding_available",
    "make_retriever",
    "requests_from_records",
    "tokenize",
    "tool_document",
    "tune_query_adapter",
]
