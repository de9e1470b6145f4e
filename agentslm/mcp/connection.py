"""A live connection to one MCP server, usable from synchronous code.

``mcp.Client`` is async and must be entered and left in one task. agentslm runs tools from
worker threads (see :mod:`agentslm.execute`), so each connection owns an anyio blocking portal
(an event loop in a background thread): the client lives in one task there, and calls from any
thread are submitted through the portal and waited for with a timeout. A server that exits or hangs fails its
calls promptly with :class:`McpError`; the agent keeps running.

Servers are given as a URL (streamable HTTP), a command line or argv list (stdio), an
``mcp.StdioServerParameters``, or an in-process ``mcp`` server object (tests, embedding).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shlex
import tempfile
import threading
import weakref
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager
from typing import Any, Literal, TypeVar

import anyio
from anyio.from_thread import BlockingPortal, start_blocking_portal

from agentslm.errors import MissingExtraError, RunError, UserError

__all__ = ["McpConnection", "McpError", "ServerSpec", "describe_server"]

T = TypeVar("T")

ServerSpec = Any
"""A URL, a command line (str), an argv list, an ``mcp.StdioServerParameters`` or an in-process ``mcp`` server."""

_STDERR_TAIL = 2000


class McpError(RunError):
    """An MCP server could not be reached, failed, timed out or answered out of protocol."""

    retryable = True


def describe_server(server: ServerSpec) -> str:
    """A short human name for ``server`` (for messages)."""
    if isinstance(server, str):
        return server
    if isinstance(server, Sequence):
        return shlex.join([str(part) for part in server])
    command = getattr(server, "command", None)
    if isinstance(command, str):
        return shlex.join([command, *getattr(server, "args", [])])
    return type(server).__name__


class McpConnection:
    """One MCP server, connected in a background event loop.

    Args:
        server: see :data:`ServerSpec`.
        env: extra environment variables for a stdio server (added to the MCP SDK's safe defaults).
        cwd: working directory of a stdio server.
        headers: HTTP headers for a URL server (e.g. ``Authorization``).
        mode: protocol negotiation: ``"auto"`` (try the stateless 2026-07-28 protocol, fall back to
            the ``initialize`` handshake), ``"legacy"`` (handshake only), or a protocol version.
        connect_timeout: seconds to start the server and list its tools.
    """

    def __init__(
        self,
        server: ServerSpec,
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        headers: Mapping[str, str] | None = None,
        mode: Literal["auto", "legacy"] | str = "auto",
        connect_timeout: float = 60.0,
    ) -> None:
        self.server = server
        self.name = describe_server(server)
        self._env = dict(env or {})
        self._cwd = cwd
        self._headers = dict(headers or {})
        self._mode = mode
        self._connect_timeout = connect_timeout
        self._portal: BlockingPortal | None = None
        self._portal_cm: AbstractContextManager[BlockingPortal] | None = None
        self._client: Any = None
        self._closing: asyncio.Event | None = None
        self._main: Future[None] | None = None
        self._dead: str | None = None
        self._stderr: Any = None
        self._lock = threading.Lock()
        self.protocol_version: str | None = None
        self.server_name: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def open(self) -> McpConnection:
        """Start the server (stdio) or connect (HTTP) and complete the protocol handshake."""
        with self._lock:
            if self._portal is not None:
                return self
            try:
                import mcp  # noqa: F401
            except ImportError as exc:
                raise MissingExtraError(
                    "MCP servers need the MCP SDK (mcp), which is not installed.", hint="pip install 'agentslm[mcp]'"
                ) from exc
            self._portal_cm = start_blocking_portal(name=f"agentslm-mcp-{self.name[:40]}")
            self._portal = self._portal_cm.__enter__()
            ready: Future[None] = Future()
            self._main = self._portal.start_task_soon(self._hold, ready)
        try:
            ready.result(self._connect_timeout)
        except FutureTimeout:
            self._cancel()
            self.close()
            raise McpError(
                f"MCP server {self.name!r} did not finish connecting within {self._connect_timeout:g}s.{self._stderr_note()}",
                hint="check that the command starts an MCP server (on stdio) or that the URL is an MCP endpoint; "
                "raise connect_timeout for slow starts.",
            ) from None
        except BaseException as exc:
            note = self._stderr_note()
            self.close()
            if isinstance(exc, McpError):
                raise
            raise McpError(
                f"Cannot connect to MCP server {self.name!r}: {_describe(exc)}.{note}",
                hint="check the command/URL; run the command yourself to see its output.",
            ) from exc
        _OPEN.add(self)
        return self

    def close(self) -> None:
        """Disconnect (a stdio server process is terminated). Safe to call twice."""
        portal, portal_cm = self._portal, self._portal_cm
        if portal is None or portal_cm is None:
            return
        if self._closing is not None:
            with contextlib.suppress(Exception):  # the portal already stopped
                portal.call(self._closing.set)
        if self._main is not None:
            try:
                self._main.result(5)
            except FutureTimeout:
                self._cancel()  # still connecting (or stuck): cancel, which stops a stdio server process
                with contextlib.suppress(BaseException):
                    self._main.result(8)
                self._main.cancel()
            except BaseException:  # a failed shutdown leaves nothing to do
                pass
        with contextlib.suppress(Exception):
            portal.call(portal.stop, True)  # cancel what is left; the SDK's shielded stdio shutdown still runs
        portal_cm.__exit__(None, None, None)  # waits for the portal's thread
        self._portal = self._portal_cm = None
        self._dead = self._dead or "the connection was closed"
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        _OPEN.discard(self)

    def __enter__(self) -> McpConnection:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _cancel(self) -> None:
        """Cancel the client task through its anyio scope, so the SDK's shielded process shutdown still runs."""
        if self._portal is not None and self._scope is not None:
            with contextlib.suppress(Exception):  # the portal already stopped
                self._portal.call(self._scope.cancel)

    @property
    def alive(self) -> bool:
        """True while the server is connected."""
        return self._portal is not None and self._dead is None

    # -- calls -------------------------------------------------------------------------------
    def run(self, make: Any, timeout: float | None, what: str) -> Any:
        """Run ``make(client)`` (a coroutine factory) on the connection's loop; wait ``timeout`` seconds."""
        portal = self._portal
        if self._dead is not None or portal is None:
            raise McpError(f"MCP server {self.name!r} is not connected ({self._dead or 'not opened'}); {what} was not sent.")
        future = portal.start_task_soon(self._guarded, make, timeout)
        try:
            return future.result(None if timeout is None else timeout + 5)
        except FutureTimeout:
            future.cancel()
            raise McpError(f"{what} on MCP server {self.name!r} got no answer within {timeout:g}s.") from None
        except McpError:
            raise
        except Exception as exc:
            described = _describe(exc)
            if "Connection closed" in described:
                self._dead = "the server closed the connection (did it exit?)"
                raise McpError(f"{what} on MCP server {self.name!r} failed: {self._dead}.{self._stderr_note()}") from exc
            raise McpError(f"{what} on MCP server {self.name!r} failed: {described}.{self._stderr_note()}") from exc

    async def _guarded(self, make: Any, timeout: float | None) -> Any:
        # Race the call against the server's connection ending, so a server that exits mid-call fails at once.
        call: asyncio.Task[Any] = asyncio.ensure_future(make(self._client))
        waiters: set[asyncio.Future[Any]] = {call}
        if self._main_task is not None:
            waiters.add(self._main_task)
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if call in done:
            return call.result()
        call.cancel()
        if not done:
            raise McpError(f"no answer within {timeout:g}s (the request was cancelled)")
        raise McpError(f"the server exited during the call ({self._dead or 'connection lost'})")

    # -- the task that holds the client --------------------------------------------------------
    _main_task: asyncio.Task[Any] | None = None
    _scope: Any = None

    async def _hold(self, ready: Future[None]) -> None:
        from mcp import Client

        self._main_task = asyncio.current_task()
        self._closing = asyncio.Event()
        try:
            with anyio.CancelScope() as scope:
                self._scope = scope
                async with Client(self._transport(), mode=self._mode, raise_exceptions=False) as client:
                    self._client = client
                    self.protocol_version = client.protocol_version
                    info = client.server_info
                    self.server_name = info.name if info is not None else None
                    ready.set_result(None)
                    await self._closing.wait()
            if scope.cancelled_caught and not ready.done():
                ready.set_exception(McpError("connecting was cancelled"))
        except BaseException as exc:
            self._dead = f"connection ended: {_describe(exc)}"
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else McpError(_describe(exc)))
            if isinstance(exc, asyncio.CancelledError):
                raise
            return
        self._dead = self._dead or "the connection was closed"

    def _transport(self) -> Any:
        from mcp import StdioServerParameters
        from mcp.client.stdio import stdio_client

        server = self.server
        if isinstance(server, str) and server.startswith(("http://", "https://")):
            from mcp.client.streamable_http import streamable_http_client

            if not self._headers:
                return streamable_http_client(server)
            import httpx2  # the HTTP client mcp 2.x uses

            return streamable_http_client(server, http_client=httpx2.AsyncClient(headers=self._headers))
        if isinstance(server, str) or (isinstance(server, Sequence) and not isinstance(server, bytes)):
            argv = shlex.split(server) if isinstance(server, str) else [str(part) for part in server]
            if not argv:
                raise UserError("The MCP server command is empty.", hint="e.g. 'python -m mcp_server_time' or an http URL.")
            server = StdioServerParameters(command=argv[0], args=argv[1:])
        if isinstance(server, StdioServerParameters):
            from mcp.client.stdio import get_default_environment

            env = {**get_default_environment(), **(server.env or {}), **self._env}
            params = server.model_copy(update={"env": env, "cwd": server.cwd or self._cwd})
            self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace")
            return stdio_client(params, errlog=self._stderr)
        return server  # an in-process mcp Server/MCPServer: mcp.Client connects it directly

    def _stderr_note(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            tail = self._stderr.read().strip()
        except (OSError, ValueError):
            return ""
        return f" Server stderr (last lines): {tail[-_STDERR_TAIL:]}" if tail else ""


def _describe(exc: BaseException) -> str:
    """One line for an exception, unwrapping anyio/asyncio exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc).strip() or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text


_OPEN: weakref.WeakSet[McpConnection] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:  # pragma: no cover - interpreter shutdown
    for connection in list(_OPEN):
        connection.close()
