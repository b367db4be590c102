"""How portafn finds this adapter: the ``aws`` provider, registered under ``portafn.providers``.

Every reference is a string, resolved when the core first uses it, so finding the provider
imports neither boto3 nor any module below.
"""

from portafn.plugins import Provider

PROVIDER = Provider(
    name="aws",
    distribution="portafn-aws",
    stores={"dynamodb": "portafn_aws.dynamodb_store:DynamoDBStore"},
    store_servers={"dynamodb": "dynamodb"},
    driver="portafn_aws.driver:AwsDriver",
    publisher="portafn_aws.publish:make_publisher",
    packager="portafn_aws.package",
    entry="portafn_aws:lambda_handler",
    change_sources=frozenset({"dynamodb"}),
    secrets="portafn_aws.settings:resolve",
    pricing="portafn_aws.pricing",
    servers={"dynamodb": "portafn_aws.dev.dynamodb", "moto": "portafn_aws.dev.moto"},
)
