"""Cron translation per provider."""

from __future__ import annotations

import pytest

from portafn.cron import CronError, parse_cron


@pytest.mark.parametrize(
    ("cron", "aws", "azure"),
    [
        ("0 2 * * *", "cron(0 2 * * ? *)", "0 0 2 * * *"),
        ("*/15 9-17 * * 1-5", "cron(*/15 9-17 ? * 2-6 *)", "0 */15 9-17 * * 1-5"),
        ("30 6 1 * *", "cron(30 6 1 * ? *)", "0 30 6 1 * *"),
        ("0 0 * JAN sun", "cron(0 0 ? jan sun *)", "0 0 0 * jan sun"),
    ],
)
def test_translations(cron: str, aws: str, azure: str) -> None:
    parsed = parse_cron(cron)
    assert parsed.aws() == aws
    assert parsed.ncrontab() == azure


def test_both_day_fields_cannot_go_to_eventbridge() -> None:
    with pytest.raises(CronError, match="EventBridge"):
        parse_cron("0 0 1 * 1").aws()


def test_whitespace_is_normalised() -> None:
    assert parse_cron("  0   2 * *  * ").expression == "0 2 * * *"
