"""The fast tier: ``pytest -m "not emulator"`` runs every unit test with no local server, Java, npm
package, provider runtime process or network.

Rather than a marker on each test, the ``emulator`` marker is added here, at collection, to every
test that reaches one of those: through a fixture that starts a server or builds a package (looked
up in the test's whole fixture closure, so a fixture built on one counts too), through a store
selected with ``--portafn-stores`` that needs a server, or by living in a module that runs a real
provider runtime or server process itself. A test marked by hand keeps its marker.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# Fixtures that start a local server (DynamoDB Local, moto, the Cosmos server, the Firestore and
# Pub/Sub emulators) or build a package (uv resolves wheels from the index: network).
SERVER_FIXTURES = frozenset(
    {
        "dynamodb_server",
        "moto_server",
        "cosmos_server",
        "firestore_server",
        "pubsub_server",
        "azurite",
        "build",
    }
)

# Stores the contract suite and the conformance runner can run on without a server.
EMBEDDED_STORES = frozenset({"memory", "sqlite"})

# Modules whose tests run a real runtime or server process of their own (the Lambda runtime client
# against the Runtime API test host, functions-framework as a server, `portafn dev up`, the
# benchmarks' smoke run, the getting-started walk-through, crash recovery in a killed subprocess,
# packaging the samples, which resolves wheels from the index).
PROCESS_MODULES = frozenset(
    {
        "tests/aws/test_lambda_runtime.py",
        "tests/aws/test_orders_on_lambda.py",
        "tests/azure/test_dev_servers.py",
        "tests/benchmarks/test_smoke.py",
        "tests/core/test_dev_up.py",
        "tests/docs/test_getting_started.py",
        "tests/gcp/test_functions_framework_server.py",
        "tests/package/test_released.py",
        "tests/package/test_samples_package.py",
        "tests/reliability/test_crash.py",
    }
)

# Single tests that run a provider's own CLI many times (gcloud's --help takes seconds a call).
PROCESS_TESTS = frozenset({"tests/package/test_gcp.py::test_every_flag_is_one_gcloud_documents"})

ROOT = Path(__file__).resolve().parent.parent


def needs_emulator(item: pytest.Item) -> bool:
    """Whether ``item`` reaches a server, a runtime process or the network."""
    if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    target = callspec.params.get("portafn_target") if callspec is not None else None
    if target is not None and (
        target.provider != "local" or target.store.split("://")[0] not in EMBEDDED_STORES
    ):
        return True
    try:
        module = item.path.resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return False
    return module in PROCESS_MODULES or f"{module}::{item.name}" in PROCESS_TESTS


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests of the slow tier ``emulator``."""
    for item in items:
        if item.get_closest_marker("emulator") is None and needs_emulator(item):
            item.add_marker(pytest.mark.emulator)
