"""Idempotency keys belong to their caller: another caller's reuse runs afresh, never replays."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from portafn import App, Context, HttpRequest, Message
from portafn.factories import make_message
from portafn.reliability.idempotency import idempotency_table, idempotent, scope_of
from portafn.runtime import Runtime
from portafn.store.memory import MemoryStore
from portafn.store.registry import set_default_store

app = App("idem-scope")
idempotency_table(app)
runs: Counter[str] = Counter()


@app.http("POST", "/pay")
@idempotent()
def pay(body: dict[str, Any], ctx: Context) -> dict[str, Any]:
    runs["pay"] += 1
    return {"run": runs["pay"], "caller_body": body}


@app.http("POST", "/tenant-pay")
@idempotent(scope=lambda request: request.headers.get("x-tenant") or "none")
def tenant_pay(body: dict[str, Any]) -> dict[str, int]:
    runs["tenant_pay"] += 1
    return {"run": runs["tenant_pay"]}


@app.http("POST", "/async-pay")
@idempotent()
async def async_pay(body: dict[str, Any]) -> dict[str, int]:
    await asyncio.sleep(0)
    runs["async_pay"] += 1
    return {"run": runs["async_pay"]}


@app.queue("jobs")
@idempotent()
def job(msg: Message[Any]) -> int:
    runs["job"] += 1
    return runs["job"]


@pytest.fixture(autouse=True)
def fresh() -> Iterator[Runtime]:
    runs.clear()
    set_default_store(MemoryStore())
    try:
        yield Runtime(app)
    finally:
        set_default_store(None)


def post(rt: Runtime, path: str, headers: dict[str, str], principal: str | None = None) -> Any:
    request = HttpRequest(
        "POST",
        path,
        headers={"content-type": "application/json", "Idempotency-Key": "k-1", **headers},
        body=b'{"amount": 5}',
        principal=principal,
    )
    return rt.handle_http(request)


def test_the_same_caller_gets_a_replay(fresh: Runtime) -> None:
    first = post(fresh, "/pay", {"Authorization": "Bearer alice"})
    again = post(fresh, "/pay", {"Authorization": "Bearer alice"})
    assert first.json()["run"] == again.json()["run"] == 1
    assert again.headers.get("Idempotent-Replayed") == "true"


def test_another_authorization_reusing_the_key_runs_afresh(fresh: Runtime) -> None:
    alice = post(fresh, "/pay", {"Authorization": "Bearer alice"})
    mallory = post(fresh, "/pay", {"Authorization": "Bearer mallory"})
    assert alice.json()["run"] == 1
    assert mallory.status == 200
    assert mallory.json()["run"] == 2
    assert mallory.headers.get("Idempotent-Replayed") is None


def test_an_anonymous_caller_cannot_replay_an_authenticated_one(fresh: Runtime) -> None:
    post(fresh, "/pay", {"Authorization": "Bearer alice"})
    assert post(fresh, "/pay", {}).json()["run"] == 2


def test_the_authorizer_principal_scopes_the_key(fresh: Runtime) -> None:
    assert post(fresh, "/pay", {}, principal="user-1").json()["run"] == 1
    assert post(fresh, "/pay", {}, principal="user-1").json()["run"] == 1
    assert post(fresh, "/pay", {}, principal="user-2").json()["run"] == 2


def test_the_principal_wins_over_the_authorization_header(fresh: Runtime) -> None:
    # A rotated token of the same principal still replays.
    post(fresh, "/pay", {"Authorization": "Bearer old"}, principal="user-1")
    assert post(fresh, "/pay", {"Authorization": "Bearer new"}, principal="user-1").json()["run"] == 1


def test_a_scope_function_serves_tenants(fresh: Runtime) -> None:
    assert post(fresh, "/tenant-pay", {"x-tenant": "t1"}).json()["run"] == 1
    assert post(fresh, "/tenant-pay", {"x-tenant": "t1", "Authorization": "Bearer x"}).json()["run"] == 1
    assert post(fresh, "/tenant-pay", {"x-tenant": "t2"}).json()["run"] == 2


def test_async_handlers_take_the_same_path(fresh: Runtime) -> None:
    assert post(fresh, "/async-pay", {"Authorization": "Bearer a"}).json()["run"] == 1
    assert post(fresh, "/async-pay", {"Authorization": "Bearer a"}).json()["run"] == 1
    assert post(fresh, "/async-pay", {"Authorization": "Bearer b"}).json()["run"] == 2


def test_event_keys_are_source_and_id(fresh: Runtime) -> None:
    one = make_message({"x": 1}, queue="jobs").model_copy(update={"id": "1", "source": "producer-a"})
    same = one.model_copy()
    other = one.model_copy(update={"source": "producer-b"})
    assert fresh.handle_event("job", one) == 1
    assert fresh.handle_event("job", same) == 1  # a redelivery
    assert fresh.handle_event("job", other) == 2  # another producer's id 1 is another event


def test_the_authorization_header_is_hashed_not_stored() -> None:
    request = HttpRequest("POST", "/pay", headers={"Authorization": "Bearer sekrit"})
    assert "sekrit" not in scope_of(request)
    assert scope_of(request) != scope_of(
        HttpRequest("POST", "/pay", headers={"Authorization": "Bearer other"})
    )


def test_the_aws_adapter_reads_the_authorizer_principal() -> None:
    from portafn_aws.http import principal

    assert principal({"requestContext": {"authorizer": {"jwt": {"claims": {"sub": "u-1"}}}}}) == "u-1"
    assert principal({"requestContext": {"authorizer": {"claims": {"sub": "u-2"}}}}) == "u-2"
    assert principal({"requestContext": {"authorizer": {"principalId": "p-3"}}}) == "p-3"
    assert principal({"requestContext": {"authorizer": {"iam": {"userArn": "arn:aws:iam::1:user/x"}}}}) == (
        "arn:aws:iam::1:user/x"
    )
    assert principal({"requestContext": {}}) is None
