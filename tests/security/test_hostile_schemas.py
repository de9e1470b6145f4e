"""Hostile tool schemas (OWASP LLM10, unbounded consumption): grammar compilation stays bounded and fetches nothing.

Each case compiles one schema with both engines (llguidance and outlines-core, on the embedded
SmolLM2-135M tokenizer) in a child interpreter, so its time and peak memory can be measured and a
hang or a crash cannot take the suite with it. The child records every network audit event
(``socket.connect``, ``socket.getaddrinfo``, ``urllib.Request``, ...) and every attempt to open the
files a ``$ref`` names; a local HTTP server serves the remote ``$ref`` targets and must see no request.

Bounds per case (measured on 2 cores: about 1.7 s of interpreter and model start; refusals under 20 ms;
the costliest compile, outlines at its cost limit, 1.1 s and 221 MB): the whole child under :data:`WALL_SECONDS`, each engine's
compile under :data:`COMPILE_SECONDS`, peak memory growth over the loaded baseline under :data:`RSS_MB`.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
WALL_SECONDS = 15.0
"""Limit on one child: interpreter start, model load, schema build and both compiles."""
COMPILE_SECONDS = 5.0
"""Limit on one engine's compile (or refusal) of one schema."""
RSS_MB = 300.0
"""Limit on the child's peak memory growth over its baseline (model and engines loaded, schema built)."""
CHILD_ADDRESS_SPACE = 4 << 30
"""Address-space cap of the child (a safety net: a runaway compile fails fast instead of swapping)."""

_MARK = "HOSTILE-RESULT "
_NETWORK_EVENTS = frozenset(
    {
        "socket.connect",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "urllib.Request",
        "http.client.connect",
    }
)
_WATCHED_FILES = ("/etc/passwd", "other.json")


# ---------------------------------------------------------------------------------------------
# Hostile schemas (built in the child: a 100,000-deep schema cannot travel as JSON)
# ---------------------------------------------------------------------------------------------
def _obj(prop: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {"x": prop}, "required": ["x"]}


def _nested_any_of(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"anyOf": [schema, {"type": "integer"}]}
    return _obj(schema)


def _nested_arrays(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer"}
    for _ in range(depth):
        schema = {"type": "array", "items": schema, "minItems": 2}
    return schema


def _nested_list(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = [value]
    return value


_LINKED_NODE = {
    "type": "object",
    "properties": {"value": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}},
    "required": ["value", "next"],
    "additionalProperties": False,
}

SCHEMAS: dict[str, Callable[[str], Any]] = {
    "control": lambda url: _obj({"type": "string", "maxLength": 20}),
    "anyof_nested_30": lambda url: _nested_any_of(30),
    "anyof_nested_50": lambda url: _nested_any_of(50),
    "anyof_nested_1000": lambda url: _nested_any_of(1000),
    "anyof_nested_100000": lambda url: _nested_any_of(100_000),
    "anyof_wide_10000": lambda url: _obj({"anyOf": [{"const": f"v{i}"} for i in range(10_000)]}),
    "enum_100000": lambda url: _obj({"enum": [f"value_{i}" for i in range(100_000)]}),
    "enum_2000_long": lambda url: _obj({"enum": [f"{i}_" + "x" * 200 for i in range(2000)]}),
    "properties_20000": lambda url: {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(20_000)}},
    "properties_6000": lambda url: {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(6000)}},
    "pattern_evil": lambda url: _obj({"type": "string", "pattern": "(a+)+$"}),
    "pattern_huge": lambda url: _obj({"type": "string", "pattern": "|".join(f"word{i}" for i in range(20_000))}),
    "pattern_dfa_blowup": lambda url: _obj({"type": "string", "pattern": "(a|b)*a(a|b){20}"}),
    "ref_self_cycle": lambda url: {"$ref": "#"},
    "ref_mutual_cycle": lambda url: {"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"},
    "ref_linked_list": lambda url: {
        "$defs": {"node": _LINKED_NODE},
        "type": "object",
        "properties": {"head": {"$ref": "#/$defs/node"}},
    },
    "ref_required_recursion": lambda url: {
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}, "required": ["next"]}},
        "$ref": "#/$defs/node",
    },
    "ref_remote_http": lambda url: _obj({"$ref": url}),
    "ref_dynamic_remote": lambda url: _obj({"$dynamicRef": url}),
    "ref_file_passwd": lambda url: _obj({"$ref": "file:///etc/passwd"}),
    "ref_relative": lambda url: _obj({"$ref": "other.json"}),
    "ref_missing": lambda url: _obj({"$ref": "#/$defs/Missing"}),
    "description_5mb": lambda url: {"type": "object", "description": "d" * 5_000_000, "properties": {"x": {"type": "string"}}},
    "default_nested_10000": lambda url: _obj({"type": "array", "default": _nested_list(10_000)}),
    "not_a_dict": lambda url: ["type", "object"],
    "number_nan": lambda url: _obj({"type": "number", "maximum": float("nan")}),
    "minimum_1e308": lambda url: _obj({"type": "number", "minimum": 1e308}),
    "maxlength_1e12": lambda url: _obj({"type": "string", "maxLength": 10**12}),
    "maxlength_390_outlines_limit": lambda url: _obj({"type": "string", "maxLength": 390}),
    "maxlength_5000": lambda url: _obj({"type": "string", "maxLength": 5000}),
    "maxlength_100000": lambda url: _obj({"type": "string", "maxLength": 100_000}),
    "minlength_1e6": lambda url: _obj({"type": "string", "minLength": 10**6}),
    "minitems_1e6": lambda url: _obj({"type": "array", "items": {"type": "integer"}, "minItems": 10**6}),
    "arrays_nested_30": lambda url: _obj(_nested_arrays(30)),
    "toplevel_string_maxlength_18": lambda url: {"type": "string", "maxLength": 18},
}

