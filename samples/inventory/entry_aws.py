"""The inventory sample on AWS Lambda: the function's handler is ``samples.inventory.entry_aws.handler``."""

from portafn_aws import lambda_handler

from samples.inventory.app import app

handler = lambda_handler(app)
