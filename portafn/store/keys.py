"""Key rules that survive every store, checked before any store is called.

A key is a partition key value and, for tables that have one, a sort key value, each a ``str`` or an
``int``. The rules are the intersection of what DynamoDB, Cosmos DB and Firestore can hold once a
store has encoded its document ids, so a key that passes here works everywhere:

- ``bool`` is not a key (it is an ``int`` in Python but not in any store).
- ``int`` keys lie within +-(2**53 - 1): Cosmos DB documents are JSON read by JavaScript, where a
  larger integer silently loses precision, and sort order must agree across stores.
- ``str`` keys are non-empty, at most 1024 UTF-8 bytes (DynamoDB's sort-key limit, the smallest
  key limit of the three), hold no lone surrogate (not UTF-8), no control character U+0000-U+001F or
  U+007F (Firestore and C strings end at NUL; control characters break ids and logs) and no ``/``
  (a path separator in Firestore document paths and Cosmos resource URLs, which no encoding
  makes safe in every SDK).

Everything else (``\\``, ``?``, ``#``, ``%``, ``.``, ``..``, ``__x__``, spaces, any Unicode) is legal:
cloud stores must encode their document ids (``document_id`` does it) and the conformance suite
proves they do. Strings sort by code point, which is UTF-8 byte order, as in every store.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Iterable
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel

from portafn.errors import PortafnError, RegistrationError
from portafn.store.port import Key, KeyValue

MAX_KEY_BYTES = 1024
MAX_INT_KEY = 2**53 - 1
RESERVED_PREFIX = "_"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,99}$")

KeyType = type[str] | type[int]


class InvalidKey(PortafnError, ValueError):
    """A key value no store can hold; names the table and the field."""

    def __init__(self, table: str, field: str, problem: str) -> None:
        self.table = table
        self.field = field
        self.problem = problem
        super().__init__(f"table {table!r}, key field {field!r}: {problem}")


def check_key_value(table: str, field: str, value: object, expected: KeyType | None = None) -> KeyValue:
    """``value`` as a plain ``str`` or ``int`` if it is a valid key, else ``InvalidKey``.

    ``expected`` is the field's declared key type; a value of the other type is rejected, because
    ``"1"`` and ``1`` are different keys in every store.
    """
    if type(value) is str:  # the common case first: no enum, bool or int checks to make
        return _check_str_key(table, field, value, expected)
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        raise InvalidKey(table, field, "a bool is not a key; use str or int")
    if isinstance(value, int):
        return _check_int_key(table, field, int(value), expected)
    if isinstance(value, str):
        return _check_str_key(table, field, "" + value, expected)  # a plain str, whatever subclass came in
    raise InvalidKey(table, field, f"a key is a str or an int, not {type(value).__name__}")


def _check_int_key(table: str, field: str, value: int, expected: KeyType | None) -> int:
    if expected is str:
        raise InvalidKey(table, field, f"expects a str, got int {value}")
    if not -MAX_INT_KEY <= value <= MAX_INT_KEY:
        raise InvalidKey(table, field, f"int keys must lie within +-(2**53 - 1); got {value}")
    return value


def _check_str_key(table: str, field: str, text: str, expected: KeyType | None) -> str:
    if expected is int:
        raise InvalidKey(table, field, f"expects an int, got str {_show(text)}")
    if not text:
        raise InvalidKey(table, field, "a str key must not be empty")
    try:
        size = len(text) if text.isascii() else len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidKey(table, field, "a str key must be valid Unicode (no lone surrogates)") from None
    if size > MAX_KEY_BYTES:
        raise InvalidKey(table, field, f"a str key is at most {MAX_KEY_BYTES} UTF-8 bytes; got {size}")
    if "/" in text:
        raise InvalidKey(table, field, f"a str key must not contain '/': {_show(text)}")
    if _CONTROL.search(text):
        raise InvalidKey(table, field, f"a str key must not contain control characters: {_show(text)}")
    return text


def _show(text: str) -> str:
    shown = text if len(text) <= 40 else text[:40] + "..."
    return repr(shown)


def check_table_name(name: str) -> str:
    """A table name every store accepts once prefixed: a letter, then up to 99 letters, digits, '_', '-'."""
    if not _TABLE_NAME.match(name):
        raise RegistrationError(
            name, "a table name is a letter then up to 99 letters, digits, '_' or '-' (no '.' or '/')"
        )
    return name


def key_field_type(model: type[BaseModel], table: str, field: str, role: str) -> KeyType:
    """The key type (``str`` or ``int``) of ``model.field``; ``RegistrationError`` if unusable."""
    info = model.model_fields.get(field)
    if info is None:
        raise RegistrationError(
            table,
            f"{role} {field!r} is not a field of {model.__name__} (fields: {', '.join(model.model_fields)})",
        )
    found = _key_type(info.annotation)
    if found is None:
        raise RegistrationError(
            table,
            f"{role} {model.__name__}.{field} is {_type_name(info.annotation)}; a key field must be str or int "
            "(not bool, float, optional or a union)",
        )
    return found


def _key_type(annotation: Any) -> KeyType | None:
    if isinstance(annotation, type):
        if issubclass(annotation, bool):
            return None
        if issubclass(annotation, str):
            return str
        if issubclass(annotation, int):
            return int
        return None
    if typing.get_origin(annotation) is Literal:
        kinds = {_key_type(type(v)) for v in typing.get_args(annotation)}
        return kinds.pop() if len(kinds) == 1 and None not in kinds else None
    return None


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or repr(annotation)


def check_field_names(model: type[BaseModel], table: str) -> None:
    """Reject stored names that stores reserve: anything starting with ``_``."""
    for name, info in model.model_fields.items():
        stored = info.serialization_alias or info.alias or name
        if stored.startswith(RESERVED_PREFIX):
            raise RegistrationError(
                table,
                f"field {model.__name__}.{name} is stored as {stored!r}; names starting with "
                f"{RESERVED_PREFIX!r} are reserved for stores (_etag, _ts, _rid ...)",
            )


def ttl_field_ok(model: type[BaseModel], table: str, field: str) -> None:
    """Check that ``field`` can hold an expiry time: a datetime or epoch seconds, optionally None."""
    from datetime import datetime

    info = model.model_fields.get(field)
    if info is None:
        raise RegistrationError(table, f"ttl field {field!r} is not a field of {model.__name__}")
    allowed = {datetime, int, float, type(None)}
    args = _union_args(info.annotation)
    if not args or any(a not in allowed for a in args) or args == {type(None)}:
        raise RegistrationError(
            table,
            f"ttl field {model.__name__}.{field} is {_type_name(info.annotation)}; use datetime, int or "
            "float epoch seconds (optionally | None)",
        )


def _union_args(annotation: Any) -> set[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return set(typing.get_args(annotation))
    return {annotation}


def key_text(key: Key) -> str:
    """A key as one readable string for subjects and logs: ``pk`` or ``pk/sk``.

    ``/`` cannot occur in a key, so the join is unambiguous for str keys.
    """
    return str(key.pk) if key.sk is None else f"{key.pk}/{key.sk}"


def document_id(key: Key) -> str:
    """A reversible document id safe for Cosmos DB and Firestore, for stores that need one string.

    Each part is tagged with its type (``s`` or ``i``, so ``"1"`` and ``1`` differ) and
    percent-encoded except for ASCII letters, digits, ``-`` and ``_``; parts are joined with ``~``.
    The result never contains ``/ \\ ? #``, is never ``.`` or ``..`` and never looks like
    ``__x__``. It can exceed Cosmos's 255 characters for long keys: such stores hash what is
    longer and keep the key in the document.
    """
    parts = [key.pk] if key.sk is None else [key.pk, key.sk]
    return "~".join(("i" if isinstance(p, int) else "s") + quote(str(p), safe="-_") for p in parts)


def dedupe_keys(keys: Iterable[Key]) -> list[Key]:
    """Keys in first-seen order without repeats (DynamoDB rejects repeats in one batch)."""
    seen: dict[Key, None] = {}
    for k in keys:
        seen.setdefault(k, None)
    return list(seen)