COMPILED = "compiled"
OUTLINES_COST = "OutlinesEngine.max_cost"
# case -> (expected llguidance outcome, expected outlines outcome, slow): "compiled", or a phrase of the SchemaCompileError.
EXPECTED: dict[str, tuple[str, str, bool]] = {
    "control": (COMPILED, COMPILED, False),
    "anyof_nested_30": (COMPILED, COMPILED, False),
    "anyof_nested_50": ("SchemaBounds.max_depth", "SchemaBounds.max_depth", False),
    "anyof_nested_1000": ("SchemaBounds.max_depth", "SchemaBounds.max_depth", True),
    "anyof_nested_100000": ("SchemaBounds.max_depth", "SchemaBounds.max_depth", False),
    "anyof_wide_10000": ("SchemaBounds.max_alternatives", "SchemaBounds.max_alternatives", False),
    "enum_100000": ("SchemaBounds.max_enum", "SchemaBounds.max_enum", False),
    "enum_2000_long": ("SchemaBounds.max_json_chars", "SchemaBounds.max_json_chars", False),
    "properties_20000": ("SchemaBounds.max_json_chars", "SchemaBounds.max_json_chars", False),
    "properties_6000": ("SchemaBounds.max_nodes", "SchemaBounds.max_nodes", True),
    "pattern_evil": (COMPILED, COMPILED, False),
    "pattern_huge": ("SchemaBounds.max_pattern_chars", "SchemaBounds.max_pattern_chars", False),
    "pattern_dfa_blowup": (COMPILED, OUTLINES_COST, True),
    "ref_self_cycle": ("$ref cycle with no way out", "$ref cycle with no way out", False),
    "ref_mutual_cycle": ("$ref cycle with no way out", "$ref cycle with no way out", False),
    "ref_linked_list": (COMPILED, COMPILED, False),
    "ref_required_recursion": ("$ref cycle with no way out", "$ref cycle with no way out", True),
    "ref_remote_http": ("non-local $ref", "non-local $ref", False),
    "ref_dynamic_remote": ("non-local $dynamicRef", "non-local $dynamicRef", True),
    "ref_file_passwd": ("non-local $ref", "non-local $ref", False),
    "ref_relative": ("non-local $ref", "non-local $ref", True),
    "ref_missing": ("points nowhere", "points nowhere", True),
    "description_5mb": ("SchemaBounds.max_json_chars", "SchemaBounds.max_json_chars", False),
    "default_nested_10000": ("SchemaBounds.max_json_depth", "SchemaBounds.max_json_depth", True),
    "not_a_dict": ("must be a JSON object", "must be a JSON object", False),
    "number_nan": ("which JSON cannot represent", "which JSON cannot represent", True),
    "minimum_1e308": ("Failed to generate regex for float range", "cannot enforce keyword 'minimum'", False),
    "maxlength_1e12": ("SchemaBounds.max_count", "SchemaBounds.max_count", False),
    "maxlength_390_outlines_limit": (COMPILED, COMPILED, True),
    "maxlength_5000": (COMPILED, OUTLINES_COST, True),
    "maxlength_100000": (COMPILED, OUTLINES_COST, True),
    "minlength_1e6": (COMPILED, OUTLINES_COST, True),
    "minitems_1e6": (COMPILED, OUTLINES_COST, True),
    "arrays_nested_30": (COMPILED, OUTLINES_COST, True),
    "toplevel_string_maxlength_18": (COMPILED, OUTLINES_COST, True),
}
assert EXPECTED.keys() == SCHEMAS.keys()


