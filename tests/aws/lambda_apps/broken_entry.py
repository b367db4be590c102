"""An entry module whose import fails, as a deployment missing a dependency would."""

import portafn_missing_dependency  # type: ignore[import-not-found]  # noqa: F401 - the point of the module
from portafn_aws import lambda_handler

from samples.orders.app import app

handler = lambda_handler(app)
