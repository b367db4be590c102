"""How portafn finds this adapter: the ``azure`` provider, registered under ``portafn.providers``.

Every reference is a string, resolved when the core first uses it, so finding the provider
imports neither azure-functions nor azure-cosmos nor any module below.
"""

from portafn.plugins import Provider

PROVIDER = Provider(
    name="azure",
    distribution="portafn-azure",
    stores={"cosmos": "portafn_azure.cosmos_store:CosmosStore"},
    store_servers={"cosmos": "cosmos"},
    driver="portafn_azure.driver:make_driver",
    publisher="portafn_azure.publish:make_publisher",
    packager="portafn_azure.package",
    entry="portafn_azure:function_app",
    change_sources=frozenset({"cosmos"}),
    pricing="portafn_azure.pricing",
    servers={"cosmos": "portafn_azure.dev.cosmos", "azurite": "portafn_azure.dev.azurite"},
)
