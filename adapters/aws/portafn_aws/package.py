"""AWS: a Lambda zip and an AWS SAM template (JSON) with tables, queues and least-privilege roles.

The zip holds the user's package, ``portafn``, ``portafn-aws`` and the app's dependencies built
for the target (``--python``, ``--arch``), without boto3 and what only it needs: the Lambda Python
runtime provides them. Test stand-ins (``portafn_aws/dev``, ``portafn/dev``) are left out. Each portafn function becomes one ``AWS::Serverless::Function`` with its own
role, which names only the DynamoDB actions the function's operations need, on only the tables it
uses, directly or through the library (idempotency, outbox records, relay, sweep: see
``portafn.package.access`` and ``portafn_aws.iam``), plus what its event source needs.

Dead letters and publishing (docs/reliability.md):

- each queue gets ``<queue>-dlq`` and a ``RedrivePolicy`` (``maxReceiveCount`` 5); its function may
  send to that DLQ (a handler's ``DeadLetter``);
- a stream function's event source mapping bisects failing batches, stops retrying after 5 attempts
  and sends the record's description to ``<function>-dlq`` (``DestinationConfig.OnFailure``);
- an asynchronously invoked function (topic, storage, schedule, event) gets ``EventInvokeConfig``
  (2 retries, then ``OnFailure`` to ``<function>-dlq``) and ``PORTAFN_DLQ_URL`` naming that queue;
- every topic a function publishes on with ``ctx.publish("<literal>", ...)`` (found by reading
  its code, or listed in ``options["topics"]``) becomes an SNS topic named
  ``<stack>-<topic>``, the function may ``sns:Publish`` to exactly those, and the app's queue
  functions on a published topic's name are subscribed to it with raw delivery. The outbox's relay
  and sweep functions may publish on every topic the app publishes on.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from portafn.app import App, Function
from portafn.cors import has_route_policies, native_rules, preflight_owners
from portafn.function_settings import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, settings_of
from portafn.package.access import table_access, tables_needed
from portafn.package.build import Artifact, BuildContext, Limits, measure
from portafn.package.bytecode import write_compiled_zip
from portafn.package.common import dump_json, entry_source, item_functions, logical_id, write_file
from portafn.package.devonly import strip_site
from portafn.package.errors import UnsupportedSetting
from portafn.package.usage import topics_published
from portafn.package.zipper import tree_files
from portafn.settings import app_fields, app_secrets
from portafn.store.port import TableSpec
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
    Trigger,
)
from portafn_aws import iam
from portafn_aws import settings as app_settings
from portafn_aws.dynamodb_store import EXPIRES, PK, SK

NAME = "aws"
ADAPTER = "portafn-aws"
STORE_SCHEME = "dynamodb"
# The Lambda Python runtime ships these; bundling them only adds size and shadows patched versions.
EXCLUDE = ("boto3", "botocore", "s3transfer", "jmespath")
# Lambda quotas: 50 MB for a zip uploaded directly, 250 MB extracted (function plus layers).
LIMITS = Limits(zipped=50 * 1_048_576, unzipped=250 * 1_048_576, source="AWS Lambda quotas")
DEFAULT_ARCH = "x86_64"
ARCHES = ("x86_64", "arm64", "aarch64")
ENTRY = "lambda_function"
HANDLER = f"{ENTRY}.handler"
ZIP = "lambda.zip"
TEMPLATE = "template.json"

STREAM_ACTIONS = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
QUEUE_ACTIONS = (
    "sqs:ChangeMessageVisibility",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ReceiveMessage",
)
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# A handler's DeadLetter: find the queue's DLQ (portafn_aws.outcomes) and send to it.
DLQ_LOOKUP_ACTIONS = ("sqs:GetQueueUrl",)
DLQ_SEND_ACTIONS = ("sqs:SendMessage",)
PUBLISH_ACTIONS = ("sns:Publish",)
MAX_RECEIVE_COUNT = 5  # deliveries of a queue message before SQS moves it to the DLQ
STREAM_RETRIES = 5  # attempts on a stream record before it goes to the on-failure destination
ASYNC_RETRIES = 2  # Lambda's retries of an asynchronous invocation (its maximum)
DLQ_RETENTION_S = 1_209_600  # 14 days, SQS's maximum, to leave time to look
OUTBOX_FUNCTIONS = ("portafn_outbox_relay", "portafn_outbox_sweep")
STACK_PREFIX = "${AWS::StackName}-"  # every physical name the template makes starts with it
ASYNC_KINDS = ("topic", "storage", "schedule", "event")


def glibc(python: str) -> str:
    """Lambda's python3.11 runs on Amazon Linux 2 (glibc 2.26: manylinux2014); 3.12+ on AL2023 (2.34)."""
    return "2_17" if python == "3.11" else "2_34"


