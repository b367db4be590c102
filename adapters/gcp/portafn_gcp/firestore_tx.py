"""Firestore transactions whose every request is bounded by the call's deadline.

The SDK's ``@transactional`` begins and commits with no timeout of the caller's, retries a commit
for up to a minute, and makes five attempts: one stuck commit can hold a function for minutes
(the emulator has left two commits waiting for over five minutes in CI). Here each request gets
at most ``SLICE_S`` of what is left of the call's deadline. A commit that does not answer in its
slice is rolled back: a transaction that can still be rolled back never committed, so it is safe
to try again, and the rollback frees its locks for the transactions waiting on them. When the
rollback fails too, the outcome is read from the documents themselves (every put carries a fresh
write token, ``firestore_keys.TOKEN``).

Only the SDK's request builders are used from the SDK's transaction: ``Transaction`` still
collects the writes (``set``/``delete``) and reads inside the transaction (``get_all``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from portafn.store.deadline import MIN_REQUEST_S, call_deadline, remaining
from portafn.store.retry import DEFAULT

if TYPE_CHECKING:
    from google.cloud.firestore_v1 import Client, DocumentReference, Transaction

R = TypeVar("R")

SLICE_S = 5.0  # a healthy commit answers within the emulator's 2 s lock timeout; this leaves room
ATTEMPTS = 5  # as many as the SDK's own transactions make


class CommitUnknown(Exception):
    """A commit neither answered nor could be rolled back, and the documents do not show it landed."""


class Exhausted(Exception):
    """Every attempt was aborted by contention."""


def slice_s() -> float:
    """The timeout of one transaction request: ``SLICE_S``, or less when the deadline is nearer."""
    return min(SLICE_S, remaining())


def run(
    client: Client,
    body: Callable[[Transaction], R],
    written: Callable[[], bool],
) -> R:
    """Run ``body`` in a read-write transaction and commit what it wrote, retrying contention.

    ``written()`` tells, from the documents, whether this transaction's writes are in place; it
    settles a commit whose answer was lost and which could not be rolled back. Google API errors
    other than contention and timeouts propagate as they are (the store maps them).
    """
    from google.api_core import exceptions as gexc

    retry_id: bytes | None = None
    last: Exception | None = None
    for attempt in range(ATTEMPTS):
        if attempt and not _pause_fits(attempt):
            break
        tx = client.transaction()
        _begin(client, tx, retry_id)
        retry_id = retry_id or tx._id
        try:
            result = body(tx)
            if not tx._write_pbs:
                _rollback(client, tx)  # nothing to write: free the read locks at once
                return result
            _commit(client, tx, written)
            return result
        except gexc.Aborted as exc:  # contention: the server chose this transaction to lose
            last = exc
            _rollback(client, tx)
        except _Retry as exc:
            last = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
        except BaseException:
            _rollback(client, tx)
            raise
    raise Exhausted(f"{ATTEMPTS} attempts aborted by contention; last: {last}")


class _Retry(Exception):
    """A commit timed out and was rolled back: it did not land, so the attempt may be repeated."""


def _pause_fits(attempt: int) -> bool:
    # The store layer's full-jitter backoff: racing writers spread out instead of colliding again.
    pause = DEFAULT.delay(attempt)
    if time.monotonic() + pause + MIN_REQUEST_S > call_deadline():
        return False
    time.sleep(pause)
    return True


def _begin(client: Client, tx: Transaction, retry_id: bytes | None) -> None:
    from google.cloud.firestore_v1.types import TransactionOptions

    options = TransactionOptions(read_write=TransactionOptions.ReadWrite(retry_transaction=retry_id or b""))
    response = client._firestore_api.begin_transaction(
        request={"database": client._database_string, "options": options},
        metadata=client._rpc_metadata,
        retry=None,
        timeout=slice_s(),
    )
    tx._id = response.transaction


def _commit(client: Client, tx: Transaction, written: Callable[[], bool]) -> None:
    from google.api_core import exceptions as gexc

    try:
        client._firestore_api.commit(
            request={"database": client._database_string, "writes": tx._write_pbs, "transaction": tx._id},
            metadata=client._rpc_metadata,
            retry=None,
            timeout=slice_s(),
        )
    except (gexc.DeadlineExceeded, gexc.ServiceUnavailable, gexc.InternalServerError, gexc.Unknown) as exc:
        if _rollback(client, tx):
            raise _Retry() from exc
        if written():
            return
        raise CommitUnknown(str(exc)[:200]) from exc
    finally:
        tx._clean_up()


def _rollback(client: Client, tx: Transaction) -> bool:
    """Roll back, bounded; True when the server confirmed it (so the transaction never committed)."""
    from google.api_core import exceptions as gexc

    if tx._id is None:
        return False
    try:
        client._firestore_api.rollback(
            request={"database": client._database_string, "transaction": tx._id},
            metadata=client._rpc_metadata,
            retry=None,
            timeout=slice_s(),
        )
        return True
    except gexc.GoogleAPICallError:
        return False
    finally:
        tx._clean_up()


def landed(
    client: Client, refs: Sequence[DocumentReference], bodies: Sequence[dict[str, Any] | None]
) -> bool:
    """Whether every write of a transaction is in place: each put's document carries its write
    token, and each deleted document is gone."""
    from portafn_gcp import firestore_keys as fk

    snaps = {s.reference.path: s for s in client.get_all(list(refs), retry=None, timeout=slice_s())}
    for ref, body in zip(refs, bodies, strict=True):
        snap = snaps.get(ref.path)
        doc = snap.to_dict() if snap is not None and snap.exists else None
        if body is None and doc is not None:
            return False
        if body is not None and (doc is None or doc.get(fk.TOKEN) != body[fk.TOKEN]):
            return False
    return True
