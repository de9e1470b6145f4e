"""Which tools a request gets to see: the retrieval policy the agent applies above a tool count."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from agentslm.errors import MissingExtraError, UserError
from agentslm.registry import Tool

if TYPE_CHECKING:  # the retrievers need numpy and rank-bm25 (extra ``retrieval``); imported on first use
    from agentslm.retrieval.retrievers import ToolRetriever
    from agentslm.retrieval.tuning import QueryAdapter

__all__ = ["RetrievalPolicy", "Selection", "ToolSelector"]


@dataclass(frozen=True)
class RetrievalPolicy:
    """When and how to narrow the tools offered to the model.

    Args:
        retriever: ``auto`` (hybrid when the embedding model is installed, else lexical), ``lexical``,
            ``embedding``, ``hybrid``, or a :class:`~agentslm.retrieval.ToolRetriever`.
        k: tools offered per request.
        min_tools: retrieval is used only when the registry has more tools than this.
        widen_k: when the planner finds no fitting tool among the top ``k``, it gets one more try
            with the top ``widen_k`` (the escape branch: "none of these fit" widens the search once).
        k_agreed: offer only this many tools (e.g. 1) when the lexical and embedding rankings put the same tool
            first (hybrid retrievers only), else ``k``. A small model chooses badly among look-alikes; when both
            rankings agree the first tool is usually right. Off by default: a request that needs several
            different tools gets only the agreed one (the escape branch still widens when it does not fit).
        adapter: a query adapter tuned to this registry on labelled requests (``agentslm train retriever``),
            or its file; used by the embedding and hybrid retrievers (not with a retriever object).
    """

    retriever: str | ToolRetriever = "auto"
    k: int = 5
    min_tools: int = 16
    widen_k: int = 15
    k_agreed: int | None = None
    adapter: QueryAdapter | str | os.PathLike[str] | None = None

    def __post_init__(self) -> None:
        if self.k < 1 or self.widen_k < self.k or self.min_tools < 0:
            raise UserError("RetrievalPolicy needs k >= 1, widen_k >= k and min_tools >= 0.")
        if self.k_agreed is not None and not 1 <= self.k_agreed <= self.k:
            raise UserError(f"RetrievalPolicy needs 1 <= k_agreed <= k (got k_agreed={self.k_agreed}, k={self.k}).")
        if self.adapter is not None and not isinstance(self.retriever, str):
            raise UserError(
                "RetrievalPolicy(adapter=...) applies to a named retriever.",
                hint="pass EmbeddingRetriever(adapter=...) inside your retriever instead.",
            )


@dataclass
class Selection:
    """The tools offered for one request."""

    tools: list[Tool]
    active: bool
    """False when the registry is small enough to offer everything."""
    retriever: str = ""
    widened: bool = False
    agreed: bool | None = None
    """Whether the lexical and embedding rankings agreed on the first tool (``None``: not asked)."""
    scores: dict[str, float] = field(default_factory=dict)


class ToolSelector:
    """Applies a :class:`RetrievalPolicy` (the retriever and its index are built on first use)."""

    def __init__(self, policy: RetrievalPolicy) -> None:
        self.policy = policy
        self._retriever: ToolRetriever | None = None if isinstance(policy.retriever, str) else policy.retriever

    @property
    def retriever(self) -> ToolRetriever:
        if self._retriever is None:
            assert isinstance(self.policy.retriever, str)
            try:
                from agentslm.retrieval.retrievers import make_retriever
            except ImportError as exc:
                raise MissingExtraError(
                    f"This registry has more than {self.policy.min_tools} tools, so the agent narrows them with a "
                    f"retriever, and retrieval needs numpy and rank-bm25 ({exc.name} is not installed).",
                    hint="pip install 'agentslm[retrieval]', or offer every tool: Agent(..., retrieval=None).",
                ) from exc
            self._retriever = make_retriever(self.policy.retriever, adapter=self.policy.adapter)
        return self._retriever

    def select(self, request: str, tools: Sequence[Tool], *, widen: bool = False) -> Selection:
        """The top ``k`` (or ``widen_k``) tools for ``request``, or all of them below ``min_tools``."""
        if len(tools) <= self.policy.min_tools:
            return Selection(tools=list(tools), active=False)
        k = self.policy.widen_k if widen else self.policy.k
        agreed: bool | None = None
        retriever = self.retriever
        if self.policy.k_agreed is not None and not widen and hasattr(retriever, "rank_agreed"):  # a HybridRetriever
            ranking, agreed = retriever.rank_agreed(request, tools)
            ranked = ranking[: self.policy.k_agreed if agreed else k]
        else:
            ranked = self.retriever.rank(request, tools)[:k]
        return Selection(
            tools=[t for t, _ in ranked],
            active=True,
            retriever=self.retriever.name,
            widened=widen,
            agreed=agreed,
            scores={t.name: round(s, 4) for t, s in ranked},
        )
