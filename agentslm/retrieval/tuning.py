"""Tune the embedding retriever to a registry from labelled requests (a query adapter).

A request written by a user often shares few words with the docs of the tool it needs ("each of my friends
gave me 10 euros, how much in total" → ``multiply``), and pooled catalogs hold look-alikes
(``transfer_to_human_agent`` / ``handover_to_agent``). Requests whose tool is known — an escalation log, agent
traces, ``agentslm train data`` records — teach the retriever which tool such requests mean.

The adapter is one residual linear map on the request's embedding, ``q' = normalize(q + q W)``; the tools'
embeddings (and so the cached index) are unchanged. It is trained with a softmax over every tool of the
registry (cross-entropy of the right tool against all others), a few seconds on a CPU. It helps the tools it
has seen requests for; a tool with no labelled request gets no better (measured: docs/RETRIEVAL.md), which is
why the tuned embedding ranking is fused with the lexical one rather than used alone.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from agentslm.errors import MissingExtraError, UserError
from agentslm.registry import Tool

if TYPE_CHECKING:
    from agentslm.records import TrainingRecord
    from agentslm.retrieval.retrievers import EmbeddingRetriever

__all__ = [
    "LabelledRequest",
    "QueryAdapter",
    "assign_folds",
    "cross_validate_adapter",
    "requests_from_records",
    "tune_query_adapter",
]

ENCODER = "all-MiniLM-L6-v2"
"""The sentence encoder an adapter belongs to (the only one agentslm ships)."""


@dataclass(frozen=True)
class LabelledRequest:
    """A request and the tools that serve it."""

    request: str
    tools: tuple[str, ...]


@dataclass
class QueryAdapter:
    """A residual linear map applied to request embeddings: ``normalize(q + q @ matrix)``."""

    matrix: NDArray[np.float32]
    encoder: str = ENCODER
    meta: dict[str, Any] = field(default_factory=dict)

    def apply(self, vectors: NDArray[np.float32]) -> NDArray[np.float32]:
        """Adapted unit-length request embeddings (rows of ``vectors``)."""
        if vectors.shape[-1] != self.matrix.shape[0]:
            raise UserError(
                f"This query adapter is for {self.matrix.shape[0]}-dimensional embeddings, not {vectors.shape[-1]}.",
                hint=f"use it with the {self.encoder} retriever it was trained for.",
            )
        out = vectors + vectors @ self.matrix
        norms = np.linalg.norm(out, axis=-1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the adapter (``.npz``: the matrix and a JSON header) atomically."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        header = json.dumps({"format": "agentslm-query-adapter", "version": 1, "encoder": self.encoder, **self.meta})
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as fh:
            np.savez(fh, matrix=self.matrix.astype(np.float32), header=np.array(header))
        os.replace(tmp, target)
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> QueryAdapter:
        """Read an adapter written by :meth:`save`; a file that is not one is a clear error."""
        source = Path(path)
        hint = "train one with `agentslm train retriever --out FILE`."
        if not source.is_file():
            raise UserError(f"No query adapter at {source}.", hint=hint)
        try:
            with np.load(source, allow_pickle=False) as data:
                matrix = np.asarray(data["matrix"], dtype=np.float32)
                header = json.loads(str(data["header"]))
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
            raise UserError(f"{source} is not a query adapter ({exc}).", hint=hint) from exc
        if header.get("format") != "agentslm-query-adapter" or matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise UserError(f"{source} is not a query adapter (wrong header or matrix shape {matrix.shape}).", hint=hint)
        if header.get("version") != 1:
            raise UserError(f"{source} is a query adapter of version {header.get('version')}; this agentslm reads 1.")
        encoder = str(header.pop("encoder", ENCODER))
        for key in ("format", "version"):
            header.pop(key, None)
        return cls(matrix=matrix, encoder=encoder, meta=header)


def requests_from_records(records: Iterable[TrainingRecord]) -> list[LabelledRequest]:
    """Labelled requests from training records: the user's messages and the tools of the target calls.

    Records with no call (``[]``: no tool fits) or no user message teach nothing here and are left out;
    summarizer records have no calls.
    """
    out: list[LabelledRequest] = []
    for record in records:
        names = tuple(dict.fromkeys(call.name for call in record.target_calls or []))
        request = "\n".join(str(m.get("content") or "") for m in record.messages if m.get("role") == "user").strip()
        if names and request:
            out.append(LabelledRequest(request, names))
    return out


def _label_pairs(requests: Sequence[LabelledRequest], tools: Sequence[Tool]) -> tuple[list[tuple[int, int]], int]:
    """(request index, tool index) for every labelled tool found in ``tools``, and the count of those not found.

    Raises :class:`UserError` when no request names a tool of ``tools``.
    """
    index = {t.name: i for i, t in enumerate(tools)}
    pairs: list[tuple[int, int]] = []
    skipped = 0
    for r, labelled in enumerate(requests):
        for name in labelled.tools:
            if name in index:
                pairs.append((r, index[name]))
            else:
                skipped += 1
    if not pairs:
        raise UserError(
            f"None of the {len(requests)} labelled requests names a tool of the registry ({len(tools)} tools).",
            hint="pass the registry the requests were made against (--tools), or records whose calls use its tool names.",
        )
    return pairs, skipped


def tune_query_adapter(
    requests: Sequence[LabelledRequest],
    tools: Sequence[Tool],
    retriever: EmbeddingRetriever,
    *,
    epochs: int = 30,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-2,
    temperature: float = 0.05,
    batch_size: int = 128,
    seed: int = 0,
    request_vectors: NDArray[np.float32] | None = None,
) -> QueryAdapter:
    """Train a :class:`QueryAdapter` so that each request ranks its tools first among ``tools``.

    Requests naming a tool that is not in ``tools`` keep their other tools; the pairs left out are counted in
    the adapter's ``meta`` (``skipped_pairs``). The defaults (30 epochs, temperature 0.05) were chosen on a
    validation split of BFCL requests, not on the reported sample (docs/RETRIEVAL.md).

    ``request_vectors``: the requests' embeddings (``retriever.encode``, one row each) when already computed,
    so that cross-validation encodes each request once.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - sentence-transformers depends on torch
        raise MissingExtraError("Tuning the retriever needs torch.", hint="pip install 'agentslm[embeddings]'") from exc
    if epochs < 1 or batch_size < 1 or temperature <= 0:
        raise UserError("tune_query_adapter needs epochs >= 1, batch_size >= 1 and temperature > 0.")
    if request_vectors is not None and len(request_vectors) != len(requests):
        raise UserError(f"{len(request_vectors)} request vectors for {len(requests)} requests: give one row per request.")
    pairs, skipped = _label_pairs(requests, tools)
    used = sorted({r for r, _ in pairs})
    tool_matrix = torch.tensor(retriever.index(tools))
    queries = torch.zeros((len(requests), tool_matrix.shape[1]))
    if request_vectors is not None:
        queries[used] = torch.tensor(np.asarray(request_vectors, dtype=np.float32)[used])
    else:
        queries[used] = torch.tensor(retriever.encode([requests[r].request for r in used]))
    q_index = torch.tensor([p[0] for p in pairs])
    t_index = torch.tensor([p[1] for p in pairs])

    generator = torch.Generator().manual_seed(seed)
    weights = torch.zeros((tool_matrix.shape[1], tool_matrix.shape[1]), requires_grad=True)
    optimizer = torch.optim.AdamW([weights], lr=learning_rate, weight_decay=weight_decay)
    loss = torch.tensor(0.0)
    for _ in range(epochs):
        order = torch.randperm(len(pairs), generator=generator)
        for start in range(0, len(pairs), batch_size):
            batch = order[start : start + batch_size]
            q = queries[q_index[batch]]
            q = q + q @ weights
            q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-12)
            loss = torch.nn.functional.cross_entropy((q @ tool_matrix.T) / temperature, t_index[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return QueryAdapter(
        matrix=weights.detach().numpy().astype(np.float32),
        meta={
            "requests": len(used),
            "pairs": len(pairs),
            "skipped_pairs": skipped,
            "tools": len(tools),
            "tools_seen": len({t for _, t in pairs}),
            "epochs": epochs,
            "temperature": temperature,
            "final_batch_loss": round(float(loss.detach()), 4),
        },
    )


def assign_folds(
    ids: Sequence[str], folds: int, *, seed: int = 0, groups: Mapping[str, Hashable] | None = None
) -> dict[str, int]:
    """Split ``ids`` into ``folds`` seeded folds of near-equal size; ``groups`` (id → group) keeps each group whole."""
    if not 2 <= folds <= len(ids):
        raise UserError(
            f"Cross-validation over {len(ids)} labelled requests needs 2 to {len(ids)} folds, not {folds}.",
            hint="use e.g. 5 folds.",
        )
    members: dict[Hashable, list[str]] = {}
    for key in ids:
        members.setdefault(groups.get(key, key) if groups is not None else key, []).append(key)
    if len(members) < folds:
        raise UserError(f"{len(members)} groups of labelled requests cannot fill {folds} folds.", hint="use fewer folds.")
    order = list(members)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -len(members[g]))  # largest groups first, each into the smallest fold so far
    sizes = [0] * folds
    fold_of: dict[str, int] = {}
    for group in order:
        fold = sizes.index(min(sizes))
        sizes[fold] += len(members[group])
        fold_of.update(dict.fromkeys(members[group], fold))
    return fold_of


def cross_validate_adapter(
    requests: Sequence[LabelledRequest],
    tools: Sequence[Tool],
    retriever: EmbeddingRetriever,
    *,
    folds: int = 5,
    seed: int = 0,
    epochs: int = 30,
    ks: Sequence[int] = (1, 5),
    on_fold: Callable[[int], None] | None = None,
) -> dict[str, dict[int, float]]:
    """Recall@k before and after tuning, estimated on every request: each is ranked by an adapter trained on the
    other folds. Keys: ``embedding``, ``hybrid`` (untuned), ``embedding-tuned``, ``hybrid-tuned``.

    All requests count, so the estimate is steadier than one held-out split when the log is small.
    """
    from agentslm.retrieval.retrievers import TUNED_WEIGHT, HybridRetriever, LexicalRetriever

    fold_of = assign_folds([str(i) for i in range(len(requests))], folds, seed=seed)
    texts = [r.request for r in requests]
    vectors = retriever.encode(texts)  # each request encoded once, for every fold's training and scoring
    index = retriever.index(tools).T
    lexical = LexicalRetriever().score_batch(texts, tools)
    plain = np.asarray(vectors @ index, dtype=np.float64)
    tuned = np.zeros_like(plain)
    for fold in range(folds):
        held = [i for i in range(len(requests)) if fold_of[str(i)] == fold]
        train = [i for i in range(len(requests)) if fold_of[str(i)] != fold]
        adapter = tune_query_adapter(
            [requests[i] for i in train], tools, retriever, epochs=epochs, seed=seed, request_vectors=vectors[train]
        )
        tuned[held] = adapter.apply(vectors[held]) @ index
        if on_fold:
            on_fold(fold)
    hybrid = HybridRetriever(embedding=retriever, embedding_weight=1.0)
    hybrid_tuned = HybridRetriever(embedding=retriever, embedding_weight=TUNED_WEIGHT)
    names = [t.name for t in tools]
    hits: dict[str, dict[int, list[float]]] = {}
    for i, request in enumerate(requests):
        rows = {
            "embedding": plain[i],
            "embedding-tuned": tuned[i],
            "hybrid": hybrid.fuse(lexical[i], plain[i])[0],
            "hybrid-tuned": hybrid_tuned.fuse(lexical[i], tuned[i])[0],
        }
        for name, scores in rows.items():
            ranked = [names[j] for j in np.argsort(-scores, kind="stable")[: max(ks)]]
            for k in ks:
                hits.setdefault(name, {}).setdefault(k, []).append(
                    sum(n in ranked[:k] for n in request.tools) / len(request.tools)
                )
    return {name: {k: sum(v) / len(v) for k, v in by_k.items()} for name, by_k in hits.items()}
