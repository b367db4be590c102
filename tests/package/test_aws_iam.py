"""AWS IAM: each function's generated policy covers every table it touches, directly or through the
library, with only the actions it uses, and nothing else.

Two proofs (see tests/package/moto_iam.py for what moto checks):

- statically, each DynamoDB statement names exactly the tables the function uses, by logical id;
- by enforcement, each function runs through the real Lambda handler against moto's server in
  IAM-enforcing mode, signed by a principal holding exactly that function's statements (resources
  widened to ``*``), and does its work without AccessDenied; a read-only function is denied a write.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from portafn_aws import lambda_handler
from portafn_aws.driver import DriverContext
from portafn_aws.dynamodb_store import PK, SK
from portafn_aws.iam import READ_ACTIONS
from portafn_aws.package import sam_template
from pydantic import BaseModel

from portafn import App, Context, Message
from portafn.package import PackageResult
from portafn.package.access import (
    GET,
    OPERATIONS,
    PUT,
    QUERY,
    table_access,
    tables_needed,
)
from portafn.package.build import BuildContext
from portafn.package.common import item_functions, logical_id
from portafn.package.wheels import Target
from portafn.runtime import _store_status
from portafn.store.errors import AccessDenied
from portafn.store.transaction import transaction
from samples.orders.app import app as orders_app
from tests.package import moto_iam
from tests.package.conftest import PYTHON, SampleBuilds, artifact
from tests.reliability.apps import app as idempotent_app
from tests.reliability.outbox_app import outbox_app

LOGS = Path(__file__).resolve().parents[2] / ".portafn" / "logs" / "aws-iam-tests"
NOW = datetime(2024, 3, 12, tzinfo=UTC)
APPS = {"orders": orders_app, "outbox": outbox_app, "idempotent": idempotent_app}


def _template(app: App, tmp_path: Path) -> dict[str, Any]:
    ctx = BuildContext(
        app=app,
        module="m",
        attr="app",
        target=Target(PYTHON, "x86_64"),
        out=tmp_path,
        work=tmp_path,
        site=tmp_path,
        source=[],
        installed=[],
        wheels=[],
        progress=lambda line: None,
    )
    return sam_template(ctx)


def _statements(template: dict[str, Any], fn: str) -> list[dict[str, Any]]:
    role = template["Resources"][logical_id(fn, "Role")]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _dynamodb(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if all(a.startswith("dynamodb:") for a in s["Action"])]


def _table_ref(name: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id(name, "Table"), "Arn"]}


# -- the walk: what a function does to each table -----------------------------------------------


def test_a_reader_reads_and_a_writer_writes_only_what_it_calls() -> None:
    by_name = {fn.name: table_access(orders_app, fn) for fn in orders_app.functions.values()}
    assert by_name["get_order"] == {"orders": {GET}}
    assert by_name["list_orders"] == {"orders": {QUERY}}
    assert by_name["create_order"] == {"orders": {PUT}}
    assert by_name["on_order_event"] == {"orders": {GET, PUT}}  # update: read, then conditional put
    assert by_name["on_order_change"] == {"order_activity": {PUT}}


def test_the_library_tables_are_granted_to_the_functions_that_reach_them() -> None:
    outbox = {fn.name: table_access(outbox_app, fn) for fn in outbox_app.functions.values()}
    # The transaction writes the order and, through ctx.publish(tx=), an outbox record.
    assert outbox["create_order"] == {"orders": {PUT}, "portafn_outbox": {PUT}}
    assert outbox["portafn_outbox_relay"] == {"portafn_outbox": {"get", "query", "delete"}}
    assert outbox["portafn_outbox_sweep"] == {"portafn_outbox": {"query", "delete"}}
    assert outbox["apply_once"] == {"applied": {PUT}, "idempotency": {"get", "put", "delete"}}
    charge = next(fn for fn in idempotent_app.functions.values() if fn.name == "charge")
    assert table_access(idempotent_app, charge) == {"idempotency": {"get", "put", "delete"}}


def test_event_streams_and_projections_reach_their_tables_through_the_library() -> None:
    from samples.bank.app import app as bank_app

    bank = {fn.name: table_access(bank_app, fn) for fn in bank_app.functions.values()}
    # A command loads the aggregate (snapshot, then events) and appends at the version it read.
    stream = {"accounts_events": {GET, QUERY, PUT}, "accounts_snapshots": {GET, PUT}}
    assert bank["open_account"] == bank["deposit"] == bank["withdraw"] == stream
    # A projector reads the events after its checkpoint, and writes checkpoint and view together.
    assert bank["portafn_project_balances"] == {
        "accounts_events": {QUERY},
        "balances_checkpoints": {GET, PUT},
        "bank_balances": {GET, PUT},  # apply reads the balance, then puts it
    }
    assert bank["portafn_project_activity"] == {
        "accounts_events": {QUERY},
        "activity_checkpoints": {GET, PUT},
        "bank_activity": {PUT},
    }
    assert bank["get_balance"] == {"bank_balances": {GET}}


class Noted(BaseModel):
    text: str


def test_a_stream_used_directly_and_one_that_publishes_reach_the_events_and_the_outbox() -> None:
    from portafn.eventstore import EventStream
    from portafn.reliability import Outbox

    app = App("streams")
    notes: EventStream[Noted] = EventStream(app, "notes", Noted, publish="noted")
    Outbox(app)

    @app.http("POST", "/notes/{note_id}")
    def note(note_id: str) -> None:
        notes.append(note_id, [Noted(text="x")], expected_version=None)

    access = table_access(app, app.functions["note"])
    # No aggregate: no snapshot; the append stages each event in the outbox, in its transaction.
    assert access == {"notes_events": {GET, QUERY, PUT}, "portafn_outbox": {PUT}}


def test_a_table_used_in_a_way_the_walk_cannot_follow_gets_every_operation() -> None:
    from tests.reliability.apps import Order

    app = App("walk")
    orders = app.table(Order, partition_key="customer_id", sort_key="order_id")
    keep: list[Any] = []

    @app.http("POST", "/a")
    def hands_it_on(ctx: Context) -> None:
        keep.append(orders)  # what happens to it next is out of sight

    @app.http("POST", "/b")
    def checks_in_a_transaction(ctx: Context) -> None:
        with transaction() as tx:
            tx.check(orders, "c", "o", exists=True)

    def save(order: Order) -> None:
        orders.batch_put([order])

    @app.http("POST", "/c")
    def through_a_helper(ctx: Context) -> None:
        save(Order(customer_id="c", order_id="o", total=1))

    assert table_access(app, app.function("hands_it_on")) == {"orders": OPERATIONS}
    assert table_access(app, app.function("through_a_helper")) == {"orders": {"batch_write"}}
    assert table_access(app, app.function("checks_in_a_transaction")) == {"orders": {"check"}}


def test_an_undeclared_idempotency_table_is_made_by_the_template(tmp_path: Path) -> None:
    from portafn.reliability import idempotent

    app = App("undeclared")

    @app.queue("jobs")
    @idempotent()
    def job(msg: Message[Any], ctx: Context) -> None:
        """Idempotent without idempotency_table(app)."""

    assert list(tables_needed(app)) == ["idempotency"]
    template = _template(app, tmp_path)
    assert template["Resources"]["IdempotencyTable"]["Properties"]["TimeToLiveSpecification"]["Enabled"]
    assert _dynamodb(_statements(template, "job"))[0]["Resource"] == [_table_ref("idempotency")]


# -- the template: each statement names exactly the function's tables ------------------------------


@pytest.mark.parametrize("name", sorted(APPS))
def test_each_statement_names_exactly_the_tables_the_function_uses(name: str, tmp_path: Path) -> None:
    app = APPS[name]
    template = _template(app, tmp_path)
    for fn in item_functions(app):
        used = table_access(app, fn)
        statements = _dynamodb(_statements(template, fn.name))
        granted: dict[str, set[str]] = {}
        for statement in statements:
            for resource in statement["Resource"]:
                logical, attribute = resource["Fn::GetAtt"]
                assert logical in template["Resources"], (fn.name, logical)
                if attribute == "Arn":
                    granted.setdefault(logical, set()).update(statement["Action"])
        assert set(granted) == {logical_id(t, "Table") for t in used}, fn.name
        for table, ops in used.items():
            if not ops - {GET, QUERY, "batch_get", "changes"}:
                # A function that only reads a table gets only read actions on it.
                assert granted[logical_id(table, "Table")] <= READ_ACTIONS, (fn.name, table)


def test_the_read_only_functions_of_the_orders_sample_have_no_write_action(aws_build: PackageResult) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())
    for fn in ("get_order", "list_orders"):
        actions = {a for s in _dynamodb(_statements(template, fn)) for a in s["Action"]}
        assert actions, fn
        assert actions <= READ_ACTIONS, (fn, actions)


# -- enforcement: every function runs with exactly its policy -------------------------------------


@pytest.fixture(scope="module")
def enforcing() -> Iterator[moto_iam.EnforcingMoto]:
    server = moto_iam.start(LOGS, "bootstrap-")
    try:
        yield server
    finally:
        server.server.stop()


def _http(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {
            "accountId": moto_iam.ACCOUNT,
            "apiId": "iam",
            "domainName": "iam.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9"},
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1710237600000,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }


def _sqs(queue: str, body: Any, message_id: str | None = None) -> dict[str, Any]:
    """An SQS batch of one message, as Lambda's event source mapping sends it."""
    return {
        "Records": [
            {
                "messageId": message_id or str(uuid.uuid4()),
                "receiptHandle": "handle",
                "body": json.dumps(body),
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1710237600000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1710237600001",
                },
                "messageAttributes": {},
                "md5OfBody": "0",
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{moto_iam.REGION}:{moto_iam.ACCOUNT}:{queue}",
                "awsRegion": moto_iam.REGION,
            }
        ]
    }


