"""Tool retrieval for large tool catalogs: offer a small model only the tools a request needs.

Lexical (BM25), embedding (all-MiniLM-L6-v2, offline, extra ``retrieval``) and hybrid retrievers;
the agent applies a :class:`RetrievalPolicy` automatically above a tool count.
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

__all__ = [
    "EmbeddingRetriever",
    "HybridRetriever",
    "LexicalRetriever",
    "RetrievalPolicy",
    "Selection",
    "ToolRetriever",
    "ToolSelector",
    "embedding_available",
    "make_retriever",
    "tokenize",
    "tool_document",
]
