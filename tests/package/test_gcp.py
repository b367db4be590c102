"""GCP packaging: the source served by a real functions-framework server, and deploy.sh's structure.

The deploy script is checked command by command (every flag used here was checked against
``gcloud ... --help``) and with ``bash -n``; it is not run against Google Cloud here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import shlex
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from portafn_gcp import package as gcp
from pydantic import BaseModel

from portafn import App, Change, Context, Message, Schedule, StorageEvent
from portafn.package import PackageResult
from portafn.package.build import BuildContext
from portafn.package.devonly import strip_wheel
from portafn.package.wheels import Target
from tests.package.conftest import PYTHON, artifact
from tests.package.functions_framework import install_site, request, serve


@pytest.fixture(scope="module")
def gcp_site(gcp_build: PackageResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built source's dependencies, installed from its own ``requirements.txt`` (what Cloud
    Build does with the source; this machine is the target)."""
    return install_site(artifact(gcp_build, "source"), tmp_path_factory.mktemp("gcp-site"))


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    status, _, answer = request(url, body, headers)
    return status, answer


def test_gcp_source_runs_under_functions_framework(gcp_build: PackageResult, gcp_site: Path) -> None:
    server, port = serve(artifact(gcp_build, "source"), gcp_site, "http", "memory://")
    with server:
        body = json.dumps({"order_id": "o-7", "total_cents": 700}).encode()
        status, answer = _post(
            f"http://127.0.0.1:{port}/customers/c-7/orders", body, {"content-type": "application/json"}
        )
    assert status == 201
    order = json.loads(answer)
    assert (order["customer_id"], order["order_id"], order["total_cents"]) == ("c-7", "o-7", 700)


def _order_event(status: str, order_id: str) -> Message[Any]:
    payload = {"customer_id": "c-8", "order_id": order_id, "status": status}
    return Message[Any](
        id=f"m-{order_id}-{status}",
        source="//pubsub.googleapis.com/projects/p/topics/order-events",
        type="google.cloud.pubsub.topic.v1.messagePublished",
        body=json.dumps(payload).encode(),
        queue="order-events",
    )


def test_gcp_source_answers_cloudevents_under_functions_framework(
    gcp_build: PackageResult, gcp_site: Path, tmp_path: Path
) -> None:
    """The queue target of the built source takes binary and structured CloudEvents as Eventarc
    sends them: a status change for a known order is applied (200), one for an unknown order
    fails so Pub/Sub redelivers it (500)."""
    from portafn_gcp.events import message_to_cloudevent

    from portafn.cloudevents import from_dict, to_binary, to_structured

    source = artifact(gcp_build, "source")
    store = f"sqlite:///{tmp_path / 'orders.db'}"  # one store both targets' processes share
    http, http_port = serve(source, gcp_site, "http", store)
    queue, queue_port = serve(source, gcp_site, "on_order_event", store)
    with http, queue:
        for order_id in ("o-8", "o-9"):
            status, _ = _post(
                f"http://127.0.0.1:{http_port}/customers/c-8/orders",
                json.dumps({"order_id": order_id, "total_cents": 800}).encode(),
                {"content-type": "application/json"},
            )
            assert status == 201
        delivered = {}
        for order_id, mode in (("o-8", to_binary), ("o-9", to_structured), ("o-404", to_binary)):
            headers, body = mode(from_dict(message_to_cloudevent(_order_event("paid", order_id))))
            delivered[order_id] = _post(f"http://127.0.0.1:{queue_port}/", body, headers)[0]
        statuses = {}
        for order_id in ("o-8", "o-9"):
            url = f"http://127.0.0.1:{http_port}/customers/c-8/orders/{order_id}"
            with urllib.request.urlopen(url, timeout=30) as response:
                statuses[order_id] = json.loads(response.read())["status"]
    assert delivered == {"o-8": 200, "o-9": 200, "o-404": 500}
    assert statuses == {"o-8": "paid", "o-9": "paid"}


