"""Sending a batch's chunks concurrently, within the store's own limits.

A batch of N items is N / ``batch_write_size`` round trips; sent one after another, a table's batch
ran at half the throughput of a raw loop that overlaps them. Each chunk stays within the store's
declared size, and at most ``MAX_CONCURRENT_CHUNKS`` are in flight at once (a store throttles
beyond its provisioned rate anyway; more threads would only queue there). Each chunk runs in a
copy of the caller's context, so the current store and the call's deadline go with it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from portafn.lazy import Lazy

T = TypeVar("T")

MAX_CONCURRENT_CHUNKS = 4

_pool: Lazy[ThreadPoolExecutor] = Lazy(
    lambda: ThreadPoolExecutor(max_workers=MAX_CONCURRENT_CHUNKS, thread_name_prefix="portafn-batch")
)


def send_chunks(chunks: Sequence[T], send: Callable[[T], None]) -> None:
    """Call ``send`` on every chunk, up to ``MAX_CONCURRENT_CHUNKS`` at once; wait for all, then
    raise the first error met (in chunk order). Batches are not atomic: the other chunks may
    have been written when one fails, as they could be when sent one by one."""
    if len(chunks) <= 1:
        for chunk in chunks:
            send(chunk)
        return
    pool = _pool.get()
    futures: list[Future[None]] = [
        pool.submit(contextvars.copy_context().run, send, chunk) for chunk in chunks
    ]
    errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