def write(ctx: BuildContext) -> list[Artifact]:
    """Write ``lambda.zip`` and ``template.json`` into ``ctx.out``."""
    entry = entry_source(
        f"The Lambda entry point of {ctx.module}:{ctx.attr}; the handler is {HANDLER}.",
        ["from portafn_aws import lambda_handler", "", f"from {ctx.module} import {ctx.attr} as portafn_app"],
        "handler = lambda_handler(portafn_app)",
    )
    zip_path = ctx.out / ZIP
    ctx.progress(f"writing {zip_path}")
    strip_site(ctx.site)  # the local servers' launchers are test stand-ins, never deployed
    write_compiled_zip(ctx, zip_path, [*tree_files(ctx.site), *ctx.source], {f"{ENTRY}.py": entry.encode()})
    template = write_file(ctx.out / TEMPLATE, dump_json(sam_template(ctx)))
    return [measure(zip_path, "Lambda deployment package", LIMITS), Artifact(template, "AWS SAM template")]


def sam_template(ctx: BuildContext) -> dict[str, Any]:
    """The SAM template for the app: functions, roles, log groups, tables, queues, topics, buckets."""
    app = ctx.app
    resources: dict[str, Any] = {}
    # Declared tables, and the idempotency table @idempotent falls back to when none is declared.
    for name, spec in tables_needed(app).items():
        resources[logical_id(name, "Table")] = _table(name, spec)
    published = {fn.name: topics_published(app, fn) for fn in app.functions.values()}
    every_topic = sorted({t for topics in published.values() for t in topics})
    for topic in every_topic:
        _topic(resources, topic)
    for fn in item_functions(app):
        topics = every_topic if fn.name in OUTBOX_FUNCTIONS else published[fn.name]
        _add_function(resources, ctx, fn, topics)
    _subscribe_queues(resources, app, every_topic)
    parameters = app_settings.parameters(app_fields(app))
    template: dict[str, Any] = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"portafn app {app.name} (generated by portafn package)",
        **({"Parameters": parameters} if parameters else {}),
        "Resources": dict(sorted(resources.items())),
        "Outputs": _outputs(app),
    }
    _add_cors(template, app)
    _add_jwt_authorizers(template, app)
    return template


def _add_jwt_authorizers(template: dict[str, Any], app: App) -> None:
    """The HTTP API's own JWT authorizer for each route whose ``BearerJWT`` asks for it
    (``native=True``): API Gateway finds the keys from the issuer's OpenID configuration and
    refuses bad tokens before Lambda runs; portafn checks them again (scopes, roles) in the
    function, so the answer is the same with or without it."""
    from portafn.auth.bearer import BearerJWT

    authorizers: dict[str, Any] = {}
    for fn in app.by_kind("http"):
        guard = fn.options.get("auth")
        if not (isinstance(guard, BearerJWT) and guard.native):
            continue
        config = {"issuer": guard.issuer, "audience": guard.audience}
        name = next((n for n, a in authorizers.items() if a["JwtConfiguration"] == config), None)
        if name is None:
            name = f"PortafnJwt{len(authorizers) + 1}"
            authorizers[name] = {
                "JwtConfiguration": config,
                "IdentitySource": "$request.header.Authorization",
            }
        event = template["Resources"][logical_id(fn.name, "Function")]["Properties"]["Events"]
        event[logical_id(fn.kind)]["Properties"]["Auth"] = {"Authorizer": name}
    if authorizers:
        template.setdefault("Globals", {}).setdefault("HttpApi", {})["Auth"] = {"Authorizers": authorizers}


