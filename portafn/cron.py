"""Five-field cron in UTC: validation, and the spelling each provider wants."""

from __future__ import annotations

import re
from dataclasses import dataclass

_FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
_NAMES = {
    "month": {
        m: i + 1
        for i, m in enumerate(
            ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        )
    },
    "day of week": {d: i for i, d in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])},
}
_PART = re.compile(r"^(\*|[a-z0-9]+(?:-[a-z0-9]+)?)(?:/(\d+))?$")


class CronError(ValueError):
    """A cron expression that is not five valid fields."""


@dataclass(frozen=True, slots=True)
class Cron:
    """A validated five-field cron expression (minute hour day-of-month month day-of-week), UTC."""

    expression: str

    @property
    def fields(self) -> list[str]:
        """The five fields."""
        return self.expression.split()

    def ncrontab(self) -> str:
        """Azure's six-field NCRONTAB (seconds first)."""
        return "0 " + self.expression

    def aws(self) -> str:
        """EventBridge's ``cron(...)``: six fields with a year, and ``?`` in one of the day fields."""
        minute, hour, dom, month, dow = self.fields
        if dow != "*" and dom == "*":
            dom = "?"
        elif dow == "*":
            dow = "?"
        else:
            raise CronError(
                f"{self.expression!r}: EventBridge cannot restrict both day of month and day of week"
            )
        # EventBridge numbers days 1-7 from Sunday; cron numbers them 0-7 from Sunday.
        if dow != "?":
            dow = re.sub(r"\d+", lambda m: str(int(m.group()) % 7 + 1), dow)
        return f"cron({minute} {hour} {dom} {month} {dow} *)"


def parse_cron(expression: str) -> Cron:
    """Validate a five-field cron expression; raises ``CronError`` saying which field is wrong."""
    text = " ".join(expression.strip().lower().split())
    parts = text.split(" ") if text else []
    if len(parts) != 5:
        raise CronError(
            f"cron {expression!r} has {len(parts)} fields; portafn takes 5 "
            "(minute hour day-of-month month day-of-week, UTC)"
        )
    for value, (name, low, high) in zip(parts, _FIELDS, strict=True):
        for item in value.split(","):
            _check_item(expression, name, item, low, high)
    return Cron(text)


def _check_item(expression: str, name: str, item: str, low: int, high: int) -> None:
    match = _PART.match(item)
    if not match:
        raise CronError(f"cron {expression!r}: {name} field {item!r} is malformed")
    base, step = match.group(1), match.group(2)
    if step is not None and int(step) == 0:
        raise CronError(f"cron {expression!r}: {name} step must be positive")
    if base == "*":
        return
    bounds = base.split("-")
    numbers = [_number(expression, name, b) for b in bounds]
    for n in numbers:
        if not low <= n <= high:
            raise CronError(f"cron {expression!r}: {name} value {n} is outside {low}-{high}")
    if len(numbers) == 2 and numbers[0] > numbers[1]:
        raise CronError(f"cron {expression!r}: {name} range {base!r} runs backwards")


def _number(expression: str, name: str, token: str) -> int:
    if token.isdigit():
        return int(token)
    named = _NAMES.get(name, {}).get(token)
    if named is None:
        raise CronError(f"cron {expression!r}: {name} value {token!r} is not a number")
    return named
