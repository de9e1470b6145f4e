"""The OpenAI-compatible backend: against a real llama.cpp server (the embedded model), and against a scripted
HTTP server for each failure (auth, 404, 4xx, 5xx with retries, malformed JSON, schema-invalid JSON, slow, down)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jsonschema
import pytest

from agentslm.constraints.call_schema import calls_schema
from agentslm.errors import ModelNotFoundError
from agentslm.models import load_model
from agentslm.models.openai_compat import OpenAICompatModel, RemoteAuthError, RemoteModelError, retry_after
from agentslm.roles.caller import Caller
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


@pytest.fixture()
def fake() -> Iterator[tuple[_Script, str]]:
    script = _Script()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            script.hits += 1
            script.times.append(time.monotonic())
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(script.delay)
            body = script.body if isinstance(script.body, str) else json.dumps(script.body)
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
