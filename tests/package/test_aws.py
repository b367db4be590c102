"""The Lambda zip, run as built under the real ``awslambdaric`` bootstrap, and its SAM template."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from portafn_aws.package import (
    DLQ_LOOKUP_ACTIONS,
    DLQ_SEND_ACTIONS,
    LOG_ACTIONS,
    PUBLISH_ACTIONS,
    QUEUE_ACTIONS,
    STREAM_ACTIONS,
    sam_template,
)

from portafn import App, Context, Message
from portafn.package import PackageResult
from portafn.package.bytecode import pyc_name
from tests.aws.runtime_api import RuntimeApi
from tests.package.conftest import PYTHON, Builder, artifact
from tests.package.lambda_runtime import bootstrap as lambda_bootstrap
from tests.package.lambda_runtime import clean_env, extract, http_event


def _names(zip_path: Path) -> list[str]:
    with zipfile.ZipFile(zip_path) as zf:
        return zf.namelist()


@pytest.fixture(scope="module")
def lambda_root(aws_build: PackageResult, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The zip extracted into a fresh /var/task stand-in, and a /var/runtime stand-in beside it."""
    return extract(artifact(aws_build, "lambda.zip"), tmp_path_factory.mktemp("lambda"))


def test_zip_has_no_boto3_and_no_other_provider(aws_build: PackageResult) -> None:
    tops = {n.split("/")[0] for n in _names(artifact(aws_build, "lambda.zip"))}
    assert {"lambda_function.py", "portafn", "portafn_aws", "pydantic", "pydantic_core", "samples"} <= tops
    forbidden = (
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "azure",
        "google",
        "portafn_azure",
        "portafn_gcp",
    )
    assert not [t for t in tops if t.split("-")[0].split(".")[0] in forbidden], sorted(tops)
    assert not [t for t in tops if t.startswith(("test_", "conftest"))]


def test_zip_ships_bytecode_for_every_module_and_nothing_else_cached(aws_build: PackageResult) -> None:
    """Lambda's /var/task is read-only: the zip carries the .pyc Python would otherwise compile on
    every cold start, one per module for the target Python, and no build machine's cache."""
    names = _names(artifact(aws_build, "lambda.zip"))
    python = aws_build.target.python
    cached = {n for n in names if "__pycache__" in n}
    assert cached == {pyc_name(n, python) for n in names if n.endswith(".py")}
    assert pyc_name("lambda_function.py", python) in cached


def test_local_test_servers_never_reach_the_zip(aws_build: PackageResult) -> None:
    """DynamoDB Local and moto launchers (portafn_aws/dev) and the core's server helpers
    (portafn/dev) are test stand-ins; the rest of both packages ships."""
    names = _names(artifact(aws_build, "lambda.zip"))
    assert [n for n in names if n.startswith(("portafn/dev/", "portafn_aws/dev/"))] == []
    assert {"portafn/app.py", "portafn_aws/entry.py", "portafn_aws/outcomes.py"} <= set(names)


def test_two_builds_are_byte_identical(aws_build: PackageResult, build: Builder) -> None:
    again = build("aws", python=PYTHON, arch="x86_64")
    first, second = artifact(aws_build, "lambda.zip"), artifact(again, "lambda.zip")
    assert first != second
    assert first.read_bytes() == second.read_bytes()
    assert artifact(aws_build, "template.json").read_bytes() == artifact(again, "template.json").read_bytes()


def test_arm64_build_carries_the_aarch64_pydantic_core(build: Builder) -> None:
    result = build("aws", python="3.12", arch="arm64")
    with zipfile.ZipFile(artifact(result, "lambda.zip")) as zf:
        sos = [n for n in zf.namelist() if n.startswith("pydantic_core/") and n.endswith(".so")]
        assert sos == ["pydantic_core/_pydantic_core.cpython-312-aarch64-linux-gnu.so"], sos
        header = zf.read(sos[0])[:20]
    assert header[:4] == b"\x7fELF"
    assert int.from_bytes(header[18:20], "little") == 183  # e_machine EM_AARCH64
    template = json.loads(artifact(result, "template.json").read_text())
    fn = template["Resources"]["CreateOrderFunction"]["Properties"]
    assert (fn["Runtime"], fn["Architectures"]) == ("python3.12", ["arm64"])


