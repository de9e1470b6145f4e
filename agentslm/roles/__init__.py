"""Agent roles. The caller decodes one call; planner and summarizer come with the multi-step agent."""

from agentslm.roles.caller import Caller, parse_call, signals_from_generation

__all__ = ["Caller", "parse_call", "signals_from_generation"]
