"""``agentslm bench buffers``: llama.cpp prefill and decode speed with its extra weight buffers on and off.

Each setting runs in a child process (``python -m agentslm.bench.buffers``), so a setting that crashes
(extra buffers on an AMX CPU: SIGSEGV) is recorded as a crash instead of ending the benchmark. The child
loads the model with ``use_extra_bufts`` forced, evaluates a fixed prompt (prefill) and then greedy-decodes
token by token (decode), ``repeats`` times, and prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["measure_buffers"]

_PROMPT = (
    "You are a helpful assistant with access to tools. Tools: get_weather(city: string, unit: celsius|fahrenheit) "
    "returns the current weather; convert_temperature(value: number, to_unit: celsius|fahrenheit); "
    "add_note(text: string) saves a note; delete_all_notes() deletes every note. "
)


def _child(model: str, lora: str | None, enabled: bool, n_prompt: int, n_decode: int, repeats: int, threads: int) -> None:
    import llama_cpp
    import numpy as np

    from agentslm.models.cpu_buffers import llama_extra_buffers

    with llama_extra_buffers(enabled):
        llm = llama_cpp.Llama(
            model_path=model, lora_path=lora, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False
        )
    tokens = llm.tokenize((_PROMPT * 40).encode(), add_bos=False)[:n_prompt]
    prefill, decode, generated = [], [], []
    for _ in range(repeats):
        llm.reset()
        t0 = time.perf_counter()
        llm.eval(tokens)
        prefill.append(time.perf_counter() - t0)
        out: list[int] = []
        t0 = time.perf_counter()
        for _ in range(n_decode):
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1), shape=(llm.n_vocab(),))
            token = int(logits.argmax())
            out.append(token)
            llm.eval([token])
        decode.append(time.perf_counter() - t0)
        generated = out
    print(
        json.dumps(
            {
                "prefill_tok_s": round(len(tokens) / statistics.median(prefill), 1),
                "decode_tok_s": round(n_decode / statistics.median(decode), 1),
                "prompt_tokens": len(tokens),
                "decode_tokens": n_decode,
                "output": llm.detokenize(generated).decode("utf-8", "replace"),
            }
        ),
        flush=True,
    )


def measure_buffers(
    model: str | os.PathLike[str],
    *,
    lora: str | os.PathLike[str] | None = None,
    n_prompt: int = 256,
    n_decode: int = 64,
    repeats: int = 3,
    threads: int | None = None,
    timeout: float = 600,
) -> list[dict[str, Any]]:
    """One row per setting (extra buffers on, off): speeds, the greedy output, or how the child died."""
    rows = []
    for enabled in (True, False):
        cmd = [
            sys.executable,
            "-m",
            "agentslm.bench.buffers",
            str(model),
            *(["--lora", str(lora)] if lora else []),
            "--extra-buffers",
            "on" if enabled else "off",
            "--n-prompt",
            str(n_prompt),
            "--n-decode",
            str(n_decode),
            "--repeats",
            str(repeats),
            "--threads",
            str(threads or os.cpu_count() or 1),
        ]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        row: dict[str, Any] = {"extra_buffers": "on" if enabled else "off", "seconds": round(time.perf_counter() - t0, 1)}
        if proc.returncode == 0 and proc.stdout.strip():
            row |= json.loads(proc.stdout.strip().splitlines()[-1])
        else:
            died = -proc.returncode if proc.returncode < 0 else None
            row["crashed"] = signal.Signals(died).name if died else f"exit {proc.returncode}"
            row["stderr_tail"] = proc.stderr[-500:]
        rows.append(row)
    return rows


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--lora")
    parser.add_argument("--extra-buffers", choices=("on", "off"), required=True)
    parser.add_argument("--n-prompt", type=int, default=256)
    parser.add_argument("--n-decode", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    if not Path(args.model).is_file():
        raise SystemExit(f"no model file {args.model}")
    _child(args.model, args.lora, args.extra_buffers == "on", args.n_prompt, args.n_decode, args.repeats, args.threads)


if __name__ == "__main__":
    _main()
