"""MCP server tools as agentslm tools: names, schemas, effects, results, definition pinning.

* **Names** are namespaced per server (``time.get_current_time``); a name that is already
  registered is an error, never a silent overwrite.
* **Schemas** are kept as the server sent them (draft-07 or 2020-12, ``$ref``/``$defs``,
  enums, ...); they become grammar targets like local tools. :func:`grammar_report` tells
  which ones the constraint engine cannot compile, and why.
* **Effects** come from the tool annotations (``readOnlyHint``, ``destructiveHint``,
  ``openWorldHint``, with the MCP spec's defaults), but annotations are *untrusted* unless the
  server is marked ``trusted=True``: on an untrusted server a tool runs without approval only
  if it claims to be read-only *and* its name does not look destructive (see
  :func:`mcp_effects`).
* **Definitions are pinned** when the toolset is created (that is what the user approved).
  Before each call the server's current definition is compared; a changed or removed tool is
  refused until :meth:`McpToolset.accept_changes` re-approves it.
* **Results**: structured content (validated against ``outputSchema``) when present, else the
  text blocks; ``isError`` results become failed observations the planner sees.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from agentslm.constraints.engines import check_schema_safe
from agentslm.constraints.validation import schema_validator
from agentslm.errors import AgentslmError, SchemaCompileError, ToolRegistrationError, UserError
from agentslm.mcp.connection import McpConnection, McpError, ServerSpec
from agentslm.registry import TOOL_NAME_PATTERN, Effect, Tool

__all__ = [
    "McpDefinitionChanged",
    "McpTool",
    "McpToolError",
    "McpToolset",
    "connect_mcp",
    "grammar_report",
    "looks_destructive",
    "mcp_effects",
]

_MAX_PAGES = 100

_DESTRUCTIVE_WORDS = frozenset(
    """delete remove rm del drop destroy kill erase purge truncate reset overwrite wipe clear format shutdown
    write edit update modify patch set put move mv rename create make mkdir add insert append replace apply
    send post publish email mail notify upload transfer pay buy
    exec execute run eval shell spawn commit push merge rebase checkout revert stash
    install uninstall deploy start stop restart terminate""".split()
)


class McpToolError(AgentslmError):
    """An MCP tool answered with ``isError: true``; the message is the server's text."""


class McpDefinitionChanged(McpError):
    """A tool's definition on the server differs from the one that was approved."""

    retryable = False


