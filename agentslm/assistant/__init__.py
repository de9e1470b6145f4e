"""The local desktop assistant: a web UI on 127.0.0.1 (``agentslm assistant``) and a terminal chat
(``agentslm chat``) over the tool packs, with approvals for destructive and external calls."""

from __future__ import annotations

from .config import AssistantConfig, load_config
from .core import Assistant, AssistantBusy, build_agent

__all__ = ["Assistant", "AssistantBusy", "AssistantConfig", "build_agent", "load_config"]
