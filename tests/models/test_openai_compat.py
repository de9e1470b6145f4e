"""The OpenAI-compatible backend: against a real llama.cpp server (the embedded model), and against a scripted
HTTP server for each failure (auth, 404, 4xx, 5xx with retries, malformed JSON, schema-invalid JSON, slow, down)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest

from agentslm import ToolRegistry
from agentslm.constraints.call_schema import calls_schema
from agentslm.errors import ModelNotFoundError, UserError
from agentslm.models import load_model
from agentslm.models.openai_compat import (
    OpenAICompatModel,
    RemoteAuthError,
    RemoteModelError,
    retry_after,
    strict_compatible,
)
from agentslm.roles.caller import Caller, signals_from_generation
from tests.sample_tools import registry as sample_registry

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": False}


def test_real_server_honours_the_schema(openai_server: str) -> None:
    model = load_model(f"openai:{openai_server}#smollm2")
    assert isinstance(model, OpenAICompatModel)
    tools = [sample_registry.get("get_weather")]
    schema = calls_schema(tools, max_calls=2)
    gen = model.generate([{"role": "user", "content": "What is the weather in Paris?"}], schema=schema, max_tokens=96)
    jsonschema.validate(json.loads(gen.text), schema)
    assert gen.prompt_tokens > 0 and gen.completion_tokens > 0
    assert model.usage["requests"] == 1 and model.usage["completion_tokens"] == gen.completion_tokens
    # confidence works remotely: llama-cpp-python's server gives per-token log-probabilities (with top_logprobs)
    assert len(gen.tokens) == gen.completion_tokens
    assert all(t.logprob is not None and t.logprob <= 0 for t in gen.tokens)
    assert signals_from_generation(gen).mean_logprob is not None
    listed = Caller(model).calls("What is the weather in Paris?", tools)
    assert listed.parse_error is None
    assert all(c.name == "get_weather" for c in listed.calls)
    model.close()


class _Script:
    def __init__(self) -> None:
        self.status = 200
        self.body: Any = None
        self.delay = 0.0
        self.hits = 0
        self.headers: dict[str, str] = {}
        self.times: list[float] = []
        self.requests: list[Any] = []
        self.queue: list[Any] = []
        """Bodies answered in turn before ``body`` (one per request)."""


@pytest.fixture()
def fake() -> Iterator[tuple[_Script, str]]:
    script = _Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            script.hits += 1
            script.times.append(time.monotonic())
            script.requests.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null"))
            time.sleep(script.delay)
            answer = script.queue.pop(0) if script.queue else script.body
            body = answer if isinstance(answer, str) else json.dumps(answer)
            self.send_response(script.status)
            self.send_header("Content-Type", "application/json")
            for name, value in script.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the slow-server test's client hangs up on purpose

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield script, f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _reply(content: str) -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    }


def _model(url: str, **options: Any) -> OpenAICompatModel:
    return OpenAICompatModel(url, "m", **({"max_retries": 2, "timeout": 5.0} | options))


def test_request_asks_for_logprobs_and_strict_only_where_acceptable(fake: tuple[_Script, str]) -> None:
    """Log-probabilities are asked for with ``top_logprobs`` (llama-cpp-python's server returns none without it);
    ``strict`` is on only for a schema OpenAI's strict mode accepts (a calls list, an optional field: off)."""
    script, url = fake
    script.body = _reply('{"city": "Oslo"}')
    _model(url).generate([{"role": "user", "content": "x"}], schema=SCHEMA)
    sent = script.requests[-1]
    assert sent["logprobs"] is True and sent["top_logprobs"] == 1
    assert sent["response_format"]["json_schema"]["strict"] is True
    optional = {**SCHEMA, "properties": {**SCHEMA["properties"], "units": {"type": "string"}}}
    _model(url).generate([{"role": "user", "content": "x"}], schema=optional)
    assert script.requests[-1]["response_format"]["json_schema"]["strict"] is False
    _model(url, logprobs=False).generate([{"role": "user", "content": "x"}])
    assert "logprobs" not in script.requests[-1] and "top_logprobs" not in script.requests[-1]
    with pytest.raises(UserError, match="top_logprobs=0"):
        _model(url, top_logprobs=0)


def test_strict_compatible() -> None:
    closed = {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": False}
    assert strict_compatible(closed)
    nested = {**closed, "properties": {"a": {"type": "array", "items": closed}}}
    assert strict_compatible(nested)
    assert not strict_compatible({**closed, "additionalProperties": True})
    assert not strict_compatible({**closed, "required": []})  # an optional field
    assert not strict_compatible({**nested, "properties": {"a": {"type": "array", "items": {**closed, "required": []}}}})
    assert not strict_compatible({**closed, "allOf": [closed]})
    assert not strict_compatible({"type": "array", "items": closed})  # the root must be an object
    assert not strict_compatible({"type": "object"})  # an open dict


def test_statuses_give_clear_errors(fake: tuple[_Script, str]) -> None:
    script, url = fake
    script.body = {"error": {"message": "bad key"}}
    script.status = 401
    with pytest.raises(RemoteAuthError, match=r"refused the request \(401\).*bad key") as auth:
        _model(url).generate([{"role": "user", "content": "x"}])
    assert "OPENAI_API_KEY" in str(auth.value) and script.hits == 1  # never retried
    script.status, script.hits = 404, 0
    with pytest.raises(ModelNotFoundError, match="ends in /v1"):
        _model(url).generate([{"role": "user", "content": "x"}])
    script.status, script.hits = 400, 0
    with pytest.raises(RemoteModelError, match="HTTP 400") as bad:
        _model(url).generate([{"role": "user", "content": "x"}])
    assert bad.value.kind == "status" and script.hits == 1
    script.status, script.hits = 503, 0
    with pytest.raises(RemoteModelError, match="HTTP 503") as busy:
        _model(url).generate([{"role": "user", "content": "x"}])
    assert busy.value.retryable and script.hits == 3  # 1 try + 2 retries with backoff


def test_transient_error_then_success(fake: tuple[_Script, str]) -> None:
    script, url = fake
    script.status, script.body = 429, {"error": "slow down"}

    def recover() -> None:
        time.sleep(0.3)
        script.status, script.body = 200, _reply('{"city": "Oslo"}')

    threading.Thread(target=recover).start()
    gen = _model(url, max_retries=3).generate([{"role": "user", "content": "x"}], schema=SCHEMA)
    assert json.loads(gen.text) == {"city": "Oslo"} and script.hits >= 2


def test_retry_after_is_honoured(fake: tuple[_Script, str]) -> None:
    """A 429 with ``Retry-After: 1`` is retried after a second, not after the 0.5 s backoff."""
    script, url = fake
    script.status, script.body, script.headers = 429, {"error": "slow down"}, {"Retry-After": "1"}
    with pytest.raises(RemoteModelError, match="HTTP 429"):
        _model(url, max_retries=1).generate([{"role": "user", "content": "x"}])
    assert script.hits == 2 and 0.95 <= script.times[1] - script.times[0] < 3


def test_retry_after_values() -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    assert retry_after("2") == 2.0 and retry_after("0") == 0.0 and retry_after("-5") == 0.0
    assert retry_after("3600") == 30.0  # capped
    assert retry_after(None) is None and retry_after("") is None and retry_after("soon") is None and retry_after("nan") is None
    later = retry_after(format_datetime(datetime.now(UTC) + timedelta(seconds=10), usegmt=True))
    assert later is not None and 8 <= later <= 10


def test_malformed_and_schema_invalid_output_is_retried_then_refused(fake: tuple[_Script, str]) -> None:
    script, url = fake
    script.body = _reply("Sure! The city is Oslo.")
    with pytest.raises(RemoteModelError, match="no valid output in 2 tries: not JSON") as malformed:
        _model(url).generate([{"role": "user", "content": "x"}], schema=SCHEMA)
    assert malformed.value.kind == "malformed" and script.hits == 2
    script.body, script.hits = _reply('{"town": "Oslo"}'), 0
    with pytest.raises(RemoteModelError, match="breaks the schema") as invalid:
        _model(url, max_attempts=3).generate([{"role": "user", "content": "x"}], schema=SCHEMA)
    assert invalid.value.kind == "schema" and script.hits == 3
    script.body = "<html>gateway</html>"
    with pytest.raises(RemoteModelError, match="non-JSON"):
        _model(url).generate([{"role": "user", "content": "x"}])


def test_slow_and_down_servers(fake: tuple[_Script, str]) -> None:
    script, url = fake
    script.body, script.delay = _reply('{"city": "Oslo"}'), 1.5
    t0 = time.perf_counter()
    with pytest.raises(RemoteModelError, match=r"did not answer within 0.3 s \(2 tries\)") as slow:
        _model(url, timeout=0.3, max_retries=1).generate([{"role": "user", "content": "x"}])
    assert slow.value.kind == "timeout" and time.perf_counter() - t0 < 5
    with pytest.raises(RemoteModelError, match="Cannot reach") as down:
        _model("http://127.0.0.1:9/v1", max_retries=0).generate([{"role": "user", "content": "x"}])
    assert down.value.kind == "unreachable"


def test_spec_parsing() -> None:
    from agentslm.errors import UserError

    model = load_model("openai:http://127.0.0.1:8080/v1/#qwen")
    assert isinstance(model, OpenAICompatModel) and model.base_url == "http://127.0.0.1:8080/v1" and model.model == "qwen"
    with pytest.raises(UserError, match="http"):
        load_model("openai:localhost:8080#x")


def _tool_reply(*calls: tuple[str, Any], content: str | None = None) -> dict[str, Any]:
    tool_calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": n, "arguments": a if isinstance(a, str) else json.dumps(a)}}
        for i, (n, a) in enumerate(calls)
    ]
    message = {"role": "assistant", "content": content, **({"tool_calls": tool_calls} if tool_calls else {})}
    return {
        "choices": [{"message": message, "finish_reason": "tool_calls"}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 4},
    }


def test_native_tool_calls_are_read_and_checked(fake: tuple[_Script, str]) -> None:
    """``tool_calls=native``: the tools go as ``tools`` (no agentslm prompt), the server's parsed calls come back as
    calls; calls written in the text (a server that does not parse them) too; a text reply is "no tool fits"."""
    script, url = fake
    model = load_model(f"openai:{url}#m?tool_calls=native")
    assert isinstance(model, OpenAICompatModel) and model.native_tools and model.model == "m"
    more = ToolRegistry()

    @more.tool
    def convert_currency(amount: float, to_currency: str) -> float:
        """Convert an amount of euros.

        Args:
            amount: The amount.
            to_currency: Target currency code.
        """
        return amount

    tools = [sample_registry.get("get_weather"), more.get("convert_currency")]
    caller = Caller(model)
    script.body = _tool_reply(("get_weather", {"city": "Paris"}), ("get_weather", '{"city": "Oslo"}'))
    listed = caller.calls("Weather in Paris and Oslo?", tools)
    assert listed.parse_error is None
    assert [(c.name, c.arguments) for c in listed.calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Oslo"}),
    ]
    sent = script.requests[-1]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather", "convert_currency"]
    assert sent["tool_choice"] == "auto" and "response_format" not in sent
    assert sent["messages"] == [{"role": "user", "content": "Weather in Paris and Oslo?"}]  # the template renders the tools
    script.body = _reply('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Rome"}}\n</tool_call>')
    assert [c.arguments for c in caller.calls("Weather in Rome?", tools).calls] == [{"city": "Rome"}]
    script.body = _reply("Hamlet was written by William Shakespeare.")
    answered = caller.calls("Who wrote Hamlet?", tools)
    assert answered.parse_error is None and answered.calls == []


def test_native_call_that_breaks_its_schema_is_decoded_again_under_its_grammar(fake: tuple[_Script, str]) -> None:
    script, url = fake
    model = OpenAICompatModel(url, "m", tool_calls="native", max_retries=0)
    tools = [sample_registry.get("get_weather")]
    script.queue = [_tool_reply(("get_weather", {"town": "Paris"})), _tool_reply(("get_weather", {"city": "Paris"}))]
    listed = Caller(model).calls("Weather in Paris?", tools)
    assert listed.parse_error is None and [c.arguments for c in listed.calls] == [{"city": "Paris"}]
    again = script.requests[-1]
    assert again["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert [t["function"]["name"] for t in again["tools"]] == ["get_weather"]
    script.queue = [_tool_reply(("get_weather", "{not json")), _tool_reply(("get_weather", {"town": "Paris"}))]
    broken = Caller(model).calls("Weather in Paris?", tools)
    assert broken.calls == [] and broken.parse_error is not None and "break its schema" in broken.parse_error
    script.queue = [_tool_reply(("delete_everything", {}))]
    invented = Caller(model).calls("Weather in Paris?", tools)
    assert invented.parse_error is not None and "not one of the tools" in invented.parse_error
    assert model.usage["requests"] == 5


def test_spec_options_are_checked() -> None:
    with pytest.raises(UserError, match="Unknown option 'tools'"):
        load_model("openai:http://127.0.0.1:9/v1#m?tools=native")
    with pytest.raises(UserError, match=re.escape("tool_calls takes schema | native")):
        load_model("openai:http://127.0.0.1:9/v1#m?tool_calls=yes")
    from agentslm.models.openai_compat import served_profile
    from agentslm.roles.planner import PlannerPolicy

    assert served_profile("Qwen/Qwen2.5-1.5B-Instruct").family == "qwen"
    assert served_profile("qwen2.5-coder-1.5b").family == "qwen"
    assert served_profile("meta-llama/Llama-3.2-3B-Instruct").family == "llama3"
    assert served_profile("my-model").family == "generic"
    qwen = load_model("openai:http://127.0.0.1:9/v1#qwen2.5-coder-1.5b")
    assert PlannerPolicy.for_model(qwen).grounding_scope == "any"  # the family's calibrated policy reaches it served
    named = load_model("openai:http://127.0.0.1:9/v1#my-model?profile=qwen")
    assert named.profile.family == "qwen"
    with pytest.raises(UserError, match="profile='nope'"):
        load_model("openai:http://127.0.0.1:9/v1#m?profile=nope")
    slow = load_model("openai:http://127.0.0.1:9/v1#m?tool_calls=native&timeout=600")
    assert isinstance(slow, OpenAICompatModel) and slow.timeout == 600.0 and slow.native_tools
    for bad in ("0", "soon", "inf"):
        with pytest.raises(UserError, match="not a number of seconds"):
            load_model(f"openai:http://127.0.0.1:9/v1#m?timeout={bad}")
    with pytest.raises(UserError, match="tool_calls='x' is not an option"):
        OpenAICompatModel("http://127.0.0.1:9/v1", tool_calls="x")  # type: ignore[arg-type]


@pytest.mark.slow
def test_served_qwen_calls_in_its_own_format() -> None:
    """Qwen2.5-Coder-1.5B served by llama_cpp.server with its own chat template (pulled: ``agentslm models pull
    qwen2.5-coder-1.5b``), ``tool_calls=native``: the template renders the tools and the model writes its calls freely
    (this model writes a JSON code block, which that server does not parse: the caller reads it from the text). Its
    call for two cities gives ``city`` a list, which breaks the schema: decoded again under ``tool_choice``, the server
    constrains it to a string. A call for a question no tool fits states a city the request does not hold: grounding
    refuses it. Per-token log-probabilities come back (confidence works remotely)."""
    from agentslm.grounding import grounding_report
    from agentslm.models.catalog import catalog_model, pulled_path
    from tests.conftest import serve_gguf

    entry = catalog_model("qwen2.5-coder-1.5b")
    assert entry is not None
    if not pulled_path(entry).is_file():
        pytest.skip("Qwen2.5-Coder-1.5B is not pulled here (agentslm models pull qwen2.5-coder-1.5b)")
    tool = sample_registry.get("get_weather")
    assert tool is not None
    with serve_gguf(str(pulled_path(entry)), "qwen") as url:
        model = load_model(f"openai:{url}#qwen?tool_calls=native")
        caller = Caller(model, max_tokens=96)
        oslo = caller.calls("Weather in Oslo?", [tool])
        assert [(c.name, c.arguments) for c in oslo.calls] == [("get_weather", {"city": "Oslo"})]
        assert oslo.signals.mean_logprob is not None
        requests = model.usage["requests"]
        two = caller.calls("What's the weather in Paris and in London?", [tool])
        assert re.search(r'"city":\s*\[', two.raw)  # the model's own reply: a list
        assert two.parse_error is None and model.usage["requests"] == requests + 2  # decoded again under its grammar
        assert [c.arguments["city"] for c in two.calls] in (["Paris"], ["London"])
        hamlet = caller.calls("Who wrote Hamlet?", [tool])
        assert hamlet.parse_error is None
        assert all(grounding_report(c.arguments, tool.parameters, "Who wrote Hamlet?") for c in hamlet.calls)
        model.close()


def test_wire_messages_give_each_result_a_call_id() -> None:
    """llama-cpp-python's server answers 500 to a ``tool`` message without ``tool_call_id``. In the model's own format
    the run's calls become structured ``tool_calls`` and each result answers its call; in agentslm's prompt the calls
    stay as the text the prompt shows and the results answer ``call_1``."""
    from agentslm.models.openai_compat import wire_messages

    listed = [{"name": "find_contact", "arguments": {"name": "Ana"}}, {"name": "get_weather", "arguments": {"city": "Oslo"}}]
    convo = [
        {"role": "user", "content": "Find Ana and the weather in Oslo"},
        {"role": "assistant", "content": "<tool_call>" + json.dumps(listed) + "</tool_call>"},
        {
            "role": "tool",
            "content": "[1] find_contact(name='Ana') -> [{\"id\": 1}]\n[2] get_weather(city='Oslo') -> \"snow\n-4\"",
        },
    ]
    native = wire_messages(convo, structured_calls=True)
    assert native[0] == convo[0]
    calls = native[1]["tool_calls"]
    assert [c["id"] for c in calls] == ["call_1", "call_2"]
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"name": "Ana"}, {"city": "Oslo"}]
    assert [(m["role"], m["tool_call_id"]) for m in native[2:]] == [("tool", "call_1"), ("tool", "call_2")]
    assert native[3]["content"] == "[2] get_weather(city='Oslo') -> \"snow\n-4\""  # a result's own newline stays in it
    text = wire_messages(convo, structured_calls=False)
    assert text[:2] == convo[:2]
    assert text[2] == {**convo[2], "tool_call_id": "call_1"}


