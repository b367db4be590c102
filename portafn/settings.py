"""Settings and secrets declared on the ``App``: a pydantic model, read once per cold start.

```python
class Config(BaseModel):
    api_url: str                                           # env API_URL (required)
    page_size: int = 50                                    # env PAGE_SIZE, else 50
    payment_key: Annotated[SecretStr, Secret("payment-key")]  # the provider's secret store

config = app.settings(Config, refresh_secrets=300)
...
config.get().payment_key.get_secret_value()
```

Every field is read from an environment variable (its alias, else its name in upper case, after
``prefix``); locally a ``.env`` file in the working directory fills what the environment lacks. A
field marked ``Secret(name)`` is a secret: unless its environment variable is set (which wins, so
tests on every provider's driver need no secret store), on a provider whose plugin declares a
secrets resolver (``Provider.secrets``) it is fetched from the provider's store by that name; elsewhere (the
platform injects it, as Azure's Key Vault references and Cloud Functions' ``--set-secrets`` do,
or locally) it is read like any other field. Plain values are read once per cold start; secrets
are read again when ``refresh_secrets`` seconds have passed since they were last read.

Errors name the missing or invalid fields, never a value: pydantic's own message would echo the
input, which may be a secret.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from portafn.errors import PortafnError

if TYPE_CHECKING:
    from portafn.app import App

S = TypeVar("S", bound=BaseModel)
PROVIDER_ENV = "PORTAFN_PROVIDER"  # which provider resolves secrets before a runtime binds one


@dataclass(frozen=True, slots=True)
class Secret:
    """Marks a settings field as a secret held in the provider's secret store under ``name``.

    ``kind="secret"`` is a secret (AWS Secrets Manager, Azure Key Vault, GCP Secret Manager);
    ``kind="parameter"`` is a parameter store entry (AWS SSM Parameter Store, a ``SecureString``;
    Key Vault and Secret Manager elsewhere).
    """

    name: str
    kind: Literal["secret", "parameter"] = "secret"


@dataclass(frozen=True, slots=True)
class Declared:
    """One declared field: where it is read from and whether a value must be supplied."""

    field: str
    env: str
    required: bool
    secret: Secret | None


class SettingsError(PortafnError):
    """Settings are missing or invalid; the message names the fields and never their values."""


SecretResolver = Callable[[Secret], "str | None"]


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines of a ``.env`` file (``export``, comments and quotes allowed); {} if absent."""
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def declared_fields(model: type[BaseModel], prefix: str = "") -> list[Declared]:
    """The fields of ``model`` as settings: environment name, required, secret marker."""
    out = []
    for name, info in model.model_fields.items():
        secret = next((m for m in info.metadata if isinstance(m, Secret)), None)
        env = prefix + (info.alias or name).upper()
        out.append(Declared(name, env, info.is_required(), secret))
    return out


def environment(provider: str, env_file: Path | None) -> dict[str, str]:
    """The values settings are read from: the process environment over ``.env`` (locally only)."""
    from portafn.plugins import LOCAL

    values = read_env_file(env_file) if env_file is not None and provider == LOCAL else {}
    return {**values, **os.environ}


def secret_resolver(provider: str) -> SecretResolver | None:
    """The provider's resolver of secrets by name, or None when secrets arrive as environment."""
    from portafn.plugins import load
    from portafn.plugins import provider as find

    ref = find(provider).secrets
    return load(ref) if ref else None


