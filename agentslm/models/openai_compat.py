"""OpenAI-compatible chat backend (llama.cpp server, vLLM, SGLang, Ollama, hosted APIs), over httpx.

Spec: ``openai:BASE_URL#MODEL`` (e.g. ``openai:http://127.0.0.1:8080/v1#qwen``), options after ``?``
(``openai:http://127.0.0.1:8080/v1#qwen?tool_calls=native``); the key comes from ``api_key=`` or
``$AGENTSLM_OPENAI_API_KEY`` / ``$OPENAI_API_KEY``.

Calls come either under agentslm's own prompt and a JSON Schema (``tool_calls="schema"``, the default: works on any
server) or in the model's own tool format (``tool_calls="native"``: the tools go as ``tools``, the server's chat
template renders them, and :meth:`OpenAICompatModel.tool_completion` returns the calls the server parsed, or the
ones written in the reply's text when the server does not parse them; :class:`~agentslm.roles.caller.Caller` checks
each against its tool's schema and decodes a call that breaks it again under ``tool_choice`` naming its tool).

Under a JSON Schema the request asks for ``response_format: {"type": "json_schema", ...}`` (or llama-cpp-python's
``{"type": "json_object", "schema": ...}`` when the server rejects the former) and *always* validates the reply itself: a server that ignores the format, returns malformed JSON or
JSON that breaks the schema gets up to ``max_attempts`` tries, then :class:`RemoteModelError`. Transient failures
(connection errors, timeouts, 408/409/429/5xx) are retried with exponential backoff, or after the server's
``Retry-After`` when it sends one (at most 30 s); 401/403/404 and other 4xx fail
at once with a message that says what to check.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import random
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import jsonschema

from agentslm.async_bridge import await_on_loop, in_async_run
from agentslm.constraints.validation import validate
from agentslm.errors import ModelNotFoundError, RunError, UserError
from agentslm.models.base import Generation, Message, Model, TokenLogprob, neutralize_control_text
from agentslm.models.profiles import CALLS_TEXT, PROFILES, ModelProfile, listed_calls, named_profile
from agentslm.models.served_schema import for_llama_cpp_python, for_server
from agentslm.usage import record

_log = logging.getLogger(__name__)

__all__ = [
    "OpenAICompatModel",
    "openai_spec_options",
    "RemoteAuthError",
    "RemoteModelError",
    "parse_openai_spec",
    "retry_after",
    "served_profile",
    "strict_compatible",
    "wire_messages",
]


class RemoteModelError(RunError):
    """The remote model failed: unreachable, timed out, an error status, or output that never validated."""

    def __init__(self, message: str, *, hint: str | None = None, kind: str = "error", retryable: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.kind = kind
        """``unreachable``, ``timeout``, ``status``, ``malformed``, ``schema`` or ``error``."""
        self.retryable = retryable


class RemoteAuthError(UserError):
    """The server refused the credentials (401/403)."""


_TRANSIENT = {408, 409, 425, 429, 500, 502, 503, 504}


_SPEC_OPTIONS: dict[str, tuple[str, ...]] = {
    "profile": tuple(PROFILES),
    "tool_calls": ("schema", "native"),
    "structured": ("auto", "json_schema", "json_object", "none"),
    "timeout": ("SECONDS",),
}


def parse_openai_spec(spec: str) -> tuple[str, str]:
    """``"openai:URL#MODEL"`` (or ``"URL#MODEL"``) → (base URL, model name); options after ``?`` are left out (see
    :func:`openai_spec_options`)."""
    rest = spec.removeprefix("openai:")
    url, _, model = rest.partition("#")
    if not url.startswith(("http://", "https://")):
        raise UserError(
            f"OpenAI-compatible spec {spec!r} needs an http(s) base URL.", hint="e.g. openai:http://127.0.0.1:8080/v1#qwen"
        )
    return url.rstrip("/"), model.partition("?")[0]


def openai_spec_options(spec: str) -> dict[str, Any]:
    """The options of a spec (``...#MODEL?tool_calls=native&structured=json_object&timeout=600``), checked; ``timeout``
    (seconds per request) for a slow server, e.g. a large prompt on a CPU."""
    query = spec.partition("#")[2].partition("?")[2]
    options: dict[str, Any] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        allowed = _SPEC_OPTIONS.get(key)
        if allowed is None:
            raise UserError(f"Unknown option {key!r} in {spec!r}.", hint=f"options: {', '.join(sorted(_SPEC_OPTIONS))}.")
        if key == "timeout":
            try:
                seconds = float(value)
            except ValueError:
                seconds = 0.0
            if not 0 < seconds < float("inf"):
                raise UserError(f"timeout={value!r} in {spec!r} is not a number of seconds.", hint="e.g. timeout=600.")
            options[key] = seconds
            continue
        if value not in allowed:
            raise UserError(f"{key}={value!r} in {spec!r} is not an option.", hint=f"{key} takes {' | '.join(allowed)}.")
        options[key] = value
    return options


_FAMILY_NAMES = (
    ("qwen", "qwen"),
    ("llama-3", "llama3"),
    ("llama3", "llama3"),
    ("phi-4", "phi4"),
    ("phi4", "phi4"),
    ("granite", "granite"),
    ("gemma", "gemma"),
    ("hermes", "hermes"),
    ("smollm", "smollm"),
)


def served_profile(model: str) -> ModelProfile:
    """The profile a served model's name implies (``Qwen/Qwen2.5-1.5B-Instruct``, ``qwen2.5-coder-1.5b``: ``qwen``), or
    ``generic``. Only its policy defaults and control tokens apply to a served model: the server renders the prompt."""
    lowered = model.lower()
    for word, family in _FAMILY_NAMES:
        if word in lowered:
            return PROFILES[family]
    return PROFILES["generic"]


def retry_after(value: str | None, *, cap: float = 30.0) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), at most ``cap``; None if absent
    or unreadable (then the backoff schedule applies)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


class OpenAICompatModel(Model):
    """A chat model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080/v1``.
        model: the served model's name (``""``: the server's default; llama.cpp's server ignores it).
        api_key: bearer token (default: ``$AGENTSLM_OPENAI_API_KEY`` or ``$OPENAI_API_KEY``).
        timeout: seconds per request (connect + read).
        max_retries: retries of transient failures (backoff 0.5 s, 1 s, 2 s … with jitter).
        max_attempts: tries per generation when the output is not valid JSON under the schema.
        structured: how the schema is sent: ``json_schema`` (OpenAI's ``response_format``; vLLM, SGLang, Ollama,
            llama.cpp's server), ``json_object`` (``{"type": "json_object", "schema": ...}``, llama-cpp-python's
            server), ``none`` (not sent: validate + retry), or ``auto``: ``json_schema``, switching to ``json_object``
            for good when the server rejects it.
        tool_calls: ``schema`` (agentslm's prompt, the calls constrained by ``response_format``; any server) or
            ``native`` (the model's own tool format through the server's ``tools``; for servers whose chat template
            renders tools: vLLM, SGLang, Ollama, llama.cpp's ``--jinja``, llama-cpp-python with the model's template,
            hosted APIs). The roles that decode a whole call list (the caller, the fallback) use it.
        logprobs: ask for token log-probabilities (confidence signals) when the server supports them: ``logprobs``
            with ``top_logprobs`` (llama-cpp-python's server returns none without the latter).
        top_logprobs: alternatives per token to ask for (1 to 20); only the chosen token's log-probability is used (the
            server's grammar mask is not visible, so the alternatives may be tokens the schema does not allow).
        profile: the model family's profile (:data:`~agentslm.models.profiles.PROFILES`), which sets its planner
            policy defaults and the control tokens neutralised in tool results; default: guessed from the served
            model's name (:func:`served_profile`), ``generic`` where it names no known family.
    """

    provider = "openai"
    io_bound = True

    def __init__(
        self,
        base_url: str,
        model: str = "",
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        max_attempts: int = 2,
        structured: Literal["auto", "json_schema", "json_object", "none"] = "auto",
        tool_calls: Literal["schema", "native"] = "schema",
        logprobs: bool = True,
        top_logprobs: int = 1,
        transport: Any = None,
        profile: str | None = None,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.model = model
        self.name = f"openai:{self.base_url}#{model}" if model else f"openai:{self.base_url}"
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_attempts = max(1, max_attempts)
        self.structured = structured
        if tool_calls not in ("schema", "native"):
            raise UserError(f"tool_calls={tool_calls!r} is not an option.", hint="use 'schema' or 'native'.")
        self.tool_calls = tool_calls
        self.logprobs = logprobs
        if not 1 <= top_logprobs <= 20:
            raise UserError(f"top_logprobs={top_logprobs} is out of range.", hint="use 1 to 20 (OpenAI's limit).")
        self.top_logprobs = top_logprobs
        self.profile = named_profile(profile) if profile else served_profile(model)
        key = api_key or os.environ.get("AGENTSLM_OPENAI_API_KEY") or os.environ.get("OPENAI_API_KEY")
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self._client = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, transport=transport)
        self._headers = headers
        self._async_transport = transport if isinstance(transport, httpx.MockTransport) else None
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        """Totals over this instance's life (what a fallback costs)."""

    def _post(self, payload: dict[str, Any], *, retry_status: bool = True) -> dict[str, Any]:
        import httpx

        delay = 0.5
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            asked: float | None = None  # the server's Retry-After, when it sent one
            try:
                response = self._send(payload)
            except httpx.TimeoutException:
                if last:
                    raise RemoteModelError(
                        f"{self.name} did not answer within {self.timeout:g} s ({attempt + 1} tries).",
                        hint="raise timeout= or check the server's load.",
                        kind="timeout",
                        retryable=True,
                    ) from None
            except httpx.HTTPError as exc:
                if last:
                    raise RemoteModelError(
                        f"Cannot reach {self.base_url}: {exc.__class__.__name__}: {exc} ({attempt + 1} tries).",
                        hint="start the server or fix the base URL (it usually ends in /v1).",
                        kind="unreachable",
                        retryable=True,
                    ) from None
            else:
                if response.status_code < 400:
                    try:
                        data = response.json()
                    except ValueError:
                        raise RemoteModelError(
                            f"{self.name} answered with non-JSON ({response.text[:120]!r}).",
                            hint="is the URL an OpenAI-compatible API?",
                            kind="malformed",
                        ) from None
                    if not isinstance(data, dict) or not data.get("choices"):
                        raise RemoteModelError(f"{self.name} answered without choices: {str(data)[:200]}.", kind="malformed")
                    return data
                detail = response.text[:300]
                if response.status_code in (401, 403):
                    raise RemoteAuthError(
                        f"{self.name} refused the request ({response.status_code}): {detail}",
                        hint="set api_key= or $AGENTSLM_OPENAI_API_KEY / $OPENAI_API_KEY.",
                    )
                if response.status_code == 404:
                    raise ModelNotFoundError(
                        f"{self.base_url}/chat/completions or model {self.model!r} not found (404): {detail}",
                        hint="check that the base URL ends in /v1 and the model name is one the server lists at /models.",
                    )
                if response.status_code not in _TRANSIENT or last or (not retry_status and "response_format" in detail):
                    raise RemoteModelError(
                        f"{self.name} failed with HTTP {response.status_code}: {detail}",
                        hint="see the server's log"
                        if response.status_code >= 500
                        else "the server rejected the request as sent.",
                        kind="status",
                        retryable=response.status_code in _TRANSIENT,
                    )
                asked = retry_after(response.headers.get("retry-after"))
            wait = asked if asked is not None else delay * (1 + random.random() * 0.25)
            _log.warning("%s: transient failure (try %d), retrying in %.1f s", self.name, attempt + 1, wait)
            self._pause(wait)
            delay *= 2
        raise AssertionError("unreachable")

    def _send(self, payload: dict[str, Any]) -> Any:
        """POST ``/chat/completions``: inside ``Agent.arun`` / ``astream`` awaited on the application's event loop with
        an ``httpx.AsyncClient`` (one per request: an async client belongs to one loop), else with this model's
        client."""
        if in_async_run():
            return await_on_loop(self._send_async(payload))
        return self._client.post("/chat/completions", json=payload)

    async def _send_async(self, payload: dict[str, Any]) -> Any:
        import httpx

        async with httpx.AsyncClient(
            base_url=self.base_url, headers=self._headers, timeout=self.timeout, transport=self._async_transport
        ) as client:
            return await client.post("/chat/completions", json=payload)

    @staticmethod
    def _pause(seconds: float) -> None:
        if in_async_run():
            await_on_loop(asyncio.sleep(seconds))
        else:
            time.sleep(seconds)

    def generate(
        self,
        messages: Sequence[Message],
        *,
        schema: Mapping[str, Any] | None = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
        engine: str | None = None,
        response_prefix: str = "",
        tools: Sequence[Mapping[str, Any]] | None = None,
    ) -> Generation:
        """One chat completion; under ``schema`` the reply is JSON that validates against it (or an error).

        The server constrains the reply (``engine`` does not apply) and writes it whole: ``response_prefix`` is not
        sent (:attr:`continues_reply` is false). ``tools`` (OpenAI function specs) are taken in the model's own tool
        format (``tool_calls="native"``): the server's chat template renders them, earlier calls go as structured
        ``tool_calls`` (:func:`wire_messages`), and ``schema`` still constrains the reply. Otherwise the tools belong
        in the messages' text, as agentslm's own prompt puts them."""
        if tools and not self.native_tools:
            raise UserError(
                "OpenAICompatModel.generate takes tools= only with tool_calls='native' (the server renders them).",
                hint="give the tools in the messages' text, or create the model with tool_calls='native'.",
            )
        payload = self._payload(messages, max_tokens, temperature, seed, structured_calls=bool(tools))
        if tools:
            payload["tools"] = [dict(t) for t in tools]
        problems: list[str] = []
        t0 = time.perf_counter()
        for _attempt in range(self.max_attempts):
            data = self._post_structured(payload, schema)
            choice = data["choices"][0]
            text = (choice.get("message") or {}).get("content") or ""
            generation = self._generation(data, choice, text, t0)
            if schema is None:
                return generation
            try:
                validate(json.loads(text), schema)
                return generation
            except json.JSONDecodeError as exc:
                if generation.finish_reason == "length":  # greedy decoding would stop there again
                    problems.append(f"not JSON: cut off at max_tokens={max_tokens} ({text[:80]!r}...)")
                    break
                problems.append(f"not JSON ({exc.msg} at {exc.pos}: {text[:80]!r})")
            except jsonschema.ValidationError as exc:
                problems.append(f"breaks the schema ({exc.message[:120]})")
        kind = "malformed" if problems[-1].startswith("not JSON") else "schema"
        raise RemoteModelError(
            f"{self.name} gave no valid output in {len(problems)} tries: {'; '.join(problems)}.",
            hint="use a server that supports response_format json_schema (llama.cpp server, vLLM, SGLang), or raise max_attempts.",
            kind=kind,
        )

    @property
    def native_tools(self) -> bool:
        """Whether calls come in the model's own tool format (``tool_calls="native"``)."""
        return self.tool_calls == "native"

    def tool_completion(
        self,
        messages: Sequence[Message],
        tools: Sequence[Mapping[str, Any]],
        *,
        tool_choice: str | Mapping[str, Any] = "auto",
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int | None = None,
    ) -> tuple[Generation, list[dict[str, Any]]]:
        """One chat completion with ``tools`` (OpenAI's function specs) rendered by the server.

        Returns the generation (its text: the reply's content, empty when the server parsed calls out of it) and
        the calls the server parsed from the reply, ``{"name": str, "arguments": dict | None}`` (``None``: the
        arguments were not a JSON object). ``tool_choice``: ``auto``, ``required``, or
        ``{"type": "function", "function": {"name": NAME}}`` (the server then constrains the arguments to that
        tool's parameters)."""
        payload = self._payload(messages, max_tokens, temperature, seed, structured_calls=True)
        payload["tools"] = [dict(t) for t in tools]
        payload["tool_choice"] = tool_choice if isinstance(tool_choice, str) else dict(tool_choice)
        t0 = time.perf_counter()
        data = self._post(payload)
        choice = data["choices"][0]
        message = choice.get("message") or {}
        generation = self._generation(data, choice, message.get("content") or "", t0)
        calls: list[dict[str, Any]] = []
        for item in message.get("tool_calls") or []:
            function = (item or {}).get("function") or {}
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                try:
                    arguments = json.loads(arguments) if arguments.strip() else {}
                except json.JSONDecodeError:
                    arguments = None
            calls.append({"name": str(function.get("name", "")), "arguments": arguments if isinstance(arguments, dict) else None})
        return generation, calls

    def _payload(
        self,
        messages: Sequence[Message],
        max_tokens: int,
        temperature: float,
        seed: int | None,
        *,
        structured_calls: bool = False,
    ) -> dict[str, Any]:
        """The request fields every chat completion sends (messages in OpenAI's wire form, see :func:`wire_messages`;
        budget, model, seed, log-probabilities)."""
        payload: dict[str, Any] = {
            "messages": wire_messages(neutralize_control_text(messages), structured_calls=structured_calls),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if self.model:
            payload["model"] = self.model
        if seed is not None:
            payload["seed"] = seed
        if self.logprobs:
            payload["logprobs"] = True
            payload["top_logprobs"] = self.top_logprobs
        return payload

    def _generation(self, data: Mapping[str, Any], choice: Mapping[str, Any], text: str, t0: float) -> Generation:
        usage = data.get("usage") or {}
        self.usage["requests"] += 1
        self.usage["prompt_tokens"] += int(usage.get("prompt_tokens", 0))
        self.usage["completion_tokens"] += int(usage.get("completion_tokens", 0))
        generation = Generation(
            text=text,
            tokens=_tokens(choice),
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            seconds=time.perf_counter() - t0,
            reported_completion_tokens=int(usage["completion_tokens"]) if "completion_tokens" in usage else None,
        )
        record(generation, model=self.model or self.name, provider=self.provider)
        return generation

    def _post_structured(self, payload: dict[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
        if schema is None or self.structured == "none":
            return self._post(payload)
        mode = "json_schema" if self.structured == "auto" else self.structured
        if mode == "json_schema":
            sent = for_server(dict(schema))
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": sent, "strict": strict_compatible(sent)},
            }
        else:
            payload["response_format"] = {"type": "json_object", "schema": for_llama_cpp_python(dict(schema))}
        try:
            return self._post(payload, retry_status=mode != "json_schema" or self.structured != "auto")
        except RemoteModelError as exc:
            if self.structured != "auto" or "response_format" not in str(exc):
                raise
        self.structured = "json_object"  # the server does not know json_schema (llama-cpp-python's): use its variant
        payload["response_format"] = {"type": "json_object", "schema": for_llama_cpp_python(dict(schema))}
        return self._post(payload)

    def count_tokens(self, messages: Sequence[Message]) -> int:
        return sum(len(m.get("content", "")) for m in messages) // 4

    def close(self) -> None:
        self._client.close()


_RESULT_LINE = re.compile(r"\n(?=\[\d+\] )")


def wire_messages(messages: Sequence[Message], *, structured_calls: bool) -> list[dict[str, Any]]:
    """``messages`` as OpenAI's API takes them: each ``tool`` message answers a call id (servers validate it:
    llama-cpp-python's answers 500 without one).

    ``structured_calls`` (the model's own tool format, :meth:`OpenAICompatModel.tool_completion`): an assistant
    message holding the run's calls as ``<tool_call>[...]</tool_call>`` becomes one with ``tool_calls`` (arguments as a
    JSON string, ids ``call_1``, ``call_2``, ...), so the server's chat template writes them in the family's format,
    and the results that follow become one ``tool`` message per call where their lines (``[N] call -> result``) pair
    up with the calls (else one message answering the first). Otherwise the calls stay as text (agentslm's own
    prompt reads them so) and the results get the id ``call_1``."""
    out: list[dict[str, Any]] = []
    pending: list[str] = []
    issued = 0
    for m in messages:
        msg = dict(m)
        listed = CALLS_TEXT.match(str(msg.get("content", ""))) if msg.get("role") == "assistant" else None
        calls = listed_calls(listed.group(1)) if listed and structured_calls else None
        if calls:
            pending = [f"call_{issued + n}" for n in range(1, len(calls) + 1)]
            issued += len(calls)
            wire = [
                {"id": i, "type": "function", "function": {"name": c["name"], "arguments": json.dumps(c.get("arguments") or {})}}
                for i, c in zip(pending, calls, strict=True)
            ]
            out.append({"role": "assistant", "content": "", "tool_calls": wire})
            continue
        if msg.get("role") == "tool" and "tool_call_id" not in msg:
            chunks = _RESULT_LINE.split(str(msg.get("content", "")))
            if structured_calls and len(pending) > 1 and len(chunks) == len(pending):
                out += [{"role": "tool", "tool_call_id": i, "content": c} for i, c in zip(pending, chunks, strict=True)]
            else:
                out.append({**msg, "tool_call_id": pending[0] if pending else "call_1"})
            pending = []
            continue
        out.append(msg)
    return out


def _tokens(choice: Mapping[str, Any]) -> list[TokenLogprob]:
    """Per-token log-probabilities when the server returned them (no constrained probabilities: the server's
    grammar mask is not visible, so margins are unknown)."""
    content = ((choice.get("logprobs") or {}).get("content")) or []
    out: list[TokenLogprob] = []
    for item in content:
        lp = item.get("logprob")
        out.append(
            TokenLogprob(
                token=-1,
                text=str(item.get("token", "")),
                logprob=float(lp) if isinstance(lp, (int, float)) and math.isfinite(lp) else None,
                constrained_logprob=None,
                margin=None,
                n_allowed=None,
            )
        )
    return out


_STRICT_UNSUPPORTED = frozenset(
    {
        "allOf",
        "not",
        "if",
        "then",
        "else",
        "dependentRequired",
        "dependentSchemas",
        "patternProperties",
        "unevaluatedProperties",
        "unevaluatedItems",
        "propertyNames",
        "contains",
        "minContains",
        "maxContains",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "prefixItems",
    }
)


def strict_compatible(schema: Mapping[str, Any]) -> bool:
    """Whether OpenAI's strict structured-output mode accepts ``schema`` as it is: an object at the root, every
    object closed (``additionalProperties: false``) with all its properties required, and no keyword outside the
    subset strict mode supports. Otherwise the schema is sent with ``strict: false`` (a strict server would refuse
    it with 400; making optional fields nullable would change what a call may omit) and the reply is validated here
    against the full schema either way."""
    if schema.get("type") != "object":
        return False

    def ok(node: Any) -> bool:
        if isinstance(node, list):
            return all(ok(v) for v in node)
        if not isinstance(node, dict):
            return True
        if _STRICT_UNSUPPORTED & node.keys():
            return False
        if node.get("type") == "object" or "properties" in node:
            properties = node.get("properties")
            if not isinstance(properties, dict) or node.get("additionalProperties") is not False:
                return False
            if set(node.get("required") or []) != set(properties):
                return False
        for key, value in node.items():
            if key in ("properties", "$defs", "definitions") and isinstance(value, dict):
                if not all(ok(v) for v in value.values()):
                    return False
            elif key in ("items", "anyOf", "oneOf") and not ok(value):
                return False
        return True

    return ok(dict(schema))