def test_gcp_deploy_script_and_indexes(gcp_build: PackageResult) -> None:
    script = artifact(gcp_build, "deploy.sh").read_text()
    assert "--entry-point=http --trigger-http" in script
    assert "--entry-point=on_order_event --trigger-topic=order-events --retry" in script
    assert "gcloud scheduler jobs create pubsub orders-nightly" in script
    assert "'--schedule=0 2 * * *'" in script
    assert "--topic=portafn-schedule-nightly" in script
    assert "type=google.cloud.firestore.document.v1.written" in script
    indexes = json.loads(artifact(gcp_build, "firestore.indexes.json").read_text())["indexes"]
    assert {i["collectionGroup"] for i in indexes} == {"orders", "nightly_runs", "order_activity"}
    bash = subprocess.run(
        ["bash", "-n", str(artifact(gcp_build, "deploy.sh"))], capture_output=True, check=False
    )
    assert bash.returncode == 0, bash.stderr


# -- the deploy commands of an app with every kind of function, checked one by one -------------------


class Session(BaseModel):
    user: str
    started: int
    expires_at: int


class Note(BaseModel):
    user: str


app = App("kinds")
sessions = app.table(Session, partition_key="user", sort_key="started", ttl="expires_at")
notes = app.table(Note, partition_key="user", name="notes")


def _announce(ctx: Context, user: str) -> None:
    ctx.publish("user-seen", {"user": user})


@app.http("POST", "/sessions/{user}")
def start(user: str, ctx: Context) -> None:
    ctx.publish("session-started", {"user": user}, key=user)
    _announce(ctx, user)


@app.queue("work")
def work(msg: Message[Any]) -> None: ...


@app.topic("session-started")
def on_started(msg: Message[Any]) -> None: ...


@app.schedule("*/10 * * * *")
def tick(ev: Schedule) -> None: ...


@app.storage("uploads", on="created")
def on_upload(ev: StorageEvent) -> None: ...


@app.changes(sessions)
def on_session(change: Change[Session]) -> None: ...


def context(tmp_path: Path, store_url: str = "") -> BuildContext:
    return BuildContext(
        app=app,
        module="tests.package.test_gcp",
        attr="app",
        target=Target(PYTHON, "x86_64"),
        out=tmp_path,
        work=tmp_path,
        site=tmp_path,
        source=[],
        installed=[],
        wheels=[],
        progress=lambda line: None,
        store_url=store_url,
    )


def commands(ctx: BuildContext, *head: str) -> list[list[str]]:
    return [argv for argv in gcp.deploy_commands(ctx) if argv[1 : 1 + len(head)] == list(head)]


def deploy_of(ctx: BuildContext, entry: str) -> list[str]:
    [argv] = [a for a in commands(ctx, "functions", "deploy") if f"--entry-point={entry}" in a]
    return argv


