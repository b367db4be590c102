"""``Lazy``: a value made once, on first use, safely across threads (SDK clients, resolved names)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """Holds the result of ``make()``, called on the first ``get()`` only, even under concurrency.

    Cold starts stay cheap because nothing is built until a request needs it; ``reset()`` drops the
    value so the next ``get()`` makes a new one (a closed client, a test switching endpoints).
    """

    __slots__ = ("_lock", "_make", "_value")

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, made now if it is not yet."""
        value = self._value
        if value is None:
            with self._lock:
                value = self._value
                if value is None:
                    value = self._value = self._make()
        return value

    def peek(self) -> T | None:
        """The value if it was made, else None (never makes it)."""
        return self._value

    def reset(self) -> T | None:
        """Forget the value; returns the one dropped, if any (to close it)."""
        with self._lock:
            value, self._value = self._value, None
        return value
