"""One managed server process: started on a free loopback port, polled until it answers, stopped by pid."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO


class ServerError(RuntimeError):
    """A server could not be started or did not answer in time; the message says which and why."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``ready`` until it returns True, at most ``timeout`` seconds; ``ServerError`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not answer within {timeout:.0f}s")
        time.sleep(interval)


class ManagedProcess:
    """A server subprocess with its own process group, its output in a log file.

    ``ready`` is polled after start; if the process exits first, the error quotes its log's tail.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        ready: Callable[[], bool],
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        log_dir: Path | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.ready = ready
        self.cwd = cwd
        self.env = env
        self.startup_timeout = startup_timeout
        self.log_path = (log_dir or Path(".portafn") / "logs") / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> ManagedProcess:
        """Start the process and wait until it answers."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env={**os.environ, **(self.env or {})},
                stdout=self._log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ServerError(f"{self.name}: cannot start {self.argv[0]!r}: {exc.strerror}") from None

        def answered() -> bool:
            if self.proc is not None and self.proc.poll() is not None:
                raise _Exited()
            return self.ready()

        try:
            wait_until(answered, timeout=self.startup_timeout, what=self.name)
        except _Exited:
            self.stop()
            raise ServerError(f"{self.name} exited at start-up:\n{self.log_tail()}") from None
        except ServerError:
            self.stop()
            raise ServerError(
                f"{self.name} did not answer within {self.startup_timeout:.0f}s:\n{self.log_tail()}"
            ) from None
        return self

    def stop(self) -> None:
        """Stop the process group (SIGTERM, then SIGKILL after 10 s)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
                except ProcessLookupError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines the process wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Exited(Exception):
    pass
