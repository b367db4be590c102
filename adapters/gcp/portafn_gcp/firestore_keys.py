"""Document ids, the stored document layout, and document sizes for the Firestore store.

A stored document is an envelope, so that a conditional write can replace the whole item with
one ``update()`` under an update-time precondition (updating a map field replaces it whole)::

    {"doc": {...the item...}, "_pk": <pk>, "_sk": <sk>, "_expires": <timestamp, TTL tables only>}

``_pk``/``_sk`` keep the typed key for ``where``/``order_by``; ``_expires`` is the field a
Firestore TTL policy targets; ``_w`` is a fresh token per write and ``_b`` the etag a conditional replace was based on
(see ``FirestoreStore._once``). The document id encodes the key so that it is always legal:
never containing ``/``, never ``.`` or ``..``, never ``__x__``, and distinct for ``"1"`` and ``1``.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from portafn.store.port import Key, KeyValue, TableSpec

DOC = "doc"
PK = "_pk"
SK = "_sk"
EXPIRES = "_expires"
TOKEN = "_w"  # a fresh id per write: tells whether a write whose answer was lost landed
BASE = "_b"  # the etag a conditional replace was conditioned on
MAX_ID_BYTES = 1500  # Firestore's limit on a document id


def encode_part(value: KeyValue) -> str:
    """One key part as an id segment: a type letter, then the value with ``%``, ``/``, ``|`` escaped.

    Only those three are escaped, so ids stay short and readable (non-ASCII stays UTF-8).
    """
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TypeError(f"key values are str or int, not {type(value).__name__}")
    if isinstance(value, int):
        return f"i{value}"
    return "s" + value.replace("%", "%25").replace("/", "%2F").replace("|", "%7C")


def decode_part(text: str) -> KeyValue:
    """The key part an id segment encodes."""
    if text.startswith("i"):
        return int(text[1:])
    if text.startswith("s"):
        # Every '%' in the value was escaped, so each %XX here is one of ours.
        return unquote(text[1:])
    raise ValueError(f"not a portafn document id segment: {text!r}")


def doc_id(key: Key) -> str:
    """The document id of a key: ``<pk>`` or ``<pk>|<sk>`` in encoded segments.

    A key too long for Firestore's 1500-byte ids gets ``h`` + its SHA-256 instead; the key
    itself is always in the document's ``_pk``/``_sk`` fields.
    """
    out = encode_part(key.pk)
    if key.sk is not None:
        out += "|" + encode_part(key.sk)
    if len(out.encode("utf-8", errors="surrogatepass")) > MAX_ID_BYTES:
        return "h" + hashlib.sha256(out.encode("utf-8", errors="surrogatepass")).hexdigest()
    return out


def key_of_id(text: str) -> Key:
    """The key a document id encodes (``ValueError`` for hashed ids: read ``key_of`` instead)."""
    pk, sep, sk = text.partition("|")
    return Key(decode_part(pk), decode_part(sk) if sep else None)


def key_of(doc_id_text: str, data: dict[str, Any] | None) -> Key:
    """A stored document's key: from its ``_pk``/``_sk`` fields, else from its id."""
    if data is not None and PK in data:
        return Key(data[PK], data.get(SK))
    return key_of_id(doc_id_text)


def envelope(table: TableSpec, key: Key, doc: dict[str, Any]) -> dict[str, Any]:
    """The stored form of an item."""
    out: dict[str, Any] = {DOC: doc, PK: key.pk}
    if key.sk is not None:
        out[SK] = key.sk
    if table.ttl_field is not None:
        expires = expiry_of(doc.get(table.ttl_field))
        if expires is not None:
            out[EXPIRES] = expires
    return out


def expiry_of(value: Any) -> datetime | None:
    """A TTL field's value (epoch seconds or an ISO 8601 string) as an aware datetime."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (ValueError, OverflowError, OSError):
            return None  # NaN, infinite or beyond year 9999: tables refuse these before here
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def unwrap(data: dict[str, Any] | None) -> dict[str, Any] | None:
    """The item inside a stored envelope; a document that is not one is returned as it is."""
    if data is None:
        return None
    inner = data.get(DOC)
    if isinstance(inner, dict) and PK in data:
        return inner
    return data


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: no bound).

    Firestore orders strings by UTF-8 bytes, which is code point order, so incrementing the
    last code point that can be incremented gives the bound.
    """
    chars = list(prefix)
    while chars:
        last = ord(chars.pop())
        nxt = last + 1
        if 0xD800 <= nxt <= 0xDFFF:
            nxt = 0xE000  # skip surrogates: they are not valid in UTF-8
        if nxt <= 0x10FFFF:
            return "".join(chars) + chr(nxt)
    return None


MAX_DOCUMENT_BYTES = 1_048_576  # "Maximum size for a document": 1 MiB (1,048,576 bytes)


def document_size(name: str, body: dict[str, Any]) -> int:
    """A document's size as Firestore counts it ("Storage size calculations"): its name, 32
    bytes, and each field name (UTF-8 + 1) with its value. Checked before a write because
    Firestore's own refusal is an INVALID_ARGUMENT told apart from others only by its text."""
    return len(name.encode()) + 16 + 32 + _map_size(body)


def _map_size(body: dict[str, Any]) -> int:
    return sum(len(str(k).encode()) + 1 + _value_size(v) for k, v in body.items())


def _value_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 1
    if isinstance(value, bytes):
        return len(value)
    if isinstance(value, dict):
        return _map_size(value)
    if isinstance(value, list | tuple):
        return sum(_value_size(v) for v in value)
    if value is None or isinstance(value, bool):
        return 1
    return 8  # int, float, timestamp


MAX_DEPTH = 20  # "Maximum depth of fields in a map or array": 20
INT64 = 2**63


def value_problem(value: Any, depth: int = 0) -> str | None:
    """Why Firestore cannot store ``value`` (an int beyond 64 bits, maps or arrays nested over
    20 deep), or None. Checked before writing: the SDK fails on these with untyped errors."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return None if -INT64 <= value < INT64 else f"the integer {value} does not fit in 64 bits"
    if isinstance(value, dict | list | tuple):
        if depth >= MAX_DEPTH:
            return f"maps and arrays nest at most {MAX_DEPTH} deep in Firestore"
        children = value.values() if isinstance(value, dict) else value
        if not isinstance(value, dict) and any(isinstance(v, list | tuple) for v in value):
            return "Firestore keeps no array directly inside an array"
        return next((p for p in (value_problem(v, depth + 1) for v in children) if p is not None), None)
    return None
