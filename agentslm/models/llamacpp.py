"""llama.cpp backend (default): any GGUF file, the embedded SmolLM2 by default.

Keeps the KV cache of the longest common prompt prefix between calls, and saves the states that another role's step
would discard (:mod:`agentslm.models.prefix_cache`), so each role's stable system prompt + tool list is evaluated once.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentslm.constraints.engines import ConstraintEngine
from agentslm.constraints.llguidance_engine import LLGuidanceEngine
from agentslm.constraints.outlines_engine import OutlinesEngine
from agentslm.errors import GenerationError, ModelNotFoundError, UserError
from agentslm.models.base import Message, Model, neutralize_control_text
from agentslm.models.cpu_buffers import ExtraBuffersDecision, decide_extra_buffers, llama_extra_buffers
from agentslm.models.local import LocalModel
from agentslm.models.prefix_cache import PrefixCache, SavedPrefix, common_prefix
from agentslm.models.profiles import detect_profile, fit_roles, named_profile, template_messages

_log = logging.getLogger(__name__)

__all__ = ["LlamaCppModel", "set_lora_adapter"]


def set_lora_adapter(llm: Any, on: bool) -> int:
    """Apply (scale 1.0) or remove the LoRA adapter a ``llama_cpp.Llama`` was loaded with, for its next decodes; the
    KV state computed before is then stale. Returns llama.cpp's status (0: done)."""
    import ctypes

    import llama_cpp

    ctx = llm._ctx.ctx
    if not on:
        return int(llama_cpp.llama_set_adapters_lora(ctx, None, 0, None))
    handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(llm._lora_adapter)
    return int(llama_cpp.llama_set_adapters_lora(ctx, handles, 1, (ctypes.c_float * 1)(1.0)))


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
        prefix_cache_mb: memory for saved prompt-prefix states (MiB; 0 turns it off): when a step's prompt shares
            little with what the context holds (another role's prompt, or the adapter switched), the context's state
            is saved and the saved state sharing the longest prefix with the new prompt is restored, so only the
            rest is evaluated. See :mod:`agentslm.models.prefix_cache`; :attr:`prefix_cache` holds it.
        profile: the model family's profile by name (:data:`agentslm.models.profiles.PROFILES`: ``qwen``, ``llama3``,
            ``generic``, ...) instead of the one detected from the metadata and chat template.
    """

    provider = "llama.cpp"

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
        prefix_cache_mb: float = 48,
        profile: str | None = None,
        verbose: bool = False,
    ) -> None:
        import llama_cpp

        if prefix_cache_mb < 0:
            raise UserError(f"prefix_cache_mb={prefix_cache_mb} is negative.", hint="pass 0 to turn the cache off.")
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
            from agentslm.models.adapter_check import check_adapter

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
        self.prefix_cache = PrefixCache(int(prefix_cache_mb * 2**20))
        """Saved prompt-prefix states (inspect ``hits``, ``stores``, ``nbytes``)."""
        self._cached = 0  # prompt tokens the last prefill reused
        self._next_stable: tuple[int, ...] = ()  # the system-message tokens of the prompt about to be evaluated
        self._live_stable: tuple[int, ...] = ()  # ... and of the prompt the context holds
        self._stable_lengths: dict[str, int] = {}  # system message + tools -> their token count in a prompt
        self.name = f"llamacpp:{model_path.name}" + (f"+lora:{Path(lora_path).name}" if lora_path else "")
        self.n_threads = threads
        _log.info("loaded %s: n_ctx=%d, %d threads; %s", self.name, n_ctx, threads, self.extra_buffers.describe())
        self.vocab_size = self._llm.n_vocab()
        self._template = self._load_template()
        self.profile = fit_roles(
            named_profile(profile) if profile else detect_profile(self._llm.metadata, self._template.template),
            lambda messages: str(self._template(messages=messages).prompt),
        )
        self.eos_token_ids = self._end_of_turn_tokens()
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

    def _end_of_turn_tokens(self) -> frozenset[int]:
        """The tokens that end a reply: the metadata's EOS / EOT / EOM ids and the profile's end-of-turn texts (a
        model of unknown family: the common ones, where its vocabulary has them as single tokens)."""
        meta = self._llm.metadata
        eos = {self._llm.token_eos()}
        for key in ("tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"):
            if meta.get(key) is not None:
                eos.add(int(meta[key]))
        texts = self.profile.end_of_turn or ("<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<end_of_turn>", "<|end|>")
        for text in texts:
            ids = self._llm.tokenize(text.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                eos.add(ids[0])
        return frozenset(eos)

    def special_tokens(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

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

    def chat_tokens(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None) -> list[int]:
        safe = neutralize_control_text(messages, self.control_texts())  # message text never becomes a control token
        shaped = template_messages(safe, self.profile, tools, structured_calls="tool_calls" in self._template.template)
        prompt = self._template(messages=shaped, tools=[dict(t) for t in tools] if tools else None).prompt
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
        if getattr(self._llm, "_lora_adapter", None) is None:
            raise GenerationError("llama-cpp-python holds no LoRA adapter handle to switch.", hint="load with lora_path.")
        self._save_live()  # computed under the current weights: keep it for the next step under them
        rc = set_lora_adapter(self._llm, on)
        if rc:
            raise GenerationError(f"llama.cpp could not switch the LoRA adapter {'on' if on else 'off'} (error {rc}).")
        self._adapter_on = on
        self._llm.n_tokens = 0  # the context's state was computed under the other weights

    def _weights(self) -> str:
        """What the context's state is computed under (the prefix cache's key)."""
        return "lora" if self._adapter_on else "base"

    def _save_live(self, keep: int = 0) -> None:
        """Save the context's state in the prefix cache (before it is overwritten). Where the context's prompt began
        with a system message, only that part is saved (the prefix that stays the same across requests: system prompt
        and tools), not the step's request and reply. ``keep``: tokens the context must still hold afterwards."""
        import ctypes

        import llama_cpp

        llm = self._llm
        tokens = llm.input_ids[: llm.n_tokens].tolist()
        stable = self._live_stable
        if stable and len(stable) <= len(tokens) and tuple(tokens[: len(stable)]) == stable:
            cut = max(len(stable), keep)
            if cut < len(tokens):
                llm._ctx.kv_cache_seq_rm(0, cut, -1)  # the rest is this step's request and reply
                llm.n_tokens = cut
                tokens = tokens[:cut]
        if not self.prefix_cache.wants(tokens):
            return
        weights = self._weights()
        if any(e.weights == weights and e.tokens == tuple(tokens) for e in self.prefix_cache.entries()):
            return  # restored and not extended since: already saved
        ctx = llm._ctx.ctx
        size = llama_cpp.llama_state_seq_get_size(ctx, 0)
        if size > self.prefix_cache.max_bytes:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0)
        if written:
            self.prefix_cache.store(weights, tokens, buffer, nbytes=written)  # kept as is: no copy

    def _restore(self, saved: SavedPrefix) -> None:
        """Load a saved state into the context (replacing what it holds)."""
        import llama_cpp

        llm = self._llm
        ctx = llm._ctx.ctx
        llm._ctx.kv_cache_seq_rm(0, -1, -1)
        if not llama_cpp.llama_state_seq_set_data(ctx, saved.data, saved.nbytes, 0):
            llm._ctx.kv_cache_seq_rm(0, -1, -1)
            llm.n_tokens = 0
            raise GenerationError("llama.cpp could not restore a saved prompt state.", hint="pass prefix_cache_mb=0.")
        llm.input_ids[: len(saved.tokens)] = saved.tokens
        llm.n_tokens = len(saved.tokens)

    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        if self.lora_path is not None:
            self._use_adapter(True)
        return self._prefill_tokens(tokens)

    def _prefill_tokens(self, tokens: list[int]) -> NDArray[np.float32]:
        """Evaluate ``tokens`` with the adapter as it is now, reusing the longest prefix the context or a saved
        state holds."""
        llm = self._llm
        live = llm.input_ids[: llm.n_tokens].tolist()
        common = common_prefix(live, tokens)
        if llm.n_tokens - common >= self.prefix_cache.min_tokens and common * 2 < llm.n_tokens:
            self._save_live(keep=common)  # most of the context is about to be dropped: keep it for its role's next step
        saved, saved_common = self.prefix_cache.lookup(self._weights(), tokens)
        if saved is not None and saved_common > common + 16:  # a restore copies the state: worth it for a few tokens or more
            self._restore(saved)
            common = saved_common
        common = min(common, len(tokens) - 1)  # always evaluate at least one token to get logits
        self._cached = common
        llm.n_tokens = common
        llm.eval(tokens[common:])
        self._live_stable = self._next_stable
        self._next_stable = ()
        return self._logits()

    def _step(self, tokens: list[int]) -> NDArray[np.float32]:
        self._llm.eval(tokens)
        return self._logits()

    def _prefill_reused(self) -> int:
        return self._cached

    def _note_stable_prefix(
        self, messages: Sequence[Message], prompt: list[int], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """Remember the prompt's stable part: the system message's tokens, and the tools a native template renders
        (the part of a saved state worth keeping)."""
        self._next_stable = ()
        system = messages[0].get("content", "") if messages and messages[0].get("role") == "system" else None
        if system is None and not tools:
            return
        key = (system or "") + "\x00" + (json.dumps(tools, sort_keys=True) if tools else "")
        lengths = self._stable_lengths
        if key not in lengths:
            if len(lengths) > 32:
                lengths.clear()
            try:  # ends with the reply's header where the real prompt goes on
                alone = self.chat_tokens([messages[0]] if system is not None else [], tools)
            except Exception:  # a template may refuse a prompt without a user turn (Llama 3.x with tools)
                alone = []
            lengths[key] = common_prefix(alone, prompt)
        self._next_stable = tuple(prompt[: lengths[key]])

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
        self.prefix_cache.clear()
        self._llm.close()


class _WithoutAdapter(LocalModel):
    """A :class:`LlamaCppModel` decoding with its LoRA adapter switched off: the same loaded weights, context, lock
    and compiled grammars; only the adapter's scale differs (each setting's states are kept apart in the prefix cache)."""

    provider = "llama.cpp"

    def __init__(self, base: LlamaCppModel) -> None:  # no super().__init__: the lock and engines are the base's
        self.base = base
        self._lock = base.lock
        self._engines = base._engines
        self.default_engine = base.default_engine
        self.fast_forward = base.fast_forward
        self.vocab_size = base.vocab_size
        self.eos_token_ids = base.eos_token_ids
        self.profile = base.profile
        self.name = f"llamacpp:{base.path.name}"

    @property
    def context_length(self) -> int:
        return self.base.context_length

    def chat_tokens(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None) -> list[int]:
        return self.base.chat_tokens(messages, tools)

    def special_tokens(self, text: str) -> list[int]:
        return self.base.special_tokens(text)

    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        self.base._use_adapter(False)
        return self.base._prefill_tokens(tokens)

    def _step(self, tokens: list[int]) -> NDArray[np.float32]:
        return self.base._step(tokens)

    def _prefill_reused(self) -> int:
        return self.base._prefill_reused()

    def _note_stable_prefix(
        self, messages: Sequence[Message], prompt: list[int], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        self.base._note_stable_prefix(messages, prompt, tools)

    def text_tokens(self, text: str) -> list[int]:
        return self.base.text_tokens(text)

    def token_text(self, tokens: Sequence[int]) -> str:
        return self.base.token_text(tokens)

    def _make_engine(self, name: str) -> ConstraintEngine:
        return self.base._make_engine(name)