def looks_destructive(name: str, description: str = "") -> bool:
    """True if a tool's name reads like it changes or sends something (``delete_file``, ``git_commit``, ``sendEmail``)."""
    words = re.findall(r"[a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
    return any(word in _DESTRUCTIVE_WORDS for word in words)


def mcp_effects(annotations: Mapping[str, Any] | None, name: str, *, trusted: bool) -> tuple[frozenset[Effect], bool, str]:
    """(effects, requires_approval, reason) for an MCP tool.

    Hints default as in the MCP spec (``readOnlyHint`` false, ``destructiveHint`` true,
    ``openWorldHint`` true). A trusted server's hints are taken as they are. On an untrusted
    server a read-only claim is believed only for a tool whose name does not look destructive;
    every other tool needs approval.
    """
    hints = dict(annotations or {})
    read_only = bool(hints.get("readOnlyHint", False))
    destructive = bool(hints.get("destructiveHint", True)) and not read_only
    open_world = bool(hints.get("openWorldHint", True))
    if read_only and (trusted or not looks_destructive(name)):
        return frozenset({Effect.READ}), False, "annotated read-only" + ("" if trusted else " (name does not look destructive)")
    effects = {Effect.WRITE}
    if destructive:
        effects.add(Effect.DESTRUCTIVE)
    if open_world and hints.get("openWorldHint") is True:
        effects.add(Effect.EXTERNAL)
    if trusted:
        needs = bool(effects & {Effect.DESTRUCTIVE, Effect.EXTERNAL})
        return frozenset(effects), needs, "trusted server's annotations"
    if looks_destructive(name):
        effects.add(Effect.DESTRUCTIVE)
        claim = "claims read-only but " if read_only else ""
        return frozenset(effects), True, f"{claim}its name looks destructive (untrusted server)"
    if effects & {Effect.DESTRUCTIVE, Effect.EXTERNAL}:
        return frozenset(effects), True, "may change data or reach outside (untrusted server: approval required)"
    return frozenset(effects), False, "annotated non-destructive and closed-world (name does not look destructive)"


@dataclass(kw_only=True, eq=False)
class McpTool(Tool):
    """A tool served by an MCP server (``fn`` calls it over the connection)."""

    remote_name: str = ""
    """The tool's name on the server."""
    server: str = ""
    """The server, as given (command or URL)."""
    trusted: bool = False
    """Whether the server's annotations are trusted."""
    annotations: dict[str, Any] = field(default_factory=dict)
    """The MCP tool annotations as sent."""
    output_schema: dict[str, Any] | None = None
    """The MCP ``outputSchema``; structured results are validated against it."""
    effect_reason: str = ""
    """Why these effects and approval setting were chosen."""
    bound: dict[str, Any] = field(default_factory=dict)
    """Arguments fixed by the operator (``bind=``): hidden from the model, added to every call."""


def _definition(tool: Any) -> dict[str, Any]:
    """The parts of an MCP tool definition that approval covers."""
    return {
        "name": tool.name,
        "description": tool.description or "",
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "annotations": tool.annotations.model_dump(by_alias=True, exclude_none=True) if tool.annotations else {},
    }


def _fingerprint(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(definition, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _namespace_from(name: str | None, fallback: str) -> str:
    base = (name or "").strip().split("/")[-1].lower() or fallback
    for prefix in ("mcp-server-", "mcp_server_", "mcp-", "mcp_", "server-"):
        if base.startswith(prefix) and len(base) > len(prefix):
            base = base[len(prefix) :]
    for suffix in ("-mcp-server", "-server", "-mcp"):
        if base.endswith(suffix) and len(base) > len(suffix):
            base = base[: -len(suffix)]
    base = re.sub(r"[^A-Za-z0-9_-]+", "_", base).strip("_-") or "mcp"
    return base[:40]


def _render_content(blocks: Iterable[Any]) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = getattr(block, "type", "")
        if kind == "text":
            parts.append(block.text)
        elif kind in ("image", "audio"):
            parts.append(f"[{kind}: {block.mime_type}, {len(block.data) * 3 // 4} bytes]")
        elif kind == "resource":
            resource = block.resource
            parts.append(getattr(resource, "text", None) or f"[resource {resource.uri}]")
        elif kind == "resource_link":
            parts.append(f"[resource link {block.uri}]")
        else:
            parts.append(f"[{kind or 'content'}]")
    return "\n".join(parts)


class McpToolset:
    """The tools of one connected MCP server, as agentslm :class:`McpTool` objects.

    Create it with :func:`connect_mcp` (or ``Agent.add_mcp_server``); it is a :class:`~agentslm.registry.Toolset`:
    pass it to ``Agent(tools=...)`` or :meth:`ToolRegistry.add_toolset <agentslm.registry.ToolRegistry.add_toolset>`.
    """

    def __init__(
        self,
        connection: McpConnection,
        *,
        namespace: str | None = None,
        trusted: bool = False,
        timeout: float | None = 30.0,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        recheck: bool = True,
        bind: Mapping[str, Any] | None = None,
    ) -> None:
        self.connection = connection
        self.bind = dict(bind or {})
        self.trusted = trusted
        self.timeout = timeout
        self.recheck = recheck
        self.namespace = namespace if namespace is not None else _namespace_from(connection.server_name, "mcp")
        if self.namespace and not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", self.namespace):
            raise UserError(f"MCP namespace {self.namespace!r} is not valid.", hint="use 1-40 letters, digits, '_' or '-'.")
        self._include = set(include) if include is not None else None
        self._exclude = set(exclude)
        self.tools: list[McpTool] = []
        self.skipped: dict[str, str] = {}
        """Server tools that could not become agentslm tools, with the reason."""
        self._pinned: dict[str, str] = {}
        self._by_remote: dict[str, McpTool] = {}
        listed = self._list()
        for remote in listed:
            if self._include is not None and remote.name not in self._include:
                continue
            if remote.name in self._exclude:
                continue
            try:
                built = self._build(remote)
            except (ToolRegistrationError, UserError) as exc:
                self.skipped[remote.name] = str(exc)
                continue
            self.tools.append(built)
            self._by_remote[remote.name] = built
            self._pinned[remote.name] = _fingerprint(_definition(remote))
        if self._include is not None:
            for missing in sorted(self._include - {t.name for t in listed}):
                self.skipped[missing] = "not offered by the server"

    # -- building ----------------------------------------------------------------------------
    def local_name(self, remote: str) -> str:
        """The agentslm name of a server tool (``namespace.remote``; invalid characters become ``_``)."""
        cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", remote)
        return f"{self.namespace}.{cleaned}" if self.namespace else cleaned

    def _build(self, remote: Any) -> McpTool:
        name = self.local_name(remote.name)
        if not TOOL_NAME_PATTERN.fullmatch(name):
            raise ToolRegistrationError(f"tool name {name!r} is too long or not valid", hint="set a shorter namespace.")
        schema = dict(remote.input_schema or {"type": "object", "properties": {}})
        if schema.get("type", "object") != "object":
            raise ToolRegistrationError(f"input schema of type {schema.get('type')!r} is not an object schema")
        schema.setdefault("type", "object")
        properties = dict(schema.get("properties") or {})
        bound = {k: v for k, v in self.bind.items() if k in properties}
        if bound:  # the operator fixes these: the model neither sees nor fills them
            schema["properties"] = {k: v for k, v in properties.items() if k not in bound}
            if "required" in schema:
                schema["required"] = [k for k in schema["required"] if k not in bound]
        try:  # bounded and cycle-checked first: check_schema below recurses, and a hostile server controls this
            check_schema_safe(schema)
        except SchemaCompileError as exc:
            raise ToolRegistrationError(f"input schema refused: {exc}") from exc
        try:
            jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ToolRegistrationError(f"input schema is not valid JSON Schema: {exc.message}") from exc
        annotations = remote.annotations.model_dump(by_alias=True, exclude_none=True) if remote.annotations else {}
        effects, approval, reason = mcp_effects(annotations, remote.name, trusted=self.trusted)
        tool = McpTool(
            name=name,
            description=(remote.description or remote.title or remote.name).strip(),
            parameters=schema,
            effects=effects,
            requires_approval=approval,
            timeout=self.timeout,
            returns=remote.output_schema,
            remote_name=remote.name,
            server=self.connection.name,
            trusted=self.trusted,
            annotations=annotations,
            output_schema=remote.output_schema,
            effect_reason=reason,
            bound=bound,
        )
        tool.fn = self._handler(remote.name)
        return tool

    def _handler(self, remote: str) -> Callable[..., Any]:
        def call_remote(**arguments: Any) -> Any:
            return self.call(remote, {**arguments, **self._by_remote[remote].bound})

        call_remote.__name__ = self.local_name(remote)
        return call_remote

    # -- protocol ----------------------------------------------------------------------------
    def _list(self) -> list[Any]:
        async def list_all(client: Any) -> list[Any]:
            tools: list[Any] = []
            cursor = None
            for _ in range(_MAX_PAGES):
                page = await client.list_tools(cursor=cursor, cache_mode="refresh")
                tools.extend(page.tools)
                cursor = page.next_cursor
                if not cursor:
                    break
            return tools

        return list(self.connection.run(list_all, self.timeout, "tools/list"))

    def changes(self) -> dict[str, str]:
        """Tools whose definition on the server differs from the approved one: remote name → what changed."""
        return self._compare(self._current(), self._pinned)

    def _current(self) -> dict[str, Any]:
        return {t.name: t for t in self._list()}

    def _compare(self, current: Mapping[str, Any], remotes: Iterable[str]) -> dict[str, str]:
        changed: dict[str, str] = {}
        for remote in remotes:
            now = current.get(remote)
            if now is None:
                changed[remote] = "no longer offered by the server"
            elif _fingerprint(_definition(now)) != self._pinned[remote]:
                changed[remote] = self._diff(remote, _definition(now))
        return changed

    def _diff(self, remote: str, now: Mapping[str, Any]) -> str:
        tool = self._by_remote[remote]
        before = {
            "description": tool.description,
            "inputSchema": tool.parameters,
            "outputSchema": tool.output_schema,
            "annotations": tool.annotations,
        }
        fields = [k for k in before if json.dumps(before[k], sort_keys=True) != json.dumps(now.get(k), sort_keys=True)]
        return "changed: " + (", ".join(fields) or "definition")

    def accept_changes(self) -> dict[str, str]:
        """Re-approve the server's current definitions (after reviewing :meth:`changes`). Returns what changed.

        Changed tools are updated in place (description, schema, effects); removed ones stay
        refused.
        """
        current = self._current()
        changed = self._compare(current, self._pinned)
        for remote in changed:
            now = current.get(remote)
            if now is None:
                continue
            rebuilt = self._build(now)
            tool = self._by_remote[remote]
            for attr in ("description", "parameters", "effects", "requires_approval", "returns", "annotations", "bound"):
                setattr(tool, attr, getattr(rebuilt, attr))
            tool.output_schema, tool.effect_reason = rebuilt.output_schema, rebuilt.effect_reason
            self._pinned[remote] = _fingerprint(_definition(now))
        return changed

    def call(self, remote: str, arguments: Mapping[str, Any]) -> Any:
        """Call a server tool; returns structured content (a dict) or text. Raises on errors."""
        if remote not in self._by_remote:
            raise McpError(f"{self.local_name(remote)} is not one of this toolset's tools.")
        if not self.connection.alive:
            raise McpError(f"MCP server {self.connection.name!r} is not connected; tools/call {remote} was not sent.")
        if self.recheck:
            changed = self._compare(self._current(), [remote]).get(remote)
            if changed:
                raise McpDefinitionChanged(
                    f"{self.local_name(remote)} {changed} since it was approved; the call was not sent.",
                    hint="review toolset.changes() and call toolset.accept_changes() to approve the new definition.",
                )

        async def send(client: Any) -> Any:
            return await client.call_tool(remote, dict(arguments), read_timeout_seconds=self.timeout)

        result = self.connection.run(send, self.timeout, f"tools/call {remote}")
        text = _render_content(result.content)
        if result.is_error:
            raise McpToolError(text or f"{remote} reported an error without text")
        tool = self._by_remote[remote]
        structured = result.structured_content
        if tool.output_schema is not None:
            if structured is None:
                raise McpError(f"{remote} declares an outputSchema but returned no structured content.")
            errors = list(schema_validator(tool.output_schema).iter_errors(structured))
            if errors:
                raise McpError(f"{remote} returned structured content that does not fit its outputSchema: {errors[0].message}")
        if structured is not None:
            return structured
        return text

    @property
    def name(self) -> str:
        """The server's name."""
        return self.connection.name

    def close(self) -> None:
        """Close the connection."""
        self.connection.close()

    def __enter__(self) -> McpToolset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect_mcp(
    server: ServerSpec,
    *,
    namespace: str | None = None,
    trusted: bool = False,
    timeout: float | None = 30.0,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    headers: Mapping[str, str] | None = None,
    mode: str = "auto",
    connect_timeout: float = 60.0,
    bind: Mapping[str, Any] | None = None,
) -> McpToolset:
    """Connect to an MCP server and wrap its tools.

    Args:
        server: an ``http(s)://`` URL (streamable HTTP), a command line or argv list (stdio),
            an ``mcp.StdioServerParameters``, or an in-process ``mcp`` server.
        namespace: prefix of the tool names (default: derived from the server's name; ``""`` for none).
        trusted: trust the server's tool annotations (default: untrusted, see :func:`mcp_effects`).
        timeout: per-call timeout in seconds.
        include: server tool names to keep (default: all).
        exclude: server tool names to drop.
        env: environment additions for a stdio server.
        cwd: working directory of a stdio server.
        headers: HTTP headers (e.g. authorization) for a URL server.
        mode: ``"auto"`` (stateless 2026-07-28 protocol, falling back to ``initialize``) or ``"legacy"``.
        bind: argument values fixed for every tool that has them (e.g. ``{"repo_path": "/src/app"}`` for a git
            server started on one repository): removed from the schema the model decodes, added to each call.
    """
    connection = McpConnection(server, env=env, cwd=cwd, headers=headers, mode=mode, connect_timeout=connect_timeout)
    connection.open()
    try:
        return McpToolset(
            connection, namespace=namespace, trusted=trusted, timeout=timeout, include=include, exclude=exclude, bind=bind
        )
    except BaseException:
        connection.close()
        raise


def grammar_report(tools: Iterable[Tool], model: Any, *, engine: str | None = None) -> dict[str, str | None]:
    """Compile each tool's call grammar on ``model``'s constraint engine: tool name → ``None`` or the reason it fails."""
    from agentslm.constraints.call_schema import call_schema

    report: dict[str, str | None] = {}
    compiler = model.engine(engine)
    for tool in tools:
        try:
            compiler.compile(call_schema([tool]))
        except Exception as exc:
            report[tool.name] = f"{type(exc).__name__}: {exc}"
        else:
            report[tool.name] = None
    return report
