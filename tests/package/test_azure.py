"""The Azure build: the function app indexed from the built folder by the real azure-functions
library, host.json's queue retries, and the ARM template's queues with their poison queues."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from portafn_azure.package import HOST_JSON, SITE, published_topics, storage_queues

from portafn import App, Context, Event, Message
from portafn.package import PackageResult
from portafn.reliability import idempotency_table, idempotent
from samples.ingest.app import app as ingest_app
from samples.orders.app import app as orders_app
from tests.package.conftest import PYTHON, artifact

BILLING = "billing-events"


def _clean_env(*paths: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    return {**keep, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONNOUSERSITE": "1"}


def test_azure_app_is_indexed_from_the_built_folder(azure_build: PackageResult) -> None:
    folder = artifact(azure_build, "functionapp")
    host = json.loads((folder / "host.json").read_text())
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    code = (
        "import function_app, json;"
        # The queue client ships with the app: ctx.publish and the poison-queue forward use it.
        "import azure.storage.queue;"
        "print(json.dumps(sorted(f.get_function_name() for f in function_app.app.get_functions())))"
    )
    proc = subprocess.run(
        [sys.executable, "-S", "-c", code],
        cwd=folder,
        env=_clean_env(folder, folder / ".python_packages" / "lib" / "site-packages"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    names = json.loads(proc.stdout.splitlines()[-1])
    assert {"on_order_event", "nightly", "on_order_change"} <= set(names), names


INVOKE = """
import json, types
import function_app
from azure.functions.http import HttpRequestConverter, HttpResponseConverter
from azure.functions.meta import Datum

functions = {f.get_function_name(): f for f in function_app.app.get_functions()}


def call(name, method, path, params, body):
    datum = Datum(type="http", value={
        "method": Datum(method, "string"),
        "url": Datum("http://localhost:7071/api" + path, "string"),
        "headers": {"content-type": Datum("application/json", "string")},
        "query": {},
        "params": {k: Datum(v, "string") for k, v in params.items()},
        "body": Datum(body, "bytes"),
    })
    req = HttpRequestConverter.decode(datum, trigger_metadata={})
    resp = functions[name].get_user_function()(req, types.SimpleNamespace(function_name=name))
    out = HttpResponseConverter.encode(resp, expected_type=None).value
    return {"status": int(out["status_code"].value), "body": json.loads(out["body"].value or b"null")}