def test_the_planner_uses_a_served_models_own_format_under_the_plan_grammar(fake: tuple[_Script, str]) -> None:
    """``tool_calls=native`` as the agent's model: the server's template renders the tools (``tools`` sent, no
    agentslm prompt), the plan grammar goes as ``response_format`` and admits one call object (what these models
    write) or a list; in the next round the earlier call goes back as structured ``tool_calls`` and its result as the
    ``tool`` message that answers it."""
    from agentslm import Agent
    from agentslm.bench.task_world import World
    from agentslm.events import CallEvent

    script, url = fake
    model = OpenAICompatModel(url, "m", tool_calls="native", max_retries=0)
    send = {"to": "chloe@martin-design.fr", "subject": "Late", "body": "I am 10 minutes late"}
    script.queue = [
        _reply('{"name": "find_contact", "arguments": {"name": "Chloe"}}'),
        _reply(json.dumps({"name": "send_email", "arguments": send})),
        _reply("[]"),
    ]
    script.body = _reply("Sent.")
    world = World()
    agent = Agent(model=model, tools=world.registry(), approve=lambda *_: True)
    run = agent.run("Find Chloe's address and send her an email saying I am 10 minutes late.")
    assert [e.call.name for e in run.events if isinstance(e, CallEvent)] == ["find_contact", "send_email"]
    assert [m["to"] for m in world.snapshot()["outbox"].values()] == ["chloe@martin-design.fr"]
    first, second = script.requests[:2]
    assert "find_contact" in [t["function"]["name"] for t in first["tools"]]
    assert first["messages"] == [{"role": "user", "content": run.request}]
    alternatives = first["response_format"]["json_schema"]["schema"]["anyOf"]
    assert all(b["type"] == "object" for b in alternatives[0]["anyOf"])  # one call object ...
    assert all(a["type"] == "array" for a in alternatives[1]["anyOf"])  # ... or a list, one tuple per length
    assert second["tools"] == first["tools"]
    called, answered = second["messages"][-2:]
    assert called["tool_calls"][0]["id"] == "call_1" and called["tool_calls"][0]["function"]["name"] == "find_contact"
    assert answered["role"] == "tool" and answered["tool_call_id"] == "call_1" and "chloe@martin-design.fr" in answered["content"]


