"""An app whose event function raises, to see the error body Lambda's runtime posts."""

from __future__ import annotations

from typing import Any

from portafn_aws import lambda_handler

from portafn import App, Event

app = App("raising")


class PaymentDeclined(Exception):
    """A business error the handler does not catch."""


@app.event("com.example.payment.requested")
def charge(ev: Event[Any]) -> None:
    raise PaymentDeclined(f"card declined for {ev.subject}")


handler = lambda_handler(app)
