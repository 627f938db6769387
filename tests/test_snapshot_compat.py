"""Snapshots written before the allowance became a monthly grant's lot (by the code of commit
f9b6b48, tests/snapshots_main/make.py) still load, and resume to the bills that code gave.

Each fixture holds a journal, where it was cut, the snapshot taken there and the bills the
account issued from the rest of the journal: restored under today's code and fed the rest, it
issues exactly those bills (compared field by field as `Bill.to_dict` gives them), which are
also the bills of the whole journal replayed at once, from the bills already issued at the
cut on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard.engine.account import Account
from tests.conftest import RULES

FIXTURES = Path(__file__).parent / "snapshots_main"
NAMES = sorted(path.stem for path in FIXTURES.glob("*.json"))


def _fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _book(data: dict[str, Any], name: str) -> ratecard.PriceBook:
    if data["rules"] is not None:
        return ratecard.load(RULES / data["rules"])
    return ratecard.loads(data["text"], f"{name}.rules")


def test_every_kind_of_source_has_a_fixture() -> None:
    """The fixtures hold a pack, a per-meter and a shared allowance, a grant issued once, a
    subscription's coverage and a credit, and one snapshot with units pending."""
    assert NAMES == ["asr-sources", "bda-account", "bda-pending", "bda-worked-1", "face-qps",
                     "ocr-opening", "shared-pool"]
    assert _fixture("shared-pool")["snapshot"]["allowance"]["left"]["detection+search"] == "100"
    assert _fixture("bda-pending")["snapshot"]["pending"] == {"detection": "700",
                                                              "search": "400"}


@pytest.mark.parametrize("name", NAMES)
def test_a_snapshot_written_before_resumes_to_the_same_bills(name: str) -> None:
    data = _fixture(name)
    book = _book(data, name)
    account = Account.restore(book, json.dumps(data["snapshot"]))
    bills = account.feed(data["journal"][data["cut"]:])
    bills += account.close_through(data["close_through"])
    assert [bill.to_dict() for bill in bills] == data["bills"]
    whole = book.bill(data["journal"])
    assert isinstance(whole, list)
    issued = data["snapshot"]["bills_issued"]
    assert [bill.to_dict() for bill in whole[issued:]] == data["bills"]
