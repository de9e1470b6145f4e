"""Run the agent's synchronous run loop on an asyncio event loop without a worker thread (``Agent.arun`` / ``astream``).

The run loop (:class:`~agentslm.run.state.RunState`) is ordinary synchronous code. :func:`events_on_loop` runs it in a
greenlet (the bridge SQLAlchemy's asyncio support is built on): wherever the loop has to wait, it hands an awaitable
to the event loop with :func:`await_on_loop` and resumes with its result, so the application's loop keeps running
while

- a served model (:class:`~agentslm.models.openai_compat.OpenAICompatModel`) waits for its HTTP reply, sent with an
  ``httpx.AsyncClient`` on that loop;
- a CPU-bound step (a local model's decode, a sync approval callback) runs in a worker thread
  (:func:`off_loop`, ``asyncio.to_thread``: one hop per step, not per run);
- a wave of tool calls runs (sync tools in their threads, async tools awaited on the application's loop).

Outside such a run (``Agent.run`` / ``stream``, or code in a worker thread) :func:`in_async_run` is false and every
helper calls straight through, so the same code serves both.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import greenlet

__all__ = ["await_on_loop", "events_on_loop", "in_async_run", "off_loop"]

T = TypeVar("T")


class _RunGreenlet(greenlet.greenlet):  # type: ignore[misc]  # greenlet ships no complete stubs for subclasses
    """The greenlet a run's synchronous loop executes in."""


class _Await:
    __slots__ = ("awaitable",)

    def __init__(self, awaitable: Awaitable[Any]) -> None:
        self.awaitable = awaitable


class _Event:
    __slots__ = ("item",)

    def __init__(self, item: Any) -> None:
        self.item = item


_DONE = object()


def in_async_run() -> bool:
    """Whether the calling code runs inside :func:`events_on_loop` (on the event loop's thread)."""
    return isinstance(greenlet.getcurrent(), _RunGreenlet)


def await_on_loop(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` on the event loop of the enclosing :func:`events_on_loop` and return its result (or
    raise its exception). Only valid where :func:`in_async_run` is true."""
    current = greenlet.getcurrent()
    if not isinstance(current, _RunGreenlet):
        raise RuntimeError("await_on_loop() needs a run started by events_on_loop()")
    result: T = current.parent.switch(_Await(awaitable))
    return result


def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``, in a worker thread when inside an async run (CPU-bound or blocking work must not hold
    the event loop), else directly."""
    if not in_async_run():
        return fn(*args, **kwargs)
    context = contextvars.copy_context()  # the run's (its token meter, its trace), not the event loop task's
    return await_on_loop(asyncio.to_thread(context.run, fn, *args, **kwargs))


async def events_on_loop(events: Callable[[], Iterable[T]]) -> AsyncIterator[T]:
    """The items of ``events()``, a synchronous iterator run in a greenlet on this event loop; its waits
    (:func:`await_on_loop`) are awaited here. Leaving early closes the iterator at the step it is waiting in."""

    def body() -> Any:
        for item in events():
            greenlet.getcurrent().parent.switch(_Event(item))
        return _DONE

    run = _RunGreenlet(body)
    run.gr_context = contextvars.copy_context()  # the application's context (its trace, its variables)
    value: Any = run.switch()
    try:
        while not run.dead:
            if isinstance(value, _Await):
                try:
                    result = await value.awaitable
                except BaseException as exc:  # handed back to the waiting code, which may handle it
                    value = run.throw(exc)
                else:
                    value = run.switch(result)
            elif isinstance(value, _Event):
                yield value.item
                value = run.switch()
            else:
                break
    finally:
        if not run.dead:
            run.throw(greenlet.GreenletExit)  # the consumer stopped listening: close the run where it waits
