"""Fine-tuning for function calling: records, dataset builders, LoRA SFT, GGUF adapter export, evaluation.

Pipeline (``agentslm train …``): ``data`` (synthetic records from a tool catalog or a registry, imports of
OpenAI/ShareGPT data, agent traces and escalation logs; deduplicated, split, BFCL-checked) →
``lora`` (tokenize with the runtime's prompts, train with peft) → ``export`` (GGUF LoRA adapter for
llama.cpp) → ``eval`` (held-out accuracy before/after on the runtime) and ``agentslm bench bfcl --lora``.
"""

from agentslm.records import DatasetError, RecordCall, RecordTool, TrainingRecord, read_records, write_records

__all__ = ["DatasetError", "RecordCall", "RecordTool", "TrainingRecord", "read_records", "write_records"]
