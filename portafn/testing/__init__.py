"""Testing helpers for portafn apps: an in-process client, and the pytest plugin."""

from portafn.local import LocalClient

__all__ = ["LocalClient"]
