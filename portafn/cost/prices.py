"""A versioned price table: list prices with the date they were taken and where they come from.

Each adapter ships its table as a TOML file beside its pricing module, so updating a price is an
edit to one data file, and the table's ``version`` and ``taken`` date travel into every report.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib.resources import files
from typing import Any


class PriceTableError(ValueError):
    """A price table is malformed or lacks a price the model asks for."""


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Prices for one provider, with provenance.

    ``prices`` maps a meter's key to its list price (per the unit the key names); ``free`` maps a
    meter's key to its monthly (or, where the key says so, daily) free allowance.
    """

    provider: str
    version: str
    taken: str
    currency: str
    region: str
    note: str
    sources: Mapping[str, str]
    prices: Mapping[str, float]
    free: Mapping[str, float]
    always_on: str
    always_on_hourly: float

    def price(self, key: str) -> float:
        """The price of meter ``key``; ``PriceTableError`` naming the table when it is missing."""
        try:
            return self.prices[key]
        except KeyError:
            raise PriceTableError(
                f"{self.provider} price table {self.version} has no price {key!r}"
            ) from None

    def allowance(self, key: str) -> float:
        """The free allowance of meter ``key`` (0 when the meter has none)."""
        return self.free.get(key, 0.0)


def _floats(raw: Any, where: str) -> dict[str, float]:
    if not isinstance(raw, dict):
        raise PriceTableError(f"{where} must be a table of numbers")
    out: dict[str, float] = {}
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PriceTableError(f"{where}.{key} must be a number, not {value!r}")
        out[key] = float(value)
    return out


def parse_prices(provider: str, data: Mapping[str, Any]) -> PriceTable:
    """A ``PriceTable`` from a parsed TOML document."""
    try:
        always_on = data["always_on"]
        return PriceTable(
            provider=provider,
            version=str(data["version"]),
            taken=str(data["taken"]),
            currency=str(data["currency"]),
            region=str(data["region"]),
            note=str(data.get("note", "")),
            sources={str(k): str(v) for k, v in data["sources"].items()},
            prices=_floats(data["prices"], "prices"),
            free=_floats(data.get("free", {}), "free"),
            always_on=str(always_on["name"]),
            always_on_hourly=float(always_on["hourly"]),
        )
    except KeyError as exc:
        raise PriceTableError(f"{provider} price table lacks {exc.args[0]!r}") from None


def load_prices(provider: str, package: str, resource: str = "prices.toml") -> PriceTable:
    """The price table ``resource`` shipped in ``package``."""
    text = files(package).joinpath(resource).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PriceTableError(f"{package}/{resource}: {exc}") from None
    return parse_prices(provider, data)
