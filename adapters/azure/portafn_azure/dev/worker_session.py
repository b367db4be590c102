"""One packaged app running under the real Azure Functions Python worker, kept up across calls.

``build_app`` packages a portafn app with ``portafn package`` (the very function app a deploy
ships, for the worker's Python) and adds the test-only capture hook (``worker_capture``);
``WorkerSession`` starts ``worker_host.py`` under the worker's venv, which starts the worker,
indexes and loads the app once, then answers one invocation per call over a JSON-lines pipe.
``session_for`` keeps one session per (app, settings) for the whole test run.
"""

from __future__ import annotations

import atexit
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import IO, Any

from portafn_azure.dev.worker import Worker
from portafn_azure.dev.worker_capture import POISONED, PUBLISHED

HERE = Path(__file__).resolve().parent
HOST_SCRIPT = HERE / "worker_host.py"
CAPTURE = HERE / "worker_capture.py"


class WorkerError(RuntimeError):
    """The worker or its host failed outside any one invocation (start, indexing, loading)."""


def build_app(app_ref: str, worker: Worker, out: Path) -> Path:
    """``portafn package`` of ``app_ref`` for the worker's Python, plus the capture hook; the
    function app folder."""
    from portafn.package import package

    package(app_ref, "azure", out, python=worker.python_version(), progress=lambda line: None)
    folder = out / "functionapp"
    shutil.copyfile(CAPTURE, folder / ".python_packages" / "lib" / "site-packages" / "sitecustomize.py")
    return folder


class WorkerSession:
    """A worker serving one app folder with fixed app settings; ``invoke`` is thread-safe."""

    def __init__(self, worker: Worker, app_dir: Path, settings: dict[str, str]) -> None:
        folder = Path(tempfile.mkdtemp(prefix="portafn-azw-"))
        self.log = folder / "host.log"
        # What the app publishes or poisons, written by the capture hook inside the worker.
        self._captured = {PUBLISHED: folder / "published.jsonl", POISONED: folder / "poisoned.jsonl"}
        self._offsets = dict.fromkeys(self._captured, 0)
        settings = {**settings, **{name: str(path) for name, path in self._captured.items()}}
        cmd = [
            str(worker.python),
            str(HOST_SCRIPT),
            "--worker-dir",
            str(worker.worker_dir),
            "--app",
            str(app_dir),
            "--shared-host",
            str(worker.host_script),
            "--settings-file",
            str(self._settings_file(folder, settings)),
        ]
        self._stderr = self.log.open("w")
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        self._lock = threading.Lock()
        ready = self._read()
        if not ready.get("ready"):
            self.close()
            raise WorkerError(f"the worker did not start the app: {ready.get('error')} (log: {self.log})")
        self.functions: dict[str, Any] = ready["functions"]
        self.scratch = Path(ready["scratch"])

    @staticmethod
    def _settings_file(folder: Path, settings: dict[str, str]) -> Path:
        # A file only this user can read (mkdtemp's folder is 0700): secrets stay off the
        # command line, which any local user sees in ``ps``.
        path = folder / "settings.json"
        path.write_text(json.dumps(settings))
        path.chmod(0o600)
        return path

    def _read(self) -> dict[str, Any]:
        stdout: IO[str] | None = self._proc.stdout
        assert stdout is not None
        line = stdout.readline()
        if not line:
            raise WorkerError(f"the worker host exited ({self._proc.poll()}); see {self.log}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def invoke(self, function: str, data: dict[str, Any], metadata: dict[str, Any]) -> dict[str, Any]:
        """One InvocationRequest for ``function`` (``data`` and ``metadata`` as protobuf-JSON
        TypedData); the response: ``status``, ``exception``, ``return_value``, ``logs``."""
        request = json.dumps({"function": function, "input": data, "trigger_metadata": metadata})
        with self._lock:
            stdin = self._proc.stdin
            assert stdin is not None
            stdin.write(request + "\n")
            stdin.flush()
            answer = self._read()
            answer["published"] = self._take(PUBLISHED)
            answer["poisoned"] = self._take(POISONED)
        if answer["status"] == "HostError":
            raise WorkerError(f"the loopback host failed: {answer['exception']} (log: {self.log})")
        return answer

    def _take(self, name: str) -> list[dict[str, Any]]:
        """The records the hook wrote to ``name``'s file since the last call."""
        path = self._captured[name]
        if not path.is_file():
            return []
        with path.open("rb") as f:
            f.seek(self._offsets[name])
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offsets[name] += len(complete)
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def close(self) -> None:
        """Close stdin (the host terminates the worker) and wait for the host to exit."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._stderr.close()


_sessions: dict[tuple[str, tuple[tuple[str, str], ...]], WorkerSession] = {}
_builds: dict[str, Path] = {}
_pool_lock = threading.Lock()


def session_for(app_ref: str, worker: Worker, settings: dict[str, str]) -> WorkerSession:
    """The running session for ``app_ref`` with ``settings``, started (and the app built) once."""
    key = (app_ref, tuple(sorted(settings.items())))
    with _pool_lock:
        if key not in _sessions:
            if app_ref not in _builds:
                out = Path(tempfile.mkdtemp(prefix="portafn-azw-app-"))
                _builds[app_ref] = build_app(app_ref, worker, out)
            _sessions[key] = WorkerSession(worker, _builds[app_ref], settings)
        return _sessions[key]


@atexit.register
def close_all() -> None:
    """Stop every session this process started."""
    with _pool_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()