def test_generate_takes_tools_only_in_the_models_own_format(fake: tuple[_Script, str]) -> None:
    _script, url = fake
    with pytest.raises(UserError, match="tool_calls='native'"):
        _model(url).generate([{"role": "user", "content": "x"}], tools=[{"type": "function", "function": {"name": "f"}}])


def test_a_real_server_takes_the_planners_schema_and_a_conversation_with_results(openai_server: str) -> None:
    """The run that failed on llama-cpp-python's server: the plan schema of the task benchmark's tools ("failed to
    parse grammar": prefixItems, a 2,000-character text, patterns) and a second round with a tool result (422: no
    ``tool_call_id``). Both now reach the model, and the reply keeps the original schema."""
    from agentslm.bench.task_world import World
    from agentslm.constraints.plan_schema import plan_schema

    model = load_model(f"openai:{openai_server}#smollm2?structured=json_object")
    schema = plan_schema(list(World().registry()), max_tasks=4)
    convo = [
        {"role": "user", "content": "Find Chloe's address, then email her that I am late."},
        {"role": "assistant", "content": '<tool_call>[{"name": "find_contact", "arguments": {"name": "Chloe"}}]</tool_call>'},
        {"role": "tool", "content": '[1] find_contact(name=\'Chloe\') -> [{"email": "chloe@martin-design.fr"}]'},
    ]
    gen = model.generate(convo, schema=schema, max_tokens=160)
    jsonschema.validate(json.loads(gen.text), schema)
    assert gen.prompt_tokens > 0
    model.close()