class Settings(Generic[S]):
    """The app's settings of type ``S``: ``get()`` returns them, read on first use per process."""

    def __init__(
        self,
        model: type[S],
        *,
        prefix: str = "",
        refresh_secrets: float | None = 300.0,
        env_file: str | Path | None = ".env",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.model = model
        self.prefix = prefix
        self.refresh_secrets = refresh_secrets
        self.env_file = Path(env_file) if env_file is not None else None
        self.fields = declared_fields(model, prefix)
        self._clock = clock
        self._lock = threading.Lock()
        self._provider: str | None = None
        self._plain: dict[str, str] | None = None
        self._secrets: dict[str, str] = {}
        self._secrets_read = 0.0
        self._value: S | None = None

    @property
    def secrets(self) -> list[Declared]:
        """The fields marked ``Secret``."""
        return [f for f in self.fields if f.secret is not None]

    @property
    def provider(self) -> str:
        """The provider that resolves secrets: the bound runtime's, else ``PORTAFN_PROVIDER``, else local."""
        return self._provider or os.environ.get(PROVIDER_ENV) or "local"

    def bind(self, provider: str) -> None:
        """Resolve through ``provider`` from now on (the runtime calls this at cold start), and read now."""
        with self._lock:
            if provider != self._provider:
                self._provider = provider
                self._clear()
        self.get()

    def get(self) -> S:
        """The settings; secrets older than ``refresh_secrets`` seconds are read again first."""
        value = self._value
        if value is not None and not self._stale():
            return value
        with self._lock:
            if self._value is None or self._stale():
                self._value = self._read()
            return self._value

    def reset(self) -> None:
        """Forget what was read (a test changing the environment)."""
        with self._lock:
            self._clear()

    def missing(self, values: Mapping[str, str] | None = None) -> list[Declared]:
        """Required fields with no value in ``values`` (default: the local environment and ``.env``).

        A secret counts as missing too: the environment is where a local run or a test finds it.
        """
        found = environment(self.provider, self.env_file) if values is None else values
        return [f for f in self.fields if f.required and f.env not in found]

    # -- internals ----------------------------------------------------------------------------

    def _clear(self) -> None:
        self._plain, self._value, self._secrets, self._secrets_read = None, None, {}, 0.0

    def _stale(self) -> bool:
        if not self.secrets or self.refresh_secrets is None:
            return False
        return self._clock() - self._secrets_read >= self.refresh_secrets

    def _read(self) -> S:
        if self._plain is None:
            self._plain = environment(self.provider, self.env_file)
        resolver = secret_resolver(self.provider) if self.secrets else None
        self._secrets = self._resolve_secrets(resolver, self._plain) if resolver else {}
        self._secrets_read = self._clock()
        raw: dict[str, Any] = {}
        absent: list[str] = []
        for f in self.fields:
            value = self._plain.get(f.env)
            if value is None and resolver is not None and f.secret is not None:
                value = self._secrets.get(f.field)
            if value is not None:
                raw[f.field] = value
            elif f.required:
                absent.append(_where(f, resolver is not None, self.provider))
        if absent:
            raise SettingsError(f"{self.model.__name__}: missing {'; '.join(absent)}")
        return self._validate(raw)

    def _resolve_secrets(self, resolver: SecretResolver, env: Mapping[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.secrets:
            assert f.secret is not None
            if f.env in env:
                continue  # an environment value wins: tests and local runs need no secret store
            value = resolver(f.secret)
            if value is not None:
                out[f.field] = value
        return out

    def _validate(self, raw: dict[str, Any]) -> S:
        try:
            return self.model.model_validate(raw)
        except ValidationError as exc:
            # Field names and reasons only: pydantic's str() would echo the (possibly secret) input.
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
            )
            raise SettingsError(f"{self.model.__name__}: invalid {problems}") from None


def _where(f: Declared, resolved: bool, provider: str) -> str:
    if f.secret is not None and resolved:
        return f"{f.field} (the {f.secret.kind} {f.secret.name!r} on {provider})"
    return f"{f.field} (environment variable {f.env})"


def app_settings(app: App) -> list[Settings[Any]]:
    """The settings declared on ``app``, in declaration order."""
    return list(getattr(app, "settings_declared", []))


def app_secrets(app: App) -> list[Secret]:
    """Every secret ``app`` declares, once each, in declaration order."""
    seen: dict[Secret, None] = {}
    for handle in app_settings(app):
        for f in handle.secrets:
            assert f.secret is not None
            seen.setdefault(f.secret, None)
    return list(seen)


def app_fields(app: App) -> list[Declared]:
    """Every field of every settings model ``app`` declares."""
    return [f for handle in app_settings(app) for f in handle.fields]
