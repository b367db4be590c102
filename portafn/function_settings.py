"""Per-function settings declared on the decorator: memory, timeout, concurrency, auth level.

```python
@app.http("POST", "/reports", memory=2048, timeout=120, concurrency=5)
@app.queue("imports", memory=1024, timeout=300)
```

They are checked for shape at registration (``RegistrationError``) and for what each provider can
honour at packaging (``portafn.package.errors.UnsupportedSetting``, naming the function, the
value and the provider's limit): each packager writes them into its own template.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, TypedDict

from portafn.errors import RegistrationError

if TYPE_CHECKING:
    from portafn.app import Function

AuthLevel = Literal["anonymous", "function", "admin"]
_AUTH_LEVELS = ("anonymous", "function", "admin")


class RunSettings(TypedDict, total=False):
    """The keyword arguments every trigger decorator accepts.

    - ``memory``: megabytes for the function's instances.
    - ``timeout``: seconds one invocation may run.
    - ``concurrency``: the most instances (or concurrent executions) the function may use; on AWS
      this is reserved concurrency, so it is also guaranteed.
    - ``auth_level``: HTTP only: ``"anonymous"`` (anyone may reach it; portafn's ``auth=`` still
      applies), ``"function"`` or ``"admin"`` (the platform requires a key or IAM first).
    """

    memory: int
    timeout: float
    concurrency: int
    auth_level: AuthLevel


@dataclass(frozen=True, slots=True)
class FunctionSettings:
    """A function's declared settings; None means the packager's default."""

    memory: int | None = None
    timeout: float | None = None
    concurrency: int | None = None
    auth_level: AuthLevel | None = None


DEFAULTS = FunctionSettings()
DEFAULT_MEMORY_MB = 512
DEFAULT_TIMEOUT_S = 30.0


def check_settings(fname: str, kind: str, declared: RunSettings) -> FunctionSettings:
    """The settings of a function, or ``RegistrationError`` naming the bad one."""
    unknown = set(declared) - set(RunSettings.__annotations__)
    if unknown:
        raise RegistrationError(
            fname, f"unknown settings {sorted(unknown)}; use memory, timeout, concurrency, auth_level"
        )
    memory = declared.get("memory")
    timeout = declared.get("timeout")
    concurrency = declared.get("concurrency")
    auth_level = declared.get("auth_level")
    if memory is not None and (not isinstance(memory, int) or isinstance(memory, bool) or memory < 128):
        raise RegistrationError(fname, f"memory={memory!r}: a whole number of megabytes, at least 128")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
    ):
        raise RegistrationError(fname, f"timeout={timeout!r}: a positive number of seconds")
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool) or concurrency < 0
    ):
        raise RegistrationError(fname, f"concurrency={concurrency!r}: a whole number, 0 or more")
    if auth_level is not None:
        if kind != "http":
            raise RegistrationError(fname, "auth_level applies to HTTP functions only")
        if auth_level not in _AUTH_LEVELS:
            raise RegistrationError(fname, f"auth_level={auth_level!r}: use one of {', '.join(_AUTH_LEVELS)}")
    return FunctionSettings(memory, None if timeout is None else float(timeout), concurrency, auth_level)


def settings_of(fn: Function) -> FunctionSettings:
    """The settings ``fn`` declared (all None when it declared none)."""
    found = fn.options.get("settings")
    return found if isinstance(found, FunctionSettings) else DEFAULTS
