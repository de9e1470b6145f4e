"""Tool-retrieval benchmark: recall@k and end-to-end BFCL accuracy vs prompt tokens, per retriever.

The large registry is every distinct BFCL function (by name) of the pooled categories — the
tools of unrelated cases become each other's distractors. For a case, the *gold* tools are the
functions named in its possible answer.

* **Recall@k**: the fraction of a case's gold tools among the top ``k`` a retriever ranks from the pool.
* **Accuracy**: the agentslm system (constrained list of calls + decision policy, as in
  ``agentslm bench bfcl``) is offered the retrieved top ``k`` and scored with BFCL's official
  checker; ``case`` offers the case's own 2-4 functions (BFCL's setting). Offering the whole pool
  is not possible: it needs far more tokens than the model's context holds (the figure is reported).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentslm.bench.bfcl_checker import check_case
from agentslm.bench.bfcl_data import BfclCase, load_bfcl
from agentslm.bench.systems import AgentslmSystem, SystemOutput
from agentslm.errors import UserError
from agentslm.models.base import Message
from agentslm.models.local import LocalModel
from agentslm.registry import Tool, ToolRegistry
from agentslm.retrieval.retrievers import EmbeddingRetriever, HybridRetriever, LexicalRetriever, ToolRetriever
from agentslm.retrieval.tuning import LabelledRequest, QueryAdapter

__all__ = [
    "POOL_CATEGORIES",
    "RECALL_CATEGORIES",
    "RetrievalCase",
    "bfcl_function_sets",
    "bfcl_labelled_requests",
    "bfcl_tool_pool",
    "check_adapter_disjoint",
    "cross_validated_recall",
    "gold_names",
    "load_retrieval_cases",
    "measure_accuracy",
    "measure_recall",
    "pool_prompt_tokens",
    "retrieval_report",
]

POOL_CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "irrelevance",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
"""BFCL categories whose functions make up the large registry (Python-style function docs)."""

RECALL_CATEGORIES = ("multiple", "live_multiple", "simple_python")
"""The categories ``agentslm bench retrieval`` scores by default (and ``train retriever --bfcl-holdout`` leaves out)."""


@dataclass
class RetrievalCase:
    category: str
    case: BfclCase
    gold: list[str]

    @property
    def query(self) -> str:
        return "\n".join(m["content"] for m in self.case.messages if m["role"] == "user")


def gold_names(case: BfclCase) -> list[str]:
    """Function names in a case's possible answer (in order, distinct)."""
    names: list[str] = []
    for call in case.answer or []:
        for name in call:
            if name not in names:
                names.append(name)
    return names


def bfcl_tool_pool(categories: Iterable[str] = POOL_CATEGORIES) -> list[Tool]:
    """Every distinct BFCL function (first definition of each name) of ``categories``, as tools."""
    seen: dict[str, dict[str, Any]] = {}
    for category in categories:
        for case in load_bfcl(category):
            for fn in case.functions:
                seen.setdefault(fn["name"], fn)
    return list(ToolRegistry.from_bfcl(list(seen.values())))


def load_retrieval_cases(categories: Sequence[str], *, limit: int | None, seed: int) -> list[RetrievalCase]:
    """Cases with a possible answer, ``limit`` per category (seeded sample)."""
    out: list[RetrievalCase] = []
    for category in categories:
        for case in load_bfcl(category, limit=limit, seed=seed):
            gold = gold_names(case)
            if gold:
                out.append(RetrievalCase(category, case, gold))
    return out


def bfcl_labelled_requests(exclude: Iterable[str]) -> tuple[list[LabelledRequest], list[str]]:
    """Every pool-category case with a possible answer, except the case ids in ``exclude``, as labelled
    requests (request → gold functions) for tuning the retriever; with their case ids."""
    skip = set(exclude)
    requests: list[LabelledRequest] = []
    ids: list[str] = []
    for category in POOL_CATEGORIES:
        for case in load_bfcl(category):
            gold = gold_names(case)
            if gold and case.id not in skip:
                rc = RetrievalCase(category, case, gold)
                requests.append(LabelledRequest(rc.query, tuple(gold)))
                ids.append(case.id)
    return requests, ids


