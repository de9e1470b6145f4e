"""A Python function's tool schema: its arguments as a pydantic model (from type hints and docstring), its
description and its return schema. The same model validates the model's call arguments, so schema, grammar and
validation share one source of truth."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Annotated, Any, get_args, get_origin, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, create_model
from pydantic.errors import PydanticSchemaGenerationError, PydanticUserError
from pydantic.fields import FieldInfo

from agentslm.constraints.normalize import strip_titles
from agentslm.errors import ToolRegistrationError

__all__ = ["schema_from_function"]


def _field_has_description(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return any(isinstance(m, FieldInfo) and m.description for m in get_args(annotation)[1:])
    return False


def schema_from_function(fn: Callable[..., Any], tool_name: str) -> tuple[type[BaseModel], str, dict[str, Any] | None]:
    """Build the arguments model, description and return schema of ``fn``."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise ToolRegistrationError(f"Cannot read the signature of {fn!r}: {exc}.") from exc
    try:
        hints = get_type_hints(fn, include_extras=True)
    except Exception as exc:  # NameError for unresolved forward references, mostly
        raise ToolRegistrationError(
            f"Cannot resolve the type hints of tool {tool_name!r}: {exc}.",
            hint="import every type used in the annotations at module level (not only under TYPE_CHECKING).",
        ) from exc
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: p.description for p in doc.params if p.description}
    description = "\n\n".join(part for part in (doc.short_description, doc.long_description) if part).strip()

    fields: dict[str, Any] = {}
    for pname, param in signature.parameters.items():
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ToolRegistrationError(
                f"Tool {tool_name!r} takes *{pname} or **{pname}; a tool needs named parameters.",
                hint=f"replace *{pname}/**{pname} with explicit typed parameters, or one parameter typed with a pydantic model.",
            )
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ToolRegistrationError(
                f"Parameter {pname!r} of tool {tool_name!r} is positional-only; tools are called by keyword.",
                hint="remove the '/' from the signature.",
            )
        if pname not in hints:
            raise ToolRegistrationError(
                f"Parameter {pname!r} of tool {tool_name!r} has no type hint.",
                hint=f"annotate it, e.g. `{pname}: str` or `{pname}: Annotated[int, Field(ge=0)]`.",
            )
        annotation = hints[pname]
        default = ... if param.default is inspect.Parameter.empty else param.default
        if pname in param_docs and not _field_has_description(annotation):
            fields[pname] = (annotation, Field(default, description=param_docs[pname]))
        else:
            fields[pname] = (annotation, default)
    model_name = "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", tool_name) if part) + "Arguments"
    try:
        args_model = create_model(  # type: ignore[call-overload]
            model_name or "Arguments",
            __config__=ConfigDict(extra="forbid", arbitrary_types_allowed=False),
            **fields,
        )
        args_model.model_json_schema()
    except (PydanticSchemaGenerationError, PydanticUserError, TypeError) as exc:
        raise ToolRegistrationError(
            f"Tool {tool_name!r} uses an annotation that has no JSON Schema: {str(exc).splitlines()[0]}",
            hint="use JSON-friendly types (str, int, float, bool, list, dict, Literal, Enum, "
            "pydantic models, Optional/Union of these).",
        ) from exc
    returns: dict[str, Any] | None = None
    ret = hints.get("return", inspect.Signature.empty)
    if ret not in (inspect.Signature.empty, None, type(None)):
        try:
            returns = strip_titles(TypeAdapter(ret).json_schema())
        except (PydanticSchemaGenerationError, PydanticUserError, TypeError):
            returns = None  # any Python object may be returned; it is rendered as text
    return args_model, description, returns