def test_the_entry_imports_only_from_the_artifact(lambda_root: tuple[Path, Path]) -> None:
    task, runtime = lambda_root
    code = (
        "import sys, lambda_function, portafn, pydantic_core;"
        "print(portafn.__file__); print(pydantic_core.__file__);"
        "print(any(m.split('.')[0] in ('azure', 'boto3') for m in sys.modules))"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=task,
        env=clean_env(task, runtime),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    portafn_file, core_file, loaded_sdk = proc.stdout.split()
    assert portafn_file.startswith(str(task))
    assert core_file.startswith(str(task))
    assert loaded_sdk == "False"  # importing the entry loads no SDK at all


@pytest.fixture(scope="module")
def bootstrap(lambda_root: tuple[Path, Path]) -> Iterator[RuntimeApi]:
    """``python -S -m awslambdaric lambda_function.handler`` in the extracted zip, as Lambda runs it."""
    with lambda_bootstrap(*lambda_root, "orders", "create_order", "memory://") as api:
        yield api


def _http_event(method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    return http_event(method, "/customers/{customer_id}/orders", path, body)


def test_the_zip_answers_http_under_awslambdaric(bootstrap: RuntimeApi) -> None:
    request_id = bootstrap.invoke(
        _http_event("POST", "/customers/c-9/orders", {"order_id": "o-1", "total_cents": 5})
    )
    outcome = bootstrap.outcome(timeout=60)
    assert (outcome.request_id, outcome.kind) == (request_id, "response"), outcome.body
    assert outcome.body["statusCode"] == 201
    order = json.loads(outcome.body["body"])
    assert (order["customer_id"], order["order_id"], order["total_cents"]) == ("c-9", "o-1", 5)

    bootstrap.invoke(_http_event("POST", "/customers/c-9/orders", {"order_id": "o-1", "total_cents": -1}))
    bad = bootstrap.outcome(timeout=60)
    assert bad.body["statusCode"] == 400
    assert "total_cents" in bad.body["body"]


# -- the SAM template ---------------------------------------------------------------------------


def _statements(template: dict[str, Any], fn: str) -> list[dict[str, Any]]:
    role = template["Resources"][fn + "Role"]["Properties"]
    return [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from _walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v)


def test_every_function_has_an_event_and_a_role_of_its_own(aws_build: PackageResult) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())
    resources = template["Resources"]
    functions = {k: v for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == {
        "CreateOrderFunction",
        "GetOrderFunction",
        "ListOrdersFunction",
        "OnOrderEventFunction",
        "NightlyFunction",
        "OnOrderChangeFunction",
    }
    events = {k: next(iter(v["Properties"]["Events"].values())) for k, v in functions.items()}
    assert events["CreateOrderFunction"] == {
        "Type": "HttpApi",
        "Properties": {"Path": "/customers/{customer_id}/orders", "Method": "POST"},
    }
    assert events["OnOrderEventFunction"]["Type"] == "SQS"
    assert events["OnOrderEventFunction"]["Properties"]["FunctionResponseTypes"] == [
        "ReportBatchItemFailures"
    ]
    assert events["NightlyFunction"]["Properties"]["Schedule"] == "cron(0 2 * * ? *)"
    assert events["OnOrderChangeFunction"]["Properties"]["Stream"] == {
        "Fn::GetAtt": ["OrdersTable", "StreamArn"]
    }
    for name, fn in functions.items():
        props = fn["Properties"]
        assert props["Role"] == {"Fn::GetAtt": [name.removesuffix("Function") + "Role", "Arn"]}
        assert props["Handler"] == "lambda_function.handler"
        assert props["CodeUri"] == "lambda.zip"
        assert props["Environment"]["Variables"]["PORTAFN_FUNCTION"]
        # The template makes the tables, so the functions skip create-if-missing on cold starts.
        assert props["Environment"]["Variables"]["PORTAFN_CREATE_TABLES"] == "0"


def test_tables_have_the_store_keys_ttl_and_stream(aws_build: PackageResult) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())
    tables = {
        k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == "AWS::DynamoDB::Table"
    }
    assert set(tables) == {"OrdersTable", "NightlyRunsTable", "OrderActivityTable"}
    for props in tables.values():
        assert props["KeySchema"] == [
            {"AttributeName": "_pk", "KeyType": "HASH"},
            {"AttributeName": "_sk", "KeyType": "RANGE"},
        ]
        assert {a["AttributeType"] for a in props["AttributeDefinitions"]} == {"S"}
        assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert tables["OrdersTable"]["TableName"] == {"Fn::Sub": "${AWS::StackName}-orders"}


def test_iam_names_only_each_functions_tables_and_actions(aws_build: PackageResult) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())

    def grants(fn: str) -> dict[tuple[str, ...], list[Any]]:
        return {tuple(s["Action"]): s["Resource"] for s in _statements(template, fn)}

    def table(name: str, attr: str = "Arn") -> dict[str, Any]:
        return {"Fn::GetAtt": [name, attr]}

    logs = lambda fn: {LOG_ACTIONS: [table(fn + "Logs")]}  # noqa: E731
    dlq = lambda fn: {DLQ_SEND_ACTIONS: [table(fn + "DeadLetterQueue")]}  # noqa: E731
    put, get, query = ("dynamodb:PutItem",), ("dynamodb:GetItem",), ("dynamodb:Query",)
    # Each function gets only the actions its own operations need: a reader reads, a writer writes.
    assert grants("CreateOrder") == {**logs("CreateOrder"), put: [table("OrdersTable")]}
    assert grants("GetOrder") == {**logs("GetOrder"), get: [table("OrdersTable")]}
    assert grants("ListOrders") == {**logs("ListOrders"), query: [table("OrdersTable")]}
    assert grants("Nightly") == {
        **logs("Nightly"),
        put: [table("NightlyRunsTable")],
        **dlq("Nightly"),
    }
    assert grants("OnOrderEvent") == {
        **logs("OnOrderEvent"),
        ("dynamodb:GetItem", "dynamodb:PutItem"): [table("OrdersTable")],
        QUEUE_ACTIONS: [table("OrderEventsQueue")],
        DLQ_LOOKUP_ACTIONS: [table("OrderEventsQueue"), table("OrderEventsDeadLetterQueue")],
        DLQ_SEND_ACTIONS: [table("OrderEventsDeadLetterQueue")],
    }
    assert grants("OnOrderChange") == {
        **logs("OnOrderChange"),
        put: [table("OrderActivityTable")],
        STREAM_ACTIONS: [table("OrdersTable", "StreamArn")],
        **dlq("OnOrderChange"),
    }
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        for statement in resource["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]:
            for value in _walk([statement["Action"], statement["Resource"]]):
                assert not (isinstance(value, str) and "*" in value), statement


def test_queues_streams_and_async_functions_have_dead_letter_destinations(aws_build: PackageResult) -> None:
    template = json.loads(artifact(aws_build, "template.json").read_text())
    resources = template["Resources"]
    queue = resources["OrderEventsQueue"]["Properties"]
    assert queue["QueueName"] == {"Fn::Sub": "${AWS::StackName}-order-events"}
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["OrderEventsDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 5,
    }
    # The adapter's naming convention (<queue>-dlq) agrees with the template's.
    assert resources["OrderEventsDeadLetterQueue"]["Properties"]["QueueName"] == {
        "Fn::Sub": "${AWS::StackName}-order-events-dlq"
    }

    change = resources["OnOrderChangeFunction"]["Properties"]
    stream = next(iter(change["Events"].values()))["Properties"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] == 5
    assert stream["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["OnOrderChangeDeadLetterQueue", "Arn"]}}
    }

    nightly = resources["NightlyFunction"]["Properties"]
    assert nightly["EventInvokeConfig"] == {
        "MaximumRetryAttempts": 2,
        "DestinationConfig": {
            "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": ["NightlyDeadLetterQueue", "Arn"]}}
        },
    }
    assert nightly["Environment"]["Variables"]["PORTAFN_DLQ_URL"] == {"Ref": "NightlyDeadLetterQueue"}
    assert "EventInvokeConfig" not in resources["CreateOrderFunction"]["Properties"]


