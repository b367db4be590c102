"""The Firestore emulator: Google's own jar from the Debian package ``google-cloud-cli-firestore-emulator``.

``install()`` checks that the package is present and, when it is not and this runs as root with
apt, installs it; ``start()`` runs the jar on a free loopback port and waits until it answers.
No google import here: the readiness probe speaks plain HTTP.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from portafn.dev.process import ManagedProcess, ServerError, free_port
from portafn.dev.servers import RunningServer

DEB_PACKAGE = "google-cloud-cli-firestore-emulator"
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
PROJECT = "portafn-local"
# Where the Debian package puts the jar (found with ``dpkg -L``).
_KNOWN_JARS = (
    Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"),
    Path("/usr/share/google-cloud-sdk/platform/cloud-firestore-emulator/cloud-firestore-emulator.jar"),
)


def jar_path() -> Path | None:
    """The emulator jar, if the Debian package (or a gcloud component) installed it."""
    for path in _KNOWN_JARS:
        if path.is_file():
            return path
    return _dpkg_file(DEB_PACKAGE, ".jar")


def _dpkg_file(package: str, suffix: str) -> Path | None:
    if shutil.which("dpkg") is None:
        return None
    out = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return None
    for line in out.stdout.splitlines():
        if line.endswith(suffix) and Path(line).is_file():
            return Path(line)
    return None


def apt_install(package: str) -> None:
    """Install a Debian package when running as root with apt; otherwise fail with one clear line."""
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        raise ServerError(
            f"{package} is not installed; install it with `sudo apt-get install -y {package}` "
            "(from Google's cloud-sdk apt repository)"
        )
    for argv in (["apt-get", "update"], ["apt-get", "install", "-y", package]):
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise ServerError(f"`{' '.join(argv)}` failed: {out.stderr.strip()[-300:]}")


def install() -> None:
    """Make sure the emulator jar is present (installing the Debian package if allowed)."""
    jar = jar_path()
    if jar is None:
        apt_install(DEB_PACKAGE)
        jar = jar_path()
        if jar is None:
            raise ServerError(f"firestore-emulator: {DEB_PACKAGE} is installed but has no jar")
    print(f"firestore-emulator: at {jar}")


def answers(endpoint: str) -> bool:
    """Whether an emulator answers plain HTTP at ``endpoint`` (it says ``Ok`` to ``GET /``)."""
    try:
        with urllib.request.urlopen(endpoint + "/", timeout=1) as resp:
            return int(resp.status) == 200
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start(log_dir: Path | None = None) -> RunningServer:
    """Start the Firestore emulator on a free loopback port and wait until it answers."""
    jar = jar_path()
    if jar is None:
        raise ServerError(
            f"firestore-emulator: the Debian package {DEB_PACKAGE} is not installed "
            "(run `uv run portafn dev install`)"
        )
    if shutil.which("java") is None:
        raise ServerError("firestore-emulator: java is not on PATH (Java 17 runs the emulator)")
    port = free_port()
    host = f"127.0.0.1:{port}"
    argv = ["java", "-cp", str(jar), MAIN_CLASS, "--host=127.0.0.1", f"--port={port}"]
    process = ManagedProcess(
        "firestore-emulator", argv, ready=lambda: answers(f"http://{host}"), log_dir=log_dir
    ).start()
    url = store_url(PROJECT)
    return RunningServer(
        name="firestore",
        process=process,
        env={"FIRESTORE_EMULATOR_HOST": host, "GOOGLE_CLOUD_PROJECT": PROJECT, "PORTAFN_STORE": url},
        store_url=url,
        endpoint=f"http://{host}",
    )


def store_url(project: str = PROJECT, prefix: str = "") -> str:
    """The ``firestore://`` URL of a project (the emulator is chosen by ``FIRESTORE_EMULATOR_HOST``)."""
    return f"firestore://{project}" + (f"?prefix={prefix}" if prefix else "")


def reset(endpoint: str, project: str = PROJECT, database: str = "(default)") -> None:
    """Delete every document in the emulator's database (tests isolate data with it)."""
    req = urllib.request.Request(
        f"{endpoint}/emulator/v1/projects/{project}/databases/{database}/documents", method="DELETE"
    )
    with urllib.request.urlopen(req, timeout=10):
        pass


if __name__ == "__main__":
    install()
