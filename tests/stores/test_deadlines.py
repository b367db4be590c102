"""Store calls are bounded by their deadline: a stalled endpoint (a server that accepts and then
says nothing, here an emulator under SIGSTOP) gives ``StoreUnavailable`` when the time is up,
not minutes later, and after it resumes nothing was written twice."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from pydantic import BaseModel

from portafn.dev import servers
from portafn.dev.process import ServerError
from portafn.dev.servers import RunningServer
from portafn.store.deadline import within
from portafn.store.errors import StoreUnavailable
from portafn.store.registry import open_store, use_store
from portafn.store.retry import retry_transient
from portafn.store.table import Table
from portafn.store.transaction import transaction

pytestmark = pytest.mark.emulator

DEADLINE_S = 3.0
ANSWER_WITHIN_S = 4.0


class Counter(BaseModel):
    """One counter per test."""

    pk: str
    sk: str
    n: int = 0


ADAPTERS = {"dynamodb": "portafn_aws", "firestore": "portafn_gcp", "cosmos": "portafn_azure"}


@pytest.fixture(scope="module", params=["dynamodb", "cosmos", "firestore"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    name: str = request.param
    pytest.importorskip(ADAPTERS[name], reason=f"the adapter for {name} is not installed")
    try:
        running = servers.start(name, tmp_path_factory.mktemp(f"{name}-logs"))
    except ServerError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"{name} cannot start here: {exc}")
    yield running
    running.stop()


def _signal(server: RunningServer, signum: int) -> None:
    """Signal the server's whole process group (a launcher script and the JVM it starts)."""
    proc = server.process.proc
    assert proc is not None, "the server process is running"
    os.killpg(os.getpgid(proc.pid), signum)


def _stalled(call: Callable[[], object]) -> float:
    """Seconds until ``call``, against a stopped server, raised ``StoreUnavailable``."""
    started = time.monotonic()
    with within(DEADLINE_S), pytest.raises(StoreUnavailable):
        call()
    return time.monotonic() - started


def test_a_stalled_store_call_gives_store_unavailable_by_its_deadline(
    server: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert server.store_url is not None
    for name, value in server.env.items():
        monkeypatch.setenv(name, value)
    store = open_store(server.store_url)
    table = Table(Counter, partition_key="pk", sort_key="sk", name=f"stall{uuid.uuid4().hex[:8]}")
    with use_store(store):
        etag = table.insert(Counter(pk="p", sk="c"))  # the table exists and the client is warm
        _signal(server, signal.SIGSTOP)
        try:
            write_s = _stalled(lambda: table.replace(Counter(pk="p", sk="c", n=1), etag=etag))
            read_s = _stalled(lambda: table.get("p", "c"))
            tx_s = _stalled(lambda: _put_if_counter_exists(table))
        finally:
            _signal(server, signal.SIGCONT)
        assert write_s < ANSWER_WITHIN_S, f"the stalled write took {write_s:.1f} s"
        assert read_s < ANSWER_WITHIN_S, f"the stalled read took {read_s:.1f} s"
        assert tx_s < ANSWER_WITHIN_S, f"the stalled transaction took {tx_s:.1f} s"
        # The next call works; the stalled replace landed at most once (it may land on resume).
        got = retry_transient(lambda: table.get("p", "c"))
        assert got is not None
        assert got.n in (0, 1)
        staged = retry_transient(lambda: table.get("p", "t"))
        assert staged is None or staged.n == 1, "the stalled transaction landed whole or not at all"
        table.put(Counter(pk="p", sk="after", n=7))
        after = table.get("p", "after")
        assert after is not None
        assert after.n == 7
        table.clear()
    store.close()


def _put_if_counter_exists(table: Table[Counter]) -> None:
    """A transaction that reads before it writes (a check and a put), so it begins and commits."""
    with transaction() as tx:
        tx.check(table, "p", "c")
        tx.put(table, Counter(pk="p", sk="t", n=1))