def bfcl_function_sets(categories: Iterable[str] = POOL_CATEGORIES) -> dict[str, tuple[str, ...]]:
    """Case id → the names of the functions the case offers (sorted): cases with the same set share an app."""
    return {case.id: tuple(sorted(fn["name"] for fn in case.functions)) for c in categories for case in load_bfcl(c)}


def check_adapter_disjoint(adapter: QueryAdapter, cases: Iterable[RetrievalCase]) -> None:
    """Refuse to score cases a query adapter was trained on (its ``bfcl_training_cases``)."""
    trained = set(adapter.meta.get("bfcl_training_cases") or [])
    overlap = sorted(rc.case.id for rc in cases if rc.case.id in trained)
    if overlap:
        raise UserError(
            f"The query adapter was trained on {len(overlap)} of the cases this benchmark scores ({', '.join(overlap[:3])}...).",
            hint="train it with `agentslm train retriever --bfcl-holdout N --seed S` using this run's --limit and --seed.",
        )


def measure_recall(
    retrievers: Sequence[ToolRetriever], pool: Sequence[Tool], cases: Sequence[RetrievalCase], ks: Sequence[int]
) -> list[dict[str, Any]]:
    """Recall@k per retriever and category, with the mean ranking time per query."""
    rows: list[dict[str, Any]] = []
    for retriever in retrievers:
        retriever.rank("warm up the index", pool)
        hits: dict[tuple[str, int], list[float]] = {}
        seconds: dict[str, list[float]] = {}
        for rc in cases:
            t0 = time.perf_counter()
            ranked = [t.name for t, _ in retriever.rank(rc.query, pool)]
            seconds.setdefault(rc.category, []).append(time.perf_counter() - t0)
            for k in ks:
                top = set(ranked[:k])
                hits.setdefault((rc.category, k), []).append(sum(g in top for g in rc.gold) / len(rc.gold))
        for (category, k), values in sorted(hits.items()):
            rows.append(
                {
                    "retriever": retriever.name,
                    "category": category,
                    "k": k,
                    "cases": len(values),
                    "recall": statistics.fmean(values),
                    "ms_per_query": 1000 * statistics.fmean(seconds[category]),
                }
            )
    return rows


def cross_validated_recall(
    kinds: Sequence[str],
    pool: Sequence[Tool],
    cases: Sequence[RetrievalCase],
    labelled: Sequence[tuple[str, LabelledRequest]],
    ks: Sequence[int],
    *,
    folds: int,
    seed: int,
    embedding: EmbeddingRetriever,
    lexical: LexicalRetriever,
    groups: Mapping[str, Hashable] | None = None,
    on_fold: Callable[[int, QueryAdapter, float], None] | None = None,
) -> list[dict[str, Any]]:
    """Recall@k of tuned retrievers (``embedding-tuned``, ``hybrid-tuned``) estimated by ``folds``-fold
    cross-validation: the labelled requests (case id, request) are split into folds (seeded), an adapter is
    trained on all folds but one, and each scored case is ranked by the adapter whose training left its fold out.

    Every scored case counts, so the estimate rests on all of them rather than on one held-out sample. A scored
    case with no labelled request is in no training set; it is ranked with the first fold's adapter.

    ``groups`` (case id → group) keeps each group in one fold — e.g. the cases that offer the same functions, whose
    requests are often near-duplicates: the stricter estimate for requests unlike any logged one. Rows are those of
    :func:`measure_recall`, the retriever named e.g. ``hybrid-tuned (5-fold CV)`` or ``(5-fold grouped CV)``.
    """
    from agentslm.retrieval.tuning import assign_folds, tune_query_adapter

    unknown = [kind for kind in kinds if kind not in ("embedding-tuned", "hybrid-tuned")]
    if unknown or not kinds:
        raise UserError(
            f"Cross-validation scores tuned retrievers only, not {unknown or 'none'}.",
            hint="use embedding-tuned, hybrid-tuned.",
        )
    fold_of = assign_folds([case_id for case_id, _ in labelled], folds, seed=seed, groups=groups)
    name = f"({folds}-fold {'grouped ' if groups is not None else ''}CV)"
    rows: dict[tuple[str, str, int], list[tuple[int, float, float]]] = {}  # cases, recall, ms per query
    for fold in range(folds):
        scored = [rc for rc in cases if fold_of.get(rc.case.id, 0) == fold]
        if not scored:
            continue
        t0 = time.perf_counter()
        adapter = tune_query_adapter([r for case_id, r in labelled if fold_of[case_id] != fold], pool, embedding)
        if on_fold:
            on_fold(fold, adapter, time.perf_counter() - t0)
        tuned = embedding.with_adapter(adapter)
        built: dict[str, ToolRetriever] = {"embedding-tuned": tuned, "hybrid-tuned": HybridRetriever(lexical, tuned)}
        for row in measure_recall([built[kind] for kind in kinds], pool, scored, ks):
            key = (row["retriever"], row["category"], row["k"])
            rows.setdefault(key, []).append((row["cases"], row["recall"], row["ms_per_query"]))
    out: list[dict[str, Any]] = []
    for (retriever, category, k), parts in sorted(rows.items()):
        n = sum(p[0] for p in parts)
        out.append(
            {
                "retriever": f"{retriever} {name}",
                "category": category,
                "k": k,
                "cases": n,
                "recall": sum(p[0] * p[1] for p in parts) / n,
                "ms_per_query": sum(p[0] * p[2] for p in parts) / n,
            }
        )
    return out


