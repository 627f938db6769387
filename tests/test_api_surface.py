"""The Python API's surface: the exceptions under `ratecard.Error`, what `ratecard` exports, and
the 0.x names kept as deprecated aliases."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

import ratecard
from ratecard.engine.account import AccountError, LateEntryError
from ratecard.engine.journal import JournalError
from ratecard.engine.pricebook import HeldPack
from ratecard.engine.snapshot import SnapshotError, checksum
from ratecard.errors import ContactSalesError, Error, RulesError, UsageError
from tests.conftest import BDA_RULES, ROOT


def test_every_error_is_a_ratecard_error() -> None:
    """One base, `ratecard.Error`; a damaged snapshot is not a `UsageError` (the store's fault,
    not the request's), a bad journal entry is; `UsageError` and `SnapshotError` stay
    `ValueError`s as they were."""
    assert ratecard.Error is Error
    assert issubclass(Error, Exception) and not issubclass(Error, ValueError)
    for error in (RulesError, UsageError, ContactSalesError, JournalError, LateEntryError,
                  SnapshotError, AccountError):
        assert issubclass(error, ratecard.Error), error
    assert not issubclass(RulesError, ValueError)
    assert issubclass(UsageError, ValueError) and issubclass(SnapshotError, ValueError)
    assert issubclass(JournalError, UsageError) and issubclass(ContactSalesError, UsageError)
    assert not issubclass(SnapshotError, UsageError)
    assert (ratecard.RulesError, ratecard.UsageError, ratecard.JournalError,
            ratecard.SnapshotError) == (RulesError, UsageError, JournalError, SnapshotError)


def test_one_except_catches_every_kind_of_bad_input() -> None:
    """Rules with an error, an unknown action, a bad journal entry and a damaged snapshot: each
    is caught by `except ratecard.Error`, with its own class."""
    book = ratecard.load(BDA_RULES)
    attempts = [
        (lambda: ratecard.loads("rules x\n"), RulesError),
        (lambda: book.quote({"Nope": 1}), UsageError),
        (lambda: book.bill([{"time": "2026-11-01", "type": "usage", "action": "DetectBody",
                             "count": -1}]), JournalError),
        (lambda: ratecard.Account.restore(book, "{}"), SnapshotError),
    ]
    for attempt, kind in attempts:
        with pytest.raises(ratecard.Error) as caught:
            attempt()
        assert type(caught.value) is kind


def test_the_exports_are_what_all_lists() -> None:
    for name in ratecard.__all__:
        assert getattr(ratecard, name) is not None, name


def _sources(bill: ratecard.Bill) -> list[tuple[ratecard.Source, Decimal]]:
    for line in bill.lines:
        assert type(line.source) is ratecard.Source, line
        data = line.to_dict()
        assert type(data["source"]) is str and data["source"] == line.source.value
    return [(line.source, line.amount) for line in bill.lines]


def _kinds(bill: ratecard.Bill) -> list[ratecard.AlertKind]:
    for alert in bill.alerts:
        assert type(alert.kind) is ratecard.AlertKind
        assert type(alert.to_dict()["kind"]) is str
    return [alert.kind for alert in bill.alerts]


def test_line_sources_and_alert_kinds_are_enums_on_every_path() -> None:
    """Every path that makes lines and alerts makes enum members, and their JSON holds plain
    strings. A quote with a held pack of 10,000 with 9,000 left: 12,000 calls, 1,000 free,
    9,000 from the pack, 2,000 × 0.002 = 4.00; the storage sheet's 6 GB: 5 free, 1 GB at
    0.023 + 1 flat = 1.023 → 1.02, topped up to the minimum of 2 by 0.98; Acme's 100,000 calls
    in 2027: 98,000 × 0.0016 = 156.80, 20% off (−31.36) = 125.44, trued up to 500 by 374.56;
    worked case 1 billed: 600 × 0.002 = 1.20."""
    s, a = ratecard.Source, ratecard.AlertKind
    zero = Decimal("0.00")
    bda = ratecard.load(BDA_RULES)
    held = bda.quote({"DetectBody": 12000}, [HeldPack("detection", Decimal(10000),
                                                       Decimal(9000))])
    assert _sources(held) == [(s.ALLOWANCE, zero), (s.PACK, zero),
                              (s.POSTPAID, Decimal("4.00"))]
    assert _kinds(held) == [a.LOW, a.EXHAUSTED]
    assert _sources(bda.quote({"DetectBody": 1001})) == [(s.ALLOWANCE, zero), (s.POSTPAID, zero)]
    storage = ratecard.load(ROOT / "tests" / "cases" / "valid" / "flat-and-contact.rules")
    assert _sources(storage.quote({"PutObject": 6})) == [
        (s.ALLOWANCE, zero), (s.POSTPAID, Decimal("1.02")), (s.MINIMUM, Decimal("0.98"))]
    sheet = ratecard.load(ROOT / "examples" / "price-change" / "bda-2027.rules")
    acme = sheet.with_contract(ROOT / "examples" / "price-change" / "acme.rules")
    assert _sources(acme.quote({"DetectBody": 100000}, at="2027-03-01")) == [
        (s.ALLOWANCE, zero), (s.POSTPAID, Decimal("156.80")), (s.DISCOUNT, Decimal("-31.36")),
        (s.TRUE_UP, Decimal("374.56"))]
    (november,) = bda.bill(ROOT / "tests" / "journals" / "worked-1.jsonl")
    assert _sources(november) == [(s.ALLOWANCE, zero), (s.PACK, zero),
                                  (s.POSTPAID, Decimal("1.20"))]
    assert _kinds(november) == [a.LOW, a.EXHAUSTED]
    assert november.lines[-1].source == "postpaid" and november.alerts[0].kind == "low"
    assert json.loads(json.dumps(november.to_dict())) == november.to_dict()


def test_a_restored_account_has_enum_members_and_refuses_unknown_words() -> None:
    """What a snapshot holds comes back as members; a closed bill's line whose source is not
    a known word is a SnapshotError (it was restored as any string)."""
    text = BDA_RULES.read_text(encoding="utf-8").replace("issued on day 1", "issued on day 5")
    book = ratecard.loads(text, "day5.rules")
    account = ratecard.Account(book)
    entries = [json.loads(line) for line in
               (ROOT / "tests" / "journals" / "worked-1.jsonl").read_text().splitlines()]
    account.feed([*entries, {"time": "2026-12-02", "type": "usage", "action": "DetectBody",
                             "count": 1}])
    saved = json.dumps(account.snapshot())
    restored = ratecard.Account.restore(book, saved)
    (november,) = restored.advance("2026-12-05")
    assert _sources(november)[-1] == (ratecard.Source.POSTPAID, Decimal("1.20"))
    assert _kinds(november) == [ratecard.AlertKind.LOW, ratecard.AlertKind.EXHAUSTED]
    document = json.loads(saved)
    document["closed"][0]["lines"][-1]["source"] = "overage"
    document["checksum"] = checksum(document)
    with pytest.raises(SnapshotError) as caught:
        ratecard.Account.restore(book, document)
    assert str(caught.value) == (
        'snapshot field `closed[0].lines[2].source`: "overage" is not one of "allowance", '
        '"pack", "grant", "postpaid", "minimum", "maximum", "discount", "true_up", "subscription", '
        '"fee", "credit"')


INTERNALS = ("quote_general", "make_bill", "postpaid_period", "route", "ordered",
             "parse_pack_size", "held", "new_allowances", "prepaid_lines")
PUBLIC = ("quote", "bill", "at", "for_account", "with_contract", "meter", "books", "zone",
          "name", "currency", "timezone", "meters", "timeline", "contract", "version",
          "warnings")


def test_price_book_internals_are_private() -> None:
    """What docs/api.md documents is public; the engine's own steps are not."""
    book = ratecard.load(BDA_RULES)
    for name in INTERNALS:
        assert not hasattr(book, name), name
        assert hasattr(book, f"_{name}"), name
    for name in PUBLIC:
        assert hasattr(book, name), name
    public = {name for name in dir(ratecard.PriceBook) if not name.startswith("_")}
    assert public.isdisjoint(INTERNALS)


def test_price_lines_and_price_total_and_their_deprecated_names() -> None:
    """Search at 3,000,001 calls, all in the bracket (300万, 1500万] at 0.0018: 5,400.0018,
    rounded 5,400.00, one line. `price` and `charge` give the same, with a DeprecationWarning
    pointing at the caller's line."""
    book = ratecard.load(BDA_RULES)
    (line,) = book.price_lines("search", 3_000_001)
    assert (line.source, line.bracket, line.precise_amount, line.amount) == (
        "postpaid", "(3000000, 15000000]", Decimal("5400.0018"), Decimal("5400.00"))
    assert book.price_total("search", 3_000_001) == Decimal("5400.00")
    with pytest.warns(DeprecationWarning, match=r"^PriceBook\.price is deprecated: use "
                      r"PriceBook\.price_lines$") as caught:
        assert book.price("search", 3_000_001) == [line]
    assert caught[0].filename == __file__
    with pytest.warns(DeprecationWarning, match=r"^PriceBook\.charge is deprecated: use "
                      r"PriceBook\.price_total$") as caught:
        assert book.charge("search", 3_000_001) == Decimal("5400.00")
    assert caught[0].filename == __file__


def test_bill_returns_a_list_and_bill_month_one_bill() -> None:
    """Worked case 1 (600 × 0.002 = 1.20 in November) with a December entry after it (1,000
    free calls: 0.00): `bill` gives both months' bills, `bill_month` the one asked for; the
    older `bill(journal, month)` still gives that bill, with a DeprecationWarning at the
    caller's line. A month the journal does not reach is a UsageError naming its span."""
    book = ratecard.load(BDA_RULES)
    journal = [json.loads(line) for line in
               (ROOT / "tests" / "journals" / "worked-1.jsonl").read_text().splitlines()]
    journal.append({"time": "2026-12-02T00:00:00+08:00", "type": "usage",
                    "action": "DetectBody", "count": 1000})
    bills = book.bill(journal)
    assert [(bill.month, bill.total) for bill in bills] == [
        (date(2026, 11, 1), Decimal("1.20")), (date(2026, 12, 1), Decimal("0.00"))]
    assert book.bill_month(journal, "2026-12") == bills[1]
    assert book.bill_month(iter(journal), "2026-11", on_invalid=None) == bills[0]
    with pytest.warns(DeprecationWarning, match=r"^PriceBook\.bill\(journal, month\) is "
                      r"deprecated: use PriceBook\.bill_month\(journal, month\)$") as caught:
        assert book.bill(journal, "2026-11") == bills[0]
    assert caught[0].filename == __file__
    with pytest.raises(UsageError, match=r"^no bill for 2027-01: the journal runs from 2026-11 "
                       r"to 2026-12$"):
        book.bill_month(journal, "2027-01")
    with pytest.raises(UsageError, match=r"^bill_month needs a month"):
        book.bill_month(journal, None)  # type: ignore[arg-type]


def test_a_bill_s_dates_and_times_are_dates_and_datetimes() -> None:
    """Worked case 1: November's bill (month 2026-11-01, issued 2026-12-01), the pack bought
    2026-11-01T00:00+08:00 and expiring a year later, the `low` alert at the 11-02 entry; each a
    date or an aware datetime at +08:00, written in JSON as the strings it always was."""
    book = ratecard.load(BDA_RULES)
    (november,) = book.bill(ROOT / "tests" / "journals" / "worked-1.jsonl")
    assert (november.month, november.issued, november.version) == (
        date(2026, 11, 1), date(2026, 12, 1), None)
    (bought,) = november.prepaid
    low = november.alerts[0]
    shanghai = timezone(timedelta(hours=8))
    assert (bought.time, bought.expires, low.time) == (
        datetime(2026, 11, 1, tzinfo=shanghai), datetime(2027, 11, 1, tzinfo=shanghai),
        datetime(2026, 11, 2, 10, tzinfo=shanghai))
    for moment in (bought.time, bought.expires, low.time):
        assert type(moment.tzinfo) is timezone and moment.utcoffset() == timedelta(hours=8)
    data = november.to_dict()
    assert (data["month"], data["issued"]) == ("2026-11", "2026-12-01")
    assert (data["prepaid"][0]["time"], data["prepaid"][0]["expires"]) == (
        "2026-11-01T00:00:00+08:00", "2027-11-01T00:00:00+08:00")
    assert data["alerts"][0]["time"] == "2026-11-02T10:00:00+08:00"


def test_a_time_in_a_repeated_hour_is_the_instant_it_says() -> None:
    """In Europe/Berlin a pack bought 2025-10-25T00:30Z (02:30 CEST) expires a year later at
    02:30 on 2026-10-25, an hour that happens twice (summer time ends at 03:00): the first,
    02:30+02:00, 00:30Z. A fixed offset keeps it equal to that instant in any zone (a zone's
    own tzinfo would make it unequal to every other zone's, PEP 495)."""
    text = BDA_RULES.read_text(encoding="utf-8").replace("timezone Asia/Shanghai",
                                                         "timezone Europe/Berlin")
    book = ratecard.loads(text, "berlin.rules")
    (october, *_) = book.bill([{"time": "2025-10-25T00:30:00Z", "type": "purchase",
                                "meter": "detection", "size": "1万"}])
    (bought,) = october.prepaid
    assert bought.time == datetime(2025, 10, 25, 0, 30, tzinfo=UTC)
    assert bought.expires == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert bought.to_dict()["expires"] == "2026-10-25T02:30:00+02:00"
    assert {bought.expires, datetime(2026, 10, 25, 0, 30, tzinfo=UTC)} == {bought.expires}


def test_a_snapshot_s_bill_times_are_read_as_times_or_refused() -> None:
    """A closed bill waiting in a snapshot comes back with the same dates and times (equal, and
    the same JSON); one whose purchase time is not a time, or whose month is not a month, is a
    SnapshotError naming the field (such text was restored as it was)."""
    text = BDA_RULES.read_text(encoding="utf-8").replace("issued on day 1", "issued on day 5")
    book = ratecard.loads(text, "day5.rules")
    account = ratecard.Account(book)
    entries = [json.loads(line) for line in
               (ROOT / "tests" / "journals" / "worked-1.jsonl").read_text().splitlines()]
    account.feed([*entries, {"time": "2026-12-02", "type": "usage", "action": "DetectBody",
                             "count": 1}])
    saved = account.snapshot()
    (november,) = ratecard.Account.restore(book, json.dumps(saved)).advance("2026-12-05")
    expected = book.bill_month(entries, "2026-11")
    assert november.prepaid == expected.prepaid and november.alerts == expected.alerts
    assert november.to_dict()["prepaid"] == saved["closed"][0]["prepaid"]
    for path, value, message in [
        (("prepaid", 0, "time"), "yesterday",
         'snapshot field `closed[0].prepaid[0].time`: expected an ISO 8601 time, found '
         '"yesterday"'),
        (("month",), "November",
         'snapshot field `closed[0].month`: expected a month YYYY-MM, found "November"'),
    ]:
        document = json.loads(json.dumps(saved))
        target = document["closed"][0]
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        document["checksum"] = checksum(document)
        with pytest.raises(SnapshotError) as caught:
            ratecard.Account.restore(book, document)
        assert str(caught.value) == message


def test_bill_month_takes_a_month_as_text_or_as_a_date() -> None:
    """`bill_month` takes a bill's own `month` back (any day of the month will do); a datetime,
    whose month depends on a timezone, is refused."""
    book = ratecard.load(BDA_RULES)
    journal = ROOT / "tests" / "journals" / "worked-1.jsonl"
    (november,) = book.bill(journal)
    assert november.month is not None
    assert book.bill_month(journal, november.month) == november
    assert book.bill_month(journal, date(2026, 11, 30)) == november
    with pytest.raises(UsageError, match=r"^a month is YYYY-MM or a date, not a datetime "
                       r"\(2026-11-30T00:00:00\): its month depends on a timezone$"):
        book.bill_month(journal, datetime(2026, 11, 30))
    with pytest.raises(UsageError, match=r"^no bill for 2026-12: the journal runs from "
                       r"2026-11 to 2026-11$"):
        book.bill_month(journal, date(2026, 12, 1))
