"""Each invocation bounds its store calls by the time the platform leaves it (less a margin), and
``update()``'s retry loop stops at that deadline with ``StoreUnavailable``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from pydantic import BaseModel

from portafn import App, Context, Invocation, Message, Runtime
from portafn.factories import make_message
from portafn.store.deadline import MARGIN_S, enclosing_deadline, within
from portafn.store.errors import StoreUnavailable
from portafn.store.memory import MemoryStore
from portafn.store.registry import use_store
from portafn.store.table import Table


class Counter(BaseModel):
    """One counter."""

    pk: str
    n: int = 0


def test_each_invocation_enters_its_remaining_time_less_the_margin() -> None:
    seen: list[float | None] = []
    app = App("deadline-probe")

    @app.queue("q")
    def probe(msg: Message[Any], ctx: Context) -> None:
        seen.append(enclosing_deadline())

    @app.queue("q2")
    async def probe_async(msg: Message[Any], ctx: Context) -> None:
        await asyncio.sleep(0)
        seen.append(enclosing_deadline())

    runtime = Runtime(app)
    for name, queue in (("probe", "q"), ("probe_async", "q2")):
        before = time.monotonic()
        runtime.handle_event(name, make_message({}, queue=queue), Invocation(remaining_time=lambda: 7.0))
        after = time.monotonic()
        until = seen[-1]
        assert until is not None
        assert before + 7.0 - MARGIN_S <= until <= after + 7.0 - MARGIN_S
    assert enclosing_deadline() is None, "the bound ends with the invocation"


def test_an_invocation_nested_in_a_shorter_bound_keeps_the_shorter_one() -> None:
    seen: list[float | None] = []
    app = App("deadline-nested")

    @app.queue("q")
    def probe(msg: Message[Any], ctx: Context) -> None:
        seen.append(enclosing_deadline())

    with within(2.0) as outer:
        Runtime(app).handle_event(
            "probe", make_message({}, queue="q"), Invocation(remaining_time=lambda: 60.0)
        )
    assert seen == [outer]


def test_update_under_endless_contention_stops_at_the_deadline() -> None:
    table = Table(Counter, partition_key="pk", name="rmwdeadline")
    with use_store(MemoryStore()):
        table.insert(Counter(pk="c"))

        def meddle(c: Counter) -> Counter:
            table.put(c.model_copy(update={"n": c.n + 100}))  # another writer wins every race
            return c.model_copy(update={"n": c.n + 1})

        started = time.monotonic()
        with within(1.0), pytest.raises(StoreUnavailable, match="deadline"):
            table.update("c", None, meddle)
        elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"update ran {elapsed:.2f} s past a 1 s deadline"
