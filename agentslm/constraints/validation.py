"""JSON Schema validation that never fetches anything.

jsonschema, given a ``$ref`` it cannot resolve locally, still falls back to retrieving it over HTTP (or from a
``file://`` URL) for backwards compatibility. A tool schema comes from untrusted places (MCP servers, OpenAI tool
JSON), so every validation in agentslm goes through here: the validator gets an empty :class:`referencing.Registry`
with no retrieval, and a non-local reference is an error, not a request.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import jsonschema
from referencing import Registry

__all__ = ["NO_RETRIEVAL", "schema_validator", "validate"]

NO_RETRIEVAL: Registry[Any] = Registry()
"""A registry with no resources and no ``retrieve`` function: unknown references are unresolvable."""


@lru_cache(maxsize=512)
def _cached(schema_json: str) -> jsonschema.protocols.Validator:
    schema = json.loads(schema_json)
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls.check_schema(schema)
    return cls(schema, registry=NO_RETRIEVAL, format_checker=cls.FORMAT_CHECKER)


def schema_validator(schema: Any) -> jsonschema.protocols.Validator:
    """A (cached) validator for ``schema``, its draft from ``$schema`` (default 2020-12), with format checks and no
    remote retrieval. Raises :class:`jsonschema.SchemaError` for an invalid schema."""
    return _cached(json.dumps(schema, sort_keys=True))


def validate(instance: Any, schema: Any) -> None:
    """Like :func:`jsonschema.validate` (raises the best-matching :class:`jsonschema.ValidationError`), without
    retrieval. An unresolvable ``$ref`` raises :class:`referencing.exceptions.Unresolvable`."""
    validator = schema_validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
    if error is not None:
        raise error
