"""transformers backend (extra ``hf``): a HF model directory, or a GGUF file through transformers'
GGUF loader. outlines (outlines-core) drives its constrained decoding by default."""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from agentslm.constraints.engines import ConstraintEngine
from agentslm.constraints.llguidance_engine import LLGuidanceEngine
from agentslm.constraints.outlines_engine import OutlinesEngine
from agentslm.errors import MissingExtraError, ModelNotFoundError
from agentslm.models.base import Message, neutralize_control_text
from agentslm.models.local import LocalModel
from agentslm.models.profiles import detect_profile, fit_roles, template_messages

__all__ = ["TransformersModel"]


class TransformersModel(LocalModel):
    """A causal LM run by transformers on the CPU (or ``device``).

    Args:
        path: a model directory, or a ``.gguf`` file (dequantised by transformers' GGUF loader).
        engine: constraint engine (``outlines`` by default; ``llguidance`` also works).
        adapter: optional peft LoRA adapter folder (``agentslm train lora`` writes ``RUN/adapter``).
    """

    provider = "transformers"

    preferred_engine = "outlines"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        engine: str | None = None,
        device: str = "cpu",
        fast_forward: bool = True,
        adapter: str | os.PathLike[str] | None = None,
    ) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            raise MissingExtraError(
                "The transformers backend needs torch and transformers.", hint="pip install 'agentslm[hf]'."
            ) from None
        p = Path(path).expanduser()
        if not p.exists():
            raise ModelNotFoundError(f"No model at {str(p)!r}.", hint="pass a HF model directory or a .gguf file.")
        kwargs: dict[str, Any] = {}
        directory = p
        if p.is_file():
            directory, kwargs["gguf_file"] = p.parent, p.name
        self._torch = torch
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(directory), **kwargs)
        auto_model: Any = AutoModelForCausalLM
        self.hf_model: Any = auto_model.from_pretrained(str(directory), dtype=torch.float32, **kwargs)
        if adapter is not None:
            self.hf_model = _with_adapter(self.hf_model, Path(adapter))
        self.hf_model.to(device)
        self.hf_model.eval()
        self.device = device
        self.path = p
        self.name = f"transformers:{p.name}" + (f"+lora:{Path(adapter).name}" if adapter else "")
        self.vocab_size = int(self.hf_model.get_output_embeddings().weight.shape[0])
        config = self.hf_model.config
        self.profile = fit_roles(
            detect_profile(
                {
                    "general.architecture": getattr(config, "model_type", ""),
                    "general.name": getattr(config, "_name_or_path", p.name),
                },
                getattr(self.tokenizer, "chat_template", None),
            ),
            lambda messages: str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)),
        )
        eos = {self.tokenizer.eos_token_id}
        for special in self.profile.end_of_turn or ("<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(special)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                eos.add(tid)
        self.eos_token_ids = frozenset(t for t in eos if t is not None)
        self._cache: Any = None
        # transformers >= 5.2x renamed `past_key_values` to `cache` (the old name warns until its removal)
        self._cache_kwarg = "cache" if "cache" in inspect.signature(self.hf_model.forward).parameters else "past_key_values"
        super().__init__(engine=engine, fast_forward=fast_forward)

    @property
    def context_length(self) -> int:
        return int(getattr(self.hf_model.config, "max_position_embeddings", 2048))

    def chat_tokens(self, messages: Sequence[Message], tools: Sequence[Mapping[str, Any]] | None = None) -> list[int]:
        specials = [str(t) for t in getattr(self.tokenizer, "all_special_tokens", [])]
        specials += [str(t.content) for t in getattr(self.tokenizer, "added_tokens_decoder", {}).values() if t.special]
        safe = neutralize_control_text(messages, specials)  # message text never becomes a control token
        shaped = template_messages(
            safe, self.profile, tools, structured_calls="tool_calls" in (getattr(self.tokenizer, "chat_template", None) or "")
        )
        ids: Any = self.tokenizer.apply_chat_template(
            shaped, tools=[dict(t) for t in tools] if tools else None, add_generation_prompt=True, tokenize=True
        )
        if isinstance(ids, dict) or hasattr(ids, "input_ids"):
            ids = ids["input_ids"]
        return [int(i) for i in ids]

    def special_tokens(self, text: str) -> list[int]:
        tid = self.tokenizer.convert_tokens_to_ids(text)
        if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
            return [tid]
        return self.text_tokens(text)

    def _run(self, tokens: list[int]) -> NDArray[np.float32]:
        torch = self._torch
        with torch.inference_mode():
            out = self.hf_model(
                input_ids=torch.tensor([tokens], device=self.device),
                **{self._cache_kwarg: self._cache},
                use_cache=True,
                logits_to_keep=1,
            )
        self._cache = getattr(out, "cache", None) or out.past_key_values
        return out.logits[0, -1].float().cpu().numpy()

    def _prefill(self, tokens: list[int]) -> NDArray[np.float32]:
        from transformers import DynamicCache

        self._cache = DynamicCache()
        return self._run(tokens)

    def _step(self, tokens: list[int]) -> NDArray[np.float32]:
        return self._run(tokens)

    def text_tokens(self, text: str) -> list[int]:
        return [int(i) for i in self.tokenizer.encode(text, add_special_tokens=False)]

    def token_text(self, tokens: Sequence[int]) -> str:
        return str(self.tokenizer.decode(list(tokens), skip_special_tokens=False))

    def _make_engine(self, name: str) -> ConstraintEngine:
        if name == "llguidance":
            import llguidance.hf

            return LLGuidanceEngine(llguidance.hf.from_tokenizer(self.tokenizer, n_vocab=self.vocab_size))
        import outlines
        from outlines.backends.outlines_core import OutlinesCoreBackend

        return OutlinesEngine(OutlinesCoreBackend(outlines.from_transformers(self.hf_model, self.tokenizer)).vocabulary)


def _with_adapter(model: Any, adapter: Path) -> Any:
    """``model`` with the peft LoRA adapter in ``adapter`` applied (merged, so decoding costs nothing extra)."""
    if not (adapter / "adapter_config.json").is_file():
        raise ModelNotFoundError(
            f"No peft adapter in {str(adapter)!r}.", hint="pass the adapter folder of a training run (RUN/adapter)."
        )
    try:
        from peft import PeftModel
    except ImportError:
        raise MissingExtraError("Loading a LoRA adapter needs peft.", hint="pip install 'agentslm[train]'.") from None
    # sft.py imports nothing of agentslm (it runs alone on a GPU box): the one core -> training import, in the contract
    from agentslm.finetune.sft import strip_gguf_quantizer

    strip_gguf_quantizer(model)
    try:
        return PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    except (RuntimeError, ValueError) as exc:  # shape mismatch: trained for another base
        from agentslm.models.adapter_check import AdapterMismatchError

        raise AdapterMismatchError(
            f"The adapter in {adapter} does not fit this model ({str(exc).splitlines()[0][:200]}).",
            hint="load it onto the base model it was trained on.",
        ) from None
