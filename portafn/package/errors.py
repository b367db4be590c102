"""Typed packaging errors: each says what is wrong and what to do, in one message."""

from __future__ import annotations


class PackageError(Exception):
    """Packaging failed; the message is meant for the user as is."""


class LimitExceeded(PackageError):
    """An artifact is larger than the provider accepts."""

    def __init__(self, provider: str, artifact: str, what: str, size: int, limit: int) -> None:
        self.provider = provider
        self.artifact = artifact
        self.what = what
        self.size = size
        self.limit = limit
        super().__init__(
            f"{provider}: {artifact} is {_mb(size)} {what}; the limit is {_mb(limit)}. "
            "Trim dependencies or move large ones to a layer or a container image."
        )


class PlatformWheelMissing(PackageError):
    """A dependency publishes no binary wheel for the target platform and Python."""

    def __init__(self, package: str | None, platform: str, python: str, detail: str) -> None:
        self.package = package
        self.platform = platform
        self.python = python
        self.detail = detail
        who = f"{package!r} has" if package else "a dependency has"
        super().__init__(
            f"{who} no wheel for {platform} / Python {python} (portafn never builds from source "
            f"for another platform). Pin a version that ships one or choose another target.\n{detail}"
        )


class CapabilityMissing(PackageError):
    """The provider's store lacks a capability one of the app's tables needs."""

    def __init__(self, provider: str, store: str, gaps: list[tuple[str, str, str]]) -> None:
        self.provider = provider
        self.store = store
        self.gaps = gaps
        lines = "; ".join(f"table {t} needs {c} ({why})" for t, c, why in gaps)
        super().__init__(f"{provider}: the {store} store lacks what the app needs: {lines}")


class ToolFailed(PackageError):
    """An external tool (uv) failed for a reason other than a missing wheel."""


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"


class UnsupportedSetting(PackageError):
    """A function's declared setting is beyond what the provider can honour."""

    def __init__(self, provider: str, function: str, setting: str, value: object, limit: str) -> None:
        self.provider = provider
        self.function = function
        self.setting = setting
        self.value = value
        super().__init__(
            f"{provider}: function {function!r} declares {setting}={value!r}, which {provider} cannot honour: "
            f"{limit}. Change the decorator's {setting}= or package for another provider."
        )