def _add_cors(template: dict[str, Any], app: App) -> None:
    """The app's CORS on the HTTP API: one app-wide policy becomes its ``CorsConfiguration``
    (API Gateway then answers preflights and its headers win); with per-route policies, which
    the API cannot express, each path's preflight is routed to the function so portafn answers."""
    rules = native_rules(app)
    if rules is not None and not has_route_policies(app):
        config: dict[str, Any] = {
            "AllowOrigins": rules["allow_origins"],
            "AllowMethods": rules["allow_methods"],
            "AllowHeaders": rules["allow_headers"],
            "AllowCredentials": rules["allow_credentials"],
        }
        if rules["expose_headers"]:
            config["ExposeHeaders"] = rules["expose_headers"]
        if rules["max_age"] is not None:
            config["MaxAge"] = rules["max_age"]
        template["Globals"] = {"HttpApi": {"CorsConfiguration": config}}
        return
    for path, fname in preflight_owners(app).items():
        function = template["Resources"].get(logical_id(fname, "Function"))
        if function is not None:
            function["Properties"]["Events"]["Preflight"] = {
                "Type": "HttpApi",
                "Properties": {"Path": path, "Method": "OPTIONS"},
            }


# -- tables ------------------------------------------------------------------------------------


def _table(name: str, spec: TableSpec) -> dict[str, Any]:
    """The DynamoDB table ``<stack>-<name>`` in the store's layout (portafn_aws.dynamodb_store)."""
    keys = [{"AttributeName": PK, "KeyType": "HASH"}]
    attrs = [{"AttributeName": PK, "AttributeType": "S"}]
    if spec.sort_key is not None:
        keys.append({"AttributeName": SK, "KeyType": "RANGE"})
        attrs.append({"AttributeName": SK, "AttributeType": "S"})
    props: dict[str, Any] = {
        # The store encodes every key as a sortable string, so key attributes are always S.
        "TableName": {"Fn::Sub": STACK_PREFIX + name},
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": keys,
        "AttributeDefinitions": attrs,
        "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    if spec.ttl_field is not None:
        props["TimeToLiveSpecification"] = {"AttributeName": EXPIRES, "Enabled": True}
    return {
        "Type": "AWS::DynamoDB::Table",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": props,
    }


# -- functions ---------------------------------------------------------------------------------


def _add_function(resources: dict[str, Any], ctx: BuildContext, fn: Function, topics: list[str]) -> None:
    """One function's Lambda, role, log group and failure destination (and its event source's
    queue, topic or bucket, through ``_event``)."""
    logs = logical_id(fn.name, "Logs")
    event, consume = _event(fn.trigger, resources)
    statements = [
        _allow(LOG_ACTIONS, [_arn(logs)]),
        *_table_statements(ctx.app, fn),
        *consume,
        *_publish_statements(topics),
        *app_settings.statements(app_secrets(ctx.app)),
    ]
    variables = {**_variables(fn, topics), **app_settings.variables(app_fields(ctx.app))}
    extra_props = _failure_destination(resources, fn, event, statements, variables)
    lambda_props = lambda_settings(fn)
    if isinstance(fn.trigger, QueueTrigger):
        # SQS wants the visibility timeout at least 6x the function's (Lambda's SQS guidance).
        queue = resources[logical_id(fn.trigger.queue, "Queue")]["Properties"]
        queue["VisibilityTimeout"] = max(queue["VisibilityTimeout"], min(43_200, 6 * lambda_props["Timeout"]))
    resources[logs] = {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}}
    role = logical_id(fn.name, "Role")
    resources[role] = _role(fn.name, statements)
    resources[logical_id(fn.name, "Function")] = {
        "Type": "AWS::Serverless::Function",
        "Properties": {
            "CodeUri": ZIP,
            "Handler": HANDLER,
            "Runtime": "python" + ctx.target.python,
            "Architectures": ["arm64" if ctx.target.arch == "aarch64" else "x86_64"],
            **lambda_props,
            # An explicit role keeps SAM from attaching its managed policies, whose resources are "*".
            "Role": _arn(role),
            "LoggingConfig": {"LogGroup": {"Ref": logs}},
            "Environment": {"Variables": variables},
            "Events": {logical_id(fn.kind): event},
            **extra_props,
        },
    }


