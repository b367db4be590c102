"""A built Lambda zip run as Lambda runs it: extracted into a /var/task stand-in, beside a
/var/runtime stand-in holding what AWS's Python runtime provides, under ``python -S -m awslambdaric``
talking to the loopback Runtime API host (``tests.aws.runtime_api``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.aws.runtime_api import RuntimeApi

SITE = Path(next(p for p in sys.path if p.endswith("site-packages")))
# What the Lambda Python runtime itself provides in /var/runtime: the runtime client and boto3.
RUNTIME_PROVIDED = [
    "awslambdaric",
    "runtime_client.cpython-311-x86_64-linux-gnu.so",
    "simplejson",
    "snapshot_restore_py.py",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "six.py",
    "urllib3",
]


def extract(zip_path: Path, base: Path) -> tuple[Path, Path]:
    """The zip extracted into ``base/task``, and ``base/runtime`` linking the runtime's own packages."""
    task, runtime = base / "task", base / "runtime"
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(task)
    runtime.mkdir()
    for name in RUNTIME_PROVIDED:
        source = SITE / name
        if not source.exists():
            source = next(SITE.glob(name.split(".")[0] + "*.so"), source)
        assert source.exists(), f"{name} is not installed in the dev environment (uv sync --all-packages)"
        (runtime / source.name).symlink_to(source)
    return task, runtime


def clean_env(task: Path, runtime: Path) -> dict[str, str]:
    """The environment of a function: ``-S`` (no site-packages) plus this path is all the
    interpreter sees, the task then the runtime."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    return {
        **keep,
        "PYTHONPATH": f"{task}{os.pathsep}{runtime}",
        "PYTHONNOUSERSITE": "1",
        "LAMBDA_TASK_ROOT": str(task),
    }


@contextmanager
def bootstrap(task: Path, runtime: Path, app: str, function: str, store: str) -> Iterator[RuntimeApi]:
    """``python -S -m awslambdaric lambda_function.handler`` serving ``function`` (as the template's
    ``PORTAFN_FUNCTION`` sets it) on ``store``, with its own Runtime API host; stopped on exit."""
    api = RuntimeApi().start()
    log = task.parent / f"awslambdaric-{function}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-S", "-m", "awslambdaric", "lambda_function.handler"],
            cwd=task,
            env={
                **clean_env(task, runtime),
                "AWS_LAMBDA_RUNTIME_API": api.address,
                "AWS_LAMBDA_FUNCTION_NAME": f"{app}-{function}",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "PORTAFN_STORE": store,
                "PORTAFN_FUNCTION": function,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield api
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            api.stop()


def http_event(method: str, route: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event for ``method path`` on route ``route``."""
    return {
        "version": "2.0",
        "routeKey": f"{method} {route}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "abc.execute-api.us-east-1.amazonaws.com"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc",
            "domainName": "abc.execute-api.us-east-1.amazonaws.com",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "t",
            },
            "requestId": "req-1",
            "routeKey": f"{method} {route}",
            "stage": "$default",
            "time": "12/Mar/2024:10:00:00 +0000",
            "timeEpoch": 1710237600000,
        },
        "body": json.dumps(body) if body is not None else None,
        "isBase64Encoded": False,
    }
