"""Published JSON Schemas of agentslm's wire formats (written to ``schemas/`` and checked by the tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from agentslm.agent import AgentRun, Session
from agentslm.audit import AuditRecord
from agentslm.records import TrainingRecord
from agentslm.step_types import CallList, Observation, ToolCall, Verdict

__all__ = ["WIRE_MODELS", "wire_schemas", "write_wire_schemas"]

WIRE_MODELS: dict[str, type[BaseModel]] = {
    "tool_call": ToolCall,
    "call_list": CallList,
    "verdict": Verdict,
    "observation": Observation,
    "agent_run": AgentRun,
    "audit_record": AuditRecord,
    "session": Session,
    "training_record": TrainingRecord,
}


def wire_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema (serialisation mode) for every wire model and the agent's events."""
    from agentslm.events import event_adapter

    out: dict[str, dict[str, Any]] = {}
    items: list[tuple[str, Any]] = [(n, m.model_json_schema(mode="serialization")) for n, m in WIRE_MODELS.items()]
    items.append(("event", event_adapter.json_schema(mode="serialization")))
    for name, schema in items:
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://agentslm.dev/schemas/{name}.schema.json"
        out[f"{name}.schema.json"] = schema
    return out


def write_wire_schemas(folder: Path) -> list[Path]:
    """Write the schemas into ``folder`` (``python -m agentslm.wire schemas/``)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, schema in wire_schemas().items():
        path = folder / filename
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


if __name__ == "__main__":
    import sys

    for p in write_wire_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "schemas")):
        print(p)
