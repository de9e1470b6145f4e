"""LoRA supervised fine-tuning on tokenized examples (peft on the transformers backend).

Self-contained on purpose: it imports only torch, transformers, peft (and tqdm), never the rest of
agentslm, so the same file runs on a bare GPU machine as a script::

    python agentslm/finetune/sft.py --tokens train.tokens.jsonl --base model.gguf --out runs/lora

Examples come from :func:`agentslm.finetune.render.tokenize_records` (``input_ids`` + ``n_prompt``): the
loss is computed on the target tokens only. Checkpoints (adapter, optimizer, scheduler, step, RNG) are
written every ``save_every`` steps and at the end; ``resume=True`` continues from the last one.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "LoraConfigSpec",
    "TrainResult",
    "base_fingerprint",
    "collate_examples",
    "evaluate_loss",
    "load_base",
    "load_tokens",
    "strip_gguf_quantizer",
    "target_loss",
    "train_lora",
]

LLAMA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class LoraConfigSpec:
    """Hyperparameters (the defaults suit SmolLM2-135M on a CPU; raise ``batch_size`` on a GPU)."""

    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    targets: tuple[str, ...] = LLAMA_TARGETS
    lr: float = 2e-4
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4
    grad_accum: int = 1
    warmup_steps: int = 10
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 0
    save_every: int = 100
    eval_every: int = 50
    device: str = "auto"
    bf16: bool = True
    """Autocast to bfloat16 on a GPU (weights and LoRA stay float32)."""
    max_seconds: float | None = None
    """Stop (and save) once training has run this long, even before ``max_steps``/``epochs``."""
    save_float16: bool = False
    """Store the final adapter's tensors as float16 (half the size; the GGUF export writes float32 anyway)."""
    init_adapter: str | None = None
    """Start from this peft adapter folder (its rank, alpha and targets) instead of a fresh LoRA (a warm start)."""


@dataclass
class TrainResult:
    out: str
    steps: int
    seconds: float
    device: str
    train_loss: float | None
    val_loss: float | None
    history: list[dict[str, Any]] = field(default_factory=list)


