"""CloudEvents 1.0 over HTTP, both content modes, with the standard library and pydantic only.

``to_structured`` and ``to_binary`` write an ``Event`` as an HTTP message (headers and body);
``from_http`` reads one back, telling the mode from the headers: ``Content-Type:
application/cloudevents+json`` is structured mode, a ``ce-specversion`` header is binary mode.
``to_dict``/``from_dict`` are the JSON event format on its own. Bad input raises
``CloudEventFormatError`` (an ``EventFormatError``) naming the attribute at fault.

Data rules, as the JSON event format and the HTTP binding say: bytes travel as ``data_base64``
in structured mode and as the raw body in binary mode; with a JSON ``datacontenttype`` (or none)
data is a JSON value; text types carry a string.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from pydantic import BaseModel

from portafn.errors import EventFormatError
from portafn.events import Event

STRUCTURED_TYPE = "application/cloudevents+json"
BATCH_TYPE = "application/cloudevents-batch+json"
SPEC_VERSION = "1.0"

# Context attributes the spec defines; everything else is an extension.
REQUIRED = ("id", "source", "specversion", "type")
OPTIONAL = ("datacontenttype", "dataschema", "subject", "time")
_CONTEXT = frozenset(REQUIRED + OPTIONAL)
_EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,64}$")
# RFC 3339 with any number of fraction digits; Python keeps microseconds, so longer ones are cut.
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")
# The HTTP binding: header values percent-encode space, '"', '%' and anything outside printable ASCII.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


class CloudEventFormatError(EventFormatError):
    """An HTTP message or dict that is not a valid CloudEvent; ``field`` names the attribute."""

    def __init__(self, field: str, problem: str, *, keys: Iterable[str] | None = None) -> None:
        super().__init__("cloudevents", field, problem, keys=keys)


# -- writing -----------------------------------------------------------------------------------


def to_dict(event: Event[Any]) -> dict[str, Any]:
    """The event in the JSON event format (what structured mode sends)."""
    out: dict[str, Any] = _context(event)
    data = _plain(event.data)
    if isinstance(data, bytes | bytearray):
        out["data_base64"] = base64.b64encode(bytes(data)).decode("ascii")
    elif data is not None:
        out["data"] = data
    return out


def to_structured(event: Event[Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of the event in structured content mode."""
    body = json.dumps(to_dict(event), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return {"content-type": f"{STRUCTURED_TYPE}; charset=utf-8"}, body


def to_binary(event: Event[Any]) -> tuple[dict[str, str], bytes]:
    """Headers and body of the event in binary content mode (``ce-*`` headers, data as the body)."""
    context = _context(event)
    content_type = context.pop("datacontenttype", None)
    headers = {f"ce-{name}": _header_value(value) for name, value in context.items()}
    data = _plain(event.data)
    if data is None:
        body = b""
    elif isinstance(data, bytes | bytearray):
        body = bytes(data)
        content_type = content_type or "application/octet-stream"
    elif isinstance(data, str) and not _is_json_type(content_type):
        body = data.encode("utf-8")
    else:
        body = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        content_type = content_type or "application/json"
    if content_type:
        headers["content-type"] = content_type
    return headers, body


def _context(event: Event[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "specversion": event.specversion or SPEC_VERSION,
        "id": event.id,
        "source": event.source,
        "type": event.type,
    }
    for name in ("subject", "datacontenttype", "dataschema"):
        value = getattr(event, name)
        if value is not None:
            out[name] = value
    if event.time is not None:
        out["time"] = format_time(event.time)
    for name, value in event.extensions.items():
        if not _EXTENSION_NAME.match(name) or name in _CONTEXT or name in ("data", "data_base64"):
            raise CloudEventFormatError(
                f"extensions.{name}", "an extension name is 1-64 lower-case letters or digits"
            )
        if value is not None:
            out[name] = value if isinstance(value, str | int | bool) else str(value)
    return out


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    return data


def _header_value(value: Any) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return quote(text, safe=_HEADER_SAFE)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z`` and no trailing zeros in the fraction."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    text = value.strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += "." + f"{value.microsecond:06d}".rstrip("0")
    return text + "Z"


# -- reading -----------------------------------------------------------------------------------


def from_http(headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes | str) -> Event[Any]:
    """The CloudEvent an HTTP message carries, in either content mode.

    ``raw`` is ``{"headers": ..., "body": ...}`` as received.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered = {str(k).lower(): str(v) for k, v in pairs}
    data = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    raw = {"headers": lowered, "body": data}
    media = _media_type(lowered.get("content-type"))
    if media == BATCH_TYPE:
        raise CloudEventFormatError("content-type", "batched mode is not supported; send one event")
    if media == STRUCTURED_TYPE:
        try:
            parsed = json.loads(data)
        except ValueError:
            raise CloudEventFormatError("body", "structured mode needs a JSON object") from None
        event = from_dict(parsed)
        event.raw = raw
        return event
    if "ce-specversion" in lowered:
        return _from_binary(lowered, data, raw)
    raise CloudEventFormatError(
        "content-type",
        "not a CloudEvent: neither structured (application/cloudevents+json) nor binary (ce-specversion)",
        keys=lowered.keys(),
    )


def _from_binary(headers: dict[str, str], body: bytes, raw: Any) -> Event[Any]:
    attrs: dict[str, Any] = {k[3:]: unquote(v) for k, v in headers.items() if k.startswith("ce-")}
    content_type = headers.get("content-type")
    if content_type:
        attrs["datacontenttype"] = content_type
    event = _build(attrs, keys=headers.keys())
    event.data = _decode_body(body, content_type)
    event.raw = raw
    return event


def _decode_body(body: bytes, content_type: str | None) -> Any:
    if not body:
        return None
    if content_type is None or _is_json_type(content_type):
        try:
            return json.loads(body)
        except ValueError:
            if content_type is not None:
                raise CloudEventFormatError("data", f"body is not valid JSON for {content_type}") from None
            return body
    if _media_type(content_type).startswith("text/"):
        return body.decode("utf-8", errors="replace")
    return body


def from_dict(obj: Any) -> Event[Any]:
    """An event from the JSON event format (``data`` or ``data_base64``). ``raw`` is ``obj``."""
    if not isinstance(obj, Mapping):
        raise CloudEventFormatError("event", f"expected a JSON object, got {type(obj).__name__}")
    if "data" in obj and "data_base64" in obj:
        raise CloudEventFormatError("data_base64", "an event has data or data_base64, not both", keys=obj)
    attrs = {k: v for k, v in obj.items() if k not in ("data", "data_base64")}
    event = _build(attrs, keys=obj.keys())
    if "data_base64" in obj:
        encoded = obj["data_base64"]
        if not isinstance(encoded, str):
            raise CloudEventFormatError("data_base64", "must be a base64 string")
        try:
            event.data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise CloudEventFormatError("data_base64", "is not valid base64") from None
    else:
        event.data = obj.get("data")
    event.raw = obj
    return event


def _build(attrs: Mapping[str, Any], *, keys: Iterable[str]) -> Event[Any]:
    seen = list(keys)
    for name in REQUIRED:
        value = attrs.get(name)
        if not isinstance(value, str) or not value:
            raise CloudEventFormatError(name, "required attribute is missing or empty", keys=seen)
    if attrs["specversion"] != SPEC_VERSION:
        raise CloudEventFormatError("specversion", f"{attrs['specversion']!r} is not supported; use 1.0")
    for name in ("subject", "datacontenttype", "dataschema"):
        value = attrs.get(name)
        if value is not None and not isinstance(value, str):
            raise CloudEventFormatError(name, "must be a string")
    time_value = attrs.get("time")
    extensions: dict[str, Any] = {}
    for name, value in attrs.items():
        if name in _CONTEXT:
            continue
        # Read leniently: Google's own samples carry camelCase extensions (``methodName``); a
        # name is only rejected when it cannot be one at all. Writing enforces the spec's rule.
        if not name or not isinstance(name, str) or any(c.isspace() for c in name):
            raise CloudEventFormatError(str(name), "not a valid attribute name")
        extensions[name] = value
    return Event[Any](
        id=attrs["id"],
        source=attrs["source"],
        type=attrs["type"],
        specversion=attrs["specversion"],
        subject=attrs.get("subject"),
        time=parse_time(time_value) if time_value is not None else None,
        datacontenttype=attrs.get("datacontenttype"),
        dataschema=attrs.get("dataschema"),
        extensions=extensions,
    )


def parse_time(value: Any, field: str = "time") -> datetime:
    """An RFC 3339 timestamp as an aware datetime (fractions past microseconds are dropped)."""
    if not isinstance(value, str):
        raise CloudEventFormatError(field, "must be an RFC 3339 timestamp string")
    m = _RFC3339.match(value.strip())
    if m is None:
        raise CloudEventFormatError(field, "is not an RFC 3339 timestamp")
    day, clock, fraction, zone = m.groups()
    text = f"{day}T{clock}" + (f".{fraction[:6].ljust(6, '0')}" if fraction else "")
    text += "+00:00" if zone in ("Z", "z") else zone
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CloudEventFormatError(field, "is not a valid date and time") from None


def is_cloudevent(headers: Mapping[str, str]) -> bool:
    """Whether HTTP headers announce a CloudEvent in either mode."""
    lowered = {k.lower(): v for k, v in headers.items()}
    return "ce-specversion" in lowered or _media_type(lowered.get("content-type")) == STRUCTURED_TYPE


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _is_json_type(content_type: str | None) -> bool:
    media = _media_type(content_type)
    return media in ("application/json", "text/json") or media.endswith("+json")
