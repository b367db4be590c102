"""A bank account written once, run on every provider and store: command -> event -> view.

Commands (open, deposit, withdraw) rehydrate the account from its event stream, decide, and append
at the version they read, so two racing withdrawals cannot both spend the same money. Reads come
from two views kept by projections from the stream: a balance per account and its activity.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from portafn import App, Context, HttpError, HttpRequest, HttpResponse
from portafn.eventstore import Aggregate, EventStream, StoredEvent
from portafn.problems import problem
from portafn.projections import Projection
from portafn.store.transaction import Transaction

app = App("bank")

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
_ID = re.compile(ID)
MAX_CENTS = 100_000_000_00


# -- events ----------------------------------------------------------------------------------


class Opened(BaseModel):
    """An account was opened for ``owner``."""

    kind: Literal["opened"] = "opened"
    owner: str


class Deposited(BaseModel):
    """Money came in."""

    kind: Literal["deposited"] = "deposited"
    amount_cents: int


class Withdrawn(BaseModel):
    """Money went out."""

    kind: Literal["withdrawn"] = "withdrawn"
    amount_cents: int


AccountEvent = Annotated[Opened | Deposited | Withdrawn, Field(discriminator="kind")]
AnyEvent = Opened | Deposited | Withdrawn

accounts: EventStream[AnyEvent] = EventStream(app, "accounts", AccountEvent, snapshot_every=20)


# -- the aggregate: what commands decide on ---------------------------------------------------


class Account(BaseModel):
    """An account's state, folded from its events."""

    opened: bool = False
    owner: str = ""
    balance_cents: int = 0


def fold(state: Account, event: AnyEvent) -> Account:
    """The state after ``event``."""
    if isinstance(event, Opened):
        return Account(opened=True, owner=event.owner, balance_cents=0)
    delta = event.amount_cents if isinstance(event, Deposited) else -event.amount_cents
    return state.model_copy(update={"balance_cents": state.balance_cents + delta})


account = Aggregate(accounts, Account, initial=Account, apply=fold)


class InsufficientFunds(Exception):
    """A withdrawal larger than the balance."""

    def __init__(self, balance_cents: int, requested_cents: int) -> None:
        super().__init__("insufficient funds")
        self.balance_cents = balance_cents
        self.requested_cents = requested_cents


class AccountExists(Exception):
    """Opening an account id that is taken."""


# -- the views --------------------------------------------------------------------------------


class Balance(BaseModel):
    """An account's balance as the balances projection last saw it (``version``: events applied)."""

    account_id: str
    owner: str
    balance_cents: int
    version: int


class Activity(BaseModel):
    """One line of an account's activity."""

    account_id: str
    version: int
    kind: str
    amount_cents: int
    recorded_at: float


class ActivityPage(BaseModel):
    """One page of activity, oldest first; pass ``cursor`` back for the next."""

    items: list[Activity]
    cursor: str | None


balances = app.table(Balance, partition_key="account_id", name="bank_balances")
activity = app.table(Activity, partition_key="account_id", sort_key="version", name="bank_activity")


def project_balance(tx: Transaction, stored: StoredEvent[AnyEvent]) -> None:
    """Keep ``bank_balances`` from the account's events."""
    event = stored.event
    if isinstance(event, Opened):
        row = Balance(account_id=stored.stream_id, owner=event.owner, balance_cents=0, version=stored.version)
    else:
        current = balances.get(stored.stream_id)
        assert current is not None, "an account's first event opens it"
        delta = event.amount_cents if isinstance(event, Deposited) else -event.amount_cents
        row = current.model_copy(
            update={"balance_cents": current.balance_cents + delta, "version": stored.version}
        )
    tx.put(balances, row)


def project_activity(tx: Transaction, stored: StoredEvent[AnyEvent]) -> None:
    """Add a line to ``bank_activity`` for each deposit and withdrawal."""
    event = stored.event
    if isinstance(event, Deposited | Withdrawn):
        line = Activity(
            account_id=stored.stream_id,
            version=stored.version,
            kind=event.kind,
            amount_cents=event.amount_cents,
            recorded_at=stored.recorded_at,
        )
        tx.insert(activity, line)