def _template_for(app: Any, tmp_path: Path) -> dict[str, Any]:
    from portafn.package.build import BuildContext
    from portafn.package.wheels import Target

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


def test_published_topics_are_created_and_granted_exactly(tmp_path: Path) -> None:
    from samples.ingest.app import app

    template = _template_for(app, tmp_path)
    resources = template["Resources"]
    assert resources["FilesReceivedTopic"] == {
        "Type": "AWS::SNS::Topic",
        "Properties": {"TopicName": {"Fn::Sub": "${AWS::StackName}-files-received"}},
    }
    publisher = resources["OnUploadFunction"]["Properties"]
    assert publisher["Environment"]["Variables"]["PORTAFN_AWS_TOPIC_ARN_PREFIX"] == {
        "Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:${AWS::StackName}-"
    }
    grants = {tuple(s["Action"]): s["Resource"] for s in _statements(template, "OnUpload")}
    assert grants[PUBLISH_ACTIONS] == [{"Ref": "FilesReceivedTopic"}]
    for fn in ("CatalogueFile", "TallyFile"):  # consumers publish nothing
        assert PUBLISH_ACTIONS not in {tuple(s["Action"]) for s in _statements(template, fn)}


def test_a_queue_function_on_a_published_topic_is_subscribed_with_raw_delivery(tmp_path: Path) -> None:
    app = App("fanout")

    @app.http("POST", "/x")
    def send(ctx: Context) -> None:
        ctx.publish("jobs", {"n": 1})

    @app.queue("jobs")
    def work(msg: Message[Any]) -> None: ...

    resources = _template_for(app, tmp_path)["Resources"]
    assert resources["JobsSubscription"]["Properties"] == {
        "TopicArn": {"Ref": "JobsTopic"},
        "Protocol": "sqs",
        "Endpoint": {"Fn::GetAtt": ["JobsQueue", "Arn"]},
        "RawMessageDelivery": True,
    }
    [statement] = resources["JobsQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": "JobsTopic"}}}
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}


