"""One event loop per process for async handlers and start-up hooks.

``asyncio.run`` per call would make a new loop each time, so a client made in an ``on_start``
hook (an aiohttp session, an async database pool) would be bound to a loop that is gone by the
next invocation. Instead one loop runs in a daemon thread for the life of the process, made on
first use (a process with no async code never starts it) and made again in a forked child. Any
thread may submit to it; the caller's context variables travel with the coroutine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from portafn.lazy import Lazy

T = TypeVar("T")


class _LoopThread:
    __slots__ = ("loop", "thread")

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=serve, name="portafn-asyncio", daemon=True)
        self.thread.start()
        ready.wait()


_LOOP: Lazy[_LoopThread] = Lazy(_LoopThread)


def _forget_after_fork() -> None:
    # The loop's thread does not survive a fork; the child makes its own on first use.
    global _LOOP
    _LOOP = Lazy(_LoopThread)


os.register_at_fork(after_in_child=_forget_after_fork)


def loop() -> asyncio.AbstractEventLoop:
    """The process's loop (started on first call)."""
    return _LOOP.get().loop


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the process's loop and wait for its result (or raise its exception)."""
    runner = _LOOP.get()
    if threading.current_thread() is runner.thread:
        coro.close()
        raise RuntimeError("portafn.aio.run() was called from the event loop itself; await instead")
    result: concurrent.futures.Future[T] = concurrent.futures.Future()
    context = contextvars.copy_context()

    def start() -> None:
        task = runner.loop.create_task(coro, context=context)
        task.add_done_callback(lambda done: _settle(done, result))

    runner.loop.call_soon_threadsafe(start)
    return result.result()


def _settle(task: asyncio.Task[T], result: concurrent.futures.Future[T]) -> None:
    if task.cancelled():
        result.cancel()
    elif (exc := task.exception()) is not None:
        result.set_exception(exc)
    else:
        result.set_result(task.result())
