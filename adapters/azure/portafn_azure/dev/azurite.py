"""Azurite: Microsoft's Azure Storage emulator (blobs and queues) from npm.

``install()`` installs ``azurite`` into the user cache (``portafn.dev.cache``; a checkout's
``node_modules`` from ``npm ci`` is used when it has it); ``start()`` runs the blob
and queue services on free loopback ports, in memory, with ``--skipApiVersionCheck`` (newer SDKs
send API versions Azurite may not know yet), and waits until both answer.
The account and key below are Azurite's documented development account: public, not secrets.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from portafn.dev.cache import find_npm_package, npm_install, work_dir
from portafn.dev.process import ManagedProcess, ServerError, free_port
from portafn.dev.servers import RunningServer

NPM_PACKAGE = "azurite"
NPM_VERSION = "3.37.0"
ACCOUNT = "devstoreaccount1"
ACCOUNT_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def cli_path() -> Path:
    """Azurite's CLI script inside node_modules."""
    return package_dir() / "dist" / "src" / "azurite.js"


def package_dir() -> Path:
    """Azurite's npm package directory (the cache's, or a checkout's ``node_modules``)."""
    return find_npm_package(NPM_PACKAGE, "dist/src/azurite.js")


def installed() -> bool:
    """Whether ``npm ci`` has installed Azurite."""
    return cli_path().is_file()


def install() -> None:
    """Install the npm package into the user cache unless it is already there."""
    if not installed():
        npm_install(f"{NPM_PACKAGE}@{NPM_VERSION}", NPM_PACKAGE)
    version = json.loads((package_dir() / "package.json").read_text())["version"]
    print(f"azurite: azurite@{version} at {package_dir()}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # Azurite answers 400 to a bare GET: it is up
    except OSError:
        return False


def connection_string(blob_port: int, queue_port: int) -> str:
    """The storage connection string for the running Azurite."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={ACCOUNT_KEY};"
        f"BlobEndpoint=http://127.0.0.1:{blob_port}/{ACCOUNT};"
        f"QueueEndpoint=http://127.0.0.1:{queue_port}/{ACCOUNT};"
    )


def start(log_dir: Path | None = None) -> RunningServer:
    """Start Azurite's blob and queue services in memory on free loopback ports."""
    if not installed():
        raise ServerError(f"azurite: not installed at {cli_path()}; run `portafn dev install azurite`")
    node = shutil.which("node")
    if node is None:
        raise ServerError("azurite: node is not on PATH")
    blob_port, queue_port, table_port = free_port(), free_port(), free_port()
    argv = [
        node,
        str(cli_path()),
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--silent",
        "--blobHost", "127.0.0.1", "--blobPort", str(blob_port),
        "--queueHost", "127.0.0.1", "--queuePort", str(queue_port),
        "--tableHost", "127.0.0.1", "--tablePort", str(table_port),
    ]  # fmt: skip
    process = ManagedProcess(
        "azurite",
        argv,
        ready=lambda: (
            _answers(f"http://127.0.0.1:{blob_port}/") and _answers(f"http://127.0.0.1:{queue_port}/")
        ),
        cwd=work_dir("azurite"),
        log_dir=log_dir,
    ).start()
    conn = connection_string(blob_port, queue_port)
    return RunningServer(
        name="azurite",
        process=process,
        env={"AzureWebJobsStorage": conn, "AZURE_STORAGE_CONNECTION_STRING": conn},
        endpoint=f"http://127.0.0.1:{blob_port}/{ACCOUNT}",
    )


if __name__ == "__main__":
    install()
