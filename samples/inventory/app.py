"""An inventory service that uses what users expect from an HTTP framework.

Middleware (timing and an order trail), an exception handler for a business exception, event
middleware that keeps an audit of every message, and CORS for the shop's web front end (a public
stock route open to any origin, an internal one closed to browsers), written once and run on every
provider.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from typing import Annotated, Any

from pydantic import BaseModel, Field

from portafn import App, Context, Depends, Event, HttpError, HttpRequest, HttpResponse, Message
from portafn.auth import APIKey, BearerJWT, PlatformIdentity
from portafn.auth.google import GOOGLE_JWKS_URL, IAP_JWKS_URL, GoogleIAP, GoogleIDToken
from portafn.cors import CORS
from portafn.middleware import CallNext, EventCallNext
from portafn.problems import problem

SHOP = "https://shop.example.com"

app = App(
    "inventory",
    cors=CORS(
        [SHOP],
        allow_methods=["GET", "PUT", "POST"],
        allow_headers=["content-type", "x-maintenance"],
        expose_headers=["Server-Timing"],
        allow_credentials=True,
        max_age=300,
    ),
)

SKU = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


class Item(BaseModel):
    """A stock-keeping unit and how many are on hand."""

    sku: str = Field(pattern=SKU)
    name: str = Field(min_length=1, max_length=200)
    on_hand: int = Field(ge=0)


class Reservation(BaseModel):
    """A request to set aside ``quantity`` units."""

    quantity: int = Field(ge=1, le=10_000)


class Restock(BaseModel):
    """A delivery from a supplier."""

    sku: str = Field(pattern=SKU)
    quantity: int = Field(ge=1)


class AuditEntry(BaseModel):
    """What the event middleware saw: one line before and one after each message."""

    function: str
    entry: str
    event_id: str
    phase: str
    outcome: str | None = None


class OutOfStock(Exception):
    """A business rule broken: more units asked for than are on hand."""

    def __init__(self, sku: str, wanted: int, on_hand: int) -> None:
        super().__init__(f"{sku}: wanted {wanted}, {on_hand} on hand")
        self.sku, self.wanted, self.on_hand = sku, wanted, on_hand


items = app.table(Item, partition_key="sku")
audit = app.table(AuditEntry, partition_key="function", sort_key="entry", name="audit")


@app.middleware
def timing(request: HttpRequest, ctx: Context, call_next: CallNext) -> HttpResponse:
    """Outermost: time every answer, portafn's own 404s and 400s included."""
    started = time.perf_counter()
    response = call_next(request)
    response.headers.set("Server-Timing", f"app;dur={(time.perf_counter() - started) * 1000:.1f}")
    response.headers.add("X-Trail", "timing")
    return response


@app.middleware
def maintenance(request: HttpRequest, ctx: Context, call_next: CallNext) -> HttpResponse:
    """Inner: answer 503 without running the handler while a maintenance header is set."""
    if request.headers.get("X-Maintenance") == "on":
        response = problem(503, "Inventory is in maintenance.")
    else:
        response = call_next(request)
    response.headers.add("X-Trail", "maintenance")
    return response


@app.exception_handler(OutOfStock)
def out_of_stock(request: HttpRequest, exc: OutOfStock, ctx: Context) -> HttpResponse:
    """A broken business rule is a 409 problem that says what is on hand."""
    return problem(409, "Not enough stock.", sku=exc.sku, wanted=exc.wanted, on_hand=exc.on_hand)


@app.event_middleware
def audited(event: Event[Any], ctx: Context, call_next: EventCallNext) -> Any:
    """Record every message before and after its handler, and how the handler ended."""
    _note(event, ctx, "before", None)
    try:
        result = call_next(event)
    except Exception as exc:
        _note(event, ctx, "after", type(exc).__name__)
        raise
    _note(event, ctx, "after", "ok")
    return result


def _note(event: Event[Any], ctx: Context, phase: str, outcome: str | None) -> None:
    audit.put(
        AuditEntry(
            function=ctx.function_name,
            entry=f"{event.id}:{phase}",
            event_id=event.id,
            phase=phase,
            outcome=outcome,
        )
    )


@app.http("PUT", "/items/{sku}")
def put_item(sku: str, body: Item) -> Item:
    """Create or replace an item."""
    if body.sku != sku:
        raise HttpError(400, "The body's sku must match the path.")
    items.put(body)
    return body


@app.http("GET", "/items/{sku}")
def get_item(sku: str) -> Item:
    """One item, or 404."""
    item = items.get(sku)
    if item is None:
        raise HttpError(404, "No such item.")
    return item


