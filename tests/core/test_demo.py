"""The README's first command: the orders sample through every provider's runtime path."""

from __future__ import annotations

import json

import pytest

from samples.demo import STEPS, main


def test_demo_gives_identical_answers_on_every_provider(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--providers", "local,aws,azure,gcp"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert json.loads(out[-1]) == {"providers": ["local", "aws", "azure", "gcp"], "identical_answers": True}
    rows = [line for line in out if " | " in line][1:]
    assert len(rows) == len(STEPS)
    created = next(r for r in rows if r.startswith("POST /customers/ada/orders {o-1, 1250}"))
    assert created.count("201 o-1 new 1250") == 4
    poison = next(r for r in rows if r.startswith("queue order-events {poison}"))
    assert poison.count("failed: EventDataError") == 4
