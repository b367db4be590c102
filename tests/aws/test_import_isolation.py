"""Importing the AWS adapter loads no Azure or Google module, and no botocore until a store is used;
the store's client is made by botocore alone (boto3's resources, s3transfer and multiprocessing
would only lengthen a cold start)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import json, sys
before = set(sys.modules)
{code}
after = set(sys.modules) - before
print(json.dumps(sorted(after)))
"""


def new_modules(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)], capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


def roots(modules: list[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


def test_importing_the_adapter_loads_no_other_provider() -> None:
    loaded = new_modules("import portafn_aws\nfrom portafn_aws import lambda_handler, DynamoDBStore")
    assert "portafn_aws.entry" in loaded
    assert not roots(loaded) & {"azure", "google", "portafn_azure", "portafn_gcp"}


def test_the_entry_module_defers_boto3_until_a_store_is_used() -> None:
    loaded = new_modules("import samples.orders.entry_aws")
    assert "samples.orders.entry_aws" in loaded
    assert not roots(loaded) & {"boto3", "botocore", "azure", "google"}


def test_a_store_call_loads_botocore_but_not_boto3_nor_another_provider() -> None:
    code = (
        "from portafn_aws import DynamoDBStore\n"
        "s = DynamoDBStore('dynamodb://?region=us-east-1&endpoint=http://127.0.0.1:9')\n"
        "s.client\n"
    )
    loaded = new_modules(code)
    assert "botocore" in roots(loaded)
    assert not roots(loaded) & {"boto3", "s3transfer", "multiprocessing", "azure", "google"}
