"""The orders sample's own contract tests, run on Lambda x DynamoDB (the AWS driver, DynamoDB Local).

The portafn pytest plugin selects the cell; the AWS driver turns each request and event into its
native Lambda shape and calls the same ``LambdaHandler`` Lambda calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_orders_sample_passes_on_lambda_with_dynamodb() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "samples/orders",
            "-q",
            "-p",
            "no:cacheprovider",
            "--portafn-providers",
            "aws",
            "--portafn-stores",
            "dynamodb",
            "--portafn-report",
            str(ROOT / ".portafn" / "report" / "aws-dynamodb"),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    tail = out.stdout[-3000:] + out.stderr[-2000:]
    assert out.returncode == 0, tail
    assert " passed" in out.stdout, tail
    assert " failed" not in out.stdout, tail
    assert "skipped" not in out.stdout, tail
    assert "aws/dynamodb" in out.stdout, tail  # the matrix cell really was Lambda x DynamoDB