# ---------------------------------------------------------------------------------------------
# The child: compile one case with both engines, measure, report one JSON line
# ---------------------------------------------------------------------------------------------
def _child_main(case: str, url: str) -> None:
    """Run in ``python -c``: audit network events, load the model, build ``case``, compile it with each engine."""
    events: list[str] = []

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event in _NETWORK_EVENTS:
            events.append(f"{event} {str(args)[:120]}")
        elif event == "open" and args and isinstance(args[0], str) and args[0].endswith(_WATCHED_FILES):
            events.append(f"open {args[0]}")

    sys.addaudithook(audit)
    resource.setrlimit(resource.RLIMIT_AS, (CHILD_ADDRESS_SPACE, CHILD_ADDRESS_SPACE))
    from agentslm.errors import SchemaCompileError
    from agentslm.models import load_model

    model: Any = load_model()
    engines = {name: model.engine(name) for name in ("llguidance", "outlines")}
    schema = SCHEMAS[case](url)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    results: dict[str, dict[str, Any]] = {}
    for name, engine in engines.items():
        start = time.perf_counter()
        crash = 0
        try:
            compiled = engine.compile(schema)
            compiled.matcher()  # a usable matcher, not just a compiled grammar
            outcome = COMPILED
        except SchemaCompileError as exc:
            outcome = f"rejected: {exc}"
        except RecursionError as exc:
            outcome, crash = f"crash: RecursionError: {exc}", 1
        except Exception as exc:  # anything else is a failure of the bounded-compile promise
            outcome = f"error: {type(exc).__name__}: {exc}"
        results[name] = {
            "outcome": outcome[:600],
            "seconds": time.perf_counter() - start,
            "rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - baseline) / 1024,
            "crash": crash,
        }
    print(_MARK + json.dumps({"engines": results, "events": events}), flush=True)


# ---------------------------------------------------------------------------------------------
# The parent: a local server for remote $ref targets, and the child runner
# ---------------------------------------------------------------------------------------------
class _RefServer(ThreadingHTTPServer):
    requests: list[str]