@pytest.mark.slow
def test_served_qwen_as_the_agents_model_does_a_dependent_task() -> None:
    """Qwen2.5-Coder-1.5B served by llama_cpp.server as the agent's own model (``tool_calls=native``: the server's
    template renders the tools and the earlier call, the plan grammar goes as ``response_format``): "Send Chloe an
    email ..." needs her address from a lookup first; the email goes to the address the lookup returned, and nothing
    else changes."""
    from agentslm import Agent
    from agentslm.bench.task_world import World
    from agentslm.models.catalog import catalog_model, pulled_path
    from tests.conftest import serve_gguf

    entry = catalog_model("qwen2.5-coder-1.5b")
    assert entry is not None
    if not pulled_path(entry).is_file():
        pytest.skip("Qwen2.5-Coder-1.5B is not pulled here (agentslm models pull qwen2.5-coder-1.5b)")
    world = World()
    before = world.snapshot()
    with serve_gguf(str(pulled_path(entry)), "qwen2.5-coder-1.5b", threads=2) as url:
        model = load_model(f"openai:{url}#qwen2.5-coder-1.5b?tool_calls=native&timeout=600")
        assert model.profile.family == "qwen"
        run = Agent(model=model, tools=world.registry(), approve=lambda *_: True).run(
            "Send Chloe an email saying I will be 10 minutes late."
        )
        model.close()
    after = world.snapshot()
    sent = list(after["outbox"].values())
    assert run.status == "answered", run.events
    assert [m["to"] for m in sent] == ["chloe@martin-design.fr"]
    assert "10 minutes" in sent[0]["body"]
    assert {k: v for k, v in after.items() if k != "outbox"} == {k: v for k, v in before.items() if k != "outbox"}
