"""Typed function registry: plain Python functions (and imported specs) become tools.

A tool's JSON Schema comes from the function's type hints (``Annotated[..., Field(...)]``,
pydantic models, enums, ``Literal``, optionals, lists, nested objects) and its docstring.
The same pydantic model that produced the schema validates the model's call arguments,
so schema, grammar and validation share one source of truth.

    >>> from agentslm import tool, ToolRegistry
    >>> registry = ToolRegistry()
    >>> @registry.tool
    ... def add(a: int, b: int) -> int:
    ...     '''Add two integers.'''
    ...     return a + b
    >>> registry["add"].parameters["required"]
    ['a', 'b']
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any, Protocol, TypeVar, overload, runtime_checkable

from pydantic import BaseModel, Field

from agentslm.constraints.engines import check_schema_safe
from agentslm.constraints.normalize import normalize_bfcl_schema, strip_titles
from agentslm.errors import SchemaCompileError, ToolRegistrationError, UserError
from agentslm.function_schema import schema_from_function

__all__ = [
    "FREE_TEXT_KEY",
    "IDENTIFIER_KEY",
    "Effect",
    "FreeText",
    "Identifier",
    "Tool",
    "ToolRegistry",
    "Toolset",
    "tool",
    "as_registry",
    "TOOL_NAME_PATTERN",
]

F = TypeVar("F", bound=Callable[..., Any])

TOOL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")
"""Allowed tool names: letters, digits, ``_``, ``.`` and ``-``, at most 128 characters
(the MCP and OpenAI limits, with dots allowed for BFCL names such as ``math.factorial``)."""

_TOOL_ATTR = "__agentslm_tool__"

FREE_TEXT_KEY = "x-free-text"
"""JSON Schema key marking a string field whose value the model writes (an email body, a note's text)."""
IDENTIFIER_KEY = "x-identifier"
"""JSON Schema key marking a string field whose value must be an exact copy of the request or a result."""

FreeText = Annotated[str, Field(json_schema_extra={FREE_TEXT_KEY: True})]
"""A string parameter the model may write freely (an email body, a note's text); still checked for junk (repeated
or placeholder text) and for identifiers and numbers that no source holds (see :mod:`agentslm.provenance`)."""
Identifier = Annotated[str, Field(json_schema_extra={IDENTIFIER_KEY: True})]
"""A string parameter whose value must be copied exactly from the request or an earlier result (emails, URLs,
paths, ids, dates, times and phone numbers are recognised by name and format without it)."""


class Effect(StrEnum):
    """What running a tool may do to the world. Drives the verifier's approval policy."""

    READ = "read"
    """Reads data; no side effects."""
    WRITE = "write"
    """Creates or changes data; can be undone."""
    DESTRUCTIVE = "destructive"
    """Deletes or overwrites data; cannot be undone. Needs approval by default."""
    EXTERNAL = "external"
    """Reaches outside the machine (sends, posts, opens). Needs approval by default."""


_APPROVAL_EFFECTS = frozenset({Effect.DESTRUCTIVE, Effect.EXTERNAL})


@dataclass(kw_only=True, eq=False)
class Tool:
    """One tool: a name, a description, a JSON Schema for its arguments and how to run it."""

    name: str
    """Unique name the model emits to choose this tool."""
    description: str
    """What the tool does, shown to the model."""
    parameters: dict[str, Any]
    """JSON Schema (an object schema) of the arguments."""
    fn: Callable[..., Any] | None = None
    """The Python callable, or ``None`` for a spec-only tool (imported schema without a handler)."""
    effects: frozenset[Effect] = frozenset({Effect.READ})
    """Effects of running the tool."""
    requires_approval: bool = False
    """If true, the verifier asks the approval callback before running (default deny)."""
    timeout: float | None = 30.0
    """Seconds the executor waits for the tool; ``None`` waits forever."""
    returns: dict[str, Any] | None = None
    """JSON Schema of the return value, when the function's return hint gives one."""
    args_model: type[BaseModel] | None = field(default=None, repr=False)
    """Pydantic model of the arguments (function tools); validates calls."""

    @property
    def is_async(self) -> bool:
        """True if calling ``fn`` returns an awaitable."""
        return self.fn is not None and inspect.iscoroutinefunction(self.fn)

    def to_openai(self) -> dict[str, Any]:
        """This tool in OpenAI's tool format (``{"type": "function", "function": {...}}``)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def parse_arguments(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Validate ``arguments`` with the tool's pydantic model and return the typed values.

        Raises ``pydantic.ValidationError`` when they do not fit. Spec-only tools (no pydantic
        model) return the arguments unchanged; their JSON Schema check is done by the verifier.
        """
        if self.args_model is None:
            return dict(arguments)
        model = self.args_model.model_validate(dict(arguments))
        return {name: getattr(model, name) for name in type(model).model_fields}

    def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Run the tool synchronously with already-validated arguments (async tools are awaited)."""
        if self.fn is None:
            raise UserError(
                f"Tool {self.name!r} has no handler, so it cannot run.",
                hint="pass handlers= to ToolRegistry.from_openai()/from_bfcl(), or use agent.call() "
                "to get the call without running it.",
            )
        result = self.fn(**self.parse_arguments(arguments))
        if inspect.isawaitable(result):
            import asyncio

            return asyncio.run(_await(result))
        return result


async def _await(value: Awaitable[Any]) -> Any:
    return await value


def _check_name(name: str, where: str) -> None:
    if not isinstance(name, str) or not TOOL_NAME_PATTERN.match(name):
        raise ToolRegistrationError(
            f"Invalid tool name {name!r} ({where}).",
            hint="use 1-128 characters of letters, digits, '_', '.' or '-', e.g. name='get_weather'.",
        )


def _make_tool(
    fn: Callable[..., Any],
    *,
    name: str | None,
    description: str | None,
    effects: Iterable[Effect | str] | None,
    requires_approval: bool | None,
    timeout: float | None,
) -> Tool:
    if isinstance(fn, (staticmethod, classmethod)):
        raise ToolRegistrationError(
            "@tool was applied on top of @staticmethod/@classmethod.",
            hint="register the bound function instead, e.g. registry.add(MyClass.method).",
        )
    if not callable(fn):
        raise ToolRegistrationError(
            f"@tool got {fn!r}, which is not callable.",
            hint="use @tool on a function, or @tool(name='...') to set options. "
            "Did you forget to call it? Use @tool() with keyword options.",
        )
    tool_name = name or getattr(fn, "__name__", None)
    if not tool_name or tool_name == "<lambda>":
        raise ToolRegistrationError("A lambda or unnamed callable needs an explicit name.", hint="use tool(fn, name='...').")
    _check_name(tool_name, f"from {fn!r}")
    args_model, doc_description, returns = schema_from_function(fn, tool_name)
    try:
        effect_set = frozenset(Effect(e) for e in (effects if effects is not None else [Effect.READ]))
    except ValueError as exc:
        raise ToolRegistrationError(
            f"Unknown effect for tool {tool_name!r}: {exc}.",
            hint=f"use some of {[e.value for e in Effect]}.",
        ) from exc
    if not effect_set:
        raise ToolRegistrationError(f"Tool {tool_name!r} has no effects.", hint="pass effects=['read'] for a pure read.")
    if timeout is not None and not timeout > 0:
        raise ToolRegistrationError(
            f"Tool {tool_name!r} has timeout={timeout!r}.", hint="use a positive number of seconds or None."
        )
    parameters = strip_titles(args_model.model_json_schema())
    return Tool(
        name=tool_name,
        description=(description if description is not None else doc_description),
        parameters=parameters,
        fn=fn,
        effects=effect_set,
        requires_approval=(requires_approval if requires_approval is not None else bool(effect_set & _APPROVAL_EFFECTS)),
        timeout=timeout,
        returns=returns,
        args_model=args_model,
    )


@overload
def tool(fn: F, /) -> F: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    effects: Iterable[Effect | str] | None = None,
    requires_approval: bool | None = None,
    timeout: float | None = 30.0,
) -> Callable[[F], F]: ...
def tool(
    fn: Any = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    effects: Iterable[Effect | str] | None = None,
    requires_approval: bool | None = None,
    timeout: float | None = 30.0,
) -> Any:
    """Mark a plain function as a tool; returns the function unchanged.

    Use bare (``@tool``) or called (``@tool(effects=["destructive"], timeout=5)``). The schema
    is built at once, so mistakes fail here with a :class:`ToolRegistrationError`. Destructive
    and external tools require approval unless ``requires_approval=False`` is given.
    """

    def decorate(f: F) -> F:
        built = _make_tool(
            f, name=name, description=description, effects=effects, requires_approval=requires_approval, timeout=timeout
        )
        try:
            setattr(f, _TOOL_ATTR, built)
        except (AttributeError, TypeError):  # builtins and some callables refuse attributes
            pass
        return f

    if fn is None:
        return decorate
    if isinstance(fn, str):
        raise ToolRegistrationError(
            f"tool({fn!r}) got a string where a function was expected.",
            hint=f"to set the name use @tool(name={fn!r}).",
        )
    return decorate(fn)


@runtime_checkable
class Toolset(Protocol):
    """Tools that come from one connected source and are closed together (an MCP server: :func:`agentslm.mcp.connect_mcp`).
    Pass it to ``Agent(tools=...)`` (alone or in a list with other tools) or :meth:`ToolRegistry.add_toolset`."""

    @property
    def name(self) -> str:
        """The source's name (in error messages)."""
        ...

    @property
    def tools(self) -> Sequence[Tool]:
        """Its tools."""
        ...

    def close(self) -> None:
        """Disconnect (the tools then fail their calls)."""
        ...


class ToolRegistry:
    """An ordered set of uniquely named tools.

    Add tools with ``@registry.tool`` (bare or called), :meth:`add`, :meth:`from_openai`
    or :meth:`from_bfcl`; export them with :meth:`to_openai`.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._toolsets: list[Toolset] = []
        for t in tools:
            self.add(t)

    # -- adding -------------------------------------------------------------
    def add(self, item: Tool | Callable[..., Any], **options: Any) -> Tool:
        """Register a :class:`Tool`, a function marked with ``@tool``, or a plain typed function.

        ``options`` are those of :func:`tool` (``name``, ``effects``, ...), for plain functions.
        """
        if isinstance(item, Tool):
            if options:
                raise UserError("Options apply to functions, not to Tool objects.", hint="set the fields on the Tool.")
            built = item
        elif hasattr(item, _TOOL_ATTR) and not options:
            built = getattr(item, _TOOL_ATTR)
        else:
            built = _make_tool(
                item,
                name=options.pop("name", None),
                description=options.pop("description", None),
                effects=options.pop("effects", None),
                requires_approval=options.pop("requires_approval", None),
                timeout=options.pop("timeout", 30.0),
            )
            if options:
                raise UserError(f"Unknown tool options {sorted(options)}.", hint="see agentslm.tool for the options.")
        _check_name(built.name, "in registry")
        try:  # bounded, never fetches: a hostile spec fails here, not later in jsonschema or a grammar compiler
            check_schema_safe(built.parameters)
        except SchemaCompileError as exc:
            raise ToolRegistrationError(f"Tool {built.name!r} has parameters agentslm will not use: {exc}") from exc
        if built.name in self._tools:
            raise ToolRegistrationError(
                f"A tool named {built.name!r} is already registered.",
                hint="give one of them another name, e.g. @tool(name='other_name').",
            )
        self._tools[built.name] = built
        return built

    @overload
    def tool(self, fn: F, /) -> F: ...
    @overload
    def tool(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        effects: Iterable[Effect | str] | None = None,
        requires_approval: bool | None = None,
        timeout: float | None = 30.0,
    ) -> Callable[[F], F]: ...
    def tool(  # type: ignore[misc]  # mypy rejects a positional-only fn next to the keyword-only overload
        self,
        fn: Any = None,
        /,
        *,
        name: str | None = None,
        description: str | None = None,
        effects: Iterable[Effect | str] | None = None,
        requires_approval: bool | None = None,
        timeout: float | None = 30.0,
    ) -> Any:
        """Decorator: like :func:`agentslm.tool`, and registers the tool here."""

        def decorate(f: F) -> F:
            marked = tool(
                name=name, description=description, effects=effects, requires_approval=requires_approval, timeout=timeout
            )(f)
            self.add(marked)
            return marked

        if fn is None:
            return decorate
        if isinstance(fn, str):
            raise ToolRegistrationError(
                f"registry.tool({fn!r}) got a string where a function was expected.",
                hint=f"to set the name use @registry.tool(name={fn!r}).",
            )
        return decorate(fn)

    def add_spec(
        self,
        name: str,
        description: str,
        parameters: Mapping[str, Any],
        *,
        handler: Callable[..., Any] | None = None,
        effects: Iterable[Effect | str] = (Effect.READ,),
        requires_approval: bool | None = None,
        timeout: float | None = 30.0,
    ) -> Tool:
        """Register a tool from a JSON Schema (spec-only unless ``handler`` is given)."""
        _check_name(name, "in spec")
        params = dict(parameters) if parameters else {"type": "object", "properties": {}}
        if params.get("type", "object") != "object":
            raise ToolRegistrationError(
                f"Tool {name!r} has parameters of type {params.get('type')!r}; tool parameters must be an object schema.",
                hint='wrap them: {"type": "object", "properties": {...}}.',
            )
        params.setdefault("type", "object")
        try:
            effect_set = frozenset(Effect(e) for e in effects)
        except ValueError as exc:
            raise ToolRegistrationError(
                f"Unknown effect for tool {name!r}: {exc}.", hint=f"use some of {[e.value for e in Effect]}."
            ) from exc
        return self.add(
            Tool(
                name=name,
                description=description or "",
                parameters=params,
                fn=handler,
                effects=effect_set,
                requires_approval=(requires_approval if requires_approval is not None else bool(effect_set & _APPROVAL_EFFECTS)),
                timeout=timeout,
            )
        )

    @classmethod
    def from_openai(
        cls,
        specs: Iterable[Mapping[str, Any]],
        *,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
    ) -> ToolRegistry:
        """Build a registry from OpenAI tool JSON (``{"type": "function", "function": {...}}``
        or bare function objects). ``handlers`` maps tool names to callables."""
        registry = cls()
        handlers = dict(handlers or {})
        for i, spec in enumerate(specs):
            fn_spec = spec.get("function", spec) if spec.get("type", "function") == "function" else None
            if not isinstance(fn_spec, Mapping) or "name" not in fn_spec:
                raise ToolRegistrationError(
                    f"OpenAI tool #{i} is not a function tool: {dict(spec)!r:.200}.",
                    hint='expected {"type": "function", "function": {"name": ..., "parameters": {...}}}.',
                )
            registry.add_spec(
                fn_spec["name"],
                fn_spec.get("description", ""),
                fn_spec.get("parameters") or {"type": "object", "properties": {}},
                handler=handlers.pop(fn_spec["name"], None),
            )
        if handlers:
            raise UserError(f"Handlers given for unknown tools: {sorted(handlers)}.", hint="check the tool names.")
        return registry

    @classmethod
    def from_bfcl(
        cls,
        functions: Iterable[Mapping[str, Any]],
        *,
        handlers: Mapping[str, Callable[..., Any]] | None = None,
    ) -> ToolRegistry:
        """Build a registry from BFCL function docs (``"type": "dict"``, ``"float"``, ``"tuple"``, ``"any"``).

        The parameters are normalised to standard JSON Schema (see :func:`normalize_bfcl_schema`).
        """
        specs = [
            {
                "name": f["name"],
                "description": f.get("description", ""),
                "parameters": normalize_bfcl_schema(f.get("parameters") or {}),
            }
            for f in functions
        ]
        return cls.from_openai(specs, handlers=handlers)

    # -- toolsets (MCP servers and other connected sources) ------------------
    def add_toolset(self, toolset: Toolset) -> Toolset:
        """Register every tool of a connected ``toolset`` (e.g. :func:`agentslm.mcp.connect_mcp`'s) and keep it so
        :meth:`close` closes it. Tool names already in the registry are an error: nothing is added and the toolset is
        closed; connect it again with another ``namespace``."""
        clashes = sorted(t.name for t in toolset.tools if t.name in self._tools)
        if clashes:
            toolset.close()
            raise ToolRegistrationError(
                f"Toolset {toolset.name!r} offers tools whose names are already registered: {clashes}.",
                hint="connect it with namespace='other' so its tools get another prefix.",
            )
        for t in toolset.tools:
            self.add(t)
        self._toolsets.append(toolset)
        return toolset

    @property
    def toolsets(self) -> list[Toolset]:
        """The toolsets added (connected MCP servers)."""
        return list(self._toolsets)

    def close(self) -> None:
        """Close every toolset added (MCP connections: their tools then fail their calls)."""
        for toolset in self._toolsets:
            toolset.close()

    def __enter__(self) -> ToolRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ------------------------------------------------------------
    def to_openai(self) -> list[dict[str, Any]]:
        """All tools in OpenAI's tool format."""
        return [t.to_openai() for t in self._tools.values()]

    def subset(self, names: Iterable[str]) -> ToolRegistry:
        """A new registry with only the named tools (in this registry's order)."""
        wanted = set(names)
        unknown = wanted - self._tools.keys()
        if unknown:
            raise UserError(f"Unknown tools {sorted(unknown)}.", hint=f"known tools: {sorted(self._tools)}.")
        return ToolRegistry([t for n, t in self._tools.items() if n in wanted])

    @property
    def names(self) -> list[str]:
        """Tool names in registration order."""
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        """The tool called ``name``, or ``None``."""
        return self._tools.get(name)

    def __getitem__(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise UserError(f"No tool named {name!r}.", hint=f"known tools: {sorted(self._tools)}.") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def __repr__(self) -> str:
        return f"ToolRegistry({self.names!r})"


def as_registry(tools: ToolRegistry | Toolset | Iterable[Tool | Toolset | Callable[..., Any]]) -> ToolRegistry:
    """Accept a registry, a toolset (e.g. a connected MCP server), or an iterable of tools, functions and toolsets."""
    if isinstance(tools, ToolRegistry):
        return tools
    if isinstance(tools, Toolset):
        tools = [tools]
    registry = ToolRegistry()
    for item in tools:
        if isinstance(item, Toolset):
            registry.add_toolset(item)
        else:
            registry.add(item)
    return registry