def _scheduled(rule: str) -> dict[str, Any]:
    """An EventBridge scheduled event."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": moto_iam.ACCOUNT,
        "time": "2024-03-12T02:00:00Z",
        "region": moto_iam.REGION,
        "resources": [f"arn:aws:events:{moto_iam.REGION}:{moto_iam.ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def _inserted(physical: str, item: dict[str, Any]) -> dict[str, Any]:
    """A DynamoDB Streams INSERT record of ``item`` (read from the table), as Lambda delivers it."""
    keys = {k: item[k] for k in (PK, SK) if k in item}
    sequence = str(uuid.uuid4().int)[:21]
    return {
        "Records": [
            {
                "eventID": uuid.uuid4().hex,
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": moto_iam.REGION,
                "dynamodb": {
                    "ApproximateCreationDateTime": 1710237600,
                    "Keys": keys,
                    "NewImage": item,
                    "SequenceNumber": sequence,
                    "StreamViewType": "NEW_AND_OLD_IMAGES",
                },
                "eventSourceARN": f"arn:aws:dynamodb:{moto_iam.REGION}:{moto_iam.ACCOUNT}:table/{physical}"
                "/stream/2024-03-12T00:00:00.000",
            }
        ]
    }


class Deployed:
    """An app's template, tables and topics on the enforcing moto: run a function as its role."""

    def __init__(self, moto: moto_iam.EnforcingMoto, app: App, template: dict[str, Any]) -> None:
        self.moto = moto
        self.app = app
        self.template = template
        moto.create_tables(tables_needed(app))
        for resource in template["Resources"].values():
            if resource["Type"] == "AWS::SNS::Topic":
                moto.create_topic(resource["Properties"]["TopicName"]["Fn::Sub"].removeprefix(moto_iam.STACK))

    def run(self, fn: str, event: dict[str, Any], *, role: str | None = None) -> Any:
        """Invoke ``fn`` through the Lambda handler, signed with ``role``'s policy (default: its own)."""
        keys = self.moto.principal(_statements(self.template, role or fn))
        with self.moto.acting_as(keys):
            return lambda_handler(self.app, function=fn)(event, DriverContext(fn))

    def items(self, table: str) -> list[dict[str, Any]]:
        return self.moto.scan(table)