@app.http("POST", "/items/{sku}/reservations")
def reserve(sku: str, body: Reservation) -> Item:
    """Take ``quantity`` units off the shelf; ``OutOfStock`` (409) when there are not enough."""

    def take(item: Item) -> Item:
        if item.on_hand < body.quantity:
            raise OutOfStock(sku, body.quantity, item.on_hand)
        return item.model_copy(update={"on_hand": item.on_hand - body.quantity})

    return items.update(sku, None, take)


class Stock(BaseModel):
    """What anyone may see: whether an item is in stock."""

    sku: str
    in_stock: bool


@app.http("GET", "/public/stock/{sku}", cors=CORS(["*"], allow_methods=["GET"]))
def public_stock(sku: str) -> Stock:
    """Whether an item is in stock, for any web page (its own CORS policy: any origin, GET only)."""
    item = items.get(sku)
    return Stock(sku=sku, in_stock=item is not None and item.on_hand > 0)


@app.http("DELETE", "/items/{sku}", cors=False)
def delete_item(sku: str) -> None:
    """Remove an item: for back-office tools, never for a browser on another origin."""
    items.delete(sku)


ISSUER = "https://auth.example.com/"


def partner(key: str) -> str | None:
    """The partner an API key belongs to; keys come from the environment as ``key=partner,...``."""
    pairs = (p.partition("=") for p in os.environ.get("INVENTORY_API_KEYS", "").split(","))
    return next((owner for k, _, owner in pairs if k and owner and k == key), None)


def jwks_url() -> str:
    """The identity provider's key set, from the environment (read on first use)."""
    return os.environ["INVENTORY_JWKS_URL"]


signed_in = BearerJWT(jwks_url, issuer=ISSUER, audience="inventory")
can_read_stock = BearerJWT(jwks_url, issuer=ISSUER, audience="inventory", scopes=["stock:read"])


class Me(BaseModel):
    """Who the caller is, as portafn's auth saw it."""

    id: str
    scheme: str
    scopes: list[str]


@app.http("GET", "/me", auth=signed_in)
def me(ctx: Context) -> Me:
    """The caller of a bearer token."""
    assert ctx.principal is not None
    return Me(id=ctx.principal.id, scheme=ctx.principal.scheme, scopes=sorted(ctx.principal.scopes))


@app.http("GET", "/stock-report", auth=can_read_stock)
def stock_report(ctx: Context) -> dict[str, str]:
    """Only for tokens with the ``stock:read`` scope."""
    assert ctx.principal is not None
    return {"for": ctx.principal.id}


@app.http("GET", "/partners/feed", auth=APIKey(partner))
def partner_feed(ctx: Context) -> dict[str, str]:
    """For partners with an API key."""
    assert ctx.principal is not None
    return {"partner": ctx.principal.id}


@app.http("GET", "/staff/me", auth=PlatformIdentity())
def staff_me(ctx: Context) -> dict[str, str]:
    """For staff signed in through the platform (API Gateway authorizer, Azure Easy Auth)."""
    assert ctx.principal is not None
    return {"id": ctx.principal.id, "scheme": ctx.principal.scheme}


# Google's identity, verified with Google's published keys on every provider (tests point the key
# set addresses at a loopback server). IAP's audience names the backend IAP protects; an ID token's
# is what the caller (a Cloud Scheduler job, a service account) asked for.
IAP_AUDIENCE = "/projects/123456789/apps/inventory-demo"
GOOGLE_AUDIENCE = "https://inventory.example.com"

behind_iap = GoogleIAP(IAP_AUDIENCE, jwks_url=lambda: os.environ.get("INVENTORY_IAP_JWKS_URL", IAP_JWKS_URL))
google_caller = GoogleIDToken(
    GOOGLE_AUDIENCE, jwks_url=lambda: os.environ.get("INVENTORY_GOOGLE_JWKS_URL", GOOGLE_JWKS_URL)
)


class Caller(BaseModel):
    """Who a Google-authenticated caller is."""

    id: str
    scheme: str
    email: str | None


@app.http("GET", "/iap/me", auth=behind_iap)
def iap_me(ctx: Context) -> Caller:
    """Staff signed in through Identity-Aware Proxy."""
    assert ctx.principal is not None
    return Caller(id=ctx.principal.id, scheme=ctx.principal.scheme, email=ctx.principal.claims.get("email"))


@app.http("POST", "/jobs/recount", auth=google_caller)
def recount(ctx: Context) -> Caller:
    """Called by a Google-authenticated job (a Cloud Scheduler job's OIDC token)."""
    assert ctx.principal is not None
    return Caller(id=ctx.principal.id, scheme=ctx.principal.scheme, email=ctx.principal.claims.get("email"))


