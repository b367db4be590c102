"""A small app whose view is projected from a table's changes: accounts summarised per owner.

The view's partition key is the source's (``owner``), so on a store whose transactions stay in one
partition a change's writes land where the item's checkpoint markers live.
"""

from __future__ import annotations

from pydantic import BaseModel

from portafn import App, Change
from portafn.projections import TableProjection
from portafn.store.transaction import Transaction


class Account(BaseModel):
    owner: str
    account_id: str
    balance: int
    version: int


class Summary(BaseModel):
    """Not idempotent on purpose: ``applied`` lists every version applied, so a second apply shows."""

    owner: str
    account_id: str
    balance: int
    applied: list[int] = []


app = App("table-projection-tests")
accounts = app.table(Account, partition_key="owner", sort_key="account_id", name="tp_accounts")
summaries = app.table(Summary, partition_key="owner", sort_key="account_id", name="tp_summaries")


def summarise(tx: Transaction, change: Change[Account]) -> None:
    if change.kind == "remove":
        tx.delete(summaries, change.key["owner"], change.key["account_id"])
        return
    item = change.new
    assert item is not None
    current = summaries.get(item.owner, item.account_id)
    applied = [] if current is None else current.applied
    tx.put(
        summaries,
        Summary(
            owner=item.owner,
            account_id=item.account_id,
            balance=item.balance,
            applied=[*applied, item.version],
        ),
    )


summary_view = TableProjection(
    app, "tp_summary", accounts, views=(summaries,), apply=summarise, version=lambda a: a.version
)