def _ok_batch(result: Any) -> None:
    assert not (result or {}).get("batchItemFailures"), result


@pytest.mark.emulator
def test_every_orders_function_does_its_work_with_exactly_its_policy(
    enforcing: moto_iam.EnforcingMoto, aws_build: PackageResult
) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())  # `portafn package` output
    stack = Deployed(enforcing.stack("orders-"), orders_app, template)

    created = stack.run(
        "create_order", _http("POST", "/customers/c1/orders", {"order_id": "o1", "total_cents": 5})
    )
    assert created["statusCode"] == 201, created
    got = stack.run("get_order", _http("GET", "/customers/c1/orders/o1"))
    assert got["statusCode"] == 200, got
    assert json.loads(got["body"])["order_id"] == "o1"
    listed = stack.run("list_orders", _http("GET", "/customers/c1/orders"))
    assert listed["statusCode"] == 200, listed
    assert len(json.loads(listed["body"])["items"]) == 1
    paid = {"customer_id": "c1", "order_id": "o1", "status": "paid"}
    _ok_batch(stack.run("on_order_event", _sqs("orders-order-events", paid)))
    assert '"paid"' in json.dumps(stack.items("orders"))
    stack.run("nightly", _scheduled("nightly"))
    assert len(stack.items("nightly_runs")) == 1
    (order,) = stack.items("orders")
    _ok_batch(stack.run("on_order_change", _inserted("orders-orders", order)))
    assert len(stack.items("order_activity")) == 1


