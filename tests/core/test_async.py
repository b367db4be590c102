"""Async handlers and hooks run on one event loop per process, not a new loop per call."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

from portafn import App, Context, HttpError, Message, aio
from portafn.testing import Client

REQUEST_TAG: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="none")


def test_handlers_hooks_and_events_share_one_loop() -> None:
    app = App("a")
    loops: list[asyncio.AbstractEventLoop] = []

    @app.on_start
    async def start() -> None:
        loops.append(asyncio.get_running_loop())

    @app.http("GET", "/x")
    async def x() -> str:
        loops.append(asyncio.get_running_loop())
        return "x"

    @app.queue("q")
    async def consume(msg: Message[dict[str, Any]], ctx: Context) -> None:
        loops.append(asyncio.get_running_loop())

    client = Client(app)
    for _ in range(3):
        assert client.get("/x").status == 200
    assert client.send("q", {"a": 1}).ok
    assert len(loops) == 5
    assert all(loop is loops[0] for loop in loops)
    assert loops[0] is aio.loop()


def test_async_errors_are_answered_like_sync_ones() -> None:
    app = App("a")

    @app.http("GET", "/missing")
    async def missing() -> str:
        raise HttpError(404, "gone")

    resp = Client(app).get("/missing")
    assert resp.status == 404
    assert resp.json()["detail"] == "gone"


def test_concurrent_callers_each_get_their_own_result_and_context() -> None:
    async def tagged(n: int) -> tuple[int, str]:
        await asyncio.sleep(0.001 * (n % 3))
        return n, REQUEST_TAG.get()

    results: dict[int, tuple[int, str]] = {}

    def call(n: int) -> None:
        REQUEST_TAG.set(f"t{n}")
        results[n] = aio.run(tagged(n))

    threads = [threading.Thread(target=call, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == {n: (n, f"t{n}") for n in range(8)}


def test_run_from_the_loop_itself_is_refused() -> None:
    async def nested() -> None:
        async def inner() -> None:
            return None

        aio.run(inner())

    with pytest.raises(RuntimeError, match="await instead"):
        aio.run(nested())
