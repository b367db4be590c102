"""moto's server: SNS, SQS, S3 and EventBridge over real HTTP, for the AWS publishing and outcome tests.

``start()`` runs ``moto_server -H 127.0.0.1 -p N`` (the ``moto[server]`` PyPI package, installed by
``uv sync``) on a free loopback port and waits until it answers. Clients find it through
``AWS_ENDPOINT_URL``, which boto3 (1.28+) reads for every service, so the code under test builds
its clients exactly as it does on AWS. No boto3 import here: the readiness probe is plain HTTP.
"""

from __future__ import annotations

import shutil
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from portafn.dev.process import ManagedProcess, ServerError, free_port
from portafn.dev.servers import RunningServer

REGION = "us-east-1"

# moto accepts any credentials; boto3 only needs some to sign with.
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "portafnlocal",
    "AWS_SECRET_ACCESS_KEY": "portafnlocal",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def executable() -> str | None:
    """The ``moto_server`` script: next to this interpreter (the project's venv), else on PATH."""
    beside = Path(sys.executable).with_name("moto_server")
    if beside.is_file():
        return str(beside)
    return shutil.which("moto_server")


def _answers(endpoint: str) -> bool:
    # moto's server answers its dashboard path; any HTTP status means it is up.
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/data.json", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start(log_dir: Path | None = None, *, server_env: Mapping[str, str] | None = None) -> RunningServer:
    """Start moto's server on a free loopback port and wait until it answers.

    ``server_env`` adds to the server's environment: ``{"INITIAL_NO_AUTH_ACTION_COUNT": "N"}``
    makes it enforce IAM after its first N requests (the IAM tests use this).
    """
    exe = executable()
    if exe is None:
        raise ServerError("moto: `moto_server` is not installed; run `uv sync --all-packages` (dev group)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    process = ManagedProcess(
        "moto",
        [exe, "-H", "127.0.0.1", "-p", str(port)],
        ready=lambda: _answers(endpoint),
        env=dict(server_env) if server_env else None,
        log_dir=log_dir,
    ).start()
    return RunningServer(
        name="moto",
        process=process,
        env={**CLIENT_ENV, "AWS_ENDPOINT_URL": endpoint},
        endpoint=endpoint,
    )


def install() -> None:
    """moto's server comes with the ``moto[server]`` package; say whether it is there."""
    found = executable()
    print(
        f"portafn dev: moto_server {'at ' + found if found else 'missing: pip install moto[server]'}",
        file=sys.stderr,
    )
