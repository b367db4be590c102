"""Importing portafn loads no cloud SDK (a subprocess diffs sys.modules around the import)."""

from __future__ import annotations

import json
import subprocess
import sys

SDK_ROOTS = ("boto3", "botocore", "azure", "google")

PROBE = """
import json, sys
before = set(sys.modules)
import {module}
{extra}
after = set(sys.modules) - before
print(json.dumps(sorted(after)))
"""


def new_modules(module: str, extra: str = "") -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, extra=extra)],
        capture_output=True,
        text=True,
        check=True,
    )
    return list(json.loads(out.stdout))


def cloud(modules: list[str]) -> list[str]:
    return [m for m in modules if m.split(".")[0] in SDK_ROOTS]


def test_import_portafn_loads_no_cloud_sdk() -> None:
    loaded = new_modules("portafn")
    assert "portafn.app" in loaded  # the probe did import something
    assert cloud(loaded) == []


def test_building_an_app_with_tables_loads_no_cloud_sdk() -> None:
    extra = "from samples.orders.app import app\nfrom portafn.testing import LocalClient\n"
    loaded = new_modules("portafn", extra)
    assert "samples.orders.app" in loaded
    assert cloud(loaded) == []


def test_http_features_load_no_optional_library_until_declared() -> None:
    # CORS, auth, dependencies, middleware and OpenAPI are core: PyJWT waits for a BearerJWT.
    extra = "import portafn.auth, portafn.cors, portafn.middleware, portafn.depends, portafn.openapi\n"
    loaded = new_modules("portafn", extra)
    assert "portafn.auth" in loaded
    assert [m for m in loaded if m.split(".")[0] in ("jwt", "cryptography")] == []
    assert cloud(loaded) == []
