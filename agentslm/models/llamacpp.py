"""llama.cpp backend (default): any GGUF file, the embedded SmolLM2 by default.

Keeps the KV cache of the longest common prompt prefix between calls, so a stable
system prompt + tool list is evaluated once.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentslm.errors import GenerationError, ModelNotFoundError, UserError
from agentslm.models.base import LocalModel, Message, Model, neutralize_control_text
from agentslm.models.cpu_buffers import ExtraBuffersDecision, decide_extra_buffers, llama_extra_buffers
from agentslm.schema.engines import ConstraintEngine, LLGuidanceEngine, OutlinesEngine

__all__ = ["LlamaCppModel"]


class LlamaCppModel(LocalModel):
    """A GGUF model run by llama-cpp-python.

    Args:
        path: the GGUF file.
        n_ctx: context length in tokens.
        n_threads: CPU threads (default: ``AGENTSLM_THREADS`` or all cores). On a busy
            2-core machine 1 thread can beat 2.
        lora_path: optional GGUF LoRA adapter applied on top.
        lora_roles: the agent roles the adapter was trained for (``None``: every role). For other roles
            :meth:`for_role` returns a view that decodes on the same loaded model with the adapter switched
            off (no reload; the KV cache is reset at each switch). The embedded default's adapter was trained
            on plans, so its summaries come from the base weights.
        engine: constraint engine (``llguidance`` by default; ``outlines`` also works).
        extra_buffers: whether llama.cpp may load weights into its extra buffer types (AMX, repacked
            layouts): ``None``/``"auto"`` decides from the CPU (off with AMX, where llama.cpp crashes),
            or ``$AGENTSLM_LLAMA_EXTRA_BUFFERS``; ``True``/``False`` (or ``"on"``/``"off"``) forces it.
            The decision is kept as :attr:`extra_buffers`.
    """

    preferred_engine = "llguidance"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        lora_path: str | os.PathLike[str] | None = None,
        lora_roles: Sequence[str] | None = None,
        engine: str | None = None,
        fast_forward: bool = True,
        extra_buffers: str | bool | None = None,
        verbose: bool = False,
    ) -> None:
        import llama_cpp

        model_path = Path(path).expanduser()
        if not model_path.is_file():
            raise ModelNotFoundError(
                f"No GGUF model file at {str(model_path)!r}.",
                hint="pass the path of an existing .gguf file, or omit it to use the embedded SmolLM2.",
            )
        if lora_path is not None:
            if not Path(lora_path).is_file():
                raise ModelNotFoundError(
                    f"No LoRA adapter file at {str(lora_path)!r}.", hint="pass an existing GGUF adapter file."
                )
            from agentslm.training.export import check_adapter

            check_adapter(model_path, lora_path)  # refuses an adapter trained for another base, with the reason
        threads = n_threads or int(os.environ.get("AGENTSLM_THREADS", "0")) or (os.cpu_count() or 1)
        self.extra_buffers: ExtraBuffersDecision = decide_extra_buffers(override=extra_buffers)
        try:
            with llama_extra_buffers(self.extra_buffers.enabled):
                self._llm = llama_cpp.Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    lora_path=str(lora_path) if lora_path else None,
                    logits_all=False,
                    verbose=verbose,
                )
        except ValueError as exc:
            raise ModelNotFoundError(
                f"llama.cpp could not load {str(model_path)!r}: {exc}.",
                hint="check that the file is a GGUF model llama.cpp supports.",
            ) from exc
        self.path = model_path
        self.lora_path = Path(lora_path) if lora_path else None
        self.lora_roles = tuple(lora_roles) if lora_roles is not None else None
        self._adapter_on = self.lora_path is not None
        self.name = f"llamacpp:{model_path.name}" + (f"+lora:{Path(lora_path).name}" if lora_path else "")
        self.n_threads = threads
        self.vocab_size = self._llm.n_vocab()
        eos = {self._llm.token_eos()}
        for special in ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>"):
            ids = self._llm.tokenize(special.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                eos.add(ids[0])
        self.eos_token_ids = frozenset(eos)
        self._template = self._load_template()
        self._control_texts: frozenset[str] | None = None
        super().__init__(engine=engine, fast_forward=fast_forward)

    @property
    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama`` (use it only while no generation runs)."""
        return self._llm

    @property
    def context_length(self) -> int:
        return int(self._llm.n_ctx())

    def _load_template(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        meta = self._llm.metadata
        template = meta.get("tokenizer.chat_template")
        if not template:
            raise UserError(f"{self.path.name} has no chat template in its metadata.", hint="use an instruct/chat GGUF model.")

        def piece(key: str) -> str:
            tid = meta.get(key)
            return self._llm.detokenize([int(tid)], special=True).decode("utf-8", "replace") if tid is not None else ""

        return Jinja2ChatFormatter(
            template=template,
            eos_token=piece("tokenizer.ggml.eos_token_id"),
            bos_token=piece("tokenizer.ggml.bos_token_id"),
            add_generation_prompt=True,
        )

    def control_texts(self) -> frozenset[str]:
        """Texts of the vocabulary's control tokens (``<|im_start|>``, ...): tokens that render only as special."""
        if self._control_texts is None:
            llm = self._llm
            texts = set()
            for token in range(self.vocab_size):
                special = llm.detokenize([token], special=True)
                if special and special != llm.detokenize([token], special=False):
                    texts.add(special.decode("utf-8", "replace"))
            self._control_texts = frozenset(texts)
        return self._control_texts

    def chat_tokens(self, messages: Sequence[Message]) -> list[int]:
        safe = neutralize_control_text(messages, self.control_texts())  # message text never becomes a control token
        prompt = self._template(messages=[dict(m) for m in safe]).prompt
        return list(self._llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True))

    def _logits(self) -> NDArray[np.float32]:
        import llama_cpp

        ptr = llama_cpp.llama_get_logits_ith(self._llm._ctx.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.vocab_size,)).copy()

    def for_role(self, role: str) -> Model:
        if self.lora_path is None or self.lora_roles is None or role in self.lora_roles:
            return self
        return _WithoutAdapter(self)

    def _use_adapter(self, on: bool) -> None:
        """Switch the LoRA adapter on or off for the next decodes (the caller holds the lock)."""
        if on == self._adapter_on:
            return
        import ctypes

        import llama_cpp

        handle = getattr(self._llm, "_lora_adapter", None)
        if handle is None:
            raise GenerationError("llama-cpp-python holds no LoRA adapter handle to switch.", hint="load with lora_path.")
        if on:
            adapters = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
            rc = llama_cpp.llama_set_adapters_lora(self._llm._ctx.ctx, adapters, 1, (ctypes.c_float * 1)(1.0))
        else:
            rc = llama_cpp.llama_set_adapters_lora(self._llm._ctx.ctx, None, 0, None)
        if rc:
            raise GenerationError(f"llama.cpp could not switch the LoRA adapter {'on' if on else 'off'} (error {rc}).")
        self._adapter_on = on
        self._llm.n_tokens = 0  # the cached prefix was computed under the other weights

    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        if self.lora_path is not None:
            self._use_adapter(True)
        return self._prefill_tokens(tokens)

    def _prefill_tokens(self, tokens: list[int]) -> NDArray[np.float32]:
        """Evaluate ``tokens`` with the adapter as it is now, reusing the cached common prefix."""
        llm = self._llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        common = min(common, len(tokens) - 1)  # always evaluate at least one token to get logits
        llm.n_tokens = common
        llm.eval(tokens[common:])
        return self._logits()

    def _step(self, tokens: list[int]) -> NDArray[np.float32]:
        self._llm.eval(tokens)
        return self._logits()

    def text_tokens(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def token_text(self, tokens: Sequence[int]) -> str:
        return self._llm.detokenize(list(tokens)).decode("utf-8", "replace")

    def _make_engine(self, name: str) -> ConstraintEngine:
        if name == "llguidance":
            from llguidance.llamacpp import lltokenizer_from_vocab

            with warnings.catch_warnings():  # llguidance calls a llama.cpp function deprecated upstream
                warnings.simplefilter("ignore", DeprecationWarning)
                return LLGuidanceEngine(lltokenizer_from_vocab(self._llm._model.vocab))
        import outlines
        from outlines.backends.outlines_core import OutlinesCoreBackend

        return OutlinesEngine(OutlinesCoreBackend(outlines.from_llamacpp(self._llm)).vocabulary)

    def close(self) -> None:
        self._llm.close()


class _WithoutAdapter(LocalModel):
    """A :class:`LlamaCppModel` decoding with its LoRA adapter switched off: the same loaded weights, context, lock
    and compiled grammars; only the adapter's scale differs (the KV cache is reset at each switch)."""

    def __init__(self, base: LlamaCppModel) -> None:  # no super().__init__: the lock and engines are the base's
        self.base = base
        self._lock = base.lock
        self._engines = base._engines
        self.default_engine = base.default_engine
        self.fast_forward = base.fast_forward
        self.vocab_size = base.vocab_size
        self.eos_token_ids = base.eos_token_ids
        self.name = f"llamacpp:{base.path.name}"

    @property
    def context_length(self) -> int:
        return self.base.context_length

    def chat_tokens(self, messages: Sequence[Message]) -> list[int]:
        return self.base.chat_tokens(messages)

    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        self.base._use_adapter(False)
        return self.base._prefill_tokens(tokens)

    def _step(self, tokens: list[int]) -> NDArray[np.float32]:
        return self.base._step(tokens)

    def text_tokens(self, text: str) -> list[int]:
        return self.base.text_tokens(text)

    def token_text(self, tokens: Sequence[int]) -> str:
        return self.base.token_text(tokens)

    def _make_engine(self, name: str) -> ConstraintEngine:
        return self.base._make_engine(name)