def test_every_event_function_is_deployed_with_retry(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    for entry in ("work", "on_started", "tick", "on_upload", "on_session"):
        argv = deploy_of(ctx, entry)
        assert "--retry" in argv, entry
        assert (
            "--set-env-vars=PORTAFN_STORE=firestore://$PROJECT,GOOGLE_CLOUD_PROJECT=$PROJECT,PORTAFN_CREATE_TABLES=0"
            in argv
        )
    assert "--retry" not in deploy_of(ctx, "http")
    assert "--trigger-topic=work" in deploy_of(ctx, "work")
    assert "--trigger-topic=session-started" in deploy_of(ctx, "on_started")
    assert "--trigger-topic=portafn-schedule-tick" in deploy_of(ctx, "tick")
    assert "--trigger-event-filters=bucket=uploads" in deploy_of(ctx, "on_upload")
    assert "--trigger-event-filters-path-pattern=document=sessions/{doc}" in deploy_of(ctx, "on_session")


def test_a_schedule_is_a_scheduler_job_publishing_to_its_topic(tmp_path: Path) -> None:
    [job] = commands(context(tmp_path), "scheduler", "jobs", "create", "pubsub")
    assert job[5] == "kinds-tick"
    assert "--schedule=*/10 * * * *" in job
    assert "--topic=portafn-schedule-tick" in job
    assert "--time-zone=Etc/UTC" in job


def test_topics_cover_triggers_publishes_schedules_and_dead_letters(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    created = {argv[4] for argv in commands(ctx, "pubsub", "topics", "create")}
    assert {
        "work",
        "session-started",
        "user-seen",
        "portafn-schedule-tick",
    } <= created  # user-seen: a helper's
    dead = {
        "work-dead-letter",
        "session-started-dead-letter",
        "portafn-schedule-tick-dead-letter",
        "portafn-on_upload-dead-letter",
        "portafn-on_session-dead-letter",
    }
    assert dead <= created
    kept = {(argv[4], argv[5]) for argv in commands(ctx, "pubsub", "subscriptions", "create")}
    assert kept == {(f"{t}-sub", f"--topic={t}") for t in dead}
    assert gcp.published_topics(app) == ["session-started", "user-seen"]


def test_pubsub_triggered_functions_get_a_dead_letter_policy(tmp_path: Path) -> None:
    lines = gcp.dead_letter_policy_script(context(tmp_path))
    updates = [line for line in lines if line.startswith("gcloud pubsub subscriptions update")]
    assert len(updates) == 3  # work, on_started, tick: the functions Eventarc feeds from Pub/Sub
    assert all(f"--max-delivery-attempts={gcp.MAX_DELIVERY_ATTEMPTS}" in line for line in updates)
    topics = {shlex.split(line)[5] for line in updates}
    assert topics == {
        "--dead-letter-topic=work-dead-letter",
        "--dead-letter-topic=session-started-dead-letter",
        "--dead-letter-topic=portafn-schedule-tick-dead-letter",
    }
    assert any("gcloud functions describe kinds-work" in line for line in lines)


def test_ttl_policy_and_indexes_per_table_collection(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    [ttl] = commands(ctx, "firestore", "fields", "ttls", "update")
    assert ttl[5:8] == ["_expires", "--collection-group=sessions", "--enable-ttl"]
    indexes = gcp.firestore_indexes(ctx)["indexes"]
    assert indexes == [
        {
            "collectionGroup": "sessions",
            "queryScope": "COLLECTION",
            "fields": [{"fieldPath": "_pk", "order": "ASCENDING"}, {"fieldPath": "_sk", "order": order}],
        }
        for order in ("ASCENDING", "DESCENDING")
    ]  # `notes` has no sort key: one item per partition, no ordered query
    created = commands(ctx, "firestore", "indexes", "composite", "create")
    assert [a[5:9] for a in created] == [
        [
            "--collection-group=sessions",
            "--query-scope=COLLECTION",
            "--field-config=field-path=_pk,order=ascending",
            f"--field-config=field-path=_sk,order={order}",
        ]
        for order in ("ascending", "descending")
    ]


def test_a_store_prefix_and_database_reach_every_name(tmp_path: Path) -> None:
    from portafn_gcp.firestore_store import FirestoreStore

    url = "firestore://local?prefix=prod_&database=orders-db"
    store = FirestoreStore(url)
    assert store.prefix == "prod_"  # the store keeps table T in collection prefix + T
    ctx = context(tmp_path, url)
    assert {i["collectionGroup"] for i in gcp.firestore_indexes(ctx)["indexes"]} == {"prod_sessions"}
    [ttl] = commands(ctx, "firestore", "fields", "ttls", "update")
    assert "--collection-group=prod_sessions" in ttl
    assert "--database=orders-db" in ttl
    changes = deploy_of(ctx, "on_session")
    assert "--trigger-event-filters=database=orders-db" in changes
    assert "--trigger-event-filters-path-pattern=document=prod_sessions/{doc}" in changes
    assert (
        "--set-env-vars=PORTAFN_STORE=firestore://$PROJECT?database=orders-db&prefix=prod_,"
        "GOOGLE_CLOUD_PROJECT=$PROJECT,PORTAFN_CREATE_TABLES=0"
    ) in changes


def test_the_script_parses(tmp_path: Path) -> None:
    script = tmp_path / "deploy.sh"
    script.write_text(gcp.deploy_script(context(tmp_path)))
    bash = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert bash.returncode == 0, bash.stderr
    text = script.read_text()
    assert 'gcloud pubsub topics create work-dead-letter "--project=$PROJECT" || true' in text
    assert text.index("gcloud functions deploy kinds-work") < text.index("subscriptions update")


_COMMANDS = (
    ("functions", "deploy"),
    ("functions", "describe"),
    ("pubsub", "topics", "create"),
    ("pubsub", "topics", "add-iam-policy-binding"),
    ("pubsub", "subscriptions", "create"),
    ("pubsub", "subscriptions", "update"),
    ("pubsub", "subscriptions", "add-iam-policy-binding"),
    ("scheduler", "jobs", "create", "pubsub"),
    ("firestore", "fields", "ttls", "update"),
    ("firestore", "indexes", "composite", "create"),
    ("eventarc", "triggers", "describe"),
    ("projects", "describe"),
    ("iam", "service-accounts", "create"),
    ("projects", "add-iam-policy-binding"),
    ("functions", "add-invoker-policy-binding"),
)


def test_every_flag_is_one_gcloud_documents(tmp_path: Path) -> None:
    """Each command's flags appear in that command's own `gcloud ... --help` (gcloud is installed)."""
    ctx = context(tmp_path, "firestore://p?prefix=x_&database=db")
    script = [shlex.split(line) for line in gcp.dead_letter_policy_script(ctx) if line.startswith("gcloud")]
    substituted = [
        shlex.split(line.split("$(", 1)[1].rsplit(")", 1)[0])
        for line in gcp.dead_letter_policy_script(ctx)
        if "$(gcloud" in line
    ]
    checked = set()
    for argv in [*gcp.deploy_commands(ctx), *script, *substituted]:
        command = next(c for c in _COMMANDS if tuple(argv[1 : 1 + len(c)]) == c)
        flags = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
        unknown = flags - _help_flags(*command)
        assert not unknown, f"gcloud {' '.join(command)}: {sorted(unknown)}"
        checked.add(command)
    assert checked == set(_COMMANDS)


@functools.cache
def _help_flags(*command: str) -> frozenset[str]:
    out = subprocess.run(
        ["gcloud", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TERM": "dumb", "PAGER": "cat", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"},
        timeout=120,
    )
    assert out.returncode == 0, f"gcloud {' '.join(command)} --help failed: {out.stderr[-500:]}"
    # --project and --format are gcloud-wide flags, listed only by `gcloud topic flags`.
    return frozenset(re.findall(r"(--[a-z][a-z0-9-]+)", out.stdout)) | {"--project", "--format"}


def test_the_outbox_relays_for_cosmos_partitions_are_left_out(tmp_path: Path) -> None:
    """Firestore transactions cross collections, so the relay kept for Cosmos DB partitions is not
    deployed; the outbox table's relay and the sweep are."""
    from tests.reliability.outbox_app import outbox_app

    ctx = dataclasses.replace(context(tmp_path), app=outbox_app, module="tests.reliability.outbox_app")
    deployed = " ".join(" ".join(argv) for argv in gcp.deploy_commands(ctx))
    assert "portafn_outbox_relay" in deployed or "portafn-outbox-relay" in deployed
    assert "outbox_relay_orders" not in deployed
    assert "outbox-relay-orders" not in deployed


# -- identities: one service account per function, with only the roles it needs -------------------


def _deploys(ctx: BuildContext) -> dict[str, list[str]]:
    return {argv[3]: argv for argv in commands(ctx, "functions", "deploy")}


def _flag(argv: list[str], name: str) -> str:
    [value] = [a.split("=", 1)[1] for a in argv if a.startswith(f"--{name}=")]
    return value


def _grants(ctx: BuildContext, account: str) -> set[tuple[str, str]]:
    """(resource, role) pairs granted to ``account``: ``project`` or ``topic:<name>``."""
    member = f"--member=serviceAccount:{account}@$PROJECT.iam.gserviceaccount.com"
    found = set()
    for argv in commands(ctx, "projects", "add-iam-policy-binding"):
        if member in argv:
            found.add(("project", _flag(argv, "role")))
    for argv in commands(ctx, "pubsub", "topics", "add-iam-policy-binding"):
        if member in argv:
            found.add((f"topic:{argv[4]}", _flag(argv, "role")))
    return found


def test_each_function_runs_as_its_own_service_account(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    deploys = _deploys(ctx)
    accounts = {name: _flag(argv, "service-account") for name, argv in deploys.items()}
    assert set(deploys) == {
        "kinds-http",
        "kinds-work",
        "kinds-on-started",
        "kinds-tick",
        "kinds-on-upload",
        "kinds-on-session",
    }
    # No function falls back to the default compute service account, and no two share one.
    assert len(set(accounts.values())) == len(deploys)
    created = {argv[4] for argv in commands(ctx, "iam", "service-accounts", "create")}
    assert {a.split("@", 1)[0] for a in accounts.values()} == created
    for name, argv in deploys.items():
        assert accounts[name].endswith("@$PROJECT.iam.gserviceaccount.com")
        if name != "kinds-http":  # an event trigger delivers as the function's own account
            assert _flag(argv, "trigger-service-account") == accounts[name]
    assert not any(a.startswith("--trigger-service-account") for a in deploys["kinds-http"])


def test_each_account_is_granted_only_what_its_function_uses(tmp_path: Path) -> None:
    ctx = context(tmp_path)
    publisher, receiver = "roles/pubsub.publisher", "roles/eventarc.eventReceiver"
    # The HTTP function publishes (itself and through a helper) and touches no table.
    assert _grants(ctx, "kinds-http") == {
        ("topic:session-started", publisher),
        ("topic:user-seen", publisher),
    }
    # Pub/Sub-triggered functions: only their dead-letter topic, for `DeadLetter`.
    assert _grants(ctx, "kinds-work") == {("topic:work-dead-letter", publisher)}
    assert _grants(ctx, "kinds-on-started") == {("topic:session-started-dead-letter", publisher)}
    assert _grants(ctx, "kinds-tick") == {("topic:portafn-schedule-tick-dead-letter", publisher)}
    # Events Eventarc routes from their source need the receiver role, on top.
    assert _grants(ctx, "kinds-on-upload") == {
        ("project", receiver),
        ("topic:portafn-on_upload-dead-letter", publisher),
    }
    assert _grants(ctx, "kinds-on-session") == {
        ("project", receiver),
        ("topic:portafn-on_session-dead-letter", publisher),
    }
    invokers = {argv[3]: argv for argv in commands(ctx, "functions", "add-invoker-policy-binding")}
    assert set(invokers) == set(_deploys(ctx)) - {"kinds-http"}  # HTTP is public: --allow-unauthenticated
    for name, argv in invokers.items():
        assert f"--member=serviceAccount:{name}@$PROJECT.iam.gserviceaccount.com" in argv


store_app = App("stored")
store_notes = store_app.table(Note, partition_key="user", name="notes")


@store_app.http("GET", "/notes/{user}")
def read_note(user: str) -> Note | None:
    return store_notes.get(user)


@store_app.queue("quiet")
def quiet(msg: Message[Any]) -> None: ...


def test_only_functions_that_reach_the_store_get_firestore(tmp_path: Path) -> None:
    from portafn_gcp.package import DATASTORE_ROLE, identities

    ctx = dataclasses.replace(context(tmp_path), app=store_app)
    assert ("project", DATASTORE_ROLE) in _grants(ctx, "stored-http")
    assert ("project", DATASTORE_ROLE) not in _grants(ctx, "stored-quiet")
    by_function = {i.function: i for i in identities(store_app)}
    assert by_function["stored-http"].project_roles == (DATASTORE_ROLE,)
    assert by_function["stored-quiet"].project_roles == ()


def test_the_outbox_relay_and_sweep_reach_the_store_and_every_published_topic(tmp_path: Path) -> None:
    from portafn_gcp.package import DATASTORE_ROLE, function_name, identities, published_topics

    from tests.reliability.outbox_app import outbox_app

    by_function = {i.function: i for i in identities(outbox_app)}
    for fn in ("portafn_outbox_relay", "portafn_outbox_sweep"):
        identity = by_function[function_name(outbox_app, outbox_app.functions[fn])]
        assert DATASTORE_ROLE in identity.project_roles
        assert set(published_topics(outbox_app)) <= set(identity.publishes_to)


def test_the_script_creates_accounts_grants_then_deploys(tmp_path: Path) -> None:
    text = gcp.deploy_script(context(tmp_path))
    lines = text.splitlines()
    create = lines.index(
        "gcloud iam service-accounts create kinds-work '--display-name=portafn kinds-work' "
        '"--project=$PROJECT" || true'
    )
    grant = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("grant ") and "serviceAccount:kinds-work@" in line
    )
    deploy = next(i for i, line in enumerate(lines) if line.startswith("gcloud functions deploy kinds-work"))
    invoker = next(i for i, line in enumerate(lines) if "add-invoker-policy-binding kinds-work" in line)
    assert create < grant < deploy < invoker
    # Every grant goes through the retrying `grant` shell function; none is silenced with `|| true`.
    bindings = [
        line
        for line in lines
        if "add-i" in line and "PUBSUB_AGENT" not in line and "$SUBSCRIPTION" not in line
    ]
    assert len(bindings) == 14  # 9 topic or project roles, 5 invokers
    assert all(line.startswith("grant ") and "|| true" not in line for line in bindings)
    assert "grant() {" in lines


def test_service_account_ids_fit_iam_rules() -> None:
    long_a = gcp.account_id("an-app-with-a-long-name-on-order-events-created")
    long_b = gcp.account_id("an-app-with-a-long-name-on-order-events-deleted")
    for account in (long_a, long_b, gcp.account_id("a-b"), gcp.account_id("9lives-http")):
        assert re.fullmatch(r"[a-z][a-z0-9-]{4,28}[a-z0-9]", account), account
    assert long_a != long_b  # cut names stay distinct
    assert gcp.account_id("kinds-work") == "kinds-work"


# -- what ships: no test stand-ins in the source folder ----------------------------------------------


def test_the_source_folder_ships_no_local_server_launchers(gcp_build: PackageResult) -> None:
    import zipfile

    source = artifact(gcp_build, "source")
    entries = [p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()]
    wheels = [source / e for e in entries if e.endswith(".whl")]
    assert {w.name.split("-", 1)[0] for w in wheels} == {"portafn", "portafn_gcp"}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            names = zf.namelist()
            [record] = [n for n in names if n.endswith(".dist-info/RECORD")]
            recorded = [line.split(",", 1)[0] for line in zf.read(record).decode().splitlines()]
        entries += [f"{wheel.name}!{n}" for n in [*names, *recorded]]
    shipped_dev = [e for e in entries if re.search(r"(^|[!/])portafn(_gcp)?/dev/", e)]
    assert shipped_dev == []
    # What runs is still there: the entry module and the adapter's own modules.
    assert "main.py" in entries
    assert any(e.endswith("!portafn_gcp/entry.py") for e in entries)
    assert any(e.endswith("!portafn/runtime.py") for e in entries)


def test_strip_wheel_leaves_a_wheel_without_dev_files_unchanged(tmp_path: Path) -> None:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("portafn_gcp/entry.py", "x = 1\n")
        zf.writestr("portafn_gcp-0.1.0.dist-info/RECORD", "portafn_gcp/entry.py,sha256=abc,6\n")
    data = buffer.getvalue()
    assert strip_wheel(data) is data
