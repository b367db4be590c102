"""CloudEvents 1.0 over HTTP: structured and binary modes both ways, and typed errors on bad input."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from portafn.cloudevents import (
    CloudEventFormatError,
    format_time,
    from_dict,
    from_http,
    is_cloudevent,
    parse_time,
    to_binary,
    to_dict,
    to_structured,
)
from portafn.errors import EventFormatError
from portafn.events import Event


class Order(BaseModel):
    order_id: str
    total: int


def event(data: Any = None, **extra: Any) -> Event[Any]:
    fields: dict[str, Any] = {
        "id": "e-1",
        "source": "//pubsub.googleapis.com/projects/p/topics/t",
        "type": "com.example.order.created",
        "subject": "orders/o-1",
        "time": datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        "data": data,
    }
    return Event[Any](**{**fields, **extra})


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        ({"a": [1, 2, {"b": None}], "ü": "ñ"}, "application/json"),
        ("plain text", "text/plain"),
        (b"\x00\xffbinary", "application/octet-stream"),
        (None, None),
        ([1, 2, 3], None),
    ],
)
@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_round_trip_in_both_modes(data: Any, content_type: str | None, mode: str) -> None:
    ev = event(
        data,
        datacontenttype=content_type,
        extensions={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    )
    headers, body = to_binary(ev) if mode == "binary" else to_structured(ev)
    back = from_http(headers, body)
    assert (back.id, back.source, back.type, back.subject, back.time) == (
        ev.id,
        ev.source,
        ev.type,
        ev.subject,
        ev.time,
    )
    assert back.data == data
    assert back.traceparent == ev.traceparent
    assert back.raw == {"headers": {k.lower(): v for k, v in headers.items()}, "body": body}


def test_binary_mode_headers_and_body() -> None:
    headers, body = to_binary(event(Order(order_id="o-1", total=5), datacontenttype="application/json"))
    assert headers["ce-id"] == "e-1"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-time"] == "2024-05-06T07:08:09.123Z"
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"order_id": "o-1", "total": 5}


def test_binary_header_values_are_percent_encoded() -> None:
    ev = event(None, subject='a "quoted" subject 100% ü')
    headers, body = to_binary(ev)
    assert headers["ce-subject"] == "a%20%22quoted%22%20subject%20100%25%20%C3%BC"
    assert from_http(headers, body).subject == ev.subject


def test_structured_mode_uses_data_base64_for_bytes() -> None:
    headers, body = to_structured(event(b"\x01\x02"))
    assert headers["content-type"].startswith("application/cloudevents+json")
    doc = json.loads(body)
    assert doc["data_base64"] == base64.b64encode(b"\x01\x02").decode()
    assert "data" not in doc


def test_to_dict_and_from_dict_keep_extensions() -> None:
    doc = to_dict(event({"x": 1}, extensions={"correlationid": "c-1", "attempt": 2, "flag": True}))
    assert (doc["correlationid"], doc["attempt"], doc["flag"]) == ("c-1", 2, True)
    back = from_dict(doc)
    assert back.extensions == {"correlationid": "c-1", "attempt": 2, "flag": True}


def test_mode_detection_and_is_cloudevent() -> None:
    assert is_cloudevent({"Ce-Specversion": "1.0"})
    assert is_cloudevent({"Content-Type": "application/cloudevents+json; charset=utf-8"})
    assert not is_cloudevent({"Content-Type": "application/json"})
    with pytest.raises(CloudEventFormatError) as info:
        from_http({"content-type": "application/json"}, b"{}")
    assert info.value.field == "content-type"
    assert isinstance(info.value, EventFormatError)


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({"ce-specversion": "1.0", "ce-source": "s", "ce-type": "t"}, b"", "id"),
        ({"ce-specversion": "0.3", "ce-id": "1", "ce-source": "s", "ce-type": "t"}, b"", "specversion"),
        (
            {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "s", "ce-type": "t", "ce-time": "yesterday"},
            b"",
            "time",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "s",
                "ce-type": "t",
                "content-type": "application/json",
            },
            b"{no",
            "data",
        ),
        ({"content-type": "application/cloudevents+json"}, b"not json", "body"),
        ({"content-type": "application/cloudevents+json"}, b"[1]", "event"),
        ({"content-type": "application/cloudevents-batch+json"}, b"[]", "content-type"),
        (
            {"content-type": "application/cloudevents+json"},
            json.dumps(
                {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data_base64": "***"}
            ).encode(),
            "data_base64",
        ),
        (
            {"content-type": "application/cloudevents+json"},
            json.dumps({"specversion": "1.0", "id": "1", "source": "s", "type": 5}).encode(),
            "type",
        ),
    ],
)
def test_bad_input_raises_a_typed_error_naming_the_field(
    headers: dict[str, str], body: bytes, field: str
) -> None:
    with pytest.raises(CloudEventFormatError) as info:
        from_http(headers, body)
    assert info.value.provider == "cloudevents"
    assert info.value.field == field


def test_writing_rejects_invalid_extension_names() -> None:
    with pytest.raises(CloudEventFormatError):
        to_dict(event(None, extensions={"Bad-Name": "x"}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2020-09-29T11:32:00.123Z", datetime(2020, 9, 29, 11, 32, 0, 123000, tzinfo=UTC)),
        ("2020-12-03T00:26:41.321623382Z", datetime(2020, 12, 3, 0, 26, 41, 321623, tzinfo=UTC)),
        ("2020-01-01T01:00:00+01:00", datetime(2020, 1, 1, 0, 0, tzinfo=UTC)),
    ],
)
def test_time_parsing_and_formatting(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected
    assert parse_time(format_time(expected)) == expected


def test_the_module_needs_no_cloudevents_sdk() -> None:
    import subprocess
    import sys

    # Diff sys.modules around the import: a .pth file may preload the ``google`` namespace.
    probe = (
        "import json, sys; before = set(sys.modules); import portafn.cloudevents; "
        "print(json.dumps(sorted(set(sys.modules) - before)))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = json.loads(out.stdout)
    assert "portafn.cloudevents" in loaded
    assert [
        m for m in loaded if m.split(".")[0] in ("cloudevents", "google", "boto3", "botocore", "azure")
    ] == []
