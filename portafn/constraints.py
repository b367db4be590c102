"""Annotated/Field constraints on HTTP parameters: read them, and refuse what cannot apply.

``Annotated[int, Field(ge=1, le=100)]`` or ``limit: int = Field(10, ge=1)`` on a path, query or
header parameter is validated like a body field (400 naming the parameter). A constraint that
cannot hold for the parameter's type (``pattern`` on an ``int``), or a Field option that means
nothing for a parameter (``alias``), fails at registration instead of being dropped.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from decimal import Decimal
from typing import Annotated, Any, TypeVar

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from portafn.errors import RegistrationError

_NUMERIC = frozenset({"gt", "ge", "lt", "le", "multiple_of", "max_digits", "decimal_places", "allow_inf_nan"})
_TEXT = frozenset({"pattern", "strip_whitespace", "to_lower", "to_upper"})
_SIZED = frozenset({"min_length", "max_length"})
T = TypeVar("T")
_UNSUPPORTED = ("alias", "validation_alias", "default_factory")


def with_field_default(annotation: Any, default: Any) -> tuple[Any, Any]:
    """``x: int = Field(10, ge=1)`` as ``(Annotated[int, Field(...)], 10)``; others unchanged."""
    if not isinstance(default, FieldInfo):
        return annotation, default
    plain = default.default
    return Annotated[annotation, default], inspect.Parameter.empty if plain is PydanticUndefined else plain


def marker(annotation: Any, cls: type[T]) -> T | None:
    """The first ``cls`` instance in an annotation's ``Annotated`` metadata, if any."""
    while typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        for meta in extras:
            if isinstance(meta, cls):
                return meta
        annotation = base
    return None


def unannotated(annotation: Any) -> Any:
    """The type under ``Annotated[...]`` (the annotation itself when it is not annotated)."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _names(item: Any) -> list[str]:
    if dataclasses.is_dataclass(item):
        return [f.name for f in dataclasses.fields(item) if getattr(item, f.name) is not None]
    return [k for k, v in getattr(item, "__dict__", {}).items() if v is not None]


def constraint_names(annotation: Any, func: str, param: str) -> list[str]:
    """The constraints an annotation carries; ``RegistrationError`` for a Field option no parameter can use."""
    names: list[str] = []
    while typing.get_origin(annotation) is Annotated:
        base, *extras = typing.get_args(annotation)
        for meta in extras:
            if getattr(meta, "__portafn_marker__", False):
                continue  # portafn's own markers (Header) say where a value comes from
            if isinstance(meta, FieldInfo):
                for option in _UNSUPPORTED:
                    if getattr(meta, option, None) is not None:
                        raise RegistrationError(
                            func, f"parameter {param!r}: Field({option}=...) is not supported on a parameter"
                        )
                for item in meta.metadata:
                    names.extend(_names(item))
            else:
                names.extend(_names(meta))
        annotation = base
    return names


def check(annotation: Any, base: Any, *, many: bool, func: str, param: str) -> None:
    """Refuse at registration a constraint that cannot apply to ``base`` (the element type if ``many``)."""
    for name in constraint_names(annotation, func, param):
        numeric = inspect.isclass(base) and issubclass(base, int | float | Decimal) and base is not bool
        fits = (
            (name in _NUMERIC and numeric)
            or (name in _TEXT and base is str)
            or (name in _SIZED and (many or base is str))
        )
        if not fits:
            kind = f"list of {getattr(base, '__name__', base)}" if many else getattr(base, "__name__", base)
            raise RegistrationError(func, f"parameter {param!r}: constraint {name!r} cannot apply to {kind}")
