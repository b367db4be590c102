"""Every GCP fixture of every claimed kind through the adapter, with field assertions, and the
functions-framework conformance cases (legacy input, CloudEvent input, expected outputs)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from portafn_gcp import events as gcp

from portafn.cloudevents import from_dict, parse_time
from portafn.errors import EventFormatError
from portafn.events import Event
from tests.support.fixtures import absent, corpus_dir, fixture_params, load


def roles() -> dict[str, str]:
    path = corpus_dir() / "provenance.jsonl"
    out: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                out[entry["file"]] = entry.get("role") or ""
    return out


ROLES = roles()


def role(path: Path) -> str:
    return ROLES.get(f"gcp/{path.parent.name}/{path.name}", "")


def envelope(data: Any, ce_type: str, source: str) -> Event[Any]:
    """A CloudEvent around a data-only fixture, as Eventarc sends one in binary mode."""
    return from_dict(
        {
            "specversion": "1.0",
            "id": "fixture-1",
            "source": source,
            "type": ce_type,
            "time": "2024-01-02T03:04:05Z",
            "data": data,
        }
    )


def as_event(path: Path, ce_type: str, source: str) -> Event[Any]:
    """Any fixture as the CloudEvent the adapter would build from it."""
    body = load(path)
    r = role(path)
    if r.startswith("cloudevent-data") or r == "":
        return envelope(body, ce_type, source)
    return gcp.cloudevent(body, "/projects/sample-project/topics/gcf-test")


# -- Pub/Sub ---------------------------------------------------------------------------------------


def pubsub_message(body: dict[str, Any]) -> dict[str, Any]:
    """The PubsubMessage inside any Pub/Sub fixture shape (independently of the adapter)."""
    if "specversion" in body:
        return dict(body["data"]["message"])
    if "message" in body:
        return dict(body["message"])
    return dict(body["data"])  # legacy: data is the message


@pytest.mark.parametrize("path", fixture_params("gcp", "pubsub"))
def test_pubsub_fixture_becomes_a_message(path: Path) -> None:
    body = load(path)
    event = as_event(path, gcp.PUBSUB_PUBLISHED, "//pubsub.googleapis.com/projects/p/topics/order-events")
    msg = gcp.to_message(event)
    expected = pubsub_message(body)
    assert msg.body == base64.b64decode(expected.get("data", ""))
    assert msg.attributes == expected.get("attributes", {})
    assert msg.ordering_key == (expected.get("orderingKey") or None)
    assert msg.delivery_attempt == 1
    assert msg.type == gcp.PUBSUB_PUBLISHED
    message_id = expected.get("messageId")
    if role(path) in ("legacy-input", "legacy-output", "legacy-output-converted"):
        legacy = gcp.normalize_legacy(body)["context"]
        assert msg.id == legacy["eventId"]
        assert msg.time == parse_time(legacy["timestamp"])
    elif role(path) == "push-request":
        assert msg.id == message_id
    elif "specversion" in body:
        assert msg.id == body["id"]
    if "publishTime" in expected:
        assert msg.time == parse_time(expected["publishTime"])
    if msg.body.startswith(b"{"):
        assert msg.data == json.loads(msg.body)
    assert msg.raw is not None


def test_pubsub_known_values() -> None:
    path = corpus_dir() / "gcp/pubsub/google-cloudevents-structured__MessagePublishedData.json"
    if not path.exists():
        pytest.skip(absent(path))
    msg = gcp.to_message(gcp.cloudevent(load(path)))
    assert (msg.id, msg.text(), msg.ordering_key, msg.queue) == (
        "3103425958877813",
        "test message 3",
        "ordering-key",
        "my-topic",
    )
    assert msg.attributes == {"attr1": "attr1-value"}


# -- Cloud Storage ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixture_params("gcp", "storage"))
def test_storage_fixture_becomes_a_storage_event(path: Path) -> None:
    body = load(path)
    event = as_event(path, gcp.STORAGE_FINALIZED, "//storage.googleapis.com/projects/_/buckets/b")
    st = gcp.to_storage_event(event)
    data = (
        body["data"]
        if ("data" in body and isinstance(body["data"], dict) and "bucket" in body["data"])
        else body
    )
    assert st.bucket == data["bucket"]
    assert st.key == data["name"]
    assert st.data is not None
    assert st.data.size == int(data["size"])
    assert st.data.etag == data.get("etag")
    assert st.data.version == str(data["generation"])
    assert st.action == ("deleted" if data.get("resourceState") == "not_exists" else "created")


def test_storage_deleted_type() -> None:
    event = envelope(
        {"bucket": "b", "name": "k/x.txt", "size": "3"},
        gcp.STORAGE_DELETED,
        "//storage.googleapis.com/projects/_/buckets/b",
    )
    st = gcp.to_storage_event(event)
    assert (st.action, st.bucket, st.key) == ("deleted", "b", "k/x.txt")


# -- Firestore ------------------------------------------------------------------------------------------


def firestore_data(body: dict[str, Any]) -> dict[str, Any]:
    if "specversion" in body:
        return dict(body["data"])
    if "eventType" in body or "context" in body:
        return dict(body["data"])
    return body


@pytest.mark.parametrize("path", fixture_params("gcp", "firestore"))
def test_firestore_fixture_becomes_a_change(path: Path) -> None:
    body = load(path)
    event = as_event(
        path,
        "google.cloud.firestore.document.v1.written",
        "//firestore.googleapis.com/projects/p/databases/(default)",
    )
    change = gcp.to_change(event)
    data = firestore_data(body)
    old, new = data.get("oldValue"), data.get("value")
    assert change.kind == ("insert" if not old else "remove" if not new else "modify")
    assert change.table == "gcf-test"
    doc_id = (new or old)["name"].rsplit("/", 1)[1]
    assert change.key == {"id": doc_id}
    if new:
        assert change.new is not None
        assert set(change.new) == set(new["fields"])
        for name, value in new["fields"].items():
            if "integerValue" in value:
                assert change.new[name] == int(value["integerValue"])
            if "stringValue" in value:
                assert change.new[name] == value["stringValue"]
    if old:
        assert change.old is not None
        assert set(change.old) == set(old["fields"])


@pytest.mark.parametrize("path", fixture_params("gcp", "firestore"))
def test_firestore_fixture_in_protobuf_form(path: Path) -> None:
    """The same DocumentEventData encoded as protobuf (what Eventarc sends) gives the same Change."""
    from google.events.cloud.firestore_v1 import DocumentEventData

    data = firestore_data(load(path))
    proto = DocumentEventData.serialize(
        DocumentEventData.from_json(json.dumps(data), ignore_unknown_fields=True)
    )
    attrs = {
        "specversion": "1.0",
        "id": "p1",
        "source": "//firestore.googleapis.com/projects/p/databases/(default)",
        "type": "google.cloud.firestore.document.v1.written",
        "datacontenttype": "application/protobuf",
    }
    binary = from_dict({**attrs, "data_base64": base64.b64encode(proto).decode()})
    as_json = from_dict({**attrs, "datacontenttype": "application/json", "data": data})
    from_proto, from_json = gcp.to_change(binary), gcp.to_change(as_json)
    assert (from_proto.kind, from_proto.key, from_proto.new) == (from_json.kind, from_json.key, from_json.new)
    assert from_proto.old == from_json.old


# -- Cloud Scheduler -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", fixture_params("gcp", "scheduler"))
def test_scheduler_fixture_becomes_a_schedule(path: Path) -> None:
    body = load(path)
    event = envelope(
        body, gcp.SCHEDULER_EXECUTED, "//cloudscheduler.googleapis.com/projects/p/locations/l/jobs/nightly"
    )
    sched = gcp.to_schedule(event, cron="0 2 * * *")
    assert sched.scheduled_time == parse_time("2024-01-02T03:04:05Z")
    assert sched.extensions["customdata"] == body["customData"]
    assert sched.cron == "0 2 * * *"


def test_scheduler_through_pubsub_uses_the_publish_time() -> None:
    push = {
        "subscription": "projects/p/subscriptions/s",
        "message": {"data": "", "messageId": "9", "publishTime": "2024-05-06T02:00:00.5Z"},
    }
    sched = gcp.to_schedule(gcp.cloudevent(push))
    assert sched.scheduled_time == parse_time("2024-05-06T02:00:00.5Z")
    assert sched.id == "9"


# -- other kinds: generic CloudEvents ----------------------------------------------------------------------

OTHER_TYPES = {
    "audit-log": ("google.cloud.audit.log.v1.written", "//cloudaudit.googleapis.com/projects/p"),
    "firebase-auth": ("google.firebase.auth.user.v1.created", "//firebaseauth.googleapis.com/projects/p"),
    "firebase-rtdb": (
        "google.firebase.database.ref.v1.written",
        "//firebasedatabase.googleapis.com/projects/_",
    ),
    "firebase-analytics": (
        "google.firebase.analytics.log.v1.written",
        "//firebase.googleapis.com/projects/p",
    ),
    "firebase-remoteconfig": (
        "google.firebase.remoteconfig.remoteConfig.v1.updated",
        "//firebaseremoteconfig.googleapis.com/projects/p",
    ),
}


@pytest.mark.parametrize("path", [p for kind in OTHER_TYPES for p in fixture_params("gcp", kind)])
def test_other_fixtures_become_cloudevents_for_app_event(path: Path) -> None:
    body = load(path)
    ce_type, source = OTHER_TYPES[path.parent.name]
    if path.parent.name == "firebase-rtdb" and role(path) == "legacy-output":
        # What a legacy function receives has no "domain", so it cannot say the CloudEvent source.
        with pytest.raises(EventFormatError) as info:
            gcp.cloudevent(body)
        assert info.value.field == "domain"
        return
    event = as_event(path, ce_type, source)
    if role(path).startswith("legacy"):
        ctx = gcp.normalize_legacy(body)["context"]
        assert event.id == ctx["eventId"]
        assert event.type == gcp.LEGACY_TO_CE_TYPE[ctx["eventType"]]
        assert event.time == parse_time(ctx["timestamp"])
    elif "specversion" in body:
        assert (event.id, event.type, event.data) == (body["id"], body["type"], body.get("data"))
    else:
        assert event.data == body
    assert event.type.startswith(("google.cloud.", "google.firebase."))


# -- functions-framework conformance cases ----------------------------------------------------------------


def conformance_cases() -> list[Any]:
    folder = corpus_dir() / "gcp"
    if not folder.is_dir():
        return [
            pytest.param(
                None,
                id="absent",
                marks=pytest.mark.skip(reason=absent(folder)),
            )
        ]
    cases: dict[str, dict[str, Path]] = {}
    for path in sorted(folder.glob("*/conformance__*.json")):
        r = role(path)
        name = path.name.removeprefix("conformance__").removesuffix(".json").removesuffix("-" + r)
        cases.setdefault(f"{path.parent.name}/{name}", {})[r] = path
    return [pytest.param(files, id=name) for name, files in sorted(cases.items())]


@pytest.mark.parametrize("files", conformance_cases())
def test_conformance_case_agrees(files: dict[str, Path]) -> None:
    legacy_in = load(files["legacy-input"])
    ce_in = load(files["cloudevent-input"])
    # legacy input -> CloudEvent output, exactly as functions-framework converts it
    assert gcp.legacy_to_cloudevent(legacy_in) == load(files["cloudevent-output"])
    # legacy input -> legacy output (the {"context", "data"} shape a legacy function receives)
    expected_legacy = load(files["legacy-output"])
    normalized = gcp.normalize_legacy(legacy_in)
    assert normalized == expected_legacy
    # CloudEvent input -> legacy output (after conversion, the legacy type names are the current ones)
    back = load(files.get("legacy-output-converted", files["legacy-output"]))
    assert gcp.cloudevent_to_legacy(ce_in) == back
    # CloudEvent input passes unchanged and means the same event as the legacy input
    ev_ce, ev_legacy = from_dict(ce_in), gcp.cloudevent(legacy_in)
    assert (ev_ce.id, ev_ce.type, ev_ce.source, ev_ce.subject, ev_ce.time) == (
        ev_legacy.id,
        ev_legacy.type,
        ev_legacy.source,
        ev_legacy.subject,
        ev_legacy.time,
    )


@pytest.mark.parametrize("kind", ["pubsub", "firebase-auth", "firebase-rtdb"])
def test_functions_framework_python_pairs(kind: str) -> None:
    folder = corpus_dir() / "gcp" / kind
    if not folder.is_dir():
        pytest.skip(absent(folder))
    inputs = sorted(folder.glob("ff-python__*-legacy-input.json"))
    assert inputs
    for legacy in inputs:
        expected = load(legacy.with_name(legacy.name.replace("-legacy-input", "-cloud-event-output")))
        got = gcp.legacy_to_cloudevent(load(legacy))
        if kind == "pubsub":
            # functions-framework-python's older expected output predates the messageId and
            # publishTime that the conformance suite (and functions-framework today) add.
            message = got["data"]["message"]
            assert message.pop("messageId") == got["id"]
            assert message.pop("publishTime") == got["time"]
        assert got == expected


# -- wrong shapes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("func", "data", "field"),
    [
        (gcp.to_message, {"subscription": "s"}, "data.message"),
        (gcp.to_message, {"message": {"data": "***", "messageId": "1"}}, "data.message.data"),
        (gcp.to_message, {"message": {"data": "", "attributes": {"a": 1}}}, "data.message.attributes"),
        (gcp.to_message, [1, 2], "data"),
        (gcp.to_storage_event, {"name": "k"}, "data.bucket"),
        (gcp.to_storage_event, {"bucket": "b", "name": "k", "size": "big"}, "data.size"),
        (
            gcp.to_change,
            {"value": {"name": "projects/p/databases/(default)/documents/c/d", "fields": {"x": {}}}},
            "fields",
        ),
        (gcp.to_change, {}, "data"),
    ],
)
def test_wrong_shapes_raise_event_format_error(func: Any, data: Any, field: str) -> None:
    types = {
        gcp.to_message: gcp.PUBSUB_PUBLISHED,
        gcp.to_storage_event: gcp.STORAGE_FINALIZED,
        gcp.to_change: "google.cloud.firestore.document.v1.written",
    }
    event = envelope(data, types[func], "//x.googleapis.com/projects/p")
    with pytest.raises(EventFormatError) as info:
        func(event)
    assert info.value.provider == "gcp"
    assert info.value.field == field


def test_unknown_legacy_type_and_wrong_event_type() -> None:
    with pytest.raises(EventFormatError, match="no CloudEvent type"):
        gcp.legacy_to_cloudevent(
            {
                "eventId": "1",
                "timestamp": "2020-01-01T00:00:00Z",
                "eventType": "x.y",
                "resource": "r",
                "data": {},
            }
        )
    with pytest.raises(EventFormatError, match=r"expected google\.cloud\.pubsub"):
        gcp.to_message(envelope({}, gcp.STORAGE_FINALIZED, "//s/b"))