def pool_prompt_tokens(model: LocalModel, pool: Sequence[Tool], request: str = "What is the weather in Paris?") -> int:
    """Prompt tokens needed to offer every pool tool at once (for comparison with the model's context)."""
    from agentslm.roles.caller import Caller

    return model.count_tokens(Caller(model).calls_messages(request, list(pool), []))


_Setting = tuple[str, str, ToolRetriever | None, int | None]
"""One accuracy setting: (retriever label, k label, retriever or None for the case's own tools, k or None)."""


def _read_accuracy_records(path: Path, wanted: set[str]) -> tuple[list[dict[str, Any]], set[tuple[str, str, str]]]:
    """The records of ``path`` for the cases in ``wanted``, with their (id, retriever, k) keys; torn lines are skipped."""
    done: set[tuple[str, str, str]] = set()
    records: list[dict[str, Any]] = []
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                r = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line (killed mid-write) is redone
            if r.get("id") not in wanted:
                continue  # another sample's case: kept in the file, not in this report
            records.append(r)
            done.add((r["id"], r["retriever"], str(r["k"])))
    return records, done


def _accuracy_settings(
    retrievers: Sequence[ToolRetriever], ks: Sequence[int], agreed_ks: tuple[int, int] | None
) -> list[_Setting]:
    """The settings to score: the case's own tools, each retriever at each k, and the agreement settings."""
    settings: list[_Setting] = [("case", "case", None, None)]
    settings += [(r.name, str(k), r, k) for r in retrievers for k in ks]
    if agreed_ks is not None:
        settings += [(r.name, f"{agreed_ks[0]}/{agreed_ks[1]}", r, None) for r in retrievers if isinstance(r, HybridRetriever)]
    return settings


def _offered_tools(
    rc: RetrievalCase,
    setting: _Setting,
    pool: Sequence[Tool],
    ranked: dict[str, list[Tool]],
    agreed: dict[str, bool],
    agreed_ks: tuple[int, int] | None,
) -> tuple[list[Tool], float]:
    """The tools a setting offers for a case and the retrieval time (ms); rankings are cached in ``ranked``/``agreed``."""
    _, _, retriever, k = setting
    if retriever is None:
        return list(ToolRegistry.from_bfcl(rc.case.functions)), 0.0
    t0 = time.perf_counter()
    if retriever.name not in ranked:
        if isinstance(retriever, HybridRetriever):
            ranking, agreed[retriever.name] = retriever.rank_agreed(rc.query, pool)
        else:
            ranking = retriever.rank(rc.query, pool)
        ranked[retriever.name] = [t for t, _ in ranking]
    retrieval_ms = 1000 * (time.perf_counter() - t0)
    if k is None and agreed_ks is not None:  # the agreement setting
        k = agreed_ks[0] if agreed[retriever.name] else agreed_ks[1]
    return ranked[retriever.name][: k or 1], retrieval_ms


