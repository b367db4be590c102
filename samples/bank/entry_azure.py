"""Azure Functions entry: copy as ``function_app.py``; the v2 worker indexes the module-level ``app``."""

from portafn_azure import function_app

from samples.bank.app import app as portafn_app

app = function_app(portafn_app)
