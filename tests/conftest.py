"""Shared fixtures: the repository's paths and the compiled BDA price book."""

from __future__ import annotations

from pathlib import Path

import pytest

import ratecard
from ratecard.engine.pricebook import PriceBook

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "rules"
BDA_RULES = RULES / "tencent-bda.rules"


@pytest.fixture(scope="session")
def bda() -> PriceBook:
    """The shipped Tencent Cloud Body Analysis price book."""
    return ratecard.load(BDA_RULES)
