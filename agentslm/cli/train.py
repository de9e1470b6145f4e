"""``agentslm train …``: build a dataset, train a LoRA adapter, export it to GGUF, evaluate before/after."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from agentslm.errors import MissingExtraError, UserError

__all__ = ["train_app"]

train_app = typer.Typer(help="Fine-tune a model for function calling (LoRA).", no_args_is_help=True)
console = Console()

BaseOpt = Annotated[
    str | None, typer.Option("--base", help="Base model: a GGUF file or HF model folder (default: the embedded SmolLM2-135M).")
]


def _base_path(base: str | None) -> Path:
    from agentslm.models import embedded_model_path

    path = embedded_model_path() if base in (None, "embedded") else Path(str(base)).expanduser()
    if not path.exists():
        raise UserError(f"No base model at {str(path)!r}.", hint="pass a GGUF file or HF model folder, or omit --base.")
    return path


def _tokenizer_model(base: Path) -> Any:
    """The runtime model whose chat template and tokenizer render the training examples."""
    from agentslm.models import load_model

    return load_model(
        f"transformers:{base}" if base.is_dir() else f"llamacpp:{base}", **({} if base.is_dir() else {"n_ctx": 256})
    )


@train_app.command("data")
def data_cmd(
    out: Annotated[Path, typer.Option(help="Folder for train.jsonl, val.jsonl and summary.json.")] = Path("training/data"),
    catalog: Annotated[
        list[Path] | None, typer.Option("--catalog", help="Tool catalog files/folders (default: training/catalog).")
    ] = None,
    tools: Annotated[
        str | None, typer.Option(help="Also synthesize for a registry ('module:attribute'); generic request templates.")
    ] = None,
    n: Annotated[int, typer.Option(help="Synthetic training records.")] = 4000,
    val_n: Annotated[int, typer.Option(help="Synthetic validation records (on held-out tools).")] = 300,
    val_tools: Annotated[float, typer.Option(help="Share of catalog tools held out for validation.")] = 0.1,
    openai: Annotated[list[Path] | None, typer.Option("--openai", help="Import OpenAI chat-format JSONL.")] = None,
    sharegpt: Annotated[list[Path] | None, typer.Option("--sharegpt", help="Import ShareGPT/Hermes/Glaive JSON(L).")] = None,
    runs: Annotated[list[Path] | None, typer.Option("--runs", help="Import agent runs (AgentRun JSONL); needs --tools.")] = None,
    records: Annotated[
        list[Path] | None, typer.Option("--records", help="Add training-record JSONL (e.g. escalation logs); verified.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the synthesis and the split.")] = 0,
    rounds: Annotated[
        int, typer.Option(help="Multi-round (v2) training records from --chains: dependent steps, stopping, asking, answers.")
    ] = 0,
    chains: Annotated[
        Path, typer.Option(help="Chains of lookups and writes for --rounds (format: agentslm/finetune/rounds.py).")
    ] = Path("training/catalog/chains.json"),
    allow_no_bfcl_check: Annotated[
        bool, typer.Option(help="Build even when bfcl-eval is not installed (the BFCL contamination check is skipped).")
    ] = False,
) -> None:
    """Build a deduplicated dataset with a held-out split, refusing any BFCL question or task-benchmark request."""
    import random

    from agentslm.finetune.dataset import (
        TASK_CASES,
        check_no_bfcl,
        check_no_task_requests,
        dedupe,
        from_agent_runs,
        from_openai_chat,
        from_sharegpt,
        split_records,
    )
    from agentslm.finetune.rounds import load_chains, split_chains, synthesize_rounds
    from agentslm.finetune.synth import entry_for_tool, load_catalog, synthesize
    from agentslm.records import read_records, write_records

    entries = load_catalog(catalog or [Path("training/catalog")]) if (catalog or Path("training/catalog").is_dir()) else []
    registry = None
    if tools:
        from agentslm.cli.common import _load_registry

        registry = _load_registry(tools)
        from agentslm.records import tools_from

        entries += [entry_for_tool(t, seed=seed) for t in tools_from(list(registry))]
    names = sorted(e.tool.name for e in entries)
    held = set(random.Random(seed).sample(names, round(len(names) * val_tools))) if entries and val_n else set()
    train_entries = [e for e in entries if e.tool.name not in held]
    val_entries = [e for e in entries if e.tool.name in held]
    train = synthesize(train_entries, n, seed=seed) if train_entries and n else []
    val = synthesize(val_entries, val_n, seed=seed + 1, distractors=entries) if val_entries else []
    all_chains = load_chains(chains) if rounds else []
    train_chains, held_chains = split_chains(all_chains, val_tools if val_n else 0.0, seed=seed)
    if rounds:
        train += synthesize_rounds(train_chains, train_entries, rounds, seed=seed, distractor_chains=train_chains)
    if rounds and held_chains:
        val += synthesize_rounds(held_chains, entries, val_n, seed=seed + 1, distractor_chains=all_chains)
    imported: list[Any] = []
    for path in openai or []:
        imported += from_openai_chat(path)
    for path in sharegpt or []:
        imported += from_sharegpt(path)
    for path in runs or []:
        if registry is None:
            raise UserError("--runs needs --tools (the tools the agent offered).")
        imported += from_agent_runs(path, list(registry))
    for path in records or []:
        imported += read_records(path)
    if imported:
        extra_train, extra_val = split_records(dedupe(imported), 0.1 if val_n else 0.0, seed=seed)
        train += extra_train
        val += extra_val
    train, val = dedupe(train), dedupe(val)
    val_keys = {r.id for r in val}
    train = [r for r in train if r.id not in val_keys]
    if not train:
        raise UserError("No training records.", hint="pass --catalog, --tools or an import.")
    try:
        check_no_bfcl(train + val)
        bfcl_checked = True
    except MissingExtraError:
        if not allow_no_bfcl_check:
            raise UserError(
                "The BFCL contamination check needs bfcl-eval's data files.",
                hint="pip install --no-deps bfcl-eval, or pass --allow-no-bfcl-check.",
            ) from None
        bfcl_checked = False
    task_checked = TASK_CASES.is_file()  # a source checkout; an installed package has no benchmark cases to leak
    if task_checked:
        check_no_task_requests(train + val)
    out.mkdir(parents=True, exist_ok=True)
    write_records(out / "train.jsonl", train)
    write_records(out / "val.jsonl", val)
    from collections import Counter

    summary = {
        "command": "agentslm " + " ".join(sys.argv[1:]),
        "train": len(train),
        "val": len(val),
        "train_kinds": dict(Counter(r.kind for r in train)),
        "val_kinds": dict(Counter(r.kind for r in val)),
        "train_kinds_rounds": dict(Counter(r.kind for r in train if "chain" in r.meta)),
        "val_kinds_rounds": dict(Counter(r.kind for r in val if "chain" in r.meta)),
        "tools": len(entries),
        "held_out_tools": sorted(held),
        "chains": len(all_chains),
        "held_out_chains": sorted(c.name for c in held_chains),
        "imported": len(imported),
        "bfcl_checked": bfcl_checked,
        "task_checked": task_checked,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"{len(train)} train / {len(val)} val records in {out} (tools: {len(entries)}, held out: {len(held)}; "
        f"chains: {len(all_chains)}, held out: {len(held_chains)}); BFCL check: {'passed' if bfcl_checked else 'skipped'}; "
        f"task benchmark check: {'passed' if task_checked else 'skipped'}"
    )


@train_app.command("tokenize")
def tokenize_cmd(
    data: Annotated[Path, typer.Argument(help="Training records (JSONL).")],
    out: Annotated[Path, typer.Option(help="Tokenized examples (JSONL).")],
    base: BaseOpt = None,
    max_length: Annotated[int, typer.Option(help="Longest example in tokens.")] = 2048,
    role: Annotated[
        str | None, typer.Option(help="Only records of this role (planner, caller, summarizer): one adapter per role.")
    ] = None,
) -> None:
    """Render records with the runtime's prompts and tokenize them (the input of `train lora --tokens`)."""
    from agentslm.finetune.render import example_summary, tokenize_records
    from agentslm.records import read_records

    records = [r for r in read_records(data) if role is None or r.role == role]
    if not records:
        raise UserError(f"{data} has no {role or ''} records.".replace("  ", " "))
    examples = tokenize_records(_tokenizer_model(_base_path(base)), records, max_length=max_length)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(e.to_json() + "\n" for e in examples), encoding="utf-8")
    console.print(f"{out}: {json.dumps(example_summary(examples))}")


