"""``agentslm bench retrieval``: tool retrieval over the BFCL catalog."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from agentslm.cli.common import (
    ModelOpt,
    ThreadsOpt,
    _load,
    _machine_line,
    _progress,
    bench_app,
    console,
)
from agentslm.errors import UserError


@bench_app.command("retrieval")
def bench_retrieval(  # noqa: C901 - complexity exception, issue 22
    category: Annotated[
        list[str] | None,
        typer.Option("--category", "-c", help="Recall categories (default: multiple, live_multiple, simple_python)."),
    ] = None,
    limit: Annotated[int, typer.Option(help="Recall cases per category (seeded sample; 0: every case).")] = 100,
    seed: Annotated[int, typer.Option(help="Sample seed.")] = 0,
    k: Annotated[list[int] | None, typer.Option("--k", help="k values (default: 1 3 5 10).")] = None,
    retriever: Annotated[
        list[str] | None,
        typer.Option(
            "--retriever",
            "-r",
            help="lexical, embedding, hybrid, embedding-tuned, hybrid-tuned (default: all available; -tuned with --adapter).",
        ),
    ] = None,
    adapter: Annotated[
        Path | None, typer.Option(help="Query adapter for the -tuned retrievers (agentslm train retriever --bfcl-holdout).")
    ] = None,
    cv_folds: Annotated[
        int,
        typer.Option(
            help="Score the -tuned retrievers by K-fold cross-validation over every labelled BFCL request instead of "
            "with --adapter (an adapter per fold, trained here; recall only)."
        ),
    ] = 0,
    cv_grouped: Annotated[
        bool,
        typer.Option(
            help="With --cv-folds: keep the cases that offer the same functions in one fold (their requests are often "
            "near-duplicates), the stricter estimate."
        ),
    ] = False,
    agreed_k: Annotated[
        str | None,
        typer.Option(
            help="Also run hybrid retrievers with 'A/B': A tools when lexical and embedding agree on the first, else B "
            "(RetrievalPolicy k_agreed), e.g. 1/5."
        ),
    ] = None,
    accuracy_retriever: Annotated[
        list[str] | None, typer.Option(help="Retrievers for the accuracy runs (default: every --retriever).")
    ] = None,
    accuracy_category: Annotated[str, typer.Option(help="Category for the end-to-end accuracy runs.")] = "multiple",
    accuracy_cases: Annotated[int, typer.Option(help="Cases for the end-to-end accuracy runs (0: recall only).")] = 50,
    out: Annotated[Path, typer.Option(help="Results folder (accuracy runs are resumable).")] = Path("bench-out/retrieval"),
    model: ModelOpt = None,
    threads: ThreadsOpt = None,
) -> None:
    """Tool retrieval over every distinct BFCL function pooled: recall@k, and accuracy vs prompt tokens per k."""
    from agentslm.bench.retrieval import (
        POOL_CATEGORIES,
        RECALL_CATEGORIES,
        bfcl_function_sets,
        bfcl_labelled_requests,
        bfcl_tool_pool,
        check_adapter_disjoint,
        cross_validated_recall,
        load_retrieval_cases,
        measure_accuracy,
        measure_recall,
        pool_prompt_tokens,
        retrieval_report,
    )
    from agentslm.retrieval import EmbeddingRetriever, HybridRetriever, LexicalRetriever, QueryAdapter, embedding_available

    ks = sorted(set(k or [1, 3, 5, 10]))
    if limit < 0 or cv_folds < 0 or cv_folds == 1:
        raise UserError("--limit must be >= 0 (0: every case) and --cv-folds 0 (off) or >= 2.")
    if cv_grouped and not cv_folds:
        raise UserError("--cv-grouped needs --cv-folds.", hint="e.g. --cv-folds 5 --cv-grouped")
    if cv_folds and adapter is not None:
        raise UserError(
            "--cv-folds trains its own adapters; --adapter scores one trained elsewhere.",
            hint="give one of them (run the command twice, with different --out, for both).",
        )
    tuned_names = ["embedding-tuned", "hybrid-tuned"] if adapter is not None or cv_folds else []
    names = retriever or (["lexical", "embedding", "hybrid", *tuned_names] if embedding_available() else ["lexical"])
    known = {"lexical", "embedding", "hybrid", "embedding-tuned", "hybrid-tuned"}
    for n in [*names, *(accuracy_retriever or [])]:
        if n not in known:
            raise UserError(f"Unknown retriever {n!r}.", hint=f"use {', '.join(sorted(known))}.")
        if n.endswith("-tuned") and adapter is None and not cv_folds:
            raise UserError(
                f"Retriever {n!r} needs --adapter or --cv-folds.",
                hint="train one with `agentslm train retriever --bfcl-holdout N`, or cross-validate with --cv-folds 5.",
            )
    if accuracy_retriever and not set(accuracy_retriever) <= set(names):
        raise UserError("--accuracy-retriever must name retrievers given with --retriever.")
    if cv_folds and any(n.endswith("-tuned") for n in accuracy_retriever or []):
        raise UserError(
            "--cv-folds measures recall only; accuracy runs of a -tuned retriever need one --adapter.",
            hint="drop the -tuned --accuracy-retriever, or use --adapter instead of --cv-folds.",
        )
    agreed_ks: tuple[int, int] | None = None
    if agreed_k is not None:
        first, _, rest = agreed_k.partition("/")
        if not (first.isdigit() and rest.isdigit() and 1 <= int(first) <= int(rest)):
            raise UserError(f"--agreed-k {agreed_k!r} is not 'A/B' with 1 <= A <= B.", hint="e.g. --agreed-k 1/5")
        agreed_ks = (int(first), int(rest))
    query_adapter = QueryAdapter.load(adapter) if adapter is not None else None
    lexical = LexicalRetriever()  # one index per kind, shared by the fused retrievers
    embedding = EmbeddingRetriever() if any(n != "lexical" for n in names) else None  # one MiniLM, one tool index
    embedding_tuned = embedding.with_adapter(query_adapter) if embedding and query_adapter is not None else None
    built: dict[str, Any] = {
        "lexical": lexical,
        "embedding": embedding,
        "hybrid": HybridRetriever(lexical, embedding) if embedding else None,
        "embedding-tuned": embedding_tuned,
        "hybrid-tuned": HybridRetriever(lexical, embedding_tuned) if embedding_tuned else None,
    }
    cv_names = [n for n in names if n.endswith("-tuned")] if cv_folds else []
    retrievers = [built[n] for n in names if n not in cv_names]
    pool = bfcl_tool_pool()
    cases = load_retrieval_cases(category or list(RECALL_CATEGORIES), limit=limit or None, seed=seed)
    if query_adapter is not None:
        check_adapter_disjoint(query_adapter, cases)
    console.print(f"pool: {len(pool)} distinct BFCL functions; recall over {len(cases)} cases; retrievers: {', '.join(names)}")
    t0 = time.perf_counter()
    recall = measure_recall(retrievers, pool, cases, ks)
    cv_meta = ""
    if cv_names and embedding is not None:
        requests, ids = bfcl_labelled_requests(exclude=())
        fold_seconds: list[float] = []

        def on_fold(fold: int, fold_adapter: QueryAdapter, seconds: float) -> None:
            fold_seconds.append(seconds)
            console.print(
                f"fold {fold + 1}/{cv_folds}: adapter trained on {fold_adapter.meta['requests']} requests in {seconds:.0f}s"
            )

        recall += cross_validated_recall(
            cv_names,
            pool,
            cases,
            list(zip(ids, requests, strict=True)),
            ks,
            folds=cv_folds,
            seed=seed,
            embedding=embedding,
            lexical=lexical,
            groups=bfcl_function_sets() if cv_grouped else None,
            on_fold=on_fold,
        )
        cv_meta = (
            f"{cv_folds} folds over the {len(requests)} BFCL cases with an answer (every pool category; fold seed {seed}"
            + ("; the cases offering the same functions kept in one fold" if cv_grouped else "")
            + "); "
            f"each scored case ranked by the adapter trained without its fold (defaults of `agentslm train retriever`; "
            f"{sum(fold_seconds) / max(1, len(fold_seconds)):.0f} s per adapter)"
        )
    console.print(f"recall measured in {time.perf_counter() - t0:.1f}s (first use builds each index)")
    m = _load(model, threads)
    accuracy: list[dict[str, Any]] = []
    ran: list[int] = []  # accuracy records this command produced (the rest are reused from the folder)
    if accuracy_cases > 0:
        acc_cases = load_retrieval_cases([accuracy_category], limit=accuracy_cases, seed=seed)
        if query_adapter is not None:
            check_adapter_disjoint(query_adapter, acc_cases)
        acc_retrievers = [built[n] for n in accuracy_retriever] if accuracy_retriever else retrievers  # not CV ones
        with _progress() as progress:
            per_case = 1 + len(acc_retrievers) * len(ks)
            if agreed_ks:
                per_case += sum(isinstance(r, HybridRetriever) for r in acc_retrievers)
            task = progress.add_task("accuracy", total=len(acc_cases) * per_case)

            def on_record(_: dict[str, Any]) -> None:
                ran.append(1)
                progress.advance(task)

            accuracy = measure_accuracy(
                m,
                acc_retrievers,
                pool,
                acc_cases,
                ks,
                out=out,
                on_record=on_record,
                agreed_ks=agreed_ks,
            )
    meta = {
        "model": m.name,
        "machine": _machine_line(),
        "date": time.strftime("%Y-%m-%d"),
        "command": "agentslm " + " ".join(sys.argv[1:]),
        "pool_tools": len(pool),
        "pool_categories": ", ".join(POOL_CATEGORIES),
        "prompt tokens to offer the whole pool": f"{pool_prompt_tokens(m, pool)} (model context: {m.context_length})",
        "accuracy": f"{accuracy_category}, {accuracy_cases} seeded cases, agentslm system (as in bench bfcl)",
    }
    if accuracy:
        meta["accuracy records"] = (
            f"{len(ran)} run by this command, {len(accuracy) - len(ran)} reused from earlier runs in this folder "
            "(resumable; same cases, model and code path)"
        )
    if agreed_ks is not None:
        meta["k a/b"] = (
            f"the top {agreed_ks[0]} when the lexical and embedding rankings agree on the first tool, else the top "
            f"{agreed_ks[1]} (p50 s/case of these rows is low: the preceding setting often evaluated the same prompt, "
            "which llama.cpp's prompt cache reuses)"
        )
    if cv_meta:
        meta["cross-validation"] = cv_meta
    if query_adapter is not None:
        meta["query adapter"] = ", ".join(
            f"{key} {value}" for key, value in query_adapter.meta.items() if key != "bfcl_training_cases"
        )
    path = retrieval_report(out, recall, accuracy, meta)
    console.print(f"report: {path}")