@pytest.mark.emulator
def test_the_outbox_writer_relay_sweep_and_idempotent_consumer_work_with_their_policies(
    enforcing: moto_iam.EnforcingMoto, tmp_path: Path
) -> None:
    stack = Deployed(enforcing.stack("outbox-"), outbox_app, _template(outbox_app, tmp_path))

    created = stack.run(
        "create_order",
        _http("POST", "/customers/c1/orders", {"customer_id": "c1", "order_id": "o1", "total": 5}),
    )
    assert created["statusCode"] == 200, created
    (record,) = stack.items("portafn_outbox")
    # The relay publishes the record on SNS, then deletes it.
    _ok_batch(stack.run("portafn_outbox_relay", _inserted("outbox-portafn_outbox", record)))
    assert stack.items("portafn_outbox") == []

    again = stack.run(
        "create_order",
        _http("POST", "/customers/c1/orders", {"customer_id": "c1", "order_id": "o2", "total": 7}),
    )
    assert again["statusCode"] == 200, again
    assert len(stack.items("portafn_outbox")) == 1
    stack.run("portafn_outbox_sweep", _scheduled("portafn_outbox_sweep"))
    assert stack.items("portafn_outbox") == []

    order = {"customer_id": "c1", "order_id": "o1", "total": 5}
    _ok_batch(stack.run("apply_once", _sqs("outbox-order-created-once", order)))
    assert len(stack.items("applied")) == 1
    assert len(stack.items("idempotency")) == 1