def load_tokens(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Tokenized examples (``id``, ``input_ids``, ``n_prompt``); errors name the line."""
    rows = []
    opener: Any = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                ids, n = row["input_ids"], int(row["n_prompt"])
                if not ids or not 0 < n < len(ids):
                    raise ValueError("n_prompt must be between 1 and len(input_ids) - 1")
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{lineno}: bad tokenized example ({exc}).") from None
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: no examples.")
    return rows


def base_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Identity of a base model: file name and sha256 of a GGUF file (or of a HF directory's config)."""
    p = Path(path)
    target = p if p.is_file() else p / "config.json"
    digest = hashlib.sha256()
    with open(target, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return {"name": p.name, "sha256": digest.hexdigest()}


def load_base(path: str | os.PathLike[str], device: str, dtype: Any = None) -> Any:
    """The base model in float32: a HF directory, or a GGUF file dequantized by transformers."""
    import torch
    from transformers import AutoModelForCausalLM

    p = Path(path)
    kwargs: dict[str, Any] = {}
    directory = p
    if p.is_file():
        directory, kwargs["gguf_file"] = p.parent, p.name
    model: Any = AutoModelForCausalLM.from_pretrained(str(directory), dtype=dtype or torch.float32, **kwargs)
    return strip_gguf_quantizer(model).to(device)


def strip_gguf_quantizer(model: Any) -> Any:
    """transformers keeps a GGUF "quantizer" marker on the dequantized (dense) model; peft and saving refuse it."""
    if getattr(model, "hf_quantizer", None) is not None:
        model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        try:
            del model.config.quantization_config
        except AttributeError:
            model.config.quantization_config = None
    model.is_quantized = False
    return model


def _pick_device(spec: str) -> str:
    import torch

    if spec != "auto":
        return spec
    return "cuda" if torch.cuda.is_available() else "cpu"


def _batches(rows: list[dict[str, Any]], batch_size: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """Batches of similar lengths (less padding), in random order."""
    order = sorted(rows, key=lambda r: (len(r["input_ids"]), rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate_examples(batch: list[dict[str, Any]], pad_id: int, device: str) -> dict[str, Any]:
    import torch

    width = max(len(r["input_ids"]) for r in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, r in enumerate(batch):
        seq = torch.tensor(r["input_ids"], dtype=torch.long)
        ids[i, : len(seq)] = seq
        mask[i, : len(seq)] = 1
        labels[i, r["n_prompt"] : len(seq)] = seq[r["n_prompt"] :]
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def target_loss(model: Any, batch: dict[str, Any], device: str, bf16: bool) -> Any:
    """Mean cross-entropy over the target tokens; the vocabulary projection runs only at those positions
    (targets are ~6% of the tokens of a tool-calling example, the projection is 49k wide)."""
    import torch

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    labels = batch["labels"][:, 1:]
    keep = labels != -100
    with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda") and bf16):
        hidden = inner.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
        logits = inner.lm_head(hidden[:, :-1][keep])
    return torch.nn.functional.cross_entropy(logits.float(), labels[keep])


def evaluate_loss(model: Any, rows: list[dict[str, Any]], spec: LoraConfigSpec, pad_id: int, device: str) -> float:
    import torch

    model.eval()
    total = 0.0
    count = 0
    with torch.no_grad():
        for i in range(0, len(rows), spec.batch_size):
            batch = collate_examples(rows[i : i + spec.batch_size], pad_id, device)
            n = int((batch["labels"][:, 1:] != -100).sum())
            total += float(target_loss(model, batch, device, spec.bf16)) * n
            count += n
    model.train()
    return total / max(count, 1)


@dataclass
class _TrainState:
    """What the training loop advances and a checkpoint saves."""

    model: Any
    params: list[Any]
    optimizer: Any
    scheduler: Any
    rng: random.Random
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def _lr_scheduler(optimizer: Any, spec: LoraConfigSpec, total: int) -> Any:
    """Linear warmup over ``spec.warmup_steps``, then linear decay to zero at step ``total``."""
    import torch

    def schedule(step: int) -> float:
        if step < spec.warmup_steps:
            return (step + 1) / spec.warmup_steps
        return max(0.0, (total - step) / max(1, total - spec.warmup_steps))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)


def _load_checkpoint(ckpt: Path, state: _TrainState) -> None:
    """Restore the optimizer, scheduler, step, loss history and RNG states of ``ckpt/state.pt`` into ``state``."""
    import torch

    saved = torch.load(ckpt / "state.pt", weights_only=False)
    state.optimizer.load_state_dict(saved["optimizer"])
    state.scheduler.load_state_dict(saved["scheduler"])
    state.step = int(saved["step"])
    state.history = saved["history"]
    state.rng.setstate(saved["rng"])
    torch.set_rng_state(saved["torch_rng"])


def _save_checkpoint(where: Path, state: _TrainState) -> None:
    """Write the adapter to ``where/adapter`` and the optimizer, scheduler, step, history and RNG to ``where/state.pt``."""
    import torch

    state.model.save_pretrained(str(where / "adapter"), save_embedding_layers=False)
    torch.save(
        {
            "optimizer": state.optimizer.state_dict(),
            "scheduler": state.scheduler.state_dict(),
            "step": state.step,
            "history": state.history,
            "rng": state.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
        },
        where / "state.pt",
    )


def _optimizer_step(
    state: _TrainState,
    batches: list[list[dict[str, Any]]],
    rows: list[dict[str, Any]],
    spec: LoraConfigSpec,
    pad_id: int,
    device: str,
) -> float:
    """One optimizer step over ``spec.grad_accum`` batches popped from ``batches`` (refilled in place from ``rows``
    when empty), with gradient clipping and a scheduler step; return the summed (accumulation-scaled) loss."""
    import torch

    state.optimizer.zero_grad(set_to_none=True)
    loss_sum = 0.0
    for _ in range(spec.grad_accum):
        if not batches:
            batches.extend(_batches(rows, spec.batch_size, state.rng))
        loss = target_loss(state.model, collate_examples(batches.pop(), pad_id, device), device, spec.bf16) / spec.grad_accum
        loss.backward()
        loss_sum += float(loss.detach())
    torch.nn.utils.clip_grad_norm_(state.params, spec.max_grad_norm)
    state.optimizer.step()
    state.scheduler.step()
    state.step += 1
    return loss_sum


def _run_steps(
    state: _TrainState,
    rows: list[dict[str, Any]],
    val_rows: list[dict[str, Any]],
    spec: LoraConfigSpec,
    pad_id: int,
    device: str,
    ckpt: Path,
    total: int,
    t0: float,
    loss_log: Any,
    bar: Any,
) -> tuple[float | None, bool]:
    """Train until step ``total`` (or ``spec.max_seconds`` after ``t0``), logging each step to ``loss_log`` and
    ``bar`` and checkpointing every ``spec.save_every`` steps; return the last validation loss and whether it
    stopped early."""
    batches: list[list[dict[str, Any]]] = []
    running: float | None = None
    last_val: float | None = None
    while state.step < total:
        if not batches:
            batches = _batches(rows, spec.batch_size, state.rng)
        loss_sum = _optimizer_step(state, batches, rows, spec, pad_id, device)
        step = state.step
        running = loss_sum if running is None else 0.9 * running + 0.1 * loss_sum
        entry: dict[str, Any] = {
            "step": step,
            "loss": round(loss_sum, 5),
            "lr": state.scheduler.get_last_lr()[0],
            "seconds": round(time.perf_counter() - t0, 2),
        }
        if val_rows and (step % spec.eval_every == 0 or step == total):
            last_val = evaluate_loss(state.model, val_rows, spec, pad_id, device)
            entry["val_loss"] = round(last_val, 5)
        state.history.append(entry)
        loss_log.write(json.dumps(entry) + "\n")
        loss_log.flush()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.3f}", **({"val": f"{last_val:.3f}"} if last_val is not None else {}))
        if step % spec.save_every == 0 and step < total:
            _save_checkpoint(ckpt, state)
        if spec.max_seconds is not None and time.perf_counter() - t0 > spec.max_seconds and step < total:
            return last_val, True
    return last_val, False


def _save_final_adapter(model: Any, out_dir: Path, spec: LoraConfigSpec) -> None:
    """Write the trained adapter to ``out_dir/adapter`` (its tensors as float16 with ``spec.save_float16``)."""
    model.save_pretrained(str(out_dir / "adapter"), save_embedding_layers=False)
    if spec.save_float16:
        from safetensors.torch import load_file, save_file

        weights = out_dir / "adapter" / "adapter_model.safetensors"
        save_file({k: v.half() for k, v in load_file(str(weights)).items()}, str(weights))


def _base_config(model: Any) -> dict[str, Any]:
    """The base model's architecture and shape, as recorded in ``training.json``."""
    return {
        k: getattr(model.config, k, None)
        for k in (
            "model_type",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
            "vocab_size",
        )
    }


def train_lora(
    tokens: str | os.PathLike[str],
    base: str | os.PathLike[str],
    out: str | os.PathLike[str],
    spec: LoraConfigSpec | None = None,
    *,
    val_tokens: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainResult:
    """Train a LoRA adapter on ``tokens`` over ``base``; write it to ``out/adapter`` (peft format) with
    ``out/training.json`` (hyperparameters, base fingerprint, losses) and ``out/loss.jsonl`` (per step)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from tqdm import tqdm

    spec = spec or LoraConfigSpec()
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = out_dir / "checkpoint"
    device = _pick_device(spec.device)
    random.seed(spec.seed)
    torch.manual_seed(spec.seed)
    rows = load_tokens(tokens)
    val_rows = load_tokens(val_tokens) if val_tokens else []

    model = load_base(base, device)
    pad_id = int(getattr(model.config, "pad_token_id", None) or 0)
    if resume and (ckpt / "state.pt").is_file():
        model = PeftModel.from_pretrained(model, str(ckpt / "adapter"), is_trainable=True)
    elif spec.init_adapter:
        resume = False
        model = PeftModel.from_pretrained(model, spec.init_adapter, is_trainable=True)
        for param in model.parameters():  # a float16 adapter file: train in float32
            if param.requires_grad:
                param.data = param.data.float()
    else:
        resume = False
        config = LoraConfig(
            r=spec.r, lora_alpha=spec.alpha, lora_dropout=spec.dropout, target_modules=list(spec.targets), task_type="CAUSAL_LM"
        )
        model = get_peft_model(model, config)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=spec.lr, weight_decay=spec.weight_decay)

    steps_per_epoch = math.ceil(len(rows) / spec.batch_size / spec.grad_accum)
    total = spec.max_steps or max(1, math.ceil(steps_per_epoch * spec.epochs))
    state = _TrainState(model, params, optimizer, _lr_scheduler(optimizer, spec, total), random.Random(spec.seed))
    if resume:
        _load_checkpoint(ckpt, state)

    t0 = time.perf_counter()
    loss_log = (out_dir / "loss.jsonl").open("a" if resume else "w", encoding="utf-8")
    bar = tqdm(total=total, initial=state.step, disable=not progress, desc="lora", unit="step")
    try:
        last_val, stopped_early = _run_steps(state, rows, val_rows, spec, pad_id, device, ckpt, total, t0, loss_log, bar)
    finally:
        bar.close()
        loss_log.close()
    seconds = time.perf_counter() - t0
    _save_checkpoint(ckpt, state)
    _save_final_adapter(model, out_dir, spec)
    step, history = state.step, state.history
    meta = {
        "base": base_fingerprint(base),
        "base_config": _base_config(model),
        "spec": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(spec).items()},
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None,
        "examples": len(rows),
        "val_examples": len(val_rows),
        "steps": step,
        "planned_steps": total,
        "stopped_early": stopped_early,
        "seconds": round(seconds, 1),
        "train_loss": history[-1]["loss"] if history else None,
        "val_loss": last_val,
    }
    (out_dir / "training.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return TrainResult(str(out_dir), step, seconds, device, history[-1]["loss"] if history else None, last_val, history)


def _main() -> None:
    parser = argparse.ArgumentParser(description="LoRA SFT on tokenized examples (see agentslm train lora).")
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--val-tokens")
    parser.add_argument("--base", required=True, help="a GGUF file or HF model directory")
    parser.add_argument("--out", required=True)
    parser.add_argument("--resume", action="store_true")
    defaults = LoraConfigSpec()
    for name, value in asdict(defaults).items():
        if name == "targets":
            parser.add_argument("--targets", default=",".join(value))
        elif isinstance(value, bool):
            parser.add_argument(f"--{name.replace('_', '-')}", type=lambda s: s.lower() in ("1", "true", "yes"), default=value)
        else:
            kind = type(value) if value is not None else {"max_seconds": float, "init_adapter": str}.get(name, int)
            parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=value)
    args = vars(parser.parse_args())
    spec_args = {k: args[k] for k in asdict(defaults)}
    spec_args["targets"] = tuple(t for t in str(args["targets"]).split(",") if t)
    result = train_lora(
        args["tokens"],
        args["base"],
        args["out"],
        LoraConfigSpec(**spec_args),
        val_tokens=args["val_tokens"],
        resume=args["resume"],
    )
    print(json.dumps({k: v for k, v in asdict(result).items() if k != "history"}))


if __name__ == "__main__":
    _main()
