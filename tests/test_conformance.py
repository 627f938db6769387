"""Peer conformance: the published numbers of Stripe, Lago, OpenMeter and Kill Bill.

Each vector of `tests/conformance/peers.md` (a copy of the vectors the project received) is a
small rules file in `tests/conformance/`, whose `# expect QUANTITY → TOTAL` comments give the
peer's amounts (optionally `precise X`, the line's amount before rounding, or `lines SOURCE
AMOUNT, ...`, the bill's lines by source).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

import ratecard

HERE = Path(__file__).parent / "conformance"
FILES = sorted(HERE.glob("*.rules"))
EXPECT = re.compile(
    r"^# expect (?P<quantity>\S+) → (?P<total>\S+)"
    r"(?: precise (?P<precise>\S+))?(?: lines (?P<lines>.+))?$", re.M)


def vectors() -> list[tuple[Path, str, str, str | None, str | None]]:
    found = []
    for path in FILES:
        for match in EXPECT.finditer(path.read_text(encoding="utf-8")):
            found.append((path, *match.group("quantity", "total", "precise", "lines")))
    return found


@pytest.mark.parametrize(
    ("path", "quantity", "total", "precise", "lines"),
    vectors(),
    ids=lambda value: value.stem if isinstance(value, Path) else str(value),
)
def test_peer_amount(
    path: Path, quantity: str, total: str, precise: str | None, lines: str | None
) -> None:
    book = ratecard.load(path)
    bill = book.quote({"Use": quantity})
    assert bill.total == Decimal(total)
    if precise is not None:
        assert [line.precise_amount for line in bill.lines] == [Decimal(precise)]
    if lines is not None:
        expected = [] if lines == "none" else [
            (source, Decimal(amount))
            for source, amount in (part.split() for part in lines.split(", "))
        ]
        assert [(line.source, line.amount) for line in bill.lines] == expected


def test_every_peer_vector_has_a_file() -> None:
    peers = HERE / "peers.md"
    ids = set(re.findall(r"^([SLOK]\d)\.", peers.read_text(encoding="utf-8"), re.M))
    covered = {
        vector
        for path in FILES
        for vector in re.findall(r"\(([SLOK]\d)\b", path.read_text(encoding="utf-8"))
    }
    assert ids and ids - covered == set()
