"""DynamoDB items and keys: typed attribute values to and from Python, and sortable key strings.

Every reader of a DynamoDB item needs both (the store, the stream records in ``events``, the
test driver), so they live together:

- **Attribute values.** The low-level client (and every Lambda event) carries values as
  ``{"S": "x"}``, ``{"N": "12"}`` and so on. Numbers travel as strings, so we parse them
  ourselves: integral text becomes ``int`` and anything else ``float``, which keeps JSON documents
  as they were written (boto3's resource layer would hand back ``Decimal``). Binary values arrive
  as bytes from the client and as base64 text in Lambda events; both decode to bytes.
- **Keys.** ``encode_key``/``decode_key`` keep str and int keys in string key attributes that sort
  like the values (see the note above ``encode_key``).
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Mapping
from typing import Any

from portafn.store.port import KeyValue

AttributeValue = dict[str, Any]
_INT = re.compile(r"^-?\d+$")


def number(text: str) -> int | float:
    """A DynamoDB number string as ``int`` when integral in form, else ``float``."""
    if _INT.match(text):
        return int(text)
    value = float(text)
    # DynamoDB normalises "2.0" to "2" and "1E+2" to "100"; an integral value written in
    # exponent form is still an integer to JSON.
    if value.is_integer() and "e" in text.lower() and abs(value) < 2**63:
        return int(value)
    return value


def to_python(value: Mapping[str, Any]) -> Any:
    """One attribute value as a Python value."""
    if len(value) != 1:
        raise ValueError(f"attribute value must have exactly one type key, got {sorted(value)}")
    ((tag, inner),) = value.items()
    if tag == "S":
        return str(inner)
    if tag == "N":
        return number(str(inner))
    if tag == "BOOL":
        return bool(inner)
    if tag == "NULL":
        return None
    if tag == "M":
        return {k: to_python(v) for k, v in inner.items()}
    if tag == "L":
        return [to_python(v) for v in inner]
    if tag == "B":
        return _bytes(inner)
    if tag == "SS":
        return [str(v) for v in inner]
    if tag == "NS":
        return [number(str(v)) for v in inner]
    if tag == "BS":
        return [_bytes(v) for v in inner]
    raise ValueError(f"unknown DynamoDB attribute type {tag!r}")


def item_to_python(item: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A whole item (attribute name to typed value) as a plain dict."""
    return {name: to_python(value) for name, value in item.items()}


def to_dynamo(value: Any) -> AttributeValue:
    """A JSON-compatible Python value as a typed attribute value."""
    if value is None:
        return {"NULL": True}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"DynamoDB cannot store the number {value!r}")
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bytes | bytearray):
        return {"B": bytes(value)}
    if isinstance(value, Mapping):
        return {"M": {str(k): to_dynamo(v) for k, v in value.items()}}
    if isinstance(value, list | tuple):
        return {"L": [to_dynamo(v) for v in value]}
    raise TypeError(f"cannot store a value of type {type(value).__name__} in DynamoDB")


def item_to_dynamo(doc: Mapping[str, Any]) -> dict[str, AttributeValue]:
    """A document as an item."""
    return {str(k): to_dynamo(v) for k, v in doc.items()}


def _bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    return base64.b64decode(str(value))


# -- key encoding ----------------------------------------------------------------------------
# portafn keys may be str or int, but a DynamoDB key attribute has one fixed type chosen when
# the table is created, before any key is seen. So the store keeps its own key attributes as
# strings that sort like the values they encode. A string key is stored as itself, so it keeps
# DynamoDB's full 1024-byte sort-key budget and its byte order. An integer is stored as U+0001
# (a character portafn keys may not contain, see portafn.store.keys), a sign digit and a
# length-prefixed magnitude (digits complemented when negative), so -10 < -2 < 0 < 7 < 10.

INT_MARK = "\x01"


def encode_key(value: KeyValue) -> str:
    """A key value as a string that sorts in the value's own order."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"a key value is str or int, not {type(value).__name__}")
    if isinstance(value, str):
        return value
    digits = str(abs(value))
    if len(digits) > 999:
        raise ValueError("integer key too large")
    if value < 0:
        complement = "".join(str(9 - int(d)) for d in digits)
        return f"{INT_MARK}0{999 - len(digits):03d}{complement}"
    return f"{INT_MARK}1{len(digits):03d}{digits}"


def decode_key(text: str) -> KeyValue:
    """The value ``encode_key`` encoded."""
    if not text.startswith(INT_MARK):
        return text
    body = text[len(INT_MARK) :]
    if body.startswith("1") and len(body) > 4:
        return int(body[4:])
    if body.startswith("0") and len(body) > 4:
        return -int("".join(str(9 - int(d)) for d in body[4:]))
    raise ValueError("not a portafn integer key attribute")
