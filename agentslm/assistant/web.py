"""``agentslm assistant``: the web UI on 127.0.0.1 (Starlette + uvicorn), live events over Server-Sent Events.

Routes: ``GET /`` the single-page app (assets ship with the package, no CDN); ``GET /api/state``;
``GET /api/history``; ``POST /api/messages`` ``{"text": ...}`` → 202 ``{"turn": N}`` (400 empty, 413 too
long, 409 busy); ``POST /api/approvals/{id}`` ``{"approve": bool}``; ``GET /api/events`` the SSE feed
(``Last-Event-ID`` resumes it).
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from agentslm.errors import AgentslmError, UserError

from .core import Assistant, AssistantBusy

__all__ = ["create_app", "free_port", "serve"]

STATIC = resources.files("agentslm.assistant") / "static"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _error(status: int, exc: Exception) -> JSONResponse:
    return JSONResponse({"error": str(exc)}, status_code=status)


def create_app(assistant: Assistant, *, allowed_hosts: list[str] | None = None) -> Starlette:
    """The Starlette app serving ``assistant``.

    Writes (messages, approvals) must be ``application/json`` from the app's own origin, so another web page open
    in the same browser cannot send requests or approve calls (a cross-site JSON POST needs a CORS preflight that
    this server never grants); with ``allowed_hosts`` the ``Host`` header is checked too (DNS rebinding).
    """
    handlers = _Handlers(assistant, allowed_hosts)
    return Starlette(
        routes=[
            Route("/", handlers.index),
            Route("/static/{name}", handlers.static),
            Route("/api/state", handlers.state),
            Route("/api/history", handlers.history),
            Route("/api/messages", handlers.messages, methods=["POST"]),
            Route("/api/approvals/{approval}", handlers.approvals, methods=["POST"]),
            Route("/api/events", handlers.events),
        ]
    )


def _asset(name: str) -> Response:
    item = STATIC / name
    if "/" in name or name.startswith(".") or not item.is_file():
        return JSONResponse({"error": "not found"}, status_code=404)
    suffix = "." + name.rsplit(".", 1)[-1]
    with resources.as_file(item) as path:
        return FileResponse(path, media_type=_TYPES.get(suffix, "application/octet-stream"))


class _Handlers:
    """The route handlers of :func:`create_app`, over one assistant."""

    def __init__(self, assistant: Assistant, allowed_hosts: list[str] | None) -> None:
        self.assistant = assistant
        self.allowed_hosts = allowed_hosts

    def refused(self, request: Request) -> Response | None:
        host = request.headers.get("host", "")
        if self.allowed_hosts is not None and host not in self.allowed_hosts:
            return JSONResponse({"error": f"unexpected Host header {host!r}"}, status_code=403)
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin is not None and origin.split("://", 1)[-1] != host:
                return JSONResponse({"error": f"requests from {origin} are not allowed"}, status_code=403)
            if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
                return JSONResponse({"error": "send Content-Type: application/json"}, status_code=415)
        return None

    async def index(self, _: Request) -> Response:
        return _asset("index.html")

    async def static(self, request: Request) -> Response:
        return _asset(request.path_params["name"])

    async def state(self, request: Request) -> Response:
        if (bad := self.refused(request)) is not None:
            return bad
        return JSONResponse(self.assistant.state())

    async def history(self, request: Request) -> Response:
        if (bad := self.refused(request)) is not None:
            return bad
        try:
            turns = await asyncio.to_thread(self.assistant.history.turns)
        except AgentslmError as exc:
            return _error(503, exc)
        return JSONResponse({"turns": turns})

    async def messages(self, request: Request) -> Response:
        if (bad := self.refused(request)) is not None:
            return bad
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            return JSONResponse({"error": 'send JSON: {"text": "..."}'}, status_code=400)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str):
            return JSONResponse({"error": 'send JSON: {"text": "..."}'}, status_code=400)
        try:
            turn = await asyncio.to_thread(self.assistant.submit, text)
        except AssistantBusy as exc:
            return _error(409, exc)
        except UserError as exc:
            too_long = text.strip() and len(text.strip()) > self.assistant.config.server.max_message_chars
            return _error(413 if too_long else 400, exc)
        except AgentslmError as exc:  # the history database is locked or damaged
            return _error(503, exc)
        return JSONResponse({"turn": turn}, status_code=202)

    async def approvals(self, request: Request) -> Response:
        if (bad := self.refused(request)) is not None:
            return bad
        try:
            body: Any = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("approve"), bool):
            return JSONResponse({"error": 'send JSON: {"approve": true} or {"approve": false}'}, status_code=400)
        try:
            self.assistant.decide(request.path_params["approval"], body["approve"])
        except UserError as exc:
            return _error(404, exc)
        return JSONResponse({"ok": True})

    async def events(self, request: Request) -> Response:
        if (bad := self.refused(request)) is not None:
            return bad
        header = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        last = int(header) if header.isascii() and header.isdigit() else 0
        if last > self.assistant.last_id():  # the server restarted: the client's ids are from before
            last = 0
        # sse-starlette: the event-stream framing, keep-alive pings, and ending the feed when the client goes away
        return EventSourceResponse(self._feed(last), ping=15, headers={"Cache-Control": "no-cache"})

    async def _feed(self, last: int) -> AsyncIterator[ServerSentEvent]:
        assistant = self.assistant
        yield ServerSentEvent(event="hello", data=json.dumps(assistant.state()), retry=1000)
        while True:
            batch = await asyncio.to_thread(assistant.messages_after, last, 2.0)
            for message in batch:
                last = message["id"]
                yield ServerSentEvent(id=str(last), data=json.dumps(message, default=str))


_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(assistant: Assistant, *, open_browser: bool = True, announce: Any = print) -> None:
    """Serve ``assistant`` on its configured loopback host and port (0: a free one) until interrupted."""
    import threading
    import webbrowser

    import uvicorn

    host = assistant.config.server.host
    if host not in _LOOPBACK:
        raise UserError(
            f"The assistant serves only on this machine (127.0.0.1), not on {host!r}: its UI has no login and runs tools.",
            hint='set [server] host = "127.0.0.1" (reach it from elsewhere through an SSH tunnel).',
        )
    port = assistant.config.server.port or free_port(host)
    shown = {"localhost": "127.0.0.1", "::1": "[::1]"}.get(host, host)
    url = f"http://{shown}:{port}/"
    app = create_app(assistant, allowed_hosts=[f"{h}:{port}" for h in ("127.0.0.1", "localhost", "[::1]")])
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=2))

    def when_up() -> None:
        while not server.started and not server.should_exit:
            threading.Event().wait(0.05)
        if server.started:
            announce(url)
            if open_browser:
                webbrowser.open(url)

    threading.Thread(target=when_up, daemon=True).start()
    server.run()
