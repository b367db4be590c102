"""How portafn finds this adapter: the ``gcp`` provider, registered under ``portafn.providers``.

Every reference is a string, resolved when the core first uses it, so finding the provider
imports neither functions-framework nor google-cloud-firestore nor any module below.
"""

from portafn.plugins import Provider

PROVIDER = Provider(
    name="gcp",
    distribution="portafn-gcp",
    stores={"firestore": "portafn_gcp.firestore_store:FirestoreStore"},
    store_servers={"firestore": "firestore"},
    driver="portafn_gcp.driver:GcpDriver",
    publisher="portafn_gcp.publish:make_publisher",
    packager="portafn_gcp.package",
    entry="portafn_gcp:targets",
    change_sources=frozenset({"firestore"}),
    pricing="portafn_gcp.pricing",
    servers={"firestore": "portafn_gcp.dev.firestore", "pubsub": "portafn_gcp.dev.pubsub"},
)
