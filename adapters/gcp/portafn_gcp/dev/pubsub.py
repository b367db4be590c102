"""The Pub/Sub emulator: Google's own, from the Debian package ``google-cloud-cli-pubsub-emulator``.

``start()`` runs its ``cloud-pubsub-emulator`` launcher on a free loopback port and waits until it
answers; clients find it through ``PUBSUB_EMULATOR_HOST``. No google import here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from portafn.dev.process import ManagedProcess, ServerError, free_port
from portafn.dev.servers import RunningServer
from portafn_gcp.dev.firestore import _dpkg_file, answers, apt_install

DEB_PACKAGE = "google-cloud-cli-pubsub-emulator"
PROJECT = "portafn-local"
_KNOWN_LAUNCHERS = (
    Path("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"),
    Path("/usr/share/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator"),
)


def launcher_path() -> Path | None:
    """The ``cloud-pubsub-emulator`` launcher, if the Debian package installed it."""
    for path in _KNOWN_LAUNCHERS:
        if path.is_file():
            return path
    found = _dpkg_file(DEB_PACKAGE, "/bin/cloud-pubsub-emulator")
    return found or (Path(p) if (p := shutil.which("cloud-pubsub-emulator")) else None)


def install() -> None:
    """Make sure the emulator is present (installing the Debian package if allowed)."""
    launcher = launcher_path()
    if launcher is None:
        apt_install(DEB_PACKAGE)
        launcher = launcher_path()
        if launcher is None:
            raise ServerError(f"pubsub-emulator: {DEB_PACKAGE} is installed but has no launcher")
    print(f"pubsub-emulator: at {launcher}")


def start(log_dir: Path | None = None) -> RunningServer:
    """Start the Pub/Sub emulator on a free loopback port and wait until it answers."""
    launcher = launcher_path()
    if launcher is None:
        raise ServerError(
            f"pubsub-emulator: the Debian package {DEB_PACKAGE} is not installed "
            "(run `uv run portafn dev install`)"
        )
    if shutil.which("java") is None:
        raise ServerError("pubsub-emulator: java is not on PATH (Java 17 runs the emulator)")
    port = free_port()
    host = f"127.0.0.1:{port}"
    argv = [str(launcher), "--host=127.0.0.1", f"--port={port}"]
    process = ManagedProcess(
        "pubsub-emulator", argv, ready=lambda: answers(f"http://{host}"), log_dir=log_dir
    ).start()
    return RunningServer(
        name="pubsub",
        process=process,
        env={"PUBSUB_EMULATOR_HOST": host, "PUBSUB_PROJECT_ID": PROJECT},
        endpoint=f"http://{host}",
    )


if __name__ == "__main__":
    install()
