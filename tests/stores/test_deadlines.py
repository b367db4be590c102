"""Store calls are bounded by their deadline: a stalled endpoint (a server that accepts and then
says nothing, here an emulator under SIGSTOP) gives ``StoreUnavailable`` when the time is up,
not minutes later, and after it resumes nothing was written twice."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator

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

pytestmark = pytest.mark.emulator

DEADLINE_S = 3.0
ANSWER_WITHIN_S = 4.0


class Counter(BaseModel):
    """One counter per test."""

    pk: str
    sk: str
    n: int = 0


@pytest.fixture(scope="module")
def dynamodb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    pytest.importorskip("portafn_aws", reason="the AWS adapter (portafn-aws) is not installed")
    try:
        server = servers.start("dynamodb", tmp_path_factory.mktemp("dynamodb-logs"))
    except ServerError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"DynamoDB Local cannot start here: {exc}")
    yield server
    server.stop()


def _pid(server: RunningServer) -> int:
    proc = server.process.proc
    assert proc is not None, "the server process is running"
    return proc.pid


def test_a_stalled_dynamodb_call_gives_store_unavailable_by_its_deadline(
    dynamodb: RunningServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert dynamodb.store_url is not None
    for name, value in dynamodb.env.items():
        monkeypatch.setenv(name, value)
    store = open_store(dynamodb.store_url)
    table = Table(Counter, partition_key="pk", sort_key="sk", name=f"stall{uuid.uuid4().hex[:8]}")
    with use_store(store):
        etag = table.insert(Counter(pk="p", sk="c"))  # the table exists and the client is warm
        os.kill(_pid(dynamodb), signal.SIGSTOP)
        try:
            started = time.monotonic()
            with within(DEADLINE_S), pytest.raises(StoreUnavailable):
                table.replace(Counter(pk="p", sk="c", n=1), etag=etag)
            elapsed = time.monotonic() - started
        finally:
            os.kill(_pid(dynamodb), signal.SIGCONT)
        assert elapsed < ANSWER_WITHIN_S, f"the stalled call took {elapsed:.1f} s"
        # The next call works; the stalled replace landed at most once (it may land on resume).
        got = retry_transient(lambda: table.get("p", "c"))
        assert got is not None
        assert got.n in (0, 1)
        table.put(Counter(pk="p", sk="after", n=7))
        after = table.get("p", "after")
        assert after is not None
        assert after.n == 7
        table.clear()
    store.close()
