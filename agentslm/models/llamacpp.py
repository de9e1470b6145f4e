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
from agentslm.models.role_adapters import AdapterSpec, RoleAdapters

_log = logging.getLogger(__name__)

__all__ = ["LlamaCppModel", "set_adapter", "set_lora_adapter"]


def set_lora_adapter(llm: Any, on: bool) -> int:
    """Apply (scale 1.0) or remove the LoRA adapter a ``llama_cpp.Llama`` was loaded with, for its next decodes; the
    KV state computed before is then stale. Returns llama.cpp's status (0: done)."""
    return set_adapter(llm, llm._lora_adapter if on else None)


def set_adapter(llm: Any, handle: Any | None, scale: float = 1.0) -> int:
    """Decode with the loaded LoRA adapter ``handle`` alone (None: the base weights) from the next decode on; the KV
    state computed before is then stale. Returns llama.cpp's status (0: done)."""
    import ctypes

    import llama_cpp

    ctx = llm._ctx.ctx
    if handle is None:
        return int(llama_cpp.llama_set_adapters_lora(ctx, None, 0, None))
    handles = (llama_cpp.llama_adapter_lora_p_ctypes * 1)(handle)
    return int(llama_cpp.llama_set_adapters_lora(ctx, handles, 1, (ctypes.c_float * 1)(scale)))


def _load_adapter(llm: Any, path: Path) -> Any:
    """Load the GGUF LoRA adapter at ``path`` for ``llm``'s model (freed when ``llm`` closes)."""
    import llama_cpp

    handle = llama_cpp.llama_adapter_lora_init(llm._model.model, str(path).encode("utf-8"))
    if not handle:
        raise ModelNotFoundError(
            f"llama.cpp could not load the LoRA adapter {str(path)!r}.", hint="pass a GGUF adapter (agentslm train export)."
        )
    llm._stack.callback(llama_cpp.llama_adapter_lora_free, handle)  # before the context and model are freed
    return handle