LAMBDA_MEMORY_MB = (128, 10_240)
LAMBDA_TIMEOUT_S = 900


def lambda_settings(fn: Function) -> dict[str, Any]:
    """``MemorySize``, ``Timeout`` and ``ReservedConcurrentExecutions`` from the function's
    settings (512 MB and 30 s by default); ``UnsupportedSetting`` beyond Lambda's limits."""
    declared = settings_of(fn)
    memory = declared.memory or DEFAULT_MEMORY_MB
    low, high = LAMBDA_MEMORY_MB
    if not low <= memory <= high:
        raise UnsupportedSetting("aws", fn.name, "memory", memory, f"Lambda takes {low} to {high} MB")
    timeout = declared.timeout or DEFAULT_TIMEOUT_S
    if timeout > LAMBDA_TIMEOUT_S:
        raise UnsupportedSetting(
            "aws", fn.name, "timeout", timeout, f"Lambda runs at most {LAMBDA_TIMEOUT_S} s"
        )
    if declared.auth_level not in (None, "anonymous"):
        raise UnsupportedSetting(
            "aws",
            fn.name,
            "auth_level",
            declared.auth_level,
            "an HTTP API has no function keys; declare auth= (an API key or a JWT) instead",
        )
    # Lambda counts whole seconds; round up so the declared time is always available.
    out: dict[str, Any] = {"MemorySize": memory, "Timeout": max(1, math.ceil(timeout))}
    if declared.concurrency is not None:
        out["ReservedConcurrentExecutions"] = declared.concurrency
    return out


def _allow(actions: tuple[str, ...], resources: list[Any]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": list(actions), "Resource": resources}


def _table_statements(app: App, fn: Function) -> list[dict[str, Any]]:
    """The DynamoDB actions ``fn``'s table operations need, on exactly the tables it uses."""
    return iam.table_statements(
        table_access(app, fn),
        lambda t: _arn(logical_id(t, "Table")),
        lambda t: _arn(logical_id(t, "Table"), "StreamArn"),
    )


def _publish_statements(topics: list[str]) -> list[dict[str, Any]]:
    """``sns:Publish`` on exactly the topics the function publishes on."""
    return [_allow(PUBLISH_ACTIONS, [{"Ref": logical_id(t, "Topic")} for t in topics])] if topics else []


def _variables(fn: Function, topics: list[str]) -> dict[str, Any]:
    """The function's environment: its store, its name, and where its topics are."""
    variables: dict[str, Any] = {
        "PORTAFN_STORE": {"Fn::Sub": "dynamodb://?region=${AWS::Region}&prefix=" + STACK_PREFIX},
        "PORTAFN_FUNCTION": fn.name,
        # The template creates the tables; no create-if-missing round trips on cold starts.
        "PORTAFN_CREATE_TABLES": "0",
    }
    if topics:
        variables["PORTAFN_AWS_TOPIC_ARN_PREFIX"] = {
            "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:" + STACK_PREFIX
        }
    return variables


def _failure_destination(
    resources: dict[str, Any],
    fn: Function,
    event: dict[str, Any],
    statements: list[dict[str, Any]],
    variables: dict[str, Any],
) -> dict[str, Any]:
    """Give an asynchronously invoked or stream function its ``<function>-dlq``.

    Adds the queue, the right to send to it, and (asynchronous) ``PORTAFN_DLQ_URL`` or (stream)
    the event source mapping's ``OnFailure``; returns the function properties to add (the
    asynchronous ``EventInvokeConfig``). Queue functions use their queue's redrive policy instead.
    """
    if fn.kind not in (*ASYNC_KINDS, "changes"):
        return {}
    dlq = logical_id(fn.name, "DeadLetterQueue")
    resources[dlq] = _dlq(f"{fn.name}-dlq")
    statements.append(_allow(DLQ_SEND_ACTIONS, [_arn(dlq)]))
    on_failure = {"OnFailure": {"Type": "SQS", "Destination": _arn(dlq)}}
    if fn.kind == "changes":
        event["Properties"]["DestinationConfig"] = on_failure
        return {}
    variables["PORTAFN_DLQ_URL"] = {"Ref": dlq}
    return {"EventInvokeConfig": {"MaximumRetryAttempts": ASYNC_RETRIES, "DestinationConfig": on_failure}}


def _role(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    """The function's own IAM role, holding only ``statements``."""
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "portafn-" + name,
                    "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                }
            ],
        },
    }


