"""AWS: a Lambda zip and an AWS SAM template (JSON) with tables, queues and least-privilege roles.

The zip holds the user's package, ``portafn``, ``portafn-aws`` and the app's dependencies built
for the target (``--python``, ``--arch``), without boto3 and what only it needs: the Lambda Python
runtime provides them. Each portafn function becomes one ``AWS::Serverless::Function`` with its own
role, which names only the actions the DynamoDB store performs, on only the tables the function's
code uses (see ``usage.py``), plus what its event source needs.

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

from typing import Any

from portafn.package.build import Artifact, BuildContext, Limits, measure
from portafn.package.common import dump_json, entry_source, item_functions, logical_id, write_file
from portafn.package.usage import tables_used, topics_published
from portafn.package.zipper import tree_files, write_zip
from portafn.triggers import (
    ChangesTrigger,
    EventTrigger,
    HttpTrigger,
    QueueTrigger,
    ScheduleTrigger,
    StorageTrigger,
    TopicTrigger,
)
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

# What the DynamoDB store calls at run time (portafn_aws.dynamodb_store): item reads and writes,
# queries, batches and transactions (TransactWriteItems is authorised per item as Put/Delete/
# ConditionCheck). Table creation, scans and DescribeTable are for tests and `dev`, not deployments.
TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
)
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
    write_zip(zip_path, [*tree_files(ctx.site), *ctx.source], {f"{ENTRY}.py": entry.encode()})
    template = write_file(ctx.out / TEMPLATE, dump_json(sam_template(ctx)))
    return [measure(zip_path, "Lambda deployment package", LIMITS), Artifact(template, "AWS SAM template")]


def sam_template(ctx: BuildContext) -> dict[str, Any]:
    """The SAM template for the app: functions, roles, log groups, tables, queues, topics, buckets."""
    app = ctx.app
    target = ctx.target
    resources: dict[str, Any] = {}
    prefix = "${AWS::StackName}-"
    pk, sk, expires = PK, SK, EXPIRES

    for name, table in app.tables.items():
        spec = table.spec
        keys = [{"AttributeName": pk, "KeyType": "HASH"}]
        attrs = [{"AttributeName": pk, "AttributeType": "S"}]
        if spec.sort_key is not None:
            keys.append({"AttributeName": sk, "KeyType": "RANGE"})
            attrs.append({"AttributeName": sk, "AttributeType": "S"})
        props: dict[str, Any] = {
            # The store encodes every key as a sortable string, so key attributes are always S.
            "TableName": {"Fn::Sub": prefix + name},
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": keys,
            "AttributeDefinitions": attrs,
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        }
        if spec.ttl_field is not None:
            props["TimeToLiveSpecification"] = {"AttributeName": expires, "Enabled": True}
        resources[logical_id(name, "Table")] = {
            "Type": "AWS::DynamoDB::Table",
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": props,
        }

    published = {fn.name: topics_published(app, fn) for fn in app.functions.values()}
    every_topic = sorted({t for topics in published.values() for t in topics})
    for topic in every_topic:
        _topic(resources, topic)

    for fn in item_functions(app):
        fid = logical_id(fn.name, "Function")
        role = logical_id(fn.name, "Role")
        logs = logical_id(fn.name, "Logs")
        statements: list[dict[str, Any]] = [
            {"Effect": "Allow", "Action": list(LOG_ACTIONS), "Resource": [_arn(logs)]}
        ]
        used = tables_used(app, fn)
        if used:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": list(TABLE_ACTIONS),
                    "Resource": [_arn(logical_id(t, "Table")) for t in used],
                }
            )
        event, extra_statements = _event(fn.trigger, resources)
        statements.extend(extra_statements)
        topics = every_topic if fn.name in OUTBOX_FUNCTIONS else published[fn.name]
        if topics:
            statements.append(
                {
                    "Effect": "Allow",
                    "Action": list(PUBLISH_ACTIONS),
                    "Resource": [{"Ref": logical_id(t, "Topic")} for t in topics],
                }
            )
        variables: dict[str, Any] = {
            "PORTAFN_STORE": {"Fn::Sub": "dynamodb://?region=${AWS::Region}&prefix=" + prefix},
            "PORTAFN_FUNCTION": fn.name,
            # The template creates the tables; no create-if-missing round trips on cold starts.
            "PORTAFN_CREATE_TABLES": "0",
        }
        if topics:
            variables["PORTAFN_AWS_TOPIC_ARN_PREFIX"] = {
                "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:" + prefix
            }
        extra_props: dict[str, Any] = {}
        if fn.kind in ASYNC_KINDS:
            dlq = logical_id(fn.name, "DeadLetterQueue")
            resources[dlq] = _dlq(f"{fn.name}-dlq")
            statements.append({"Effect": "Allow", "Action": list(DLQ_SEND_ACTIONS), "Resource": [_arn(dlq)]})
            variables["PORTAFN_DLQ_URL"] = {"Ref": dlq}
            extra_props["EventInvokeConfig"] = {
                "MaximumRetryAttempts": ASYNC_RETRIES,
                "DestinationConfig": {"OnFailure": {"Type": "SQS", "Destination": _arn(dlq)}},
            }
        elif fn.kind == "changes":
            dlq = logical_id(fn.name, "DeadLetterQueue")
            resources[dlq] = _dlq(f"{fn.name}-dlq")
            statements.append({"Effect": "Allow", "Action": list(DLQ_SEND_ACTIONS), "Resource": [_arn(dlq)]})
            event["Properties"]["DestinationConfig"] = {
                "OnFailure": {"Type": "SQS", "Destination": _arn(dlq)}
            }
        resources[logs] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {"RetentionInDays": 30},
        }
        resources[role] = {
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
                        "PolicyName": "portafn-" + fn.name,
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                    }
                ],
            },
        }
        resources[fid] = {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "CodeUri": ZIP,
                "Handler": HANDLER,
                "Runtime": "python" + target.python,
                "Architectures": ["arm64" if target.arch == "aarch64" else "x86_64"],
                "MemorySize": 512,
                "Timeout": 30,
                # An explicit role keeps SAM from attaching its managed policies, whose resources are "*".
                "Role": _arn(role),
                "LoggingConfig": {"LogGroup": {"Ref": logs}},
                "Environment": {"Variables": variables},
                "Events": {logical_id(fn.kind): event},
                **extra_props,
            },
        }

    # What the app publishes reaches its queue functions of the same name, as on the local bus:
    # the queue subscribes to the topic with raw delivery (payload as the body, the CloudEvent
    # context and attributes as message attributes), and lets that topic send to it.
    for topic in every_topic:
        for fn in app.by_kind("queue"):
            if getattr(fn.trigger, "queue", None) != topic:
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
            resources[logical_id(topic, "QueuePolicy")] = {
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
            break

    outputs: dict[str, Any] = {}
    if app.by_kind("http"):
        outputs["HttpApiUrl"] = {
            "Description": "Base URL of the HTTP API",
            "Value": {
                "Fn::Sub": "https://${ServerlessHttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Description": f"portafn app {app.name} (generated by portafn package)",
        "Resources": dict(sorted(resources.items())),
        "Outputs": outputs,
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


def _event(trigger: Any, resources: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The SAM event source of a trigger, and the IAM statements the function needs to consume it."""
    if isinstance(trigger, HttpTrigger):
        method = "ANY" if trigger.method == "*" else trigger.method
        return {"Type": "HttpApi", "Properties": {"Path": trigger.path.template, "Method": method}}, []
    if isinstance(trigger, QueueTrigger):
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
            {"Effect": "Allow", "Action": list(QUEUE_ACTIONS), "Resource": [_arn(qid)]},
            {"Effect": "Allow", "Action": list(DLQ_LOOKUP_ACTIONS), "Resource": [_arn(qid), _arn(dlq)]},
            {"Effect": "Allow", "Action": list(DLQ_SEND_ACTIONS), "Resource": [_arn(dlq)]},
        ]
    if isinstance(trigger, TopicTrigger):
        tid = _topic(resources, trigger.topic)
        return {"Type": "SNS", "Properties": {"Topic": {"Ref": tid}}}, []
    if isinstance(trigger, StorageTrigger):
        bid = logical_id(trigger.bucket, "Bucket")
        resources[bid] = {"Type": "AWS::S3::Bucket", "Properties": {}}
        events = "s3:ObjectCreated:*" if trigger.on == "created" else "s3:ObjectRemoved:*"
        return {"Type": "S3", "Properties": {"Bucket": {"Ref": bid}, "Events": events}}, []
    if isinstance(trigger, ScheduleTrigger):
        return {"Type": "Schedule", "Properties": {"Schedule": trigger.cron.aws(), "Enabled": True}}, []
    if isinstance(trigger, ChangesTrigger):
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
        return event, [
            {
                "Effect": "Allow",
                "Action": list(STREAM_ACTIONS),
                "Resource": [_arn(tid, "StreamArn")],
            }
        ]
    if isinstance(trigger, EventTrigger):
        return {"Type": "EventBridgeRule", "Properties": {"Pattern": {"detail-type": [trigger.type]}}}, []
    raise ValueError(f"no AWS event source for a {type(trigger).__name__}")
