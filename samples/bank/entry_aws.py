"""The bank sample on AWS Lambda: set the function's handler to ``samples.bank.entry_aws.handler``."""

from portafn_aws import lambda_handler

from samples.bank.app import app

handler = lambda_handler(app)
