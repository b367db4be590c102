"""The real Azure Functions Python worker, prepared for tests and the contract driver's worker mode.

The worker (azure-functions-python-worker 4.34.0) and the loopback host that drives it over its
gRPC protocol live in ``../shared/runtimes`` (or ``PORTAFN_RUNTIMES``) and are used where they
stand. ``setup.sh`` makes the worker's venv and gRPC stubs under a cache folder outside the
repository (``PORTAFN_AZURE_WORKER_CACHE``, default ``~/.cache/portafn/azure-worker-4.34.0``).

The stubs are generated from the worker's proto sources (the
azure-functions-language-worker-protobuf ``src/proto`` folder, which the worker's own repository
fetches at build time and does not commit), found in the shared worker tree or in the folder
``PORTAFN_AZURE_PROTOS`` names. Where neither has them (the shared tree as laid today), the
stubs come from PyPI instead: the ``azure-functions-runtime-v1`` wheel (Microsoft's newer Python
worker) ships the same ``FunctionRpc`` messages, generated for protobuf 4.x, which the 4.34.0
worker's pins run; the venv is then made here with setup.sh's pins.

Never packaged: ``portafn_azure/dev`` stays out of every function app.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from portafn.lazy import Lazy

ROOT = Path(__file__).resolve().parents[4]  # the workspace checkout (beside ../shared)
WORKER = "azure-functions-python-worker"
HOST = "azure-functions-host"
PROTOS = Path("azure_functions_worker", "protos", "_src", "src", "proto")
SETUP_TIMEOUT = 900.0  # first run: a venv with grpcio and protobuf from PyPI


class WorkerUnavailable(Exception):
    """The worker cannot be prepared here; the message says what is missing."""


def runtimes_dir() -> Path:
    """Where the shared runtimes are expected (``PORTAFN_RUNTIMES`` overrides)."""
    env = os.environ.get("PORTAFN_RUNTIMES")
    return Path(env) if env else ROOT.parent / "shared" / "runtimes"


def cache_dir() -> Path:
    """Where the worker's venv and generated stubs go: outside the repository."""
    env = os.environ.get("PORTAFN_AZURE_WORKER_CACHE")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "portafn" / "azure-worker-4.34.0"


@dataclass(frozen=True)
class Worker:
    """A prepared worker: its source folder (with stubs), the Python that runs it, the host script."""

    worker_dir: Path
    python: Path
    host_script: Path

    def python_version(self) -> str:
        """``major.minor`` of the worker's Python (the version the app must be packaged for)."""
        out = subprocess.run(
            [str(self.python), "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        return out.stdout.strip()


def _place_worker(runtimes: Path, dest: Path) -> None:
    """Copy the worker's source into ``dest/worker`` with its proto sources beside it, so that
    setup.sh (which copies only when the worker is absent) goes straight to the venv and stubs."""
    worker = dest / "worker"
    if (worker / PROTOS / "FunctionRpc.proto").is_file():
        return
    src = runtimes / WORKER
    protos = src / PROTOS
    if not (protos / "FunctionRpc.proto").is_file():
        env = os.environ.get("PORTAFN_AZURE_PROTOS")
        if not env or not (Path(env) / "FunctionRpc.proto").is_file():
            raise WorkerUnavailable(
                f"the worker's proto sources are not in {src / PROTOS} and PORTAFN_AZURE_PROTOS names no "
                "folder with FunctionRpc.proto (azure-functions-language-worker-protobuf src/proto)"
            )
        protos = Path(env)
    shutil.rmtree(worker, ignore_errors=True)
    shutil.copytree(src / "azure_functions_worker", worker / "azure_functions_worker")
    if (src / "python").is_dir():
        shutil.copytree(src / "python", worker / "python")
    shutil.copytree(protos, worker / PROTOS, dirs_exist_ok=True)


# The worker's own pins (its pyproject.toml at 4.34.0), as the shared setup.sh installs them.
WORKER_PINS = (
    "grpcio~=1.59.0",
    "protobuf~=4.25.3",
    "python-dateutil~=2.9.0",
    "azure-functions==1.22.0b4",
    "azurefunctions-extensions-base",
)
STUBS_WHEEL = "azure-functions-runtime-v1==1.2.0"  # ships tests/protos/*_pb2*.py


def _has_proto_sources(runtimes: Path) -> bool:
    env = os.environ.get("PORTAFN_AZURE_PROTOS")
    return (runtimes / WORKER / PROTOS / "FunctionRpc.proto").is_file() or bool(
        env and (Path(env) / "FunctionRpc.proto").is_file()
    )


def _uv(*args: str) -> None:
    uv = shutil.which("uv") or str(Path.home() / ".local" / "bin" / "uv")
    proc = subprocess.run([uv, *args], capture_output=True, text=True, timeout=SETUP_TIMEOUT, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"uv {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")


def _prepare_with_pypi_stubs(runtimes: Path, dest: Path) -> Worker:
    """The worker from the shared tree, its venv with the worker's pins, its stubs from PyPI."""
    worker = dest / "worker"
    protos = worker / "azure_functions_worker" / "protos"
    if not (protos / "FunctionRpc_pb2.py").is_file():
        shutil.rmtree(worker, ignore_errors=True)
        shutil.copytree(runtimes / WORKER / "azure_functions_worker", worker / "azure_functions_worker")
        if (runtimes / WORKER / "python").is_dir():
            shutil.copytree(runtimes / WORKER / "python", worker / "python")
        # The wheel's top-level ``tests/protos`` holds the generated stubs; --target keeps it out of
        # every environment, and --python-version matches the wheel's requirement (3.13+), not ours.
        stubs = dest / "stubs"
        _uv(
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(stubs),
            "--python-version",
            "3.13",
            STUBS_WHEEL,
        )
        for path in (stubs / "tests" / "protos").rglob("*_pb2*.py"):
            target = protos / path.relative_to(stubs / "tests" / "protos")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    python = dest / "venv" / "bin" / "python"
    if not python.is_file():
        _uv("venv", "-q", str(dest / "venv"), "--python", "3.11")
        _uv("pip", "install", "-q", "--python", str(python), *WORKER_PINS)
    return Worker(worker, python, runtimes / HOST / "host.py")


def prepare() -> Worker:
    """Make the worker ready under ``cache_dir()`` with the shared ``setup.sh`` (or, without proto
    sources, with stubs from PyPI); raises ``WorkerUnavailable`` naming what is missing."""
    runtimes = runtimes_dir()
    setup = runtimes / HOST / "setup.sh"
    if not setup.is_file() or not (runtimes / WORKER / "azure_functions_worker").is_dir():
        raise WorkerUnavailable(
            f"the Azure Functions worker and host are not in {runtimes} (set PORTAFN_RUNTIMES)"
        )
    dest = cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    if not _has_proto_sources(runtimes):
        return _prepare_with_pypi_stubs(runtimes, dest)
    _place_worker(runtimes, dest)
    proc = subprocess.run(
        ["bash", str(setup), str(dest)],
        capture_output=True,
        text=True,
        timeout=SETUP_TIMEOUT,
        check=False,
    )
    if proc.returncode != 0:
        # A set-up that fails with everything present is a real failure, never a skip.
        raise RuntimeError(
            f"setup.sh failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    return Worker(dest / "worker", dest / "venv" / "bin" / "python", runtimes / HOST / "host.py")


PREPARED: Lazy[Worker] = Lazy(prepare)
"""The worker prepared once per process (``PREPARED.get()``); a failure is raised again next time."""
