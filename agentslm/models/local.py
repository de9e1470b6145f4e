"""The decode loop local backends (llama.cpp, transformers) share: the backend supplies "evaluate these
tokens, give me the next logits"; the loop applies the constraint's token mask, picks the token and records
its probabilities. Needs numpy (installed with the ``llamacpp`` and ``hf`` extras).
"""

from __future__ import annotations

import math
import re
import threading
import time
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from agentslm.constraints.engines import ConstraintEngine, Matcher
from agentslm.errors import GenerationError, UserError
from agentslm.models.base import Generation, Message, Model, TokenLogprob
from agentslm.usage import record

__all__ = ["LocalModel"]


def _cycle_continuation(tokens: list[int]) -> int | None:
    """The token that would continue a repeating cycle at the end of ``tokens``, if there is one:
    the same token 4 times in a row, or a cycle of 2-8 tokens repeated 3 times."""
    n = len(tokens)
    if n >= 4 and tokens[-1] == tokens[-2] == tokens[-3] == tokens[-4]:
        return tokens[-1]
    for length in range(2, 9):
        if n < 3 * length:
            break
        if tokens[-length:] == tokens[-2 * length : -length] == tokens[-3 * length : -2 * length]:
            return tokens[-length]
    return None


@dataclass
class _Decode:
    """The running state of one :meth:`LocalModel.generate_tokens` call."""

    max_tokens: int
    reserve: int
    """Closing mode starts when fewer tokens than this remain."""
    rng: np.random.Generator
    temperature: float
    loop_guard: bool
    fast_forward: bool
    bitmask: NDArray[np.int32]
    out: list[TokenLogprob] = field(default_factory=list)
    loop_breaks: int = 0
    closing: bool = False
    constraint_seconds: float = 0.0


def _constrained_choice(vals: NDArray[np.float32], j: int) -> tuple[float, float]:
    """The chosen token's log-probability renormalised over the allowed tokens, and the top-1/top-2 margin
    (1.0 when one token was allowed)."""
    top = float(vals.max())
    z = np.exp(vals - top)
    c_lse = top + math.log(float(z.sum()))
    c_lp = float(vals[j]) - c_lse
    if vals.shape[0] < 2:
        return c_lp, 1.0
    best = int(np.argmax(z))
    p1 = float(z[best])
    z[best] = 0.0
    return c_lp, (p1 - float(z.max())) / math.exp(c_lse - top)


def _log_softmax_at(logits: NDArray[np.float32], token: int) -> float:
    m = float(logits.max())
    return float(logits[token]) - (m + math.log(float(np.exp(logits - m).sum())))