def test_templates_pass_cfn_lint(aws_build: PackageResult, tmp_path: Path) -> None:
    """cfn-lint (AWS's template linter, with the SAM translator) accepts every template shape."""
    from samples.ingest.app import app as ingest

    fifo = App("fifo")

    @fifo.http("POST", "/x")
    def put(ctx: Context) -> None:
        ctx.publish("jobs.fifo", {"n": 1}, key="k")

    @fifo.queue("jobs.fifo")
    def take(msg: Message[Any]) -> None: ...

    templates = [artifact(aws_build, "template.json")]
    for name, app in (("ingest", ingest), ("fifo", fifo)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(_template_for(app, tmp_path)))
        templates.append(path)
    linter = Path(sys.executable).with_name("cfn-lint")
    assert linter.is_file(), "cfn-lint is not installed (it comes with the dev group's moto[server])"
    out = subprocess.run([str(linter), *map(str, templates)], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_outbox_relays_for_cosmos_partitions_are_left_out(tmp_path: Path) -> None:
    """DynamoDB transactions cross tables, so records never sit in a business table's partitions:
    the relay kept for Cosmos DB (``portafn_outbox_relay_orders``) gets no function, no stream."""
    from tests.reliability.outbox_app import outbox_app

    resources = _template_for(outbox_app, tmp_path)["Resources"]
    assert "PortafnOutboxRelayFunction" in resources
    assert "PortafnOutboxSweepFunction" in resources
    assert not any(name.startswith("PortafnOutboxRelayOrders") for name in resources)