@train_app.command("lora")
def lora_cmd(
    data: Annotated[Path, typer.Argument(help="Training records (JSONL), or tokenized examples with --tokens.")],
    out: Annotated[Path, typer.Option(help="Run folder: adapter/, checkpoint/, loss.jsonl, training.json, loss.png.")],
    val: Annotated[Path | None, typer.Option(help="Validation records (loss every --eval-every steps).")] = None,
    base: BaseOpt = None,
    tokens: Annotated[bool, typer.Option(help="DATA and --val are already tokenized (`train tokenize`).")] = False,
    r: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    alpha: Annotated[int, typer.Option(help="LoRA alpha (scale alpha/r).")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate.")] = 2e-4,
    epochs: Annotated[float, typer.Option(help="Passes over the data.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    batch_size: Annotated[int, typer.Option(help="Examples per step (CPU: 4; GPU: 16+).")] = 4,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    eval_every: Annotated[int, typer.Option(help="Validation loss every N steps.")] = 50,
    save_every: Annotated[int, typer.Option(help="Checkpoint every N steps.")] = 100,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda, cuda:1 ...")] = "auto",
    seed: Annotated[int, typer.Option(help="Seed.")] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/checkpoint.")] = False,
    init_adapter: Annotated[
        Path | None, typer.Option(help="Start from this peft adapter folder (a warm start, e.g. training/adapters/...).")
    ] = None,
    max_seconds: Annotated[
        float | None, typer.Option(help="Stop and save after this many seconds (a CPU session; --resume goes on).")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Train a LoRA adapter (peft) on the transformers backend; loss on the target tokens only."""
    try:
        import peft  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            "LoRA training needs peft and the transformers backend.", hint="pip install 'agentslm[train]'."
        ) from None
    from agentslm.finetune.sft import LoraConfigSpec, train_lora

    base_path = _base_path(base)
    out.mkdir(parents=True, exist_ok=True)
    train_tokens, val_tokens = data, val
    if not tokens:
        from agentslm.finetune.render import tokenize_records
        from agentslm.records import read_records

        model = _tokenizer_model(base_path)
        train_tokens = out / "train.tokens.jsonl"
        train_tokens.write_text(
            "".join(e.to_json() + "\n" for e in tokenize_records(model, read_records(data))), encoding="utf-8"
        )
        if val is not None:
            val_tokens = out / "val.tokens.jsonl"
            val_tokens.write_text(
                "".join(e.to_json() + "\n" for e in tokenize_records(model, read_records(val))), encoding="utf-8"
            )
        model.close()
    spec = LoraConfigSpec(
        r=r,
        alpha=alpha,
        lr=lr,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        eval_every=eval_every,
        save_every=save_every,
        device=device,
        seed=seed,
        init_adapter=str(init_adapter) if init_adapter else None,
        max_seconds=max_seconds,
    )
    if init_adapter is not None and not (init_adapter / "adapter_config.json").is_file():
        raise UserError(f"{init_adapter} is not a peft adapter folder (no adapter_config.json).")
    result = train_lora(train_tokens, base_path, out, spec, val_tokens=val_tokens, resume=resume, progress=progress)
    plot = plot_loss(out)
    console.print(
        f"{result.steps} steps in {result.seconds:.0f}s on {result.device}; train loss {result.train_loss}, "
        f"val loss {result.val_loss}; adapter: {out / 'adapter'}" + (f"; plot: {plot}" if plot else "")
    )


def plot_loss(run: Path) -> Path | None:
    """``run/loss.png`` from ``run/loss.jsonl`` (None when matplotlib is missing)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    rows = [json.loads(line) for line in (run / "loss.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in rows], [r["loss"] for r in rows], lw=0.8, alpha=0.6, label="train (per step)")
    val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
    if val:
        ax.plot(*zip(*val, strict=True), "o-", label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("loss (target tokens)")
    ax.set_yscale("log")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(run / "loss.png", dpi=120)
    plt.close(fig)
    return run / "loss.png"


@train_app.command("plot")
def plot_cmd(run: Annotated[Path, typer.Argument(help="A run folder with loss.jsonl.")]) -> None:
    """Draw the loss curve of a run (run/loss.png)."""
    if not (run / "loss.jsonl").is_file():
        raise UserError(f"No loss.jsonl in {run}.")
    console.print(f"plot: {plot_loss(run)}")


@train_app.command("export")
def export_cmd(
    run: Annotated[Path, typer.Argument(help="A run folder (its adapter/) or a peft adapter folder.")],
    out: Annotated[Path | None, typer.Option(help="GGUF adapter file (default: RUN/adapter.gguf).")] = None,
    base: BaseOpt = None,
    verify: Annotated[int, typer.Option(help="Compare llama.cpp and transformers greedy outputs on N prompts (0: skip).")] = 3,
    prompts: Annotated[
        Path | None, typer.Option(help="Records whose prompts --verify uses (default: RUN's val.tokens or train.tokens).")
    ] = None,
    dtype: Annotated[str, typer.Option(help="Tensor type of the GGUF adapter: f32, or f16 (half the size).")] = "f32",
) -> None:
    """Export the adapter to a GGUF LoRA adapter for llama.cpp and check that both runtimes agree."""
    from agentslm.finetune.export import export_gguf_adapter

    adapter = run / "adapter" if (run / "adapter").is_dir() else run
    base_path = _base_path(base)
    if base_path.is_dir():
        raise UserError("The GGUF export needs the base as a GGUF file.", hint="pass --base model.gguf.")
    target = out or (run / "adapter.gguf")
    meta = run / "training.json"
    trained_on = json.loads(meta.read_text(encoding="utf-8")).get("base_config") if meta.is_file() else None
    if dtype not in ("f32", "f16"):
        raise UserError(f"--dtype is {dtype!r}.", hint="use f32 or f16.")
    path = export_gguf_adapter(adapter, base_path, target, trained_on=trained_on, dtype="f16" if dtype == "f16" else "f32")
    console.print(f"GGUF adapter: {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    if verify:
        from agentslm.finetune.verify_export import compare_runtimes

        report = compare_runtimes(base_path, adapter, path, _verify_prompts(run, prompts, base_path, verify))
        (run / "export_check.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        console.print(json.dumps({k: v for k, v in report.items() if k != "prompts"}))
        if not report["ok"]:
            raise UserError("llama.cpp with the GGUF adapter disagrees with transformers (see export_check.json).")


def _verify_prompts(run: Path, prompts: Path | None, base: Path, n: int) -> list[list[int]]:
    from agentslm.finetune.sft import load_tokens

    if prompts is not None and prompts.suffix == ".jsonl" and "tokens" not in prompts.name:
        from agentslm.finetune.render import tokenize_records
        from agentslm.records import read_records

        examples = tokenize_records(_tokenizer_model(base), read_records(prompts)[:n])
        return [e.input_ids[: e.n_prompt] for e in examples]
    source = prompts or next((p for p in (run / "val.tokens.jsonl", run / "train.tokens.jsonl") if p.is_file()), None)
    if source is None:
        raise UserError("No prompts to verify the export with.", hint="pass --prompts RECORDS.jsonl or --verify 0.")
    return [row["input_ids"][: row["n_prompt"]] for row in load_tokens(source)[:n]]


@train_app.command("eval")
def eval_cmd(
    data: Annotated[Path, typer.Argument(help="Held-out planner records (JSONL).")],
    lora: Annotated[list[Path] | None, typer.Option("--lora", help="GGUF adapter(s) to compare with the base.")] = None,
    base: BaseOpt = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N records.")] = None,
    sample: Annotated[int | None, typer.Option(help="A seeded random sample of N records instead (every kind).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --sample.")] = 0,
    threads: Annotated[int | None, typer.Option(help="llama.cpp threads.")] = None,
    out: Annotated[Path | None, typer.Option(help="Write per-record results and the summary (JSON) here.")] = None,
    no_base: Annotated[bool, typer.Option("--no-base", help="Only the adapters, not the bare base.")] = False,
) -> None:
    """Held-out exact-match accuracy on the runtime (constrained decoding), the base and each adapter."""
    import random

    from rich.progress import Progress

    from agentslm.finetune.evaluate import evaluate_records
    from agentslm.records import read_records

    records = [r for r in read_records(data) if r.role == "planner"][:limit]
    if sample is not None:
        records = random.Random(seed).sample(records, min(sample, len(records)))
    base_path = _base_path(base)
    results = []
    for adapter in [*([] if no_base else [None]), *(lora or [])]:
        options: dict[str, Any] = {"n_threads": threads} if threads else {}
        if adapter is not None:
            options["lora_path"] = adapter
        from agentslm.models.llamacpp import LlamaCppModel

        model = LlamaCppModel(base_path, **options)
        with Progress(console=console) as progress:
            task = progress.add_task(model.name, total=len(records))

            def advance(t: Any = task) -> None:
                progress.advance(t)

            results.append(evaluate_records(model, records, on_case=advance))
        model.close()
    kinds = sorted({k for r in results for k in r.by_kind})
    table = Table(title=f"held-out exact match ({len(records)} records of {data.name})")
    for col in ("model", "all", *kinds, "s/case"):
        table.add_column(col)
    for res in results:
        cells = [
            f"{100 * res.by_kind[k][0] / res.by_kind[k][1]:.1f}% ({res.by_kind[k][1]})" if k in res.by_kind else "-"
            for k in kinds
        ]
        table.add_row(res.model, f"{100 * res.accuracy:.1f}%", *cells, f"{res.seconds / max(res.cases, 1):.2f}")
    console.print(table)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        summary = [
            {
                "model": r.model,
                "cases": r.cases,
                "exact": r.exact,
                "accuracy": r.accuracy,
                "by_kind": r.by_kind,
                "seconds": round(r.seconds, 1),
            }
            for r in results
        ]
        (out / "heldout.json").write_text(
            json.dumps(
                {"command": "agentslm " + " ".join(sys.argv[1:]), "date": time.strftime("%Y-%m-%d"), "results": summary}, indent=2
            )
            + "\n",
            encoding="utf-8",
        )
        with (out / "heldout_rows.jsonl").open("w", encoding="utf-8") as fh:
            for r in results:
                for row in r.rows:
                    fh.write(json.dumps({"model": r.model, **row}, ensure_ascii=False) + "\n")


@train_app.command("retriever")
def retriever_cmd(
    records: Annotated[
        list[Path] | None,
        typer.Option("--records", help="Training-record JSONL with known tools per request (escalation logs, train data)."),
    ] = None,
    tools: Annotated[
        str | None, typer.Option(help="The registry to rank ('module:attribute'; default: the tools named in the records).")
    ] = None,
    bfcl_holdout: Annotated[
        int | None,
        typer.Option(
            help="Benchmark mode: tune on BFCL's cases over the pooled BFCL functions, leaving out the seeded sample "
            "`agentslm bench retrieval --limit N --seed S` scores."
        ),
    ] = None,
    category: Annotated[
        list[str] | None,
        typer.Option("--category", "-c", help="With --bfcl-holdout: the benchmark's recall categories (its default)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the training order (and of --bfcl-holdout's sample).")] = 0,
    epochs: Annotated[int, typer.Option(help="Passes over the labelled requests.")] = 30,
    val: Annotated[
        float, typer.Option(help="Share of requests held out to report recall@1/@5 before and after (0: none).")
    ] = 0.0,
    cv: Annotated[
        int,
        typer.Option(
            help="Estimate recall@1/@5 before and after by K-fold cross-validation over every request (K adapters "
            "trained first; steadier than --val on a small log; 0: off)."
        ),
    ] = 0,
    out: Annotated[Path, typer.Option(help="Adapter file to write (.npz).")] = Path("training/runs/retriever/adapter.npz"),
) -> None:
    """Tune the embedding retriever to a registry on labelled requests (a query adapter; seconds on a CPU)."""
    import random

    from agentslm.retrieval import (
        EmbeddingRetriever,
        LabelledRequest,
        cross_validate_adapter,
        requests_from_records,
        tune_query_adapter,
    )
    from agentslm.retrieval.retrievers import embedding_model_path

    embedding_model_path()  # the embedding extra, or a clear error before any work
    if not 0 <= val < 1:
        raise UserError(f"--val {val} is not a share.", hint="pass a number from 0 (none held out) to below 1, e.g. 0.2.")
    if cv and val:
        raise UserError("--cv and --val both estimate recall; give one.", hint="--cv 5 uses every request, --val one split.")
    if cv < 0 or cv == 1:
        raise UserError(f"--cv {cv} is not a number of folds.", hint="pass 0 (off) or 2 or more, e.g. --cv 5.")
    labelled: list[LabelledRequest] = []
    registry: list[Any] = []
    meta: dict[str, Any] = {}
    if bfcl_holdout is not None:
        if records or tools:
            raise UserError("--bfcl-holdout trains on BFCL alone.", hint="leave out --records and --tools with it.")
        from agentslm.bench.retrieval import RECALL_CATEGORIES, bfcl_labelled_requests, bfcl_tool_pool, load_retrieval_cases

        categories = category or list(RECALL_CATEGORIES)
        scored = load_retrieval_cases(categories, limit=bfcl_holdout, seed=seed)
        labelled, ids = bfcl_labelled_requests(rc.case.id for rc in scored)
        registry = bfcl_tool_pool()
        meta = {
            "source": f"BFCL pool cases except bench retrieval's sample (--limit {bfcl_holdout} --seed {seed}, "
            f"{', '.join(categories)})",
            "bfcl_training_cases": ids,
        }
    else:
        if not records:
            raise UserError("Nothing to tune on.", hint="pass --records FILE.jsonl (or --bfcl-holdout N for the benchmark).")
        from agentslm.records import read_records
        from agentslm.registry import ToolRegistry

        loaded = [r for path in records for r in read_records(path)]
        labelled = requests_from_records(loaded)
        if tools:
            from agentslm.cli.common import _load_registry
            from agentslm.registry import as_registry

            registry = list(as_registry(_load_registry(tools)))
        else:
            specs = {t.name: t for r in loaded for t in r.tools}
            registry = list(ToolRegistry.from_openai([{"type": "function", "function": t.model_dump()} for t in specs.values()]))
        meta = {"source": ", ".join(str(p) for p in records)}
    if not labelled:
        raise UserError("No labelled request found (records with a user message and at least one call).")
    retriever = EmbeddingRetriever()
    console.print(f"{len(labelled)} labelled requests; {len(registry)} tools to rank")
    if val > 0:
        shuffled = labelled[:]
        random.Random(seed).shuffle(shuffled)
        held, rest = shuffled[: max(1, int(len(shuffled) * val))], shuffled[max(1, int(len(shuffled) * val)) :]
        trial = tune_query_adapter(rest, registry, retriever, epochs=epochs, seed=seed)
        table = Table("held-out requests", "R@1", "R@5")
        for label, candidate in (("embedding", retriever), ("embedding, tuned", retriever.with_adapter(trial))):
            r1, r5 = _recall(candidate, held, registry)
            table.add_row(f"{label} ({len(held)})", f"{r1:.3f}", f"{r5:.3f}")
        console.print(table)
    if cv:
        console.print(f"cross-validating: {cv} adapters, each trained without one fold of the requests")
        estimate = cross_validate_adapter(
            labelled,
            registry,
            retriever,
            folds=cv,
            seed=seed,
            epochs=epochs,
            on_fold=lambda fold: console.print(f"fold {fold + 1}/{cv} scored"),
        )
        table = Table(f"{cv}-fold CV, all {len(labelled)} requests", "R@1", "R@5")
        for name in ("embedding", "embedding-tuned", "hybrid", "hybrid-tuned"):
            table.add_row(name, f"{estimate[name][1]:.3f}", f"{estimate[name][5]:.3f}")
        console.print(table)
    t0 = time.perf_counter()
    adapter = tune_query_adapter(labelled, registry, retriever, epochs=epochs, seed=seed)
    adapter.meta.update(meta)
    adapter.save(out)
    shown = {k: v for k, v in adapter.meta.items() if k != "bfcl_training_cases"}
    console.print(f"trained in {time.perf_counter() - t0:.1f}s: {json.dumps(shown)}")
    console.print(f"adapter: {out}  (use: RetrievalPolicy(adapter=...), agentslm bench retrieval --adapter ...)")


def _recall(retriever: Any, requests: Any, registry: Any) -> tuple[float, float]:
    hits1: list[float] = []
    hits5: list[float] = []
    for r in requests:
        ranked = [t.name for t, _ in retriever.rank(r.request, registry)]
        hits1.append(sum(n in ranked[:1] for n in r.tools) / len(r.tools))
        hits5.append(sum(n in ranked[:5] for n in r.tools) / len(r.tools))
    return sum(hits1) / len(hits1), sum(hits5) / len(hits5)


@train_app.command("distill")
def distill_cmd(
    data: Annotated[
        Path, typer.Argument(help="Records whose requests the teacher plans (agentslm train data, an escalation log).")
    ],
    teacher: Annotated[
        str, typer.Option(help="The teacher model: a catalog name (qwen2.5-coder-1.5b), a .gguf path or 'openai:URL#MODEL'.")
    ],
    out: Annotated[Path, typer.Option(help="Where the kept records go (JSONL); OUT.stats.json gets the counts.")],
    limit: Annotated[int | None, typer.Option(help="Only the first N first-round planner records.")] = None,
    keep_disagreements: Annotated[
        bool, typer.Option(help="Keep a teacher's verified plan that differs from the record's own label.")
    ] = False,
) -> None:
    """Relabel requests with a larger model through agentslm's planner; keep a plan only when every call verifies and
    its values are grounded (and, for labelled records, when it agrees with the label)."""
    from agentslm.cli.common import _progress
    from agentslm.finetune.dataset import check_no_bfcl
    from agentslm.finetune.distill import distill_records
    from agentslm.models import load_model
    from agentslm.records import read_records, write_records

    records = [r for r in read_records(data) if r.role == "planner" and all(m["role"] == "user" for m in r.messages)]
    records = records[:limit] if limit is not None else records
    if not records:
        raise UserError(f"{data} has no first-round planner records to distill.")
    model = load_model(teacher)
    t0 = time.perf_counter()
    with _progress() as bar:
        task = bar.add_task("distill", total=len(records))
        kept, stats = distill_records(
            records, model, keep_disagreements=keep_disagreements, on_record=lambda _r, _o: bar.advance(task)
        )
    check_no_bfcl(kept)
    write_records(out, kept)
    summary = {**stats.as_dict(), "teacher": getattr(model, "name", teacher), "seconds": round(time.perf_counter() - t0, 1)}
    out.with_suffix(".stats.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    console.print(f"kept {stats.kept} of {stats.seen}: {json.dumps(summary['outcomes'])} -> {out}")
