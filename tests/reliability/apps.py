"""The app the reliability tests drive: idempotent handlers, publishers, consumers and an outbox."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from pydantic import BaseModel

from portafn import App, Context, HttpRequest, HttpResponse, Message
from portafn.reliability import DeadLetter, Retry, idempotency_table, idempotent

app = App("reliability-tests")


class Payment(BaseModel):
    payment_id: str
    amount: int


class Receipt(BaseModel):
    payment_id: str
    amount: int
    run: int


class Order(BaseModel):
    customer_id: str
    order_id: str
    total: int


class Applied(BaseModel):
    """One side effect an idempotent consumer applied; the key is the event it came from."""

    event_id: str
    order_id: str


idempotency = idempotency_table(app)


class Effects:
    """Thread-safe counts of handler runs (the side effects the tests count)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: Counter[str] = Counter()
        self.seen: list[Message[Any]] = []
        self.contexts: list[Context] = []
        self.gate: threading.Event | None = None

    def hit(self, name: str) -> int:
        with self.lock:
            self.runs[name] += 1
            return self.runs[name]

    def reset(self) -> None:
        with self.lock:
            self.runs.clear()
            self.seen.clear()
            self.contexts.clear()
            self.gate = None


effects = Effects()


# -- idempotency -------------------------------------------------------------------------------


@app.queue("payments")
@idempotent(key="payment_id", wait=10.0)
def charge(msg: Message[Payment], ctx: Context) -> Receipt:
    """Charge once per payment id; blocks on ``effects.gate`` when a test sets one."""
    assert msg.data is not None
    if effects.gate is not None:
        effects.gate.wait(10)
    return Receipt(payment_id=msg.data.payment_id, amount=msg.data.amount, run=effects.hit("charge"))


@app.queue("by-id")
@idempotent
def by_message_id(msg: Message[Any]) -> int:
    """Idempotent on the message id (the default key); no Context parameter of its own."""
    return effects.hit("by_message_id")


@app.queue("flaky")
@idempotent()
def flaky(msg: Message[Any], ctx: Context) -> str:
    """Fails on its first run and succeeds on the next: a failed run must release the key."""
    if effects.hit("flaky") == 1:
        raise RuntimeError("transient failure")
    return "done"


@app.queue("no-wait")
@idempotent(key="payment_id")
def no_wait(msg: Message[Payment]) -> int:
    """Like charge, but a concurrent repeat is told to retry instead of waiting."""
    if effects.gate is not None:
        effects.gate.wait(10)
    return effects.hit("no_wait")


@app.queue("consume-once")
@idempotent()
def consume_once(msg: Message[Payment], ctx: Context) -> None:
    """The consumer of the 1,000 x 3 test: one side effect per message id."""
    effects.hit("consume_once")


@app.http("POST", "/payments/{account}")
@idempotent()
def pay(account: str, body: Payment, ctx: Context) -> HttpResponse:
    """Create a payment (Idempotency-Key header)."""
    run = effects.hit("pay")
    return HttpResponse(
        {"account": account, "payment_id": body.payment_id, "run": run},
        status=201,
        headers={"Location": f"/payments/{account}/{body.payment_id}"},
    )


@app.http("POST", "/transfers")
@idempotent(key="transfer.id", required=True)
def transfer(body: dict[str, Any], request: HttpRequest) -> dict[str, Any]:
    """Idempotent on a field of the body; a body without it is a 400."""
    return {"run": effects.hit("transfer"), "ua": request.headers.get("user-agent")}


@app.http("POST", "/async-pay")
@idempotent()
async def async_pay(body: Payment) -> Receipt:
    """An async handler keeps working under the decorator."""
    return Receipt(payment_id=body.payment_id, amount=body.amount, run=effects.hit("async_pay"))


# -- publishing and the outbox -----------------------------------------------------------------


@app.http("POST", "/publish/{topic}")
def publish_now(topic: str, body: dict[str, Any], ctx: Context) -> dict[str, str]:
    """Publish the body now (no transaction)."""
    effects.contexts.append(ctx)
    key = body.pop("_key", None)
    return {"id": ctx.publish(topic, body, key=key, attributes={"origin": "http"})}


@app.topic("order-created")
def on_order_created(msg: Message[Order], ctx: Context) -> None:
    """Record what arrived, and apply it once per event id (the idempotent consumer)."""
    with effects.lock:
        effects.seen.append(msg)
        effects.contexts.append(ctx)
    effects.hit("on_order_created")


@app.topic("chain-1")
def chain_one(msg: Message[Any], ctx: Context) -> None:
    """Publish onward: a chain of functions over the local bus."""
    effects.hit("chain_one")
    ctx.publish("chain-2", {"from": msg.id})


@app.topic("chain-2")
def chain_two(msg: Message[Any], ctx: Context) -> None:
    ctx.logger.info("chain-2 received")
    with effects.lock:
        effects.seen.append(msg)
        effects.contexts.append(ctx)
    effects.hit("chain_two")


@app.queue("outcomes")
def decide(msg: Message[dict[str, str]], ctx: Context) -> str:
    """Ends as the message says: ok, retry, dead-letter or crash."""
    assert msg.data is not None
    effects.hit("decide")
    action = msg.data["do"]
    if action == "retry":
        raise Retry("not yet", delay=2.5)
    if action == "dead-letter":
        raise DeadLetter("cannot ever process this")
    if action == "crash":
        raise KeyError("boom")
    return "ok"


@app.topic("outcomes")
def decide_topic(msg: Message[dict[str, str]], ctx: Context) -> str:
    """The same decisions on a topic, for the local bus."""
    return decide(msg, ctx)
