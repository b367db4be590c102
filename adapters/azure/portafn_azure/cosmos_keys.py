"""Cosmos DB item ids and cursors for portafn keys.

A Cosmos id may not contain ``/ \\ ? #`` and is at most 255 characters. ``portafn.store.keys.
document_id`` already percent-encodes every part (so none of those characters survives) and tags
each part with its type; ids longer than 255 characters are replaced by a SHA-256 digest, and the
key itself is kept in the item (``pk``/``sk``), so nothing is lost and lookups stay exact.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from portafn.store.keys import document_id
from portafn.store.port import Key

MAX_ID_CHARS = 255
_HASH_PREFIX = "h~"


def item_id(key: Key) -> str:
    """The Cosmos id of an item with this key (reversible unless hashed)."""
    text = document_id(key)
    if len(text) <= MAX_ID_CHARS:
        return text
    return _HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()


def attached_id(name: str) -> str:
    """The Cosmos id of a document attached to a partition (an outbox record): ``o~`` and the
    percent-encoded name. Item ids start with ``s``, ``i`` or ``h~``, so the two never meet."""
    return "o~" + quote(name, safe="-_.")
