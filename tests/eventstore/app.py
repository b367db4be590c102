"""A small event-sourced app the event store tests use: a counter stream published through the outbox."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from portafn import App
from portafn.eventstore import Aggregate, EventStream
from portafn.reliability import Outbox


class Added(BaseModel):
    kind: Literal["added"] = "added"
    amount: int
    tag: str = ""


class Reset(BaseModel):
    kind: Literal["reset"] = "reset"


CounterEvent = Annotated[Added | Reset, Field(discriminator="kind")]


class Counter(BaseModel):
    total: int = 0
    events: int = 0


def apply(state: Counter, event: Added | Reset) -> Counter:
    if isinstance(event, Added):
        return Counter(total=state.total + event.amount, events=state.events + 1)
    return Counter(total=0, events=state.events + 1)


app = App("eventstore-tests")
counters: EventStream[Added | Reset] = EventStream(
    app, "counters", CounterEvent, publish="counter-events", snapshot_every=5
)
# `tables=`: on a store whose transactions stay in one partition (Cosmos DB) the outbox records
# live beside the stream's partition; elsewhere they go to the outbox table in the same transaction.
outbox = Outbox(app, tables=(counters.table,))
counter = Aggregate(counters, Counter, initial=Counter, apply=apply)