def _run_offered(model: LocalModel, system: AgentslmSystem, messages: list[Message], tools: list[Tool]) -> SystemOutput:
    """The system's output with the offered tools; a failure (e.g. over the context) is an output with no calls."""
    t0 = time.perf_counter()
    try:
        return system.run(messages, tools)
    except Exception as exc:  # e.g. the offered tools do not fit the context: no call, scored wrong
        prompt = model.count_tokens(system.caller.calls_messages(messages[-1]["content"], tools, messages[:-1]))
        return SystemOutput(
            calls=None,
            raw="",
            seconds=time.perf_counter() - t0,
            completion_tokens=0,
            prompt_tokens=prompt,
            extra={"error": f"{type(exc).__name__}: {exc}"},
        )


def _accuracy_record(
    rc: RetrievalCase,
    setting: _Setting,
    tools: list[Tool],
    output: SystemOutput,
    agreed: dict[str, bool],
    retrieval_ms: float,
) -> dict[str, Any]:
    """One JSONL record: the checker's verdict on the output of one case under one setting."""
    label, k_label, _, _ = setting
    verdict = check_case(rc.category, rc.case.functions, output.calls, rc.case.answer)
    return {
        "id": rc.case.id,
        "category": rc.category,
        "retriever": label,
        "k": k_label,
        "valid": verdict.valid,
        "gold_offered": all(g in {t.name for t in tools} for g in rc.gold),
        **({"agreed": agreed[label]} if label in agreed else {}),
        "prompt_tokens": output.prompt_tokens,
        "seconds": round(output.seconds, 4),
        "retrieval_ms": round(retrieval_ms, 2),
        "calls": None if output.calls is None else [{"name": c.name, "arguments": c.arguments} for c in output.calls],
        **({"error": output.extra["error"]} if "error" in output.extra else {}),
    }