class LocalModel(Model):
    """A model whose logits we can read token by token; implements the shared decode loop.

    Calls are serialised per instance (llama.cpp contexts are not thread-safe).
    """

    continues_reply = True
    vocab_size: int
    eos_token_ids: frozenset[int]

    def __init__(self, *, engine: str | None = None, fast_forward: bool = True) -> None:
        self._lock = threading.RLock()
        self._engines: dict[str, ConstraintEngine] = {}
        self.default_engine = engine or self.preferred_engine
        self.fast_forward = fast_forward
        """Feed grammar-forced tokens in one batch instead of asking the model for each."""

    preferred_engine: str = "llguidance"

    @property
    def lock(self) -> threading.RLock:
        """The lock that serialises use of this model; hold it to use the backend object directly."""
        return self._lock

    # -- backend hooks --------------------------------------------------------------------
    @abstractmethod
    def chat_tokens(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None) -> list[int]:
        """The prompt tokens of ``messages`` under the model's chat template (generation prompt added); ``tools``:
        function specs for the template's own tool rendering."""

    def prefix_tokens(self, text: str) -> list[int]:
        """Tokens of a reply's start: plain text, except the call wrapper's control texts of the model's profile
        (``<tool_call>`` is one token in Qwen's vocabulary, as the model writes it)."""
        specials = [t for t in self.profile.call_format.special_texts if t in text]
        if not specials:
            return self.text_tokens(text)
        out: list[int] = []
        for piece in re.split("(" + "|".join(re.escape(t) for t in specials) + ")", text):
            if piece in specials:
                out += self.special_tokens(piece)
            elif piece:
                out += self.text_tokens(piece)
        return out

    def special_tokens(self, text: str) -> list[int]:
        """Tokens of a control text (``<tool_call>``); plain-text tokens where the vocabulary has no such token."""
        return self.text_tokens(text)

    @abstractmethod
    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        """Evaluate the prompt (reusing any cached prefix); return the next-token logits."""

    @abstractmethod
    def _step(self, tokens: list[int]) -> NDArray[np.float32]:
        """Append ``tokens`` to the sequence; return the next-token logits."""

    def _note_stable_prefix(
        self, messages: Sequence[Message], prompt: list[int], tools: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """Told before a prompt is evaluated: ``prompt`` are the tokens of ``messages``. A backend that keeps prompt
        states can work out which prefix is stable across requests (the system message) and keep just that."""

    def _prefill_reused(self) -> int:
        """How many prompt tokens the last :meth:`_prefill` took from a cache instead of evaluating them."""
        return 0

    @abstractmethod
    def text_tokens(self, text: str) -> list[int]:
        """Tokenize plain text (no special tokens, no BOS)."""

    @abstractmethod
    def token_text(self, tokens: Sequence[int]) -> str:
        """Decode tokens to text."""

    @abstractmethod
    def _make_engine(self, name: str) -> ConstraintEngine:
        """Create the named constraint engine for this model's tokenizer."""

    @property
    def context_length(self) -> int:
        return 1 << 30

    # -- shared ---------------------------------------------------------------------------
    def engine(self, name: str | None = None) -> ConstraintEngine:
        """The (cached) constraint engine ``name`` for this model's tokenizer."""
        name = name or self.default_engine
        with self._lock:
            if name not in self._engines:
                from agentslm.constraints.engines import ENGINES

                if name not in ENGINES:
                    raise UserError(f"Unknown constraint engine {name!r}.", hint=f"use one of {list(ENGINES)}.")
                self._engines[name] = self._make_engine(name)
            return self._engines[name]

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return len(self.chat_tokens(messages))

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        engine: str | None = None,
        fast_forward: bool | None = None,
        response_prefix: str = "",
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> Generation:
        """Like :meth:`Model.generate`; ``response_prefix`` is text placed at the start of the reply
        (not part of the returned text) before decoding starts; ``fast_forward``: batch the tokens the grammar forces."""
        matcher = self.engine(engine).compile(schema).matcher() if schema is not None else None
        prompt = self.chat_tokens(messages, tools) + (self.prefix_tokens(response_prefix) if response_prefix else [])
        with self._lock:  # the stable-prefix note belongs to this prompt's evaluation
            self._note_stable_prefix(messages, prompt, tools)
            return self.generate_tokens(
                prompt,
                matcher=matcher,
                max_tokens=max_tokens,
                temperature=temperature,
                seed=seed,
                fast_forward=self.fast_forward if fast_forward is None else fast_forward,
            )

    def token_probability(
        self,
        messages: Sequence[Message],
        tokens: Sequence[int],
        *,
        response_prefix: str = "",
        tools: Sequence[Mapping[str, Any]] | None = None,
        versus: Sequence[int] = (),
    ) -> float:
        """The probability that the reply (after ``response_prefix``) goes on with one of ``tokens``: the model's own
        choice, unconstrained (e.g. of writing ``<tool_call>`` rather than text). With ``versus``, renormalised over
        ``tokens`` and ``versus`` alone (e.g. another call or the end of the turn, as a list grammar offers ``,`` or
        ``]``)."""
        prompt = self.chat_tokens(messages, tools) + (self.prefix_tokens(response_prefix) if response_prefix else [])
        with self._lock:
            self._note_stable_prefix(messages, prompt, tools)
            logits = self._prefill(prompt).astype(np.float64)
        top = float(logits.max())
        z = np.exp(logits - top)
        chosen = float(z[list(set(tokens))].sum())
        if versus:
            other = float(z[list(set(versus) - set(tokens))].sum())
            return chosen / (chosen + other) if chosen + other > 0 else 0.0
        return chosen / float(z.sum())

    def generate_tokens(
        self,
        prompt: list[int],
        *,
        matcher: Matcher | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        fast_forward: bool = True,
        loop_guard: bool = True,
        close_reserve: int = 64,
    ) -> Generation:
        """The decode loop. With ``matcher``, every token is drawn from the grammar's mask.

        ``loop_guard`` (constrained decoding only): when the output ends in a repeating cycle of tokens
        (one token 4 times, or a 2-8 token cycle 3 times), the token that would continue the cycle is
        removed from the allowed set for that step, so a small model that starts looping inside a value
        takes its next-best allowed token (often closing the value) instead of running out of budget.

        Closing mode (constrained decoding only): after 3 loop breaks, or once fewer than
        ``close_reserve`` tokens (at most a third of the budget) remain, allowed tokens that end a value (starting with
        ``"``, ``]`` or ``}``; then ``,``) are preferred and tokens that open ``[``/``{`` avoided, so the output completes within the budget
        instead of being cut off as invalid JSON. ``Generation.closed_early`` reports it.
        """
        if max_tokens < 1:
            raise UserError(f"max_tokens={max_tokens} must be at least 1.")
        if len(prompt) + max_tokens > self.context_length:
            raise UserError(
                f"Prompt ({len(prompt)} tokens) + max_tokens ({max_tokens}) exceed the context ({self.context_length}).",
                hint="shorten the prompt (fewer tools), lower max_tokens or load the model with a larger n_ctx.",
            )
        state = _Decode(
            max_tokens=max_tokens,
            reserve=min(close_reserve, max_tokens // 3),
            rng=np.random.default_rng(seed),
            temperature=temperature,
            loop_guard=loop_guard,
            fast_forward=fast_forward,
            bitmask=np.zeros((self.vocab_size + 31) // 32, dtype=np.int32),
        )
        with self._lock:
            t0 = time.perf_counter()
            logits = self._prefill(prompt)
            reused = self._prefill_reused()
            t1 = time.perf_counter()
            steps = 0
            finish: Literal["stop", "length"] = "length"
            while len(state.out) < max_tokens:
                feed = self._free_step(logits, state) if matcher is None else self._constrained_step(logits, matcher, state)
                if feed is None:
                    finish = "stop"
                    break
                if len(state.out) >= max_tokens:
                    break
                logits = self._step(feed)
                steps += 1
            t2 = time.perf_counter()
        out = state.out
        generation = Generation(
            text=self.token_text([t.token for t in out if t.token not in self.eos_token_ids]),
            tokens=out,
            prompt_tokens=len(prompt),
            cached_tokens=reused,
            finish_reason=finish,
            seconds=t2 - t0,
            prefill_seconds=t1 - t0,
            decode_seconds=t2 - t1,
            constraint_seconds=state.constraint_seconds,
            model_steps=steps,
            loop_breaks=state.loop_breaks,
            closed_early=state.closing,
        )
        record(generation, model=self.name, prompt=tuple(prompt), provider=self.provider)
        return generation

    def _free_step(self, logits: NDArray[np.float32], state: _Decode) -> list[int] | None:
        """One unconstrained token: the tokens to feed next, or None at end of output."""
        token = self._pick(logits, state.temperature, state.rng)
        if token in self.eos_token_ids:
            return None
        state.out.append(
            TokenLogprob(
                token=token,
                text=self.token_text([token]),
                logprob=_log_softmax_at(logits, token),
                constrained_logprob=None,
                margin=None,
                n_allowed=None,
            )
        )
        return [token]

    def _constrained_step(self, logits: NDArray[np.float32], matcher: Matcher, state: _Decode) -> list[int] | None:
        """One token from the grammar's mask (then the tokens it forces): the tokens to feed next, or None when
        the grammar is finished."""
        tc = time.perf_counter()
        idx = self._allowed_tokens(matcher, state.bitmask, logits.shape[0])
        vals = self._guided_logits(logits, idx, state)
        j = self._pick(vals, state.temperature, state.rng)
        token = int(idx[j])
        c_lp, margin = _constrained_choice(vals, j)
        if not matcher.consume(token):
            raise GenerationError(f"The grammar refused token {token} it had allowed.")
        state.constraint_seconds += time.perf_counter() - tc
        state.out.append(
            TokenLogprob(
                token=token,
                text=self.token_text([token]),
                logprob=_log_softmax_at(logits, token),
                constrained_logprob=c_lp,
                margin=margin,
                n_allowed=int(idx.shape[0]),
            )
        )
        if matcher.is_finished():
            return None
        feed = [token]
        if state.fast_forward:
            feed += self._forced_tokens(matcher, state)
            if matcher.is_finished():
                return None
        return feed

    @staticmethod
    def _allowed_tokens(matcher: Matcher, bitmask: NDArray[np.int32], n_logits: int) -> NDArray[np.intp]:
        """The token ids the grammar allows next (never none: a dead end is a :class:`GenerationError`)."""
        matcher.fill_bitmask(bitmask)
        allowed = np.unpackbits(bitmask.view(np.uint8), bitorder="little")[:n_logits].view(bool)
        idx = np.flatnonzero(allowed)
        if idx.shape[0] == 0:
            raise GenerationError("The grammar allows no next token (dead end).", hint="report this schema as a bug.")
        return idx

    def _guided_logits(self, logits: NDArray[np.float32], idx: NDArray[np.intp], state: _Decode) -> NDArray[np.float32]:
        """The allowed tokens' logits, less the token that would continue a loop (loop guard), plus the closing
        bonus in closing mode."""
        vals = logits[idx]
        n_allowed = int(idx.shape[0])
        if state.loop_guard and n_allowed > 1:
            repeat = _cycle_continuation([t.token for t in state.out])
            if repeat is not None:
                hit = np.flatnonzero(idx == repeat)
                if hit.size:
                    vals = vals.copy()
                    vals[hit[0]] = -np.inf
                    state.loop_breaks += 1
        if n_allowed > 1 and (state.loop_breaks >= 3 or len(state.out) >= state.max_tokens - state.reserve):
            # closing mode: prefer tokens that end the current value so the output completes
            vals = vals + self._closing_bonus()[idx]
            state.closing = True
        return vals

    def _forced_tokens(self, matcher: Matcher, state: _Decode) -> list[int]:
        """Consume and record the tokens the grammar forces next (within the budget), fast-forwarded in one batch."""
        tc = time.perf_counter()
        forced = matcher.forced_tokens()[: max(0, state.max_tokens - len(state.out))]
        for f in forced:
            if not matcher.consume(f):
                raise GenerationError(f"The grammar refused forced token {f}.")
            state.out.append(
                TokenLogprob(
                    token=f,
                    text=self.token_text([f]),
                    logprob=None,
                    constrained_logprob=0.0,
                    margin=1.0,
                    n_allowed=1,
                )
            )
        state.constraint_seconds += time.perf_counter() - tc
        return forced

    def _closing_bonus(self) -> NDArray[np.float32]:
        """Per-token logit bonus used in closing mode (computed once per model)."""
        bonus = getattr(self, "_closing_bonus_cache", None)
        if bonus is None:
            bonus = np.zeros(self.vocab_size, dtype=np.float32)
            for tok in range(self.vocab_size):
                text = self.token_text([tok]).lstrip(" ")
                if "[" in text or "{" in text:
                    bonus[tok] = -100.0  # never open a new structure while closing
                elif text[:1] == '"':
                    bonus[tok] = 100.0  # ends a string (inside one, ']' and '}' are plain characters)
                elif text[:1] in ("]", "}"):
                    bonus[tok] = 90.0
                elif text[:1] == ",":
                    bonus[tok] = 50.0
            self._closing_bonus_cache = bonus
        return bonus

    @staticmethod
    def _pick(logits: NDArray[np.float32], temperature: float, rng: np.random.Generator) -> int:
        if temperature <= 0:
            return int(np.argmax(logits))
        z = logits.astype(np.float64) / temperature
        z -= z.max()
        p = np.exp(z)
        p /= p.sum()
        return int(rng.choice(p.shape[0], p=p))