# -- topics, subscriptions, outputs ------------------------------------------------------------


def _subscribe_queues(resources: dict[str, Any], app: App, topics: list[str]) -> None:
    """What the app publishes reaches its queue functions of the same name, as on the local bus:
    the queue subscribes to the topic with raw delivery (payload as the body, the CloudEvent
    context and attributes as message attributes), and lets that topic send to it."""
    for topic in topics:
        if not any(fn.kind == "queue" for fn in app.consumers(topic)):
            continue
        qid, tid = logical_id(topic, "Queue"), logical_id(topic, "Topic")
        resources[logical_id(topic, "Subscription")] = {
            "Type": "AWS::SNS::Subscription",
            "Properties": {
                "TopicArn": {"Ref": tid},
                "Protocol": "sqs",
                "Endpoint": _arn(qid),
                "RawMessageDelivery": True,
            },
        }
        resources[logical_id(topic, "QueuePolicy")] = _queue_policy(qid, tid)


def _queue_policy(qid: str, tid: str) -> dict[str, Any]:
    """Lets the topic ``tid``, and only it, send to the queue ``qid``."""
    return {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": qid}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "sns.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": _arn(qid),
                        "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": tid}}},
                    }
                ],
            },
        },
    }


def _outputs(app: App) -> dict[str, Any]:
    """The stack's outputs: the HTTP API's base URL when the app has HTTP functions."""
    if not app.by_kind("http"):
        return {}
    return {
        "HttpApiUrl": {
            "Description": "Base URL of the HTTP API",
            "Value": {
                "Fn::Sub": "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
            },
        }
    }


def _arn(logical: str, attribute: str = "Arn") -> dict[str, Any]:
    return {"Fn::GetAtt": [logical, attribute]}


def _physical(name: str, suffix: str = "") -> dict[str, Any]:
    """``<stack>-<name><suffix>``, keeping a ``.fifo`` ending last (SNS and SQS require it)."""
    fifo = name.endswith(".fifo")
    base = name.removesuffix(".fifo") if fifo else name
    return {"Fn::Sub": "${AWS::StackName}-" + base + suffix + (".fifo" if fifo else "")}


def _dlq(name: str) -> dict[str, Any]:
    props: dict[str, Any] = {"QueueName": _physical(name), "MessageRetentionPeriod": DLQ_RETENTION_S}
    if name.endswith(".fifo"):
        props["FifoQueue"] = True
    return {"Type": "AWS::SQS::Queue", "Properties": props}


def _topic(resources: dict[str, Any], topic: str) -> str:
    """The SNS topic ``<stack>-<topic>`` (the name the AWS publisher derives), made once."""
    tid = logical_id(topic, "Topic")
    if tid not in resources:
        props: dict[str, Any] = {"TopicName": _physical(topic)}
        if topic.endswith(".fifo"):
            props["FifoTopic"] = True
        resources[tid] = {"Type": "AWS::SNS::Topic", "Properties": props}
    return tid


# -- event sources: one builder per trigger type ------------------------------------------------

Statements = list[dict[str, Any]]
EventSource = tuple[dict[str, Any], Statements]


def _event(trigger: Trigger, resources: dict[str, Any]) -> EventSource:
    """The SAM event source of a trigger, and the IAM statements the function needs to consume it."""
    build = _EVENT_SOURCES.get(type(trigger))
    if build is None:
        raise ValueError(f"no AWS event source for a {type(trigger).__name__}")
    return build(trigger, resources)


