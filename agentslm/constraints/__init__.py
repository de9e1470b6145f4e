"""JSON Schema normalisation and compilation to decoding constraints."""

from agentslm.constraints.call_schema import DecodeLimits, bound_schema, call_schema
from agentslm.constraints.engines import ENGINES, CompiledConstraint, ConstraintEngine, Matcher
from agentslm.constraints.normalize import hoist_defs, normalize_bfcl_schema, strip_titles

__all__ = [
    "DecodeLimits",
    "bound_schema",
    "call_schema",
    "ENGINES",
    "CompiledConstraint",
    "ConstraintEngine",
    "Matcher",
    "hoist_defs",
    "normalize_bfcl_schema",
    "strip_titles",
]