class LlamaCppModel(LocalModel):
    """A GGUF model run by llama-cpp-python.

    Args:
        path: the GGUF file.
        n_ctx: context length in tokens.
        n_threads: CPU threads (default: ``AGENTSLM_THREADS`` or all cores). On a busy
            2-core machine 1 thread can beat 2.
        lora_path: optional GGUF LoRA adapter applied on top.
        lora_roles: the agent roles ``lora_path`` was trained for (``None``: every role); the others decode with the
            base weights.
        adapters: one adapter per agent role instead (``{"planner": PATH, "caller": PATH, "summarizer": None}``,
            see :mod:`agentslm.models.role_adapters`): each file is loaded once and :meth:`for_role` returns a view
            that decodes on the same loaded base and context with its role's adapter (no reload; the context's
            state is saved in the prefix cache and the new setting's restored at each switch). This model itself
            decodes with the planner's.
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
        adapters: AdapterSpec | None = None,
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
        if adapters is not None and lora_path is not None:
            raise UserError("Pass lora_path or adapters, not both.", hint="list the lora_path file in adapters.")
        role_adapters = RoleAdapters.parse(adapters) if adapters is not None else RoleAdapters.single(lora_path, lora_roles)
        if role_adapters.files:
            from agentslm.models.adapter_check import check_adapter

            for file in role_adapters.files:
                check_adapter(model_path, file)  # refuses an adapter trained for another base, with the reason
        threads = n_threads or int(os.environ.get("AGENTSLM_THREADS", "0")) or (os.cpu_count() or 1)
        self.extra_buffers: ExtraBuffersDecision = decide_extra_buffers(override=extra_buffers)
        try:
            with llama_extra_buffers(self.extra_buffers.enabled):
                self._llm = llama_cpp.Llama(
                    model_path=str(model_path),
                    n_ctx=n_ctx,
                    n_threads=threads,
                    n_threads_batch=threads,
                    logits_all=False,
                    verbose=verbose,
                )
        except ValueError as exc:
            raise ModelNotFoundError(
                f"llama.cpp could not load {str(model_path)!r}: {exc}.",
                hint="check that the file is a GGUF model llama.cpp supports.",
            ) from exc
        self.path = model_path
        self.adapters = role_adapters
        """Which adapter each role decodes with."""
        self._handles = {file: _load_adapter(self._llm, file) for file in role_adapters.files}
        self.lora_path = role_adapters.for_role("planner")
        """The adapter this model itself (the planner) decodes with."""
        self._active: Path | None = None  # the adapter the context decodes with now
        self.switches = 0
        """Adapter switches so far (each one saves the context's state and restores or recomputes the prompt)."""
        self.prefix_cache = PrefixCache(int(prefix_cache_mb * 2**20))
        """Saved prompt-prefix states (inspect ``hits``, ``stores``, ``nbytes``)."""
        self._cached = 0  # prompt tokens the last prefill reused
        self._next_stable: tuple[int, ...] = ()  # the system-message tokens of the prompt about to be evaluated
        self._live_stable: tuple[int, ...] = ()  # ... and of the prompt the context holds
        self._stable_lengths: dict[str, int] = {}  # system message + tools -> their token count in a prompt
        self.name = _name(model_path, self.lora_path)
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
        adapter = self.adapters.for_role(role)
        return self if adapter == self.lora_path else _RoleView(self, adapter)

    def _use_adapter(self, adapter: Path | None) -> None:
        """Decode with ``adapter`` (None: the base weights) from the next decode on (the caller holds the lock)."""
        if adapter == self._active:
            return
        self._save_live()  # computed under the current weights: keep it for the next step under them
        rc = set_adapter(self._llm, self._handles[adapter] if adapter is not None else None)
        if rc:
            raise GenerationError(f"llama.cpp could not switch to the LoRA adapter {adapter} (error {rc}).")
        self._active = adapter
        self.switches += 1
        self._llm.n_tokens = 0  # the context's state was computed under the other weights

    def _weights(self) -> str:
        """What the context's state is computed under (the prefix cache's key)."""
        return f"lora:{self._active}" if self._active is not None else "base"

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
        self._use_adapter(self.lora_path)
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
        # always evaluate at least one token to get logits; with an adapter two: llama.cpp's LoRA matmuls for a batch
        # of one token round differently, and the 8-bit activations amplify it (logits up to 1.0 apart, another greedy
        # reply to the same prompt asked twice)
        common = min(common, len(tokens) - (1 if self._active is None else 2))
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


def _name(path: Path, adapter: Path | None) -> str:
    return f"llamacpp:{path.name}" + (f"+lora:{adapter.name}" if adapter is not None else "")


class _RoleView(LocalModel):
    """A :class:`LlamaCppModel` decoding with another of its loaded adapters (or none): the same loaded weights,
    context, lock and compiled grammars; only the adapter differs (each setting's states are kept apart in the prefix
    cache)."""

    provider = "llama.cpp"

    def __init__(self, base: LlamaCppModel, adapter: Path | None) -> None:  # no super().__init__: the base's lock
        self.base = base
        self.adapter = adapter
        self.lora_path = adapter
        self._lock = base.lock
        self._engines = base._engines
        self.default_engine = base.default_engine
        self.fast_forward = base.fast_forward
        self.vocab_size = base.vocab_size
        self.eos_token_ids = base.eos_token_ids
        self.profile = base.profile
        self.name = _name(base.path, adapter)

    @property
    def context_length(self) -> int:
        return self.base.context_length

    def chat_tokens(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None) -> list[int]:
        return self.base.chat_tokens(messages, tools)

    def special_tokens(self, text: str) -> list[int]:
        return self.base.special_tokens(text)

    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        self.base._use_adapter(self.adapter)
        return self.base._prefill_tokens(tokens)

    def for_role(self, role: str) -> Model:
        return self.base.for_role(role)

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