class PriceBook:
    """An async client made once per process (as an HTTP or database pool would be): like those,
    it refuses to be used from any loop but the one it was made on."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.calls = 0

    async def price_cents(self, sku: str) -> int:
        if asyncio.get_running_loop() is not self.loop:
            raise RuntimeError("PriceBook used from another event loop")
        await asyncio.sleep(0)
        self.calls += 1
        return 100 + sum(map(ord, sku)) % 900


prices: dict[str, PriceBook] = {}


@app.http("GET", "/staff/adjustments", auth=PlatformIdentity(roles=["inventory-admin"]))
def staff_adjustments(ctx: Context) -> dict[str, Any]:
    """For platform-authenticated staff holding the ``inventory-admin`` role."""
    assert ctx.principal is not None
    return {"id": ctx.principal.id, "roles": sorted(ctx.principal.roles)}


@app.on_start
async def open_price_book() -> None:
    """Open the async client once, before the first invocation."""
    prices["book"] = PriceBook()


class Quote(BaseModel):
    """A price for some units of an item."""

    sku: str
    quantity: int
    total_cents: int


@app.http("GET", "/items/{sku}/quote", memory=1024, timeout=20)
async def quote(sku: str, quantity: int = 1) -> Quote:
    """An async handler using the client made at start: one loop per process makes that safe."""
    unit = await prices["book"].price_cents(sku)
    return Quote(sku=sku, quantity=quantity, total_cents=unit * quantity)


_WAREHOUSE = re.compile(r"^[a-z]{2}-[0-9]{1,3}$")
warehouse_lookups: Counter[str] = Counter()  # request id -> times the warehouse was resolved


def warehouse(request: HttpRequest, ctx: Context) -> str:
    """The warehouse a request is about, from its ``X-Warehouse`` header; 400 when absent or bad."""
    warehouse_lookups[ctx.request_id] += 1
    value = request.headers.get("x-warehouse") or ""
    if not _WAREHOUSE.match(value):
        raise HttpError(400, "X-Warehouse must name a warehouse such as 'eu-1'.")
    return value


class Shelf:
    """The view of one warehouse's stock a handler works with (built from another dependency)."""

    def __init__(self, warehouse: str) -> None:
        self.warehouse = warehouse

    def bin_for(self, sku: str) -> str:
        return f"{self.warehouse}/{sku[:1].upper()}"


def shelf(wh: Annotated[str, Depends(warehouse)]) -> Shelf:
    """A ``Shelf`` for the request's warehouse."""
    return Shelf(wh)


@app.http("GET", "/warehouse/items/{sku}/bin")
def item_bin(
    sku: str,
    ctx: Context,
    wh: Annotated[str, Depends(warehouse)],
    place: Annotated[Shelf, Depends(shelf)],
) -> dict[str, Any]:
    """Where an item sits: ``warehouse`` is asked for twice (here and by ``shelf``) and runs once."""
    return {"warehouse": wh, "bin": place.bin_for(sku), "lookups": warehouse_lookups.pop(ctx.request_id, 0)}


async def list_price(request: HttpRequest, wh: Annotated[str, Depends(warehouse)]) -> int:
    """The item's list price in the request's warehouse, from the async client made at start:
    awaited on the same loop as the handler, so the client serves it."""
    surcharge = 5 if wh.startswith("eu-") else 0
    return await prices["book"].price_cents(request.path_params["sku"]) + surcharge


@app.http("GET", "/warehouse/items/{sku}/price")
async def item_price(
    sku: str,
    ctx: Context,
    wh: Annotated[str, Depends(warehouse)],
    price: Annotated[int, Depends(list_price)],
) -> dict[str, Any]:
    """An async dependency beside a plain one (``warehouse``, asked for twice, runs once)."""
    base = await prices["book"].price_cents(sku)
    return {
        "warehouse": wh,
        "price_cents": price,
        "base_cents": base,
        "lookups": warehouse_lookups.pop(ctx.request_id, 0),
    }


# Deployed packages serve the API description too (portafn serve always does).
app.enable_openapi(title="Inventory", version="1.0.0")


@app.queue("restocks")
def on_restock(msg: Message[Restock], ctx: Context) -> None:
    """Add delivered units; a delivery for an unknown item raises and is retried."""
    restock = msg.data
    assert restock is not None
    items.update(restock.sku, None, lambda i: i.model_copy(update={"on_hand": i.on_hand + restock.quantity}))
