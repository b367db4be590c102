"""The orders sample on AWS Lambda: set the function's handler to ``samples.orders.entry_aws.handler``."""

from portafn_aws import lambda_handler

from samples.orders.app import app

handler = lambda_handler(app)