@pytest.mark.emulator
def test_idempotent_functions_claim_and_replay_with_their_policies(
    enforcing: moto_iam.EnforcingMoto, tmp_path: Path
) -> None:
    stack = Deployed(enforcing.stack("idem-"), idempotent_app, _template(idempotent_app, tmp_path))

    for _ in range(2):  # the repeat replays the stored receipt
        _ok_batch(stack.run("charge", _sqs("idem-payments", {"payment_id": "p1", "amount": 3})))
    (charged,) = stack.items("idempotency")
    assert charged["status"] == {"S": "completed"}

    request = _http("POST", "/payments/acc1", {"payment_id": "p2", "amount": 4}, {"idempotency-key": "k-1"})
    first = stack.run("pay", request)
    replay = stack.run("pay", request)
    assert first["statusCode"] == replay["statusCode"] == 201, (first, replay)
    assert {k.lower(): v for k, v in replay["headers"].items()}["idempotent-replayed"] == "true"
    assert json.loads(replay["body"]) == json.loads(first["body"])


@pytest.mark.emulator
def test_the_bank_commands_and_projectors_work_with_exactly_their_policies(
    enforcing: moto_iam.EnforcingMoto, sample_builds: SampleBuilds
) -> None:
    """Event-sourced commands append through their roles; each projector reads the events and
    writes its checkpoint and view through its own."""
    from samples.bank.app import app as bank_app

    template = json.loads(artifact(sample_builds("bank", "aws"), "template.json").read_text())
    stack = Deployed(enforcing.stack("bank-"), bank_app, template)

    opened = stack.run("open_account", _http("POST", "/accounts", {"account_id": "a1", "owner": "ada"}))
    assert opened["statusCode"] == 201, opened
    deposited = stack.run("deposit", _http("POST", "/accounts/a1/deposits", {"amount_cents": 900}))
    assert deposited["statusCode"] == 200, deposited
    refused = stack.run("withdraw", _http("POST", "/accounts/a1/withdrawals", {"amount_cents": 901}))
    assert (refused["statusCode"], json.loads(refused["body"])["balance_cents"]) == (409, 900), refused
    assert (
        stack.run("withdraw", _http("POST", "/accounts/a1/withdrawals", {"amount_cents": 400}))["statusCode"]
        == 200
    )
    events = sorted(stack.items("accounts_events"), key=lambda item: item[SK]["S"])
    assert len(events) == 3
    for event in events:
        for projector in ("portafn_project_balances", "portafn_project_activity"):
            _ok_batch(stack.run(projector, _inserted("bank-accounts_events", event)))
    balance = stack.run("get_balance", _http("GET", "/accounts/a1"))
    assert (balance["statusCode"], json.loads(balance["body"])["balance_cents"]) == (200, 500), balance
    activity = stack.run("get_activity", _http("GET", "/accounts/a1/activity"))
    assert len(json.loads(activity["body"])["items"]) == 2, activity


@pytest.mark.emulator
def test_a_read_only_function_is_denied_a_write(
    enforcing: moto_iam.EnforcingMoto, aws_build: PackageResult
) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())
    stack = Deployed(enforcing.stack("denied-"), orders_app, template)
    body = {"order_id": "o9", "total_cents": 5}

    # The writer's code path, signed with the reader's role: the client gets a bare 500, no details.
    denied = stack.run("create_order", _http("POST", "/customers/c9/orders", body), role="get_order")
    assert denied["statusCode"] == 500, denied
    problem = json.loads(denied["body"])
    assert problem["detail"] == "An internal error occurred."
    assert "AccessDenied" not in denied["body"]
    assert "arn:" not in denied["body"]
    assert stack.items("orders") == []

    # In the code, the store raises its typed error (not one a client could act on), naming the refusal.
    from samples.orders.app import Order, orders

    keys = stack.moto.principal(_statements(template, "get_order"))
    with stack.moto.acting_as(keys):
        assert orders.get("c9", "o9") is None  # the reader may read
        with pytest.raises(AccessDenied) as caught:
            orders.put(Order(customer_id="c9", order_id="o9", total_cents=1, created_at=NOW, updated_at=NOW))
    # Access denied: not one a client could act on (those map to a 4xx/503), so a bare 500.
    assert _store_status(caught.value) is None
    assert "AccessDenied" in str(caught.value.detail)
    assert stack.items("orders") == []
