"""AWS: a Lambda zip and an AWS SAM template (JSON) with tables, queues and least-privilege roles.

The zip holds the user's package, ``portafn``, ``portafn-aws`` and the app's dependencies built
for the target (``--python``, ``--arch``), without boto3 and what only it needs: the Lambda Python
runtime provides them. Each portafn function becomes one ``AWS::Serverless::Function`` with its own
role, which names only the actions the DynamoDB store performs, on only the tables the function's
code uses (see ``usage.py``), plus what its event source needs.
"""

from __future__ import annotations

from typing import Any

from portafn.package.build import Artifact, BuildContext, Limits, measure
from portafn.package.common import dump_json, entry_source, logical_id, write_file
from portafn.package.usage import tables_used
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


def store_layout() -> tuple[str, str, str]:
    """The DynamoDB store's key and TTL attribute names (``_pk``, ``_sk``, ``_expires``)."""
    try:
        from portafn_aws.dynamodb_store import EXPIRES, PK, SK
    except ImportError:  # portafn-aws not installed where packaging runs: its documented layout
        return "_pk", "_sk", "_expires"
    return PK, SK, EXPIRES


def sam_template(ctx: BuildContext) -> dict[str, Any]:
    """The SAM template for the app: functions, roles, log groups, tables, queues, topics, buckets."""
    app = ctx.app
    target = ctx.target
    resources: dict[str, Any] = {}
    prefix = "${AWS::StackName}-"
    pk, sk, expires = store_layout()

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

    for fn in app.functions.values():
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
        event, extra_statement = _event(fn.trigger, resources)
        if extra_statement is not None:
            statements.append(extra_statement)
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
                "Environment": {
                    "Variables": {
                        "PORTAFN_STORE": {"Fn::Sub": "dynamodb://?region=${AWS::Region}&prefix=" + prefix},
                        "PORTAFN_FUNCTION": fn.name,
                    }
                },
                "Events": {logical_id(fn.kind): event},
            },
        }

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


def _event(trigger: Any, resources: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The SAM event source of a trigger, and the IAM statement the function needs to consume it."""
    if isinstance(trigger, HttpTrigger):
        method = "ANY" if trigger.method == "*" else trigger.method
        return {"Type": "HttpApi", "Properties": {"Path": trigger.path.template, "Method": method}}, None
    if isinstance(trigger, QueueTrigger):
        qid = logical_id(trigger.queue, "Queue")
        # Visibility timeout 6x the function timeout, as Lambda's SQS guidance asks.
        resources[qid] = {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 180}}
        event = {
            "Type": "SQS",
            "Properties": {
                "Queue": _arn(qid),
                "BatchSize": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        return event, {"Effect": "Allow", "Action": list(QUEUE_ACTIONS), "Resource": [_arn(qid)]}
    if isinstance(trigger, TopicTrigger):
        tid = logical_id(trigger.topic, "Topic")
        resources[tid] = {"Type": "AWS::SNS::Topic", "Properties": {}}
        return {"Type": "SNS", "Properties": {"Topic": {"Ref": tid}}}, None
    if isinstance(trigger, StorageTrigger):
        bid = logical_id(trigger.bucket, "Bucket")
        resources[bid] = {"Type": "AWS::S3::Bucket", "Properties": {}}
        events = "s3:ObjectCreated:*" if trigger.on == "created" else "s3:ObjectRemoved:*"
        return {"Type": "S3", "Properties": {"Bucket": {"Ref": bid}, "Events": events}}, None
    if isinstance(trigger, ScheduleTrigger):
        return {"Type": "Schedule", "Properties": {"Schedule": trigger.cron.aws(), "Enabled": True}}, None
    if isinstance(trigger, ChangesTrigger):
        tid = logical_id(trigger.table.name, "Table")
        event = {
            "Type": "DynamoDB",
            "Properties": {
                "Stream": _arn(tid, "StreamArn"),
                "StartingPosition": "TRIM_HORIZON",
                "BatchSize": 100,
                "BisectBatchOnFunctionError": True,
                "MaximumRetryAttempts": 10,
                "FunctionResponseTypes": ["ReportBatchItemFailures"],
            },
        }
        return event, {
            "Effect": "Allow",
            "Action": list(STREAM_ACTIONS),
            "Resource": [_arn(tid, "StreamArn")],
        }
    if isinstance(trigger, EventTrigger):
        return {"Type": "EventBridgeRule", "Properties": {"Pattern": {"detail-type": [trigger.type]}}}, None
    raise ValueError(f"no AWS event source for a {type(trigger).__name__}")
