"""agentslm's LoRA loop against transformers' ``Trainer`` on the same examples, model, LoRA and schedule.

Three runs, one after the other in this process, each from the same base and the same LoRA initialisation (seeded):

* ``loop``: :func:`agentslm.finetune.sft.train_lora`, the loop ``agentslm train lora`` runs (the vocabulary projection
  only at the target positions, batches of similar lengths, checkpoints with ``--resume``);
* ``trainer``: ``transformers.Trainer`` as its documentation sets it up for causal-LM fine-tuning: the model's own
  forward with ``labels`` (logits at every position), the same collator (prompt tokens masked), Trainer's sampler;
* ``trainer+target-loss``: the same ``Trainer`` with ``compute_loss`` replaced by the loop's target-only loss, to
  tell apart what the library costs and what the loss costs.

Every run has the same optimizer settings (AdamW, learning rate, linear warm-up then linear decay, gradient clipping,
batch size, steps) and is scored by the same held-out loss (:func:`agentslm.finetune.sft.evaluate_loss`). TRL's
``SFTTrainer`` is a ``Trainer`` subclass whose completion-only loss computes the same full-vocabulary logits, so the
``trainer`` row stands for it too (TRL is not a dependency).
"""

from __future__ import annotations

import math
import random
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentslm.finetune.sft import (
    LoraConfigSpec,
    collate_examples,
    evaluate_loss,
    load_base,
    load_tokens,
    target_loss,
    train_lora,
)

__all__ = ["compare_trainers"]


def _peak_rss_mib() -> float:
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _in_child(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """``fn(*args, **kwargs)`` in a fresh process (spawned: its peak memory is its own), with that peak added."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return dict(pool.submit(_measured, fn, *args, **kwargs).result())


def _measured(fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {**fn(*args, **kwargs), "peak_rss_mib": _peak_rss_mib()}


def _loop_run(tokens: Path, base: Path, spec: LoraConfigSpec, val_rows: list[dict[str, Any]], work: Path) -> dict[str, Any]:
    result = train_lora(tokens, base, work / "loop", spec, progress=False)
    from peft import PeftModel

    model = PeftModel.from_pretrained(load_base(base, "cpu"), str(work / "loop" / "adapter"))
    pad_id = int(getattr(model.config, "pad_token_id", None) or 0)
    val = evaluate_loss(model, val_rows, spec, pad_id, "cpu") if val_rows else None
    losses = [h["loss"] for h in result.history]
    return {
        "seconds": round(result.seconds, 1),
        "seconds_per_step": round(result.seconds / max(1, result.steps), 2),
        "steps": result.steps,
        "train_loss_last5": round(sum(losses[-5:]) / max(1, len(losses[-5:])), 4) if losses else None,
        "val_loss": round(val, 4) if val is not None else None,
    }


def _trainer_run(
    tokens: Path, base: Path, spec: LoraConfigSpec, val_rows: list[dict[str, Any]], work: Path, *, target_only: bool
) -> dict[str, Any]:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    random.seed(spec.seed)
    torch.manual_seed(spec.seed)
    rows = load_tokens(tokens)
    model = load_base(base, "cpu")
    pad_id = int(getattr(model.config, "pad_token_id", None) or 0)
    config = LoraConfig(
        r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=list(spec.targets), task_type="CAUSAL_LM"
    )
    model = get_peft_model(model, config)
    losses: list[float] = []

    class _Losses(TrainerCallback):  # type: ignore[misc]
        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs and "loss" in logs:
                losses.append(float(logs["loss"]))

    class _TargetLoss(Trainer):  # type: ignore[misc]
        def compute_loss(  # type: ignore[override]
            self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
        ) -> Any:
            loss = target_loss(model, inputs, "cpu", False)
            return (loss, None) if return_outputs else loss

    args = TrainingArguments(
        output_dir=str(work / ("trainer-target" if target_only else "trainer")),
        per_device_train_batch_size=spec.batch_size,
        gradient_accumulation_steps=spec.grad_accum,
        max_steps=spec.max_steps or 1,
        learning_rate=spec.lr,
        warmup_steps=spec.warmup_steps,
        lr_scheduler_type="linear",
        weight_decay=spec.weight_decay,
        max_grad_norm=spec.max_grad_norm,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        seed=spec.seed,
        use_cpu=True,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        train_sampling_strategy="group_by_length",  # batches of similar lengths, as the loop's
        disable_tqdm=True,
    )
    cls = _TargetLoss if target_only else Trainer
    trainer = cls(
        model=model,
        args=args,
        train_dataset=rows,
        data_collator=lambda batch: collate_examples(batch, pad_id, "cpu"),
        callbacks=[_Losses()],
    )
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    val = evaluate_loss(model, val_rows, spec, pad_id, "cpu") if val_rows else None
    steps = int(trainer.state.global_step)
    return {
        "seconds": round(seconds, 1),
        "seconds_per_step": round(seconds / max(1, steps), 2),
        "steps": steps,
        "train_loss_last5": round(sum(losses[-5:]) / max(1, len(losses[-5:])), 4) if losses else None,
        "val_loss": round(val, 4) if val is not None else None,
    }


def compare_trainers(
    tokens: str | Path,
    base: str | Path,
    *,
    val_tokens: str | Path | None = None,
    steps: int = 20,
    spec: LoraConfigSpec | None = None,
    work: str | Path | None = None,
) -> dict[str, Any]:
    """Train ``steps`` steps three ways (see the module) and return each run's seconds, seconds per step, loss over the
    last five steps, held-out loss and peak RSS (each run in its own process); ``work`` keeps the runs' files (default: a
    temporary folder)."""
    if steps < 1:
        raise ValueError("steps must be at least 1")
    spec = replace(spec or LoraConfigSpec(), max_steps=steps, device="cpu", bf16=False, save_every=10**9, eval_every=10**9)
    examples = load_tokens(tokens)  # checked before any run starts
    val_rows = load_tokens(val_tokens) if val_tokens else []
    with tempfile.TemporaryDirectory(prefix="agentslm-trainers-") as tmp:
        folder = Path(work) if work is not None else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        runs: dict[str, dict[str, Any]] = {
            "loop": _in_child(_loop_run, Path(tokens), Path(base), spec, val_rows, folder),
            "trainer": _in_child(_trainer_run, Path(tokens), Path(base), spec, val_rows, folder, target_only=False),
            "trainer+target-loss": _in_child(_trainer_run, Path(tokens), Path(base), spec, val_rows, folder, target_only=True),
        }
    loop = runs["loop"]["seconds_per_step"]
    for run in runs.values():
        run["time_ratio_to_loop"] = round(run["seconds_per_step"] / loop, 2) if loop else math.nan
    return {
        "steps": steps,
        "examples": len(examples),
        "val_examples": len(val_rows),
        "mean_tokens": round(sum(len(r["input_ids"]) for r in examples) / len(examples), 1),
        "spec": {
            k: v for k, v in vars(spec).items() if k in ("r", "alpha", "dropout", "lr", "batch_size", "warmup_steps", "seed")
        },
        "runs": runs,
    }
