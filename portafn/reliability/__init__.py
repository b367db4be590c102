"""Reliability blocks: idempotent functions, publishing, the transactional outbox, message outcomes.

Nothing here is imported by ``import portafn``; importing this package costs only what you use.
See docs/reliability.md.
"""

from portafn.reliability.idempotency import (
    IdempotencyError,
    IdempotencyInProgress,
    IdempotencyKeyMissing,
    IdempotencyKeyReused,
    IdempotencyRecord,
    IdempotencyResultUnavailable,
    idempotency_table,
    idempotent,
)
from portafn.reliability.outbox import Outbox, OutboxRecord, Relay, RelayResult
from portafn.reliability.outcomes import DeadLetter, Outcome, Retry, outcome_of
from portafn.reliability.publish import LocalBus, Outgoing, Publisher, PublishError

__all__ = [
    "DeadLetter",
    "IdempotencyError",
    "IdempotencyInProgress",
    "IdempotencyKeyMissing",
    "IdempotencyKeyReused",
    "IdempotencyRecord",
    "IdempotencyResultUnavailable",
    "LocalBus",
    "Outbox",
    "OutboxRecord",
    "Outcome",
    "Outgoing",
    "PublishError",
    "Publisher",
    "Relay",
    "RelayResult",
    "Retry",
    "idempotency_table",
    "idempotent",
    "outcome_of",
]
