"""Saved prompt-prefix states: the cache's bookkeeping, and on the real model that restoring a state gives the same
tokens and probabilities as evaluating the prompt, under the adapter and with it switched off."""

from __future__ import annotations

import pytest

from agentslm.models.llamacpp import LlamaCppModel
from agentslm.models.prefix_cache import PrefixCache, common_prefix


def test_common_prefix() -> None:
    assert common_prefix([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix([1, 2], [1, 2, 3]) == 2
    assert common_prefix([], [1]) == 0
    assert common_prefix([5], [6]) == 0


def test_lookup_finds_longest_prefix_under_the_same_weights_only() -> None:
    cache = PrefixCache(10_000, min_tokens=2)
    cache.store("lora", [1, 2, 3, 4], b"a" * 10)
    cache.store("lora", [9, 9, 9], b"b" * 10)
    cache.store("base", [1, 2, 3, 4, 5], b"c" * 10)
    saved, n = cache.lookup("lora", [1, 2, 3, 7])
    assert saved is not None and saved.data == b"a" * 10 and n == 3
    saved, n = cache.lookup("base", [1, 2, 3, 4, 5, 6])
    assert saved is not None and saved.data == b"c" * 10 and n == 5
    assert cache.lookup("other", [1, 2, 3]) == (None, 0)
    assert cache.lookup("lora", [8]) == (None, 0)


def test_store_replaces_covered_entries_and_respects_the_bound() -> None:
    cache = PrefixCache(30, min_tokens=2)
    cache.store("w", [1, 2, 3, 4], b"x" * 10)
    cache.store("w", [1, 2, 3, 5], b"y" * 10)  # shares 3 of 4 tokens: replaces the first
    assert [e.data for e in cache.entries()] == [b"y" * 10]
    cache.store("w", [7, 7], b"z" * 10)
    cache.store("w", [8, 8], b"v" * 10)
    assert cache.nbytes == 30 and len(cache) == 3
    cache.lookup("w", [1, 2, 3, 5])  # most recently used now
    cache.store("w", [6, 6], b"u" * 10)  # over the bound: the least recently used ([7, 7]) goes
    assert {e.tokens for e in cache.entries()} == {(1, 2, 3, 5), (8, 8), (6, 6)}
    assert cache.nbytes <= cache.max_bytes


def test_store_refuses_what_is_not_worth_keeping() -> None:
    cache = PrefixCache(20, min_tokens=3)
    assert not cache.store("w", [1, 2], b"x")  # too short
    assert not cache.store("w", [1, 2, 3], b"x" * 21)  # larger than the whole bound
    assert not PrefixCache(0).store("w", list(range(100)), b"x")  # off
    assert len(cache) == 0
    with pytest.raises(ValueError, match="max_bytes"):
        PrefixCache(-1)


def _trace(model: LlamaCppModel, prompts: list[tuple[str, list[dict[str, str]]]]) -> list[tuple[str, list[float | None]]]:
    out = []
    for role, messages in prompts:
        gen = model.for_role(role).generate(messages, max_tokens=12)
        out.append((gen.text, [t.logprob for t in gen.tokens]))
    return out


def test_restored_states_decode_exactly_like_a_fresh_prompt(embedded_model: LlamaCppModel) -> None:
    """Roles alternate (adapter on for the planner, off for the summarizer) so states are saved and restored; the
    outputs and per-token log-probabilities must equal those of the same model with the cache off."""
    from agentslm.models import load_model

    system = {"role": "system", "content": "You are a helpful assistant. Answer in one short sentence. " * 12}
    prompts = []
    for question in ("What is the capital of France?", "Name a red fruit.", "What is 2 plus 2?"):
        prompts.append(("planner", [system, {"role": "user", "content": question}]))
        prompts.append(("summarizer", [{"role": "system", "content": "Summarize. " * 20}, {"role": "user", "content": question}]))
    embedded_model.prefix_cache.clear()
    hits = embedded_model.prefix_cache.hits
    cached = _trace(embedded_model, prompts)
    assert embedded_model.prefix_cache.hits > hits, "the alternating roles never restored a saved state"
    uncached_model = load_model("embedded", prefix_cache_mb=0)
    try:
        assert uncached_model.prefix_cache.max_bytes == 0
        uncached = _trace(uncached_model, prompts)
    finally:
        uncached_model.close()
    assert cached == uncached


def test_restore_evaluates_only_the_new_part(embedded_model: LlamaCppModel) -> None:
    system = {"role": "system", "content": "You are a helpful assistant with tools. " * 20}
    planner, summarizer = embedded_model.for_role("planner"), embedded_model.for_role("summarizer")
    embedded_model.prefix_cache.clear()
    first = planner.generate([system, {"role": "user", "content": "Weather in Paris?"}], max_tokens=4)
    summarizer.generate(
        [{"role": "system", "content": "Summarize the results. " * 10}, {"role": "user", "content": "x"}], max_tokens=4
    )
    second_messages = [system, {"role": "user", "content": "Weather in Rome?"}]
    second = planner.generate(second_messages, max_tokens=4)
    assert first.prompt_tokens > 100
    # the system message came back from the saved state: exactly its tokens were kept (not the request or the reply)
    system_part = common_prefix(embedded_model.chat_tokens([system]), embedded_model.chat_tokens(second_messages))
    assert system_part > 100 and second.cached_tokens == system_part
    kept = [e for e in embedded_model.prefix_cache.entries() if str(e.weights).startswith("lora:")]
    assert [len(e.tokens) for e in kept] == [system_part]
    assert embedded_model.prefix_cache.nbytes <= embedded_model.prefix_cache.max_bytes


def test_negative_cache_size_is_refused() -> None:
    from agentslm.errors import UserError
    from agentslm.models import load_model

    with pytest.raises(UserError, match="prefix_cache_mb"):
        load_model("embedded-base", prefix_cache_mb=-1)