def measure_accuracy(
    model: LocalModel,
    retrievers: Sequence[ToolRetriever],
    pool: Sequence[Tool],
    cases: Sequence[RetrievalCase],
    ks: Sequence[int],
    *,
    out: Path,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    agreed_ks: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Run agentslm with the top-k retrieved tools (and with the case's own tools) on each case; resumable JSONL.

    ``agreed_ks=(a, b)`` adds, for each hybrid retriever, the setting ``k="a/b"``: the top ``a`` tools when its
    lexical and embedding rankings agree on the first tool, else the top ``b`` (``RetrievalPolicy.k_agreed``).
    """
    out.mkdir(parents=True, exist_ok=True)
    path = out / "accuracy.jsonl"
    records, done = _read_accuracy_records(path, {rc.case.id for rc in cases})
    system = AgentslmSystem(model)
    settings = _accuracy_settings(retrievers, ks, agreed_ks)
    if path.is_file() and path.stat().st_size and not path.read_bytes().endswith(b"\n"):
        with path.open("a", encoding="utf-8") as fh:  # end a torn line so new records parse
            fh.write("\n")
    with path.open("a", encoding="utf-8") as fh:
        for rc in cases:
            ranked: dict[str, list[Tool]] = {}
            agreed: dict[str, bool] = {}
            for setting in settings:
                if (rc.case.id, setting[0], setting[1]) in done:
                    continue
                tools, retrieval_ms = _offered_tools(rc, setting, pool, ranked, agreed, agreed_ks)
                messages: list[Message] = [{"role": m["role"], "content": m["content"]} for m in rc.case.messages]  # type: ignore[misc]
                output = _run_offered(model, system, messages, tools)
                record = _accuracy_record(rc, setting, tools, output, agreed, retrieval_ms)
                fh.write(json.dumps(record) + "\n")
                fh.flush()
                records.append(record)
                if on_record:
                    on_record(record)
    return records


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def retrieval_report(
    out: Path,
    recall_rows: list[dict[str, Any]],
    accuracy_records: list[dict[str, Any]],
    meta: dict[str, Any],
) -> Path:
    """Write ``report.md``, ``recall.png``, ``accuracy_tokens.png`` and ``summary.json`` into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Tool retrieval benchmark\n"]
    lines += [f"- {key}: {value}" for key, value in meta.items()]
    lines.append("\n## Recall@k over the pooled registry\n")
    retrievers = sorted({r["retriever"] for r in recall_rows})
    ks = sorted({r["k"] for r in recall_rows})
    categories = sorted({r["category"] for r in recall_rows})
    lines.append("| retriever | category | cases | " + " | ".join(f"R@{k}" for k in ks) + " | ms/query |")
    lines.append("|---|---|--:|" + "--:|" * (len(ks) + 1))
    for retriever in retrievers:
        for category in categories:
            rows = {r["k"]: r for r in recall_rows if r["retriever"] == retriever and r["category"] == category}
            if not rows:
                continue
            first = next(iter(rows.values()))
            cells = " | ".join(_pct(rows[k]["recall"]) for k in ks)
            lines.append(f"| {retriever} | {category} | {first['cases']} | {cells} | {first['ms_per_query']:.1f} |")
    summary_rows: list[dict[str, Any]] = []
    if accuracy_records:
        lines.append("\n## End-to-end accuracy (official checker) vs prompt tokens\n")
        lines.append(
            "| tools offered | retriever | k | cases | AST accuracy % | gold offered % | prompt tokens (mean) | p50 s/case "
            "| failed to run (e.g. over the context) |"
        )
        lines.append("|---|---|--:|--:|--:|--:|--:|--:|--:|")
        groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for r in accuracy_records:
            groups.setdefault((r["retriever"], str(r["k"])), []).append(r)

        def order(key: tuple[str, str]) -> tuple[int, str, int]:
            name, k = key
            return (0 if name == "case" else 1, name, int(k) if k.isdigit() else 10**6)  # "a/b" (agreement) last

        for key in sorted(groups, key=order):
            rs = groups[key]
            row = {
                "retriever": key[0],
                "k": key[1],
                "cases": len(rs),
                "accuracy": statistics.fmean(r["valid"] for r in rs),
                "gold_offered": statistics.fmean(r["gold_offered"] for r in rs),
                "prompt_tokens": statistics.fmean(r["prompt_tokens"] for r in rs),
                "p50_seconds": statistics.median(r["seconds"] for r in rs),
                "errors": sum("error" in r for r in rs),
            }
            summary_rows.append(row)
            offered = "the case's own functions (BFCL)" if key[0] == "case" else f"top-k of {meta.get('pool_tools', '?')}"
            lines.append(
                f"| {offered} | {key[0] if key[0] != 'case' else '-'} | {key[1] if key[0] != 'case' else '-'} | {row['cases']} | "
                f"{_pct(row['accuracy'])} | {_pct(row['gold_offered'])} | {row['prompt_tokens']:.0f} | {row['p50_seconds']:.2f} "
                f"| {row['errors']} |"
            )
    (out / "summary.json").write_text(
        json.dumps({"recall": recall_rows, "accuracy": summary_rows, "meta": meta}, indent=2) + "\n"
    )
    _plots(out, recall_rows, summary_rows)
    lines.append("\n![recall.png](recall.png)\n")
    if summary_rows:
        lines.append("![accuracy_tokens.png](accuracy_tokens.png)\n")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _plots(out: Path, recall_rows: list[dict[str, Any]], summary_rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for retriever in sorted({r["retriever"] for r in recall_rows}):
        points: dict[int, list[float]] = {}
        for r in recall_rows:
            if r["retriever"] == retriever:
                points.setdefault(r["k"], []).append(r["recall"])
        ks = sorted(points)
        ax.plot(ks, [100 * statistics.fmean(points[k]) for k in ks], marker="o", label=retriever)
    ax.set_xscale("log")
    _save(fig, ax, "k (tools offered)", "recall@k, % (mean over categories)", out / "recall.png")
    if not summary_rows:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for retriever in sorted({r["retriever"] for r in summary_rows}):
        rows = [r for r in summary_rows if r["retriever"] == retriever]
        ax.plot([r["prompt_tokens"] for r in rows], [100 * r["accuracy"] for r in rows], marker="o", label=retriever)
        for r in rows:
            if retriever != "case":
                ax.annotate(f"k={r['k']}", (r["prompt_tokens"], 100 * r["accuracy"]), fontsize=7)
    _save(fig, ax, "prompt tokens (mean per case)", "AST accuracy, %", out / "accuracy_tokens.png")


def _save(fig: Any, ax: Any, xlabel: str, ylabel: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