print(json.dumps([
    call("create_order", "POST", "/customers/c1/orders", {"customer_id": "c1"}, b'{"order_id": "o1", "total_cents": 5}'),
    call("create_order", "POST", "/customers/c1/orders", {"customer_id": "c1"}, b'{"order_id": "", "total_cents": -1}'),
    call("get_order", "GET", "/customers/c1/orders/o1", {"customer_id": "c1", "order_id": "o1"}, b""),
]))
"""


def test_azure_app_is_invoked_through_the_librarys_converters_from_the_built_folder(
    azure_build: PackageResult,
) -> None:
    folder = artifact(azure_build, "functionapp")
    env = _clean_env(folder, folder / ".python_packages" / "lib" / "site-packages")
    env["PORTAFN_STORE"] = "memory://"
    proc = subprocess.run(
        [sys.executable, "-S", "-c", INVOKE],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    created, invalid, fetched = json.loads(proc.stdout.splitlines()[-1])
    assert created["status"] == 201
    assert created["body"]["order_id"] == "o1"
    assert invalid["status"] == 400
    assert {tuple(e["loc"]) for e in invalid["body"]["errors"]} == {
        ("body", "order_id"),
        ("body", "total_cents"),
    }
    assert (fetched["status"], fetched["body"]["total_cents"]) == (200, 5)


def test_host_json_sets_the_queue_retries(azure_build: PackageResult) -> None:
    host = json.loads((artifact(azure_build, "functionapp") / "host.json").read_text())
    assert host["extensions"]["queues"] == {
        "maxDequeueCount": 5,
        "visibilityTimeout": "00:00:30",
        "messageEncoding": "base64",  # what ctx.publish writes and the trigger decodes
    }
    assert host == HOST_JSON


def test_azure_template_has_containers_with_partition_keys_and_queues(azure_build: PackageResult) -> None:
    template = json.loads(artifact(azure_build, "azuredeploy.json").read_text())
    containers = [
        r for r in template["resources"] if r["type"].endswith("/containers") and "DocumentDB" in r["type"]
    ]
    ids = {c["properties"]["resource"]["id"] for c in containers}
    assert ids == {"orders", "nightly_runs", "order_activity", "leases"}
    assert all(c["properties"]["resource"]["partitionKey"]["paths"] for c in containers)
    queues = [r["name"] for r in template["resources"] if r["type"].endswith("/queues")]
    assert queues == [
        "[format('{0}/default/order-events', variables('storageName'))]",
        "[format('{0}/default/order-events-poison', variables('storageName'))]",
    ]


def _publishing_app() -> App:
    app = App("publishing")
    idempotency_table(app)

    def announce(ctx: Context, n: int) -> None:  # a helper in the same package
        ctx.publish("Audit.Log", {"n": n})

    @app.http("POST", "/orders")
    def place(ctx: Context) -> None:
        ctx.publish("order-created", {"id": 1}, key="c")
        ctx.publish(topic="order-keyword", data={})
        ctx.publish(BILLING, {})
        announce(ctx, 1)

    @app.queue("payments")
    @idempotent(key="id")
    def pay(msg: Message[dict[str, Any]], ctx: Context) -> None:
        ctx.publish("payment-taken", msg.data)

    @app.topic("order-created")
    def fan_out(msg: Message[Any]) -> None: ...

    return app


def test_published_topics_are_found_in_handlers_helpers_and_wrapped_functions() -> None:
    assert published_topics(_publishing_app()) == {
        "order-created",
        "order-keyword",
        BILLING,
        "Audit.Log",
        "payment-taken",
    }


def test_queues_are_the_consumed_and_published_ones_with_poison_queues() -> None:
    # order-created is a topic function's: Service Bus, not a Storage queue.
    assert storage_queues(_publishing_app()) == sorted(
        name + suffix
        for name in ("audit-log", BILLING, "order-keyword", "payment-taken", "payments")
        for suffix in ("", "-poison")
    )
    assert storage_queues(orders_app) == ["order-events", "order-events-poison"]
    assert published_topics(ingest_app) == {"files-received"}
    assert storage_queues(ingest_app) == []  # files-received is consumed by topic functions


def test_a_queue_too_long_for_a_poison_queue_gets_none() -> None:
    # <queue>-poison must itself be a valid queue name (at most 63 characters).
    app = App("long")

    @app.queue("q" * 57)
    def long_queue(msg: Message[Any]) -> None: ...

    @app.queue("p" * 56)
    def longest_poisonable(msg: Message[Any]) -> None: ...

    assert storage_queues(app) == ["p" * 56, "p" * 56 + "-poison", "q" * 57]


def _template(app: App, tmp_path: Path, installed: list[str]) -> tuple[dict[str, Any], list[str]]:
    from portafn_azure.package import arm_template, glibc

    from portafn.package.build import BuildContext
    from portafn.package.wheels import make_target

    ctx = BuildContext(
        app=app,
        module="app",
        attr="app",
        target=make_target(PYTHON, "x86_64", glibc(PYTHON)),
        out=tmp_path,
        work=tmp_path,
        site=tmp_path,
        source=[],
        installed=installed,
        wheels=[],
        progress=lambda line: None,
    )
    return arm_template(ctx), ctx.notes


def test_publishing_to_service_bus_topics_without_the_sdk_is_noted(tmp_path: Path) -> None:
    _, notes = _template(ingest_app, tmp_path, ["azure-functions==1.26.0"])
    assert any("azure-servicebus" in n and "files-received" in n for n in notes), notes
    _, notes = _template(ingest_app, tmp_path, ["azure-servicebus==7.15.0"])
    assert not any("azure-servicebus" in n for n in notes), notes


def test_template_queues_include_published_ones(tmp_path: Path) -> None:
    template, _ = _template(_publishing_app(), tmp_path, [])
    queues = [
        r["name"].split("/default/")[1].split("'")[0]
        for r in template["resources"]
        if r["type"].endswith("/queues")
    ]
    assert queues == storage_queues(_publishing_app())
    assert "payment-taken-poison" in queues


def _grid_app() -> App:
    app = App("grid-pub")

    @app.http("POST", "/orders")
    def place(ctx: Context) -> None:
        ctx.publish("order.placed", {"id": 1})
        ctx.publish("order-audit", {"id": 1})
        ctx.publish("elsewhere", {"id": 1})

    @app.event("order.placed")
    def on_placed(ev: Event[Any]) -> None: ...

    @app.event("never.published")
    def on_other(ev: Event[Any]) -> None: ...

    @app.queue("order-audit")
    def audit(msg: Message[Any]) -> None: ...

    return app


def test_template_declares_the_event_grid_topic_and_its_settings_when_the_app_publishes_events(
    tmp_path: Path,
) -> None:
    from portafn_azure.package import eventgrid_targets
    from portafn_azure.publish import EVENTGRID_CONNECTION, EVENTGRID_ENDPOINT_SETTING, EVENTGRID_KEY_SETTING

    app = _grid_app()
    # Only published types an event function consumes go to Event Grid; queue names stay queues.
    assert eventgrid_targets(app) == ["order.placed"]
    assert storage_queues(app) == ["elsewhere", "elsewhere-poison", "order-audit", "order-audit-poison"]

    template, notes = _template(app, tmp_path, ["azure-functions==1.26.0"])
    [topic] = [r for r in template["resources"] if r["type"] == "Microsoft.EventGrid/topics"]
    assert topic["name"] == "[variables('eventGridTopicName')]"
    assert topic["properties"]["inputSchema"] == "CloudEventSchemaV1_0"
    assert "eventGridTopicName" in template["variables"]
    [site] = [r for r in template["resources"] if r["type"] == "Microsoft.Web/sites"]
    topic_id = "resourceId('Microsoft.EventGrid/topics', variables('eventGridTopicName'))"
    assert f"[{topic_id}]" in site["dependsOn"]
    settings = {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}
    # The identity-based connection the publisher reads at run time; no topic key anywhere.
    assert EVENTGRID_CONNECTION == "EventGridConnection"
    assert (
        settings[f"{EVENTGRID_CONNECTION}__topicEndpointUri"]
        == f"[reference({topic_id}, '2022-06-15').endpoint]"
    )
    assert EVENTGRID_KEY_SETTING not in settings
    assert "listKeys" not in json.dumps(template)
    [sender] = [r for r in template["resources"] if "EventGrid Data Sender" in str(r.get("properties"))]
    assert sender["scope"] == "[format('Microsoft.EventGrid/topics/{0}', variables('eventGridTopicName'))]"
    assert any("event-subscription create" in n and "order.placed" in n for n in notes), notes
    assert any("azure-eventgrid" in n for n in notes), notes
    _, notes = _template(app, tmp_path, ["azure-eventgrid==4.22.1"])
    assert not any("add azure-eventgrid" in n for n in notes), notes

    # An app that publishes nothing an event function takes gets no topic and no settings.
    template, _ = _template(_publishing_app(), tmp_path, [])
    assert not [r for r in template["resources"] if r["type"].startswith("Microsoft.EventGrid")]
    [site] = [r for r in template["resources"] if r["type"] == "Microsoft.Web/sites"]
    names = {s["name"] for s in site["properties"]["siteConfig"]["appSettings"]}
    assert EVENTGRID_ENDPOINT_SETTING not in names
    assert EVENTGRID_KEY_SETTING not in names


def test_the_zip_ships_no_test_stand_ins(azure_build: PackageResult) -> None:
    # The Cosmos server launcher, its fidelity proxy and Azurite run on a laptop, never in an app.
    stand_in = "portafn_azure/dev/"
    with zipfile.ZipFile(artifact(azure_build, "functionapp.zip")) as zf:
        names = zf.namelist()
        site = [n.removeprefix(f"{SITE}/") for n in names if n.startswith(f"{SITE}/")]
        assert "portafn_azure/entry.py" in site
        assert not [n for n in site if n.startswith(stand_in)]
        record = next(n for n in site if n.startswith("portafn_azure-") and n.endswith(".dist-info/RECORD"))
        assert stand_in not in zf.read(f"{SITE}/{record}").decode()
        wheels = [n for n in names if n.startswith("wheels/") and n.endswith(".whl")]
        assert any(Path(w).name.startswith("portafn_azure-") for w in wheels)
        for wheel in wheels:
            with zipfile.ZipFile(io.BytesIO(zf.read(wheel))) as inner:
                shipped = inner.namelist()
                assert not [n for n in shipped if n.startswith(stand_in)], wheel
                records = [inner.read(n).decode() for n in shipped if n.endswith(".dist-info/RECORD")]
                assert all(stand_in not in r for r in records), wheel
    assert not (artifact(azure_build, "functionapp") / SITE / "portafn_azure" / "dev").exists()
