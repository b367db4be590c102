"""Built Cloud Functions source served as Cloud Functions serves it: its ``requirements.txt``
installed (what Cloud Build does with the source), then the ``functions-framework`` CLI on one
target, on a free loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from portafn.dev.process import ManagedProcess, free_port, port_open
from portafn.package.wheels import uv_executable
from tests.package.conftest import PYTHON


def clean_env(*paths: Path) -> dict[str, str]:
    """Only ``paths`` on the interpreter's path, no user site."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "HOME", "TMPDIR")}
    return {**keep, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONNOUSERSITE": "1"}


def install_site(source: Path, site: Path) -> Path:
    """The built source's dependencies, installed into ``site`` from its own ``requirements.txt``
    for this machine's Python (the target here)."""
    subprocess.run(
        [
            uv_executable(),
            "pip",
            "install",
            "--target",
            str(site),
            "--python",
            sys.executable,
            "--python-version",
            PYTHON,
            "--only-binary",
            ":all:",
            "-r",
            "requirements.txt",
            "--quiet",
        ],
        cwd=source,
        check=True,
        env={**os.environ, "UV_CACHE_DIR": str(Path.cwd() / ".cache" / "wheels")},
    )
    return site


def serve(source: Path, site: Path, target: str, store: str) -> tuple[ManagedProcess, int]:
    """The functions-framework CLI serving one target of the built source, on a free port."""
    port = free_port()
    server = ManagedProcess(
        f"functions-framework {target}",
        [
            *(sys.executable, "-S", "-m", "functions_framework"),
            *("--source", "main.py", "--target", target),
            *("--host", "127.0.0.1", "--port", str(port)),
        ],
        ready=lambda: port_open(port),
        cwd=source,
        env={**clean_env(source, site), "PORTAFN_STORE": store},
    )
    return server, port


def request(
    url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """POST ``body`` (GET without one); the status, lower-cased headers and body, errors included."""
    method = "GET" if body is None else "POST"
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
