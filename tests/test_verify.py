from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agentslm import Tool, ToolCall, ToolRegistry, Verifier


def _registry() -> ToolRegistry:
    registry = ToolRegistry()

    @registry.tool
    def transfer(amount: Annotated[float, Field(gt=0)], to: str) -> str:
        return f"sent {amount} to {to}"

    @registry.tool(effects=["destructive"])
    def drop_table(table: str) -> str:
        return f"dropped {table}"

    return registry


def test_stages_in_order_and_first_failure_stops() -> None:
    v = Verifier(_registry())
    ok = v.verify(ToolCall(name="transfer", arguments={"amount": 5, "to": "ana"}))
    assert ok.approved and [c.stage for c in ok.checks] == ["parse", "tool", "schema", "types", "policy"]
    assert ok.arguments == {"amount": 5.0, "to": "ana"}

    assert v.verify(ToolCall(name="", parse_error="invalid JSON: x")).reasons == ["parse: invalid JSON: x"]
    assert v.verify(ToolCall(name="nope", arguments={})).reasons == ["tool: unknown tool 'nope'"]
    bad_schema = v.verify(ToolCall(name="transfer", arguments={"amount": -1, "to": "ana", "extra": 1}))
    assert not bad_schema.approved and bad_schema.checks[-1].stage == "schema"
    assert "amount" in bad_schema.reasons[0] and "extra" in bad_schema.reasons[0]


def test_types_stage_catches_what_json_schema_allows() -> None:
    registry = ToolRegistry.from_openai(
        [{"name": "f", "parameters": {"type": "object", "properties": {"n": {"type": "integer"}}}}]
    )
    assert Verifier(registry).verify(ToolCall(name="f", arguments={"n": 2})).approved

    def only_even(n: int) -> int:
        if n % 2:
            raise ValueError("odd")
        return n

    reg2 = ToolRegistry()
    reg2.add(only_even)
    verdict = Verifier(reg2).verify(ToolCall(name="only_even", arguments={"n": "2"}))  # a string is not an integer
    assert not verdict.approved and verdict.checks[-1].stage == "schema"


def test_destructive_needs_approval_default_deny() -> None:
    call = ToolCall(name="drop_table", arguments={"table": "users"})
    denied = Verifier(_registry()).verify(call)
    assert not denied.approved and "default deny" in denied.reasons[0]

    seen: list[tuple[str, dict]] = []

    def approver(c: ToolCall, t: Tool) -> bool:
        seen.append((t.name, dict(c.arguments)))
        return c.arguments["table"] == "tmp"

    v = Verifier(_registry(), approve=approver)
    assert not v.verify(call).approved
    assert v.verify(ToolCall(name="drop_table", arguments={"table": "tmp"})).approved
    assert seen == [("drop_table", {"table": "users"}), ("drop_table", {"table": "tmp"})]  # exact arguments shown

    def broken(c: ToolCall, t: Tool) -> bool:
        raise RuntimeError("ui closed")

    assert "ui closed" in Verifier(_registry(), approve=broken).verify(call).reasons[0]


def test_allow_list_and_custom_validators() -> None:
    call = ToolCall(name="transfer", arguments={"amount": 500, "to": "ana"})
    assert "allow-list" in Verifier(_registry(), allow=["drop_table"]).verify(call).reasons[0]

    def limit(c: ToolCall, t: Tool) -> str | None:
        return "amount over 100 needs a human" if c.arguments.get("amount", 0) > 100 else None

    v = Verifier(_registry(), validators={"transfer": [limit]})
    assert v.verify(call).reasons == ["validator: amount over 100 needs a human"]
    assert v.verify(ToolCall(name="transfer", arguments={"amount": 5, "to": "ana"})).approved
    assert Verifier(_registry(), validators=[lambda c, t: False]).verify(call).reasons[0].startswith("validator:")