def _http_event(trigger: HttpTrigger, resources: dict[str, Any]) -> EventSource:
    method = "ANY" if trigger.method == "*" else trigger.method
    return {"Type": "HttpApi", "Properties": {"Path": trigger.path.template, "Method": method}}, []


def _queue_event(trigger: QueueTrigger, resources: dict[str, Any]) -> EventSource:
    """The SQS queue with its ``<queue>-dlq`` redrive target, and the rights to consume and
    dead-letter (portafn_aws.outcomes finds the DLQ by URL, then sends to it)."""
    qid = logical_id(trigger.queue, "Queue")
    dlq = logical_id(trigger.queue, "DeadLetterQueue")
    fifo = trigger.queue.endswith(".fifo")
    resources[dlq] = _dlq(trigger.queue.removesuffix(".fifo") + "-dlq" + (".fifo" if fifo else ""))
    queue_props: dict[str, Any] = {
        "QueueName": _physical(trigger.queue),
        # Visibility timeout 6x the function timeout, as Lambda's SQS guidance asks.
        "VisibilityTimeout": 180,
        "RedrivePolicy": {"deadLetterTargetArn": _arn(dlq), "maxReceiveCount": MAX_RECEIVE_COUNT},
    }
    if fifo:
        queue_props["FifoQueue"] = True
    resources[qid] = {"Type": "AWS::SQS::Queue", "Properties": queue_props}
    event = {
        "Type": "SQS",
        "Properties": {
            "Queue": _arn(qid),
            "BatchSize": 10,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    }
    return event, [
        _allow(QUEUE_ACTIONS, [_arn(qid)]),
        _allow(DLQ_LOOKUP_ACTIONS, [_arn(qid), _arn(dlq)]),
        _allow(DLQ_SEND_ACTIONS, [_arn(dlq)]),
    ]


def _topic_event(trigger: TopicTrigger, resources: dict[str, Any]) -> EventSource:
    tid = _topic(resources, trigger.topic)
    return {"Type": "SNS", "Properties": {"Topic": {"Ref": tid}}}, []


def _storage_event(trigger: StorageTrigger, resources: dict[str, Any]) -> EventSource:
    bid = logical_id(trigger.bucket, "Bucket")
    resources[bid] = {"Type": "AWS::S3::Bucket", "Properties": {}}
    events = "s3:ObjectCreated:*" if trigger.on == "created" else "s3:ObjectRemoved:*"
    return {"Type": "S3", "Properties": {"Bucket": {"Ref": bid}, "Events": events}}, []


def _schedule_event(trigger: ScheduleTrigger, resources: dict[str, Any]) -> EventSource:
    return {"Type": "Schedule", "Properties": {"Schedule": trigger.cron.aws(), "Enabled": True}}, []


def _changes_event(trigger: ChangesTrigger, resources: dict[str, Any]) -> EventSource:
    """The table's stream; failing batches are bisected, retried, then sent aside (``OnFailure``,
    added by ``_failure_destination``)."""
    tid = logical_id(trigger.table.name, "Table")
    event = {
        "Type": "DynamoDB",
        "Properties": {
            "Stream": _arn(tid, "StreamArn"),
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 100,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": STREAM_RETRIES,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
    }
    return event, [_allow(STREAM_ACTIONS, [_arn(tid, "StreamArn")])]


def _eventbridge_event(trigger: EventTrigger, resources: dict[str, Any]) -> EventSource:
    return {"Type": "EventBridgeRule", "Properties": {"Pattern": {"detail-type": [trigger.type]}}}, []


_EVENT_SOURCES: dict[type[Any], Callable[[Any, dict[str, Any]], EventSource]] = {
    HttpTrigger: _http_event,
    QueueTrigger: _queue_event,
    TopicTrigger: _topic_event,
    StorageTrigger: _storage_event,
    ScheduleTrigger: _schedule_event,
    ChangesTrigger: _changes_event,
    EventTrigger: _eventbridge_event,
}
