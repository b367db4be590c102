"""Every AWS sample event of every kind the adapter claims goes through the adapter.

Each test reads the fixture in place (../shared/fixtures/aws/<kind>) and checks the translated
fields against the fields of the original event: ids, bodies, attributes, keys.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import pytest
from portafn_aws import events as ev
from portafn_aws import lambda_handler
from portafn_aws.dynamodb_keys import item_to_python
from portafn_aws.http import from_response, http_source, to_request
from pydantic import BaseModel

from portafn import App, Change, Event, Message, Schedule, StorageEvent
from portafn.errors import EventFormatError
from portafn.http import HttpRequest, HttpResponse
from tests.support.fixtures import fixture_params, load


class _Doc(BaseModel):
    id: str


def _is_response(data: Any) -> bool:
    return isinstance(data, dict) and "statusCode" in data and "requestContext" not in data


# -- HTTP ------------------------------------------------------------------------------------


def _check_http(path: Path, expected_source: str) -> None:
    data = load(path)
    if _is_response(data):
        _check_response_shape(data, expected_source)
        return
    source = http_source(data)
    assert source == expected_source
    if data.get("isBase64Encoded") and not _valid_base64(data.get("body") or ""):
        # A sample that flags plain text as base64: the adapter refuses it by name, never guesses.
        with pytest.raises(EventFormatError) as info:
            to_request(data, source)
        assert info.value.field == "body"
        return
    req = to_request(data, source)
    if source == "apigw-v2":
        _check_v2_request(req, data)
    else:
        _check_v1_request(req, data, source)
    _check_body(req, data)
    assert req.raw is data
    _check_response_shape(from_response(_sample_response(), source, data), source, event=data)


def _check_v2_request(req: HttpRequest, data: dict[str, Any]) -> None:
    """Payload 2.0: method and path, headers, cookies, and the comma-joined query."""
    assert req.method == data["requestContext"]["http"]["method"]
    assert req.path == (data.get("rawPath") or data["requestContext"]["http"]["path"])
    for name, value in (data.get("headers") or {}).items():
        assert req.headers.get(name) == value
    for cookie in data.get("cookies") or []:
        name, sep, value = cookie.partition("=")
        if sep:  # some samples carry bare words; only name=value pairs are cookies
            assert req.cookies[name.strip()] == value
    if data.get("cookies"):
        assert req.headers.get("cookie") == "; ".join(data["cookies"])
    for name, value in (data.get("queryStringParameters") or {}).items():
        # v2 joins repeated values with commas; the raw query string keeps them apart.
        assert ",".join(req.query[name]) == value


def _check_v1_request(req: HttpRequest, data: dict[str, Any], source: str) -> None:
    """Payload 1.0 and ALB: method and path, every header value, every query value."""
    assert req.method == data["httpMethod"]
    assert req.path == data["path"]
    multi = data.get("multiValueHeaders")
    for name, values in (multi or data.get("headers") or {}).items():
        expect = values if multi else [values]
        assert req.headers.get_all(name) == [str(v) for v in expect or []]
    mq = data.get("multiValueQueryStringParameters")
    for name, values in (mq or data.get("queryStringParameters") or {}).items():
        expect = values if mq else [values]
        if source == "alb":
            assert req.query[unquote_plus(name)] == [unquote_plus(v) for v in expect]
        else:
            assert req.query[name] == expect


def _check_body(req: HttpRequest, data: dict[str, Any]) -> None:
    body = data.get("body")
    if body is None:
        assert req.body == b""
    elif data.get("isBase64Encoded"):
        assert req.body == base64.b64decode(body)
    else:
        assert req.body == body.encode()


def _valid_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except ValueError:
        return False
    return True


def _sample_response() -> HttpResponse:
    resp = HttpResponse(b"\x89PNG\x00", status=201, headers=[("X-Tag", "a"), ("X-Tag", "b")])
    resp.cookies.extend(["a=1; Path=/", "b=2; HttpOnly"])
    return resp


def _check_response_shape(out: dict[str, Any], source: str, event: dict[str, Any] | None = None) -> None:
    """The keys each integration reads, in the types it reads them."""
    assert isinstance(out["statusCode"], int)
    assert isinstance(out.get("body", ""), str)
    assert isinstance(out.get("isBase64Encoded", False), bool)
    if source == "apigw-v2":
        assert all(isinstance(v, str) for v in out.get("headers", {}).values())
        assert all(isinstance(c, str) for c in out.get("cookies", []))
    elif source == "apigw-v1":
        assert all(isinstance(v, list) for v in out.get("multiValueHeaders", {}).values())
    else:
        assert out["statusDescription"].startswith(str(out["statusCode"]) + " ")
    if event is None:
        return
    # Our own sample response: binary body base64 with the flag, both values of X-Tag, both cookies.
    assert out["isBase64Encoded"] is True
    assert base64.b64decode(out["body"]) == b"\x89PNG\x00"
    if source == "apigw-v2":
        assert out["headers"]["X-Tag"] == "a,b"
        assert out["cookies"] == ["a=1; Path=/", "b=2; HttpOnly"]
        assert "Set-Cookie" not in out["headers"]
    elif source == "apigw-v1" or "multiValueHeaders" in event:
        assert out["multiValueHeaders"]["X-Tag"] == ["a", "b"]
        assert out["multiValueHeaders"]["Set-Cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]
        assert "headers" not in out
    else:
        assert out["headers"]["X-Tag"] == "a,b"
        assert out["statusDescription"] == "201 Created"
        assert "multiValueHeaders" not in out


@pytest.mark.parametrize("path", fixture_params("aws", "apigw-rest-v1"))
def test_apigw_rest_v1(path: Path) -> None:
    _check_http(path, "apigw-v1")


@pytest.mark.parametrize("path", fixture_params("aws", "apigw-http-v2"))
def test_apigw_http_v2(path: Path) -> None:
    _check_http(path, "apigw-v2")


@pytest.mark.parametrize("path", fixture_params("aws", "lambda-function-url"))
def test_lambda_function_url(path: Path) -> None:
    _check_http(path, "apigw-v2")


@pytest.mark.parametrize("path", fixture_params("aws", "alb"))
def test_alb(path: Path) -> None:
    _check_http(path, "alb")


# -- records ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixture_params("aws", "sqs"))
def test_sqs(path: Path) -> None:
    data = load(path)
    for record in data["Records"]:
        assert ev.record_source(record) == "sqs"
        msg = ev.sqs_message(record)
        assert msg.id == record["messageId"]
        assert msg.source == record["eventSourceARN"]
        assert msg.body == record["body"].encode()
        assert msg.queue == record["eventSourceARN"].rsplit(":", 1)[1]
        assert msg.delivery_attempt == int(record["attributes"]["ApproximateReceiveCount"])
        assert msg.time is not None
        assert int(msg.time.timestamp() * 1000) == int(record["attributes"]["SentTimestamp"])
        for name, attr in (record.get("messageAttributes") or {}).items():
            assert msg.attributes[name] == (attr.get("stringValue") or attr.get("binaryValue"))
        assert msg.ordering_key == record["attributes"].get("MessageGroupId")
        envelope = ev.sns_envelope_in_sqs(record)
        if envelope is not None:
            inner = ev.sns_via_sqs_message(record)
            assert inner.id == envelope["MessageId"]
            assert inner.source == envelope["TopicArn"]
            assert inner.body == envelope["Message"].encode()
        for s3_record in ev.s3_in_sqs(record):
            storage = ev.s3_event(s3_record)
            assert storage.bucket == s3_record["s3"]["bucket"]["name"]


@pytest.mark.parametrize("path", fixture_params("aws", "sns"))
def test_sns(path: Path) -> None:
    data = load(path)
    for record in data["Records"]:
        assert ev.record_source(record) == "sns"
        msg = ev.sns_message(record)
        sns = record["Sns"]
        assert msg.id == sns["MessageId"]
        assert msg.source == sns["TopicArn"]
        assert msg.type == f"com.amazonaws.sns.{sns['Type']}"
        assert msg.body == sns["Message"].encode()
        assert msg.subject == (sns.get("Subject") or None)
        for name, attr in (sns.get("MessageAttributes") or {}).items():
            assert msg.attributes[name] == attr["Value"]
        assert msg.raw is record


@pytest.mark.parametrize("path", fixture_params("aws", "s3"))
def test_s3(path: Path) -> None:
    data = load(path)
    for record in data["Records"]:
        storage = ev.s3_event(record)
        obj = record["s3"]["object"]
        assert storage.key == unquote_plus(obj["key"])
        assert storage.bucket == record["s3"]["bucket"]["name"]
        assert storage.action == ("created" if record["eventName"].startswith("ObjectCreated") else "deleted")
        assert storage.type == "com.amazonaws.s3." + record["eventName"]
        assert storage.subject == storage.key
        resp = record["responseElements"]
        assert storage.id == f"{resp['x-amz-request-id']}.{resp['x-amz-id-2']}"
        assert storage.data is not None
        assert storage.data.size == obj.get("size")
        assert storage.data.etag == (obj.get("eTag") or None)


@pytest.mark.parametrize("path", fixture_params("aws", "kinesis"))
def test_kinesis(path: Path) -> None:
    data = load(path)
    for record in data["Records"]:
        msg = ev.kinesis_message(record)
        assert msg.body == base64.b64decode(record["kinesis"]["data"])
        assert msg.id == record["eventID"]
        assert msg.ordering_key == record["kinesis"]["partitionKey"]
        assert msg.attributes["sequenceNumber"] == record["kinesis"]["sequenceNumber"]
        assert ev.kinesis_sequence(record) == record["kinesis"]["sequenceNumber"]
        assert msg.queue == ev.arn_name(record["eventSourceARN"])


@pytest.mark.parametrize("path", fixture_params("aws", "dynamodb-streams"))
def test_dynamodb_streams(path: Path) -> None:
    data = load(path)
    for record in data["Records"]:
        change = ev.change_event(record)
        ddb = record["dynamodb"]
        assert change.kind == record["eventName"].lower()
        assert change.id == record["eventID"]
        assert change.key == item_to_python(ddb["Keys"])
        assert change.new == (item_to_python(ddb["NewImage"]) if "NewImage" in ddb else None)
        assert change.old == (item_to_python(ddb["OldImage"]) if "OldImage" in ddb else None)
        table = ev.table_from_stream_arn(record["eventSourceARN"])
        assert change.table == (table or record["eventSourceARN"])
        assert ev.dynamodb_sequence(record) == ddb["SequenceNumber"]
        for image in (change.new, change.old):
            for value in (image or {}).values():
                assert not isinstance(value, dict) or "N" not in value  # typed values were decoded


@pytest.mark.parametrize("path", fixture_params("aws", "eventbridge"))
def test_eventbridge(path: Path) -> None:
    data = load(path)
    assert ev.is_eventbridge(data)
    event = ev.eventbridge_event(data)
    assert event.id == data["id"]
    assert event.source == data["source"]
    detail_type = data["detail-type"]
    if " " in detail_type:
        assert event.type == data["source"] + "." + "-".join(detail_type.split())
    else:
        assert event.type == detail_type
    assert event.data == data["detail"]
    assert event.extensions["awsaccount"] == data["account"]
    if ev.is_s3_via_eventbridge(data):
        storage = ev.s3_eventbridge_event(data)
        assert storage.bucket == data["detail"]["bucket"]["name"]
        assert storage.key == data["detail"]["object"]["key"]
        assert storage.action == ("created" if data["detail-type"] == "Object Created" else "deleted")


@pytest.mark.parametrize("path", fixture_params("aws", "scheduled-event"))
def test_scheduled_event(path: Path) -> None:
    data = load(path)
    assert ev.is_scheduled(data)
    sched = ev.schedule_event(data, "0 2 * * *")
    assert sched.id == data["id"]
    assert sched.scheduled_time.isoformat().replace("+00:00", "Z") == data["time"]
    assert sched.subject == data["resources"][0].split(":rule/")[1]
    assert sched.cron == "0 2 * * *"


# -- through the handler ---------------------------------------------------------------------


def _recording_app() -> tuple[App, list[Event[Any]]]:
    """An app with one function per event kind, each recording what it received."""
    seen: list[Event[Any]] = []
    app = App("fixtures")

    @app.queue("SQSQueue")
    def on_queue(msg: Message[Any]) -> None:
        seen.append(msg)

    @app.schedule("0 2 * * *")
    def nightly(ev: Schedule) -> None:
        seen.append(ev)

    @app.storage("sourcebucket")
    def on_upload(ev: StorageEvent) -> None:
        seen.append(ev)

    @app.event("aws.ec2.EC2-Instance-State-change-Notification")
    def on_ec2(ev: Event[Any]) -> None:
        seen.append(ev)

    return app, seen


@pytest.mark.parametrize("path", fixture_params("aws", "sqs"))
def test_sqs_batches_through_one_queue_function(path: Path) -> None:
    app, seen = _recording_app()
    handler = lambda_handler(app, "on_queue")
    data = load(path)
    assert handler(data, None) == {"batchItemFailures": []}
    assert [m.id for m in seen] == [r["messageId"] for r in data["Records"]]


@pytest.mark.parametrize("path", fixture_params("aws", "scheduled-event"))
def test_scheduled_events_reach_the_schedule_function(path: Path) -> None:
    app, seen = _recording_app()
    lambda_handler(app)(load(path), None)
    assert isinstance(seen[0], Schedule)


@pytest.mark.parametrize("path", fixture_params("aws", "dynamodb-streams"))
def test_stream_batches_report_the_first_failure(path: Path) -> None:
    app = App("streams")
    table = app.table(_Doc, partition_key="id", name="docs")

    @app.changes(table)
    def on_change(change: Change[Any]) -> None:
        raise RuntimeError("poisoned")

    data = load(path)
    out = lambda_handler(app, "on_change")
    with pytest.raises(Exception, match=r"all .* records of the batch failed"):
        out(data, None)


def test_unknown_shape_names_the_keys_it_saw() -> None:
    app, _ = _recording_app()
    with pytest.raises(EventFormatError) as info:
        lambda_handler(app)({"hello": 1, "world": 2}, None)
    assert info.value.provider == "aws"
    assert info.value.keys == ["hello", "world"]


def test_unknown_record_source_is_a_format_error() -> None:
    app, _ = _recording_app()
    with pytest.raises(EventFormatError, match="eventSource"):
        lambda_handler(app)({"Records": [{"eventSource": "aws:nope"}]}, None)
