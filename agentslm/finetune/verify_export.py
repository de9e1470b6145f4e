"""Check an exported GGUF adapter: llama.cpp (Q4 base + GGUF adapter) against transformers (the same base,
dequantized, + the peft adapter), greedy, on a few prompts.

Tolerance: llama.cpp multiplies with quantized activations, so logits differ slightly even without an
adapter. A prompt passes when both greedy continuations are identical, or first differ at a step where
transformers' top two tokens are within ``tie_logits`` of each other (a near tie that rounding can flip).
The check also requires the adapter's effect on the first-step logits (with minus without the adapter) to
correlate across the runtimes above ``min_effect_correlation``; otherwise the adapter was not applied, or
applied wrongly (a missed q/k permutation fails this).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["compare_runtimes"]


def _compare_prompt(
    tuned: Any, lm: Any, prompt: list[int], hf_base: np.ndarray, cpp_base: np.ndarray, new_tokens: int, tie_logits: float
) -> dict[str, Any]:
    """Greedy continuations of one prompt by transformers (``tuned``) and llama.cpp (``lm``), compared: where they
    first differ, the top-2 margin there, and the adapter's effect on the first-step logits in both runtimes."""
    import torch

    with torch.no_grad():
        gen = tuned.generate(
            input_ids=torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=new_tokens,
            do_sample=False,
            output_scores=True,
            return_dict_in_generate=True,
            pad_token_id=0,
        )
    hf_tokens = [int(t) for t in gen.sequences[0, len(prompt) :]]
    scores = [s[0].float().numpy() for s in gen.scores]
    with lm.lock:
        cpp_first = lm._prefill(list(prompt))
    cpp = lm.generate_tokens(list(prompt), max_tokens=new_tokens)
    cpp_tokens = [t.token for t in cpp.tokens]
    eos = lm.eos_token_ids
    hf_cut = next((i for i, t in enumerate(hf_tokens) if t in eos), len(hf_tokens))
    hf_tokens = hf_tokens[:hf_cut]
    n = min(len(hf_tokens), len(cpp_tokens))
    diverge = next((i for i in range(n) if hf_tokens[i] != cpp_tokens[i]), None)
    if diverge is None and len(hf_tokens) != len(cpp_tokens):
        diverge = n
    margin = None
    if diverge is not None and diverge < len(scores):
        top = np.sort(scores[diverge])[-2:]
        margin = float(top[1] - top[0])
    ok = diverge is None or (margin is not None and margin < tie_logits)
    return {
        "identical": diverge is None,
        "first_difference": diverge,
        "top2_margin_there": margin,
        "ok": ok,
        "transformers": lm.token_text(hf_tokens),
        "llamacpp": lm.token_text(cpp_tokens),
        "first_logits_max_diff": float(np.abs(scores[0] - cpp_first).max()),
        "base_first_logits_max_diff": float(np.abs(hf_base - cpp_base).max()),
        "adapter_effect_llamacpp": float(np.abs(cpp_first - cpp_base).max()),
        # how alike the adapter's effect on the first-step logits is in both runtimes
        "adapter_effect_correlation": float(np.corrcoef(scores[0] - hf_base, cpp_first - cpp_base)[0, 1]),
    }


def compare_runtimes(
    base_gguf: str | os.PathLike[str],
    adapter_dir: str | os.PathLike[str],
    adapter_gguf: str | os.PathLike[str],
    prompts: Sequence[list[int]],
    *,
    new_tokens: int = 24,
    tie_logits: float = 1.0,
    min_effect_correlation: float = 0.9,
) -> dict[str, Any]:
    import torch
    from peft import PeftModel

    from agentslm.finetune.sft import load_base
    from agentslm.models.llamacpp import LlamaCppModel

    longest = max(len(p) for p in prompts) + new_tokens + 8
    plain = load_base(base_gguf, "cpu").eval()
    with torch.no_grad():
        base_first = [plain(input_ids=torch.tensor([p])).logits[0, -1].numpy() for p in prompts]
    del plain
    tuned = PeftModel.from_pretrained(load_base(base_gguf, "cpu"), str(adapter_dir)).eval()
    lm_base = LlamaCppModel(base_gguf, n_ctx=longest)
    with lm_base.lock:
        lm_base_first = [lm_base._prefill(list(p)) for p in prompts]
    lm_base.close()
    lm = LlamaCppModel(base_gguf, lora_path=adapter_gguf, n_ctx=longest)
    rows: list[dict[str, Any]] = [
        _compare_prompt(tuned, lm, prompt, hf_base, cpp_base, new_tokens, tie_logits)
        for prompt, hf_base, cpp_base in zip(prompts, base_first, lm_base_first, strict=True)
    ]
    lm.close()
    applied = all(r["adapter_effect_correlation"] > min_effect_correlation for r in rows)
    return {
        "ok": applied and all(r["ok"] for r in rows),
        "prompts": rows,
        "identical": sum(r["identical"] for r in rows),
        "checked": len(rows),
        "adapter_applied": applied,
        "tolerance": f"identical greedy output, or a first difference where transformers' top-2 logits are < {tie_logits} apart; "
        f"adapter effect correlation > {min_effect_correlation}",
    }