# One projection per view: where a transaction stays in one table (Cosmos DB), each view's write
# and its checkpoint must share one.
balance_view = Projection(app, "balances", accounts, views=(balances,), apply=project_balance)
activity_view = Projection(app, "activity", accounts, views=(activity,), apply=project_activity)


# -- HTTP -------------------------------------------------------------------------------------


class OpenAccount(BaseModel):
    """What a client sends to open an account."""

    account_id: str = Field(pattern=ID)
    owner: str = Field(min_length=1, max_length=200)


class Amount(BaseModel):
    """A deposit or withdrawal."""

    amount_cents: int = Field(gt=0, le=MAX_CENTS)


class Receipt(BaseModel):
    """The account right after a command: its balance and the stream version that holds it."""

    account_id: str
    balance_cents: int
    version: int


def _account_id(value: str) -> str:
    if _ID.match(value) is None:
        raise HttpError(400, "account_id must be 1-64 letters, digits, '_' or '-'")
    return value


@app.exception_handler(InsufficientFunds)
def insufficient_funds(request: HttpRequest, exc: InsufficientFunds, ctx: Context) -> HttpResponse:
    """409 with a typed problem saying how much there is."""
    return problem(
        409,
        "The account's balance does not cover this withdrawal.",
        type="/problems/insufficient-funds",
        balance_cents=exc.balance_cents,
        requested_cents=exc.requested_cents,
    )


@app.exception_handler(AccountExists)
def account_exists(request: HttpRequest, exc: AccountExists, ctx: Context) -> HttpResponse:
    """409 with a typed problem: the id is taken."""
    return problem(409, "An account with this id exists.", type="/problems/account-exists")


@app.http("POST", "/accounts")
def open_account(body: OpenAccount) -> HttpResponse:
    """Open an account; 409 if the id is taken."""

    def decide(state: Account) -> list[AnyEvent]:
        if state.opened:
            raise AccountExists(body.account_id)
        return [Opened(owner=body.owner)]

    after = account.execute(body.account_id, decide)
    receipt = Receipt(account_id=body.account_id, balance_cents=0, version=after.version)
    return HttpResponse(receipt, status=201, headers={"Location": f"/accounts/{body.account_id}"})


def _command(account_id: str, event: Deposited | Withdrawn) -> Receipt:
    def decide(state: Account) -> list[AnyEvent]:
        if not state.opened:
            raise HttpError(404, "No such account.")
        if isinstance(event, Withdrawn) and event.amount_cents > state.balance_cents:
            raise InsufficientFunds(state.balance_cents, event.amount_cents)
        return [event]

    after = account.execute(_account_id(account_id), decide)
    return Receipt(account_id=account_id, balance_cents=after.state.balance_cents, version=after.version)


@app.http("POST", "/accounts/{account_id}/deposits")
def deposit(account_id: str, body: Amount) -> Receipt:
    """Pay money in."""
    return _command(account_id, Deposited(amount_cents=body.amount_cents))


@app.http("POST", "/accounts/{account_id}/withdrawals")
def withdraw(account_id: str, body: Amount) -> Receipt:
    """Take money out; 409 ``/problems/insufficient-funds`` if the balance is short."""
    return _command(account_id, Withdrawn(amount_cents=body.amount_cents))


@app.http("GET", "/accounts/{account_id}")
def get_balance(account_id: str) -> Balance:
    """The balance view (as of the last projected event), or 404."""
    found = balances.get(_account_id(account_id))
    if found is None:
        raise HttpError(404, "No such account.")
    return found


@app.http("GET", "/accounts/{account_id}/activity")
def get_activity(account_id: str, limit: int = 50, cursor: str | None = None) -> ActivityPage:
    """The account's deposits and withdrawals, oldest first, a page at a time."""
    if not 1 <= limit <= 100:
        raise HttpError(400, "limit must be between 1 and 100")
    page = activity.query(_account_id(account_id), limit=limit, cursor=cursor)
    return ActivityPage(items=page.items, cursor=page.cursor)
