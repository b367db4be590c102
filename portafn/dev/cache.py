"""Where the local servers' downloads live: a user cache, never the library's or a checkout's folder.

``cache_dir()`` is ``$PORTAFN_CACHE``, else ``$XDG_CACHE_HOME/portafn``, else ``~/.cache/portafn``.
npm packages (the Cosmos DB server, Azurite) are installed under ``cache_dir()/npm`` at the
versions pinned here; a ``node_modules`` in the working directory or one of its parents (the
portafn checkout after ``npm ci``) is used when it already holds the package, so the project's
own CI keeps working without a second copy.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from portafn.dev.process import ServerError

CACHE_ENV = "PORTAFN_CACHE"


def cache_dir() -> Path:
    """The user cache directory for portafn's downloads (not created here)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "portafn"


def npm_root() -> Path:
    """The npm prefix portafn installs packages under."""
    return cache_dir() / "npm"


def _candidates(package: str) -> list[Path]:
    cwd = Path.cwd()
    return [npm_root() / "node_modules" / package] + [
        d / "node_modules" / package for d in (cwd, *cwd.parents)
    ]


def find_npm_package(package: str, marker: str) -> Path:
    """The directory of ``package`` holding ``marker``: the cache's, else a ``node_modules`` above
    the working directory; the cache's path (not yet installed) when neither has it."""
    for candidate in _candidates(package):
        if (candidate / marker).is_file():
            return candidate
    return npm_root() / "node_modules" / package


def npm_install(spec: str, package: str) -> Path:
    """Install ``spec`` (``name@version``) into the cache with npm; the package's directory."""
    npm = shutil.which("npm")
    if npm is None:
        raise ServerError(f"{package}: npm is not on PATH; Node.js 20+ with npm is needed to install it")
    root = npm_root()
    root.mkdir(parents=True, exist_ok=True)
    manifest = root / "package.json"
    if not manifest.exists():
        # A private manifest keeps npm from walking up to an unrelated project's package.json.
        manifest.write_text(json.dumps({"name": "portafn-cache", "private": True}) + "\n")
    out = subprocess.run(
        [npm, "install", "--prefix", str(root), "--no-audit", "--no-fund", "--loglevel=error", spec],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise ServerError(f"{package}: npm install {spec} failed: {out.stderr.strip()[-500:]}")
    return root / "node_modules" / package


def legacy_checkout_dir(name: str) -> Path | None:
    """``.cache/<name>`` in the working directory or a parent (a checkout bootstrapped before the
    user cache existed), if there is one."""
    cwd = Path.cwd()
    for d in (cwd, *cwd.parents):
        if (d / ".cache" / name).is_dir():
            return d / ".cache" / name
    return None


def work_dir(name: str) -> Path:
    """A scratch directory under the cache for a server to run in (whatever it writes stays there)."""
    path = cache_dir() / "run" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
