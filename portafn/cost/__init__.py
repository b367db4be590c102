"""What a month of an app costs on each provider, and where an always-on instance becomes cheaper.

The core holds the model's shape (``Usage``, ``LineItem``, ``Estimate``), the price-table loader and
the break-even search; each adapter brings its own price table and the rules for turning usage into
billed quantities, named by ``Provider.pricing`` in the plugin registry. Nothing here names a provider.
"""

from portafn.cost.breakeven import break_even
from portafn.cost.model import Estimate, LineItem, Usage, metered
from portafn.cost.prices import PriceTable, load_prices
from portafn.cost.registry import estimates, pricing_providers

__all__ = [
    "Estimate",
    "LineItem",
    "PriceTable",
    "Usage",
    "break_even",
    "estimates",
    "load_prices",
    "metered",
    "pricing_providers",
]
