"""Testing helpers for portafn apps: the client, provider drivers, and the pytest plugin."""

from portafn.testing.client import Client, Deliveries, LocalClient
from portafn.testing.drivers import Delivery, Driver, LocalDriver

__all__ = ["Client", "Deliveries", "Delivery", "Driver", "LocalClient", "LocalDriver"]
