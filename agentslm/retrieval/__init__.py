"""Tool retrieval for large tool catalogs: offer a small model only the tools a request needs.

Lexical (BM25), embedding (all-MiniLM-L6-v2, offline, extra ``retrieval``) and hybrid retrievers;
the agent applies a :class:`RetrievalPolicy` automatically above a tool count. A :class:`QueryAdapter`
trained on labelled requests (:func:`tune_query_adapter`) tunes the embedding ranking to a registry.
"""

from agentslm.retrieval.documents import tokenize, tool_document
from agentslm.retrieval.retrievers import (
    EmbeddingRetriever,
    HybridRetriever,
    LexicalRetriever,
    ToolRetriever,
    embedding_available,
    make_retriever,
)
from agentslm.retrieval.select import RetrievalPolicy, Selection, ToolSelector
from agentslm.retrieval.tuning import (
    LabelledRequest,
    QueryAdapter,
    cross_validate_adapter,
    requests_from_records,
    tune_query_adapter,
)

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