class _RefHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server: Any = self.server
        server.requests.append(self.path)
        body = json.dumps({"type": "string"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/schema+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def ref_server() -> Iterator[_RefServer]:
    """A local HTTP server serving any path as a schema; a test fails if it sees a request."""
    server = _RefServer(("127.0.0.1", 0), _RefHandler)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def _run_child(case: str, url: str) -> tuple[dict[str, Any] | None, float, subprocess.CompletedProcess[str] | None]:
    code = f"from tests.security.test_hostile_schemas import _child_main; _child_main({case!r}, {url!r})"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=WALL_SECONDS * 2
        )
    except subprocess.TimeoutExpired:
        return None, time.perf_counter() - start, None
    wall = time.perf_counter() - start
    lines = [line for line in proc.stdout.splitlines() if line.startswith(_MARK)]
    return (json.loads(lines[-1][len(_MARK) :]) if lines else None), wall, proc


def _params() -> list[Any]:
    return [pytest.param(case, marks=[pytest.mark.slow] if slow else [], id=case) for case, (_, _, slow) in EXPECTED.items()]


@pytest.mark.parametrize("case", _params())
def test_hostile_schema_compiles_bounded(case: str, ref_server: _RefServer, record_property: Any) -> None:
    """A hostile schema compiles or is refused clearly by both engines, within time and memory bounds, fetching nothing.

    Expected outcome per engine in ``EXPECTED``; the child runs under a timeout, so a hang fails the
    case instead of blocking the suite, and a death by signal or a RecursionError counts as a crash.
    """
    url = f"http://127.0.0.1:{ref_server.server_address[1]}/schemas/{case}.json"
    before = len(ref_server.requests)
    result, wall, proc = _run_child(case, url)
    fetched = len(ref_server.requests) - before
    crashed = proc is not None and proc.returncode < 0
    record_property("seconds", round(wall, 2))
    if result is None:
        record_property("crashes", 1 if crashed else 0)
        record_property("outcome", "timeout" if proc is None else f"child exited {proc.returncode}")
        detail = "" if proc is None else (proc.stderr or proc.stdout)[-2000:]
        pytest.fail(
            f"{case}: the child {'timed out' if proc is None else f'exited {proc.returncode}'} after {wall:.1f} s\n{detail}"
        )
    engines = result["engines"]
    record_property("rss_mb", round(max(r["rss_mb"] for r in engines.values()), 1))
    record_property("outcome", "; ".join(f"{name}: {r['outcome'][:200]}" for name, r in engines.items()))
    record_property("compile_seconds", {name: round(r["seconds"], 3) for name, r in engines.items()})
    record_property("network_events", len(result["events"]) + fetched)
    record_property("crashes", int(crashed) + sum(r["crash"] for r in engines.values()))

    assert not result["events"], f"network or file access during compile: {result['events']}"
    assert fetched == 0, f"the local server was asked for {ref_server.requests[before:]}"
    assert wall < WALL_SECONDS, f"{case} took {wall:.1f} s"
    for name, expected in zip(("llguidance", "outlines"), EXPECTED[case][:2], strict=True):
        got = engines[name]
        assert got["crash"] == 0, f"{name}: {got['outcome']}"
        if expected == COMPILED:
            assert got["outcome"] == COMPILED, f"{name} should compile {case}: {got['outcome']}"
        else:
            assert got["outcome"].startswith("rejected: "), f"{name} should refuse {case}: {got['outcome']}"
            assert expected in got["outcome"], f"{name}: expected {expected!r} in {got['outcome']!r}"
            assert "Hint:" in got["outcome"], f"{name}: the refusal says no fix: {got['outcome']}"
        assert got["seconds"] < COMPILE_SECONDS, f"{name} spent {got['seconds']:.2f} s on {case}"
        assert got["rss_mb"] < RSS_MB, f"{name} grew {got['rss_mb']:.0f} MB on {case}"


# ---------------------------------------------------------------------------------------------
# Registration: a hostile spec is refused when it is registered (before jsonschema sees it)
# ---------------------------------------------------------------------------------------------
_REGISTRATION_CASES = {
    "anyof_nested_100000": ("anyof_nested_100000", "SchemaBounds.max_depth"),
    "ref_remote_http": ("ref_remote_http", "non-local $ref"),
    "ref_dynamic_remote": ("ref_dynamic_remote", "non-local $dynamicRef"),
    "ref_required_recursion": ("ref_required_recursion", "$ref cycle with no way out"),
    "description_5mb": ("description_5mb", "SchemaBounds.max_json_chars"),
}


@pytest.mark.parametrize("case", list(_REGISTRATION_CASES))
def test_registration_refuses_hostile_spec(case: str, ref_server: _RefServer, record_property: Any) -> None:
    """Registering an OpenAI tool spec with a hostile schema fails with a clear ToolRegistrationError, fetching nothing.

    jsonschema (used by the verifier) would otherwise recurse on such a schema or fetch a remote ``$ref``.
    """
    from agentslm.errors import ToolRegistrationError
    from agentslm.registry import ToolRegistry

    schema_case, phrase = _REGISTRATION_CASES[case]
    url = f"http://127.0.0.1:{ref_server.server_address[1]}/registration/{case}.json"
    spec = {"type": "function", "function": {"name": "hostile", "description": "d", "parameters": SCHEMAS[schema_case](url)}}
    before = len(ref_server.requests)
    start = time.perf_counter()
    with pytest.raises(ToolRegistrationError) as info:
        ToolRegistry.from_openai([spec])
    seconds = time.perf_counter() - start
    record_property("seconds", round(seconds, 4))
    record_property("outcome", f"rejected: {str(info.value)[:160]}")
    record_property("network_events", len(ref_server.requests) - before)
    record_property("crashes", 0)
    assert phrase in str(info.value) and "'hostile'" in str(info.value)
    assert len(ref_server.requests) == before
    assert seconds < 1.0


def test_bounds_accept_every_real_schema(record_property: Any) -> None:
    """Every distinct BFCL function's parameters and every tool-pack tool pass the bounds and $ref checks.

    The bounds must only refuse hostile schemas, never the real ones agentslm is evaluated and shipped with.
    """
    import tempfile

    from agentslm.bench.bfcl_data import bfcl_data_dir
    from agentslm.constraints.engines import check_schema_safe
    from agentslm.constraints.normalize import normalize_bfcl_schema
    from agentslm.errors import MissingExtraError
    from agentslm_tools import PACKS, PackContext, build_registry

    try:
        data = bfcl_data_dir()
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    functions: dict[str, Any] = {}
    for path in sorted(data.rglob("*.json")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            docs = entry.get("function") if isinstance(entry, dict) else None
            for doc in [docs] if isinstance(docs, dict) else docs if isinstance(docs, list) else []:
                if isinstance(doc, dict) and "name" in doc:
                    functions[json.dumps(doc, sort_keys=True)] = doc
    with tempfile.TemporaryDirectory() as tmp:
        registry = build_registry(list(PACKS), PackContext(data_dir=Path(tmp), workspace=Path(tmp) / "ws"))
    schemas = [normalize_bfcl_schema(f.get("parameters") or {}) for f in functions.values()] + [t.parameters for t in registry]
    for schema in schemas:
        check_schema_safe(schema)
    record_property("bfcl_functions", len(functions))
    record_property("pack_tools", len(registry))
    assert len(functions) > 1000 and len(registry) >= 20


@pytest.mark.parametrize("keyword", ["$ref", "$dynamicRef"])
def test_validation_never_fetches_a_remote_ref(keyword: str, ref_server: _RefServer, record_property: Any) -> None:
    """A tool whose schema gained a remote reference after registration (bypassing the registration check): the
    verifier and every other JSON Schema validation refuse it without a request (jsonschema alone would fetch it)."""
    import referencing.exceptions

    from agentslm import ToolCall, ToolRegistry
    from agentslm.constraints.validation import validate
    from agentslm.verify import Verifier

    registry = ToolRegistry()

    @registry.tool(effects=["read"])
    def lookup(city: str) -> str:
        """Look up a city."""
        return city

    url = f"http://127.0.0.1:{ref_server.server_address[1]}/after-registration/{keyword.strip('$')}.json"
    tool = registry.get("lookup")
    assert tool is not None
    tool.parameters["properties"]["city"] = {keyword: url}
    before = len(ref_server.requests)
    verdict = Verifier(registry).verify(ToolCall(name="lookup", arguments={"city": "Oslo"}))
    with pytest.raises(referencing.exceptions.Unresolvable):
        validate({"city": "Oslo"}, tool.parameters)
    record_property("network_events", len(ref_server.requests) - before)
    record_property("outcome", "; ".join(verdict.reasons)[:160])
    assert not verdict.approved and "resolve locally" in "; ".join(verdict.reasons)
    assert len(ref_server.requests) == before
