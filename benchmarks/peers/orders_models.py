"""The models and the stubbed store the Azure and GCP native peers share (the Lambda peers carry
their own copies, so each can be deployed alone for the cold-start benchmark)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
ID_RE = re.compile(ID)


class NewOrder(BaseModel):
    """What a client sends."""

    order_id: str = Field(pattern=ID)
    total_cents: int = Field(ge=0, le=100_000_000)
    note: str | None = Field(default=None, max_length=500)


class Order(BaseModel):
    """An order as stored."""

    customer_id: str
    order_id: str
    total_cents: int
    status: Literal["new", "paid", "shipped", "cancelled"] = "new"
    note: str | None = None
    created_at: datetime
    updated_at: datetime


class DictOrders:
    """Orders in a dict: the store call stubbed out, to see the handler's own cost."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], dict[str, Any]] = {}

    def insert(self, order: Order) -> bool:
        """Store the order; False if its key is taken."""
        key = (order.customer_id, order.order_id)
        if key in self.items:
            return False
        self.items[key] = order.model_dump(mode="json")
        return True
