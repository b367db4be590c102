"""Event kinds portafn does not claim are refused by name, and a batch record without an id fails
its batch with a clear reason (issue 16, item 8).

Real samples come from the shared corpus (read in place through ``tests.support.fixtures``); the
kinds it lacks are small hand-written events with the fields the provider documents.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from portafn_aws import events as aws_events
from portafn_aws import lambda_handler
from portafn_aws.http import http_source
from portafn_gcp import events as gcp_events

from portafn import App, Event, HttpRequest, Message
from portafn.errors import EventFormatError
from tests.support.fixtures import OWN_EVENTS, fixture_params, load

# -- an app with one function of each kind, recording every call --------------------------------

calls: list[str] = []
app = App("unclaimed")


@app.http("*", "/{rest+}")
def any_path(rest: str, request: HttpRequest) -> dict[str, str]:
    """Takes every HTTP request, so a served unclaimed event would show up here."""
    calls.append("http")
    return {"rest": rest}


@app.queue("orders")
def on_order(msg: Message[Any]) -> None:
    """A queue function (SQS, Pub/Sub)."""
    calls.append(f"queue:{msg.id}")


@app.event("com.example.thing")
def on_thing(ev: Event[Any]) -> None:
    """An event function (EventBridge detail-type, Eventarc type)."""
    calls.append("event")


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


# -- AWS: the corpus -------------------------------------------------------------------------------

# Corpus folder -> the kind the refusal names.
AWS_UNCLAIMED = {
    "apigw-websocket": "API Gateway WebSocket",
    "apigw-authorizer": "API Gateway Lambda authorizer",
    "vpc-lattice": "VPC Lattice",
    "kinesis-firehose": "Kinesis Data Firehose",
    "cognito-userpools": "Cognito user pool trigger",
    "cognito-sync": "Cognito Sync trigger",
    "appsync": "AppSync resolver",
    "cloudformation-custom-resource": "CloudFormation custom resource",
    "cloudwatch-logs": "CloudWatch Logs subscription",
    "kafka": "Kafka (MSK or self-managed)",
    "mq": "Amazon MQ",
    "ses": "SES email receiving",
}
AWS_CLAIMED = [
    "apigw-rest-v1",
    "apigw-http-v2",
    "lambda-function-url",
    "alb",
    "sqs",
    "sns",
    "s3",
    "kinesis",
    "dynamodb-streams",
    "eventbridge",
    "scheduled-event",
]


def _refusal(event: Any) -> EventFormatError:
    with pytest.raises(EventFormatError) as info:
        lambda_handler(app)(event)
    return info.value


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        pytest.param(p.values[0], kind, id=p.id, marks=p.marks)
        for folder, kind in AWS_UNCLAIMED.items()
        for p in fixture_params("aws", folder)
    ],
)
def test_aws_refuses_an_unclaimed_kind_by_name(path: Path, kind: str) -> None:
    error = _refusal(load(path))
    assert error.provider == "aws"
    assert f"{kind} events are not claimed by portafn" in str(error)
    assert str(error).startswith("aws event: ")
    assert calls == []


@pytest.mark.parametrize("path", fixture_params("aws", "apigw-websocket"))
def test_a_websocket_message_is_not_served_as_a_rest_request(path: Path) -> None:
    event = load(path)
    error = _refusal(event)
    assert error.field == "requestContext.eventType"
    assert "WebSocket" in str(error)
    # The finding: a message carrying httpMethod passes for REST v1 by shape alone.
    if "httpMethod" in event:
        assert http_source(event) == "apigw-v1"
    assert calls == []


@pytest.mark.parametrize(
    "path",
    [p for folder in AWS_CLAIMED for p in fixture_params("aws", folder)]
    + sorted((OWN_EVENTS / "aws").glob("*.json")),
)
def test_no_claimed_aws_event_is_taken_for_an_unclaimed_kind(path: Path) -> None:
    event = load(path)
    if not isinstance(event, dict):
        pytest.skip(f"{path.name} is not an event object (a list of samples)")
    aws_events.refuse_unclaimed(event)  # raises if a claimed event looked unclaimed
    for record in event.get("Records") or []:
        assert aws_events.record_source(record) in ("sqs", "sns", "s3", "dynamodb", "kinesis")


# -- AWS: hand-written, for the kinds the corpus lacks ------------------------------------------

HAND_WRITTEN: dict[str, tuple[str, dict[str, Any]]] = {
    "s3-batch": (
        "S3 Batch Operations",
        {
            "invocationSchemaVersion": "1.0",
            "invocationId": "YXNkbGZqYWRmaiBhc2RmdW9hZHNmZGpmaGFzbGtkaGZza2RmaAo",
            "job": {"id": "f3cc4f60-61f6-4a2b-8a21-d07600c373ce"},
            "tasks": [{"taskId": "t1", "s3Key": "k", "s3VersionId": "1", "s3BucketArn": "arn:aws:s3:::b"}],
        },
    ),
    "secrets-rotation": (
        "Secrets Manager rotation",
        {
            "SecretId": "arn:aws:secretsmanager:r:1:secret:s",
            "ClientRequestToken": "t",
            "Step": "createSecret",
        },
    ),
    "codepipeline": (
        "CodePipeline job",
        {"CodePipeline.job": {"id": "11111111-abcd-1111-abcd-111111abcdef", "accountId": "111111111111"}},
    ),
    "config-rule": (
        "AWS Config rule",
        {"configRuleName": "r", "invokingEvent": "{}", "ruleParameters": "{}", "resultToken": "t"},
    ),
    "lex-v2": (
        "Amazon Lex",
        {"bot": {"name": "b", "version": "1"}, "sessionState": {}, "inputTranscript": "hi"},
    ),
    "codecommit": (
        "CodeCommit trigger",
        {"Records": [{"eventSource": "aws:codecommit", "eventId": "1", "codecommit": {"references": []}}]},
    ),
    "websocket-minimal": (
        "API Gateway WebSocket",
        {
            "httpMethod": "POST",
            "path": "/",
            "requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "connectionId": "c1"},
            "body": "{}",
        },
    ),
}


@pytest.mark.parametrize(("kind", "event"), HAND_WRITTEN.values(), ids=HAND_WRITTEN.keys())
def test_aws_refuses_hand_written_unclaimed_kinds(kind: str, event: dict[str, Any]) -> None:
    error = _refusal(event)
    assert f"aws event: {error.field}: {kind} events are not claimed by portafn" in str(error)
    assert calls == []


def test_a_one_function_lambda_refuses_them_too() -> None:
    with pytest.raises(EventFormatError, match="WebSocket"):
        lambda_handler(app, "any_path")(HAND_WRITTEN["websocket-minimal"][1])
    assert calls == []


# -- AWS: a batch record without its identifier -------------------------------------------------


def _sqs(message_id: Any, body: str = "{}") -> dict[str, Any]:
    record: dict[str, Any] = {
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-west-1:111111111111:orders",
    }
    if message_id is not ...:
        record["messageId"] = message_id
    return record


@pytest.mark.parametrize("missing", [..., "", None, 7], ids=["absent", "empty", "null", "not-a-string"])
def test_an_sqs_record_without_message_id_fails_the_batch_unprocessed(missing: Any) -> None:
    records = [_sqs("m1"), _sqs(missing), _sqs("m3")]
    with pytest.raises(EventFormatError) as info:
        lambda_handler(app)({"Records": records})
    assert info.value.field == "Records[1].messageId"
    assert "whole batch fails" in str(info.value)
    assert "itemIdentifier" not in json.dumps(info.value.keys)
    assert calls == []  # no neighbour ran, so the retried batch runs nothing twice


def test_a_complete_sqs_batch_still_reports_by_message_id() -> None:
    result = lambda_handler(app)({"Records": [_sqs("m1"), _sqs("m2")]})
    assert result == {"batchItemFailures": []}
    assert calls == ["queue:m1", "queue:m2"]


def test_a_kinesis_record_without_sequence_number_fails_the_batch() -> None:
    record = {
        "eventSource": "aws:kinesis",
        "eventSourceARN": "arn:aws:kinesis:eu-west-1:111111111111:stream/orders",
        "kinesis": {"data": "e30=", "partitionKey": "p"},
    }
    with pytest.raises(EventFormatError) as info:
        lambda_handler(app)({"Records": [record]})
    assert info.value.field == "Records[0].kinesis.sequenceNumber"
    assert calls == []


# -- GCP ---------------------------------------------------------------------------------------

GCP_UNCLAIMED = {
    "firebase-auth": "Firebase Authentication",
    "firebase-rtdb": "Firebase Realtime Database",
    "firebase-analytics": "Google Analytics for Firebase",
    "firebase-remoteconfig": "Firebase Remote Config",
    "audit-log": "Cloud Audit Logs",
}
# Only what a function receives: conversion outputs and bare data payloads are not deliveries.
_NOT_DELIVERIES = (
    "template",
    "cloudevent-output",
    "legacy-output",
    "cloudevent-data",
    "cloudevent-output (expected conversion of legacy-input)",
)


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        pytest.param(p.values[0], kind, id=p.id, marks=p.marks)
        for folder, kind in GCP_UNCLAIMED.items()
        for p in fixture_params("gcp", folder, exclude_roles=_NOT_DELIVERIES)
    ],
)
def test_gcp_refuses_an_unclaimed_kind_by_name(path: Path, kind: str) -> None:
    event = gcp_events.cloudevent(load(path))
    with pytest.raises(EventFormatError) as info:
        gcp_events.translate(app.function("on_order"), event)
    assert info.value.provider == "gcp"
    assert info.value.field == "type"
    assert f"a {kind} event ({event.type!r}) is not taken by queue function 'on_order'" in str(info.value)


@pytest.mark.parametrize("path", sorted((OWN_EVENTS / "gcp").glob("*.json")), ids=lambda p: p.name)
def test_gcp_names_each_kind_of_its_own_events(path: Path) -> None:
    event = gcp_events.cloudevent(load(path))
    assert gcp_events.event_kind(event.type) in ("Pub/Sub", "Cloud Storage", "Firestore")


def test_a_gcp_event_function_takes_its_own_type_only() -> None:
    fn = app.function("on_thing")
    own = Event[Any](id="1", source="//x", type="com.example.thing")
    assert gcp_events.translate(fn, own) is own
    other = Event[Any](
        id="2", source="//firebaseauth.googleapis.com/projects/p", type="google.firebase.auth.user.v1.created"
    )
    with pytest.raises(
        EventFormatError,
        match=r"a Firebase Authentication event .* is not taken by event function 'on_thing'",
    ):
        gcp_events.translate(fn, other)


def test_gcp_names_an_unknown_type_as_unknown() -> None:
    event = Event[Any](id="1", source="//x", type="com.example.other")
    with pytest.raises(EventFormatError, match=r"an? unknown event \('com\.example\.other'\)"):
        gcp_events.translate(app.function("on_order"), event)


# -- Azure -------------------------------------------------------------------------------------


def test_azure_driver_answers_an_undecodable_path_with_400_problem() -> None:
    from portafn_azure.driver import AzureDriver

    from tests.hostile.apps import app as hostile

    resp = AzureDriver(hostile).http(HttpRequest("GET", "/seg/%FF"))
    assert resp.status == 400
    assert resp.content_type == "application/problem+json"
    assert resp.json()["errors"][0]["loc"] == ["path", "value"]


@pytest.mark.parametrize("path", fixture_params("azure", "eventgrid"))
def test_azure_event_grid_of_another_type_never_runs_the_handler(path: Path) -> None:
    """Azure's triggers are typed bindings: only Event Grid can bring another kind, and an event of
    a type the function does not take is acknowledged (logged), never handled."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum
    from portafn_azure.driver import AzureDriver

    driver = AzureDriver(app)
    data = load(path)
    for body in data if isinstance(data, list) else [data]:
        if "eventType" not in body:
            continue  # the CloudEvents-schema samples: the same path, shown by tests/azure
        trigger = EventGridEventInConverter.decode(Datum(json.dumps(body), "json"), trigger_metadata={})
        driver.call("on_thing", trigger)
    assert calls == []
