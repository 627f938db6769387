"""An account kept open between entries: feeding, time passing, saving and restoring, late and
resent entries, corrupt snapshots, and `ratecard bill --state`."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account, JournalError, LateEntryError, SnapshotError
from ratecard.cli import main
from ratecard.engine.account import AccountError
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.snapshot import checksum, fingerprint
from tests.conftest import BDA_RULES, ROOT

JOURNALS = Path(__file__).parent / "journals"
Entry = dict[str, Any]


def read(name: str) -> list[Entry]:
    path = JOURNALS / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def use(time: str, action: str, count: int, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "usage", "action": action, "count": count}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


def reseal(document: dict[str, Any]) -> dict[str, Any]:
    """A document with its checksum made to match again (to reach the checks behind it)."""
    document["checksum"] = checksum(document)
    return document


# --- resuming gives the bills of one replay --------------------------------------------------


def test_worked_case_1_resumed_after_a_restart(bda: PriceBook) -> None:
    """Worked case 1, with a restart between 11-02 and 11-03.

    Fed the pack of 1万 and the 9,600 calls of 11-02: 1,000 from the allowance, 8,600 from the
    lot, 1,400 left (14% < 15%: `low`). Saved as JSON, restored, fed the 2,000 calls of 11-03:
    the last 1,400 (`exhausted`) and 600 postpaid × 0.002 = 1.20. No bill is due until
    2026-12-01; `close_through("2026-11")` issues November's: the bill of one replay.
    """
    journal = read("worked-1.jsonl")
    account = Account(bda)
    assert account.feed(journal[:2]) == []
    saved = json.dumps(account.snapshot())
    state = json.loads(saved)
    assert (state["version"], state["rules"]["name"], state["last"]) == (
        1, "bda", "2026-11-02T10:00:00+08:00")
    assert state["lots"][0]["remaining"] == "1400"
    assert state["lots"][0]["alerted_low"] is True
    assert state["month"]["allowance"] == {"detection": "1000"}
    assert state["allowance"]["left"]["detection"] == "0"

    resumed = Account.restore(bda, saved)
    assert resumed.feed(journal[2:]) == []
    assert resumed.month == "2026-11"
    (november,) = resumed.close_through("2026-11")
    assert november == bda.bill_month(journal, "2026-11")
    assert november.total == Decimal("1.20")
    assert [alert.kind for alert in november.alerts] == ["low", "exhausted"]
    assert (resumed.entries, resumed.bills_issued) == (3, 1)


def test_a_month_s_bill_is_due_when_its_issue_instant_is_reached(bda: PriceBook) -> None:
    """The BDA account journal (tests/journals/account.jsonl): November's 2.00 is issued and
    settled on 2026-12-01 00:00, so the entry of 12-02 makes it due, with its settlement
    (1.00 paid, −1.00, suspended for arrears); December's 0.40 is due once time reaches
    2027-01-01, here by `advance`. Together: the two bills of one replay."""
    journal = read("account.jsonl")
    expected = bda.bill(journal)
    account = Account(bda)
    assert account.feed(journal[:3]) == []
    (november,) = account.feed(journal[3:4])
    assert november == expected[0]
    assert november.settlement is not None and november.settlement.suspended
    assert account.feed(journal[4:]) == []
    assert account.advance("2026-12-31T23:59:59+08:00") == []
    assert account.advance("2027-01-01T00:00:00+08:00") == [expected[1]]
    assert account.advance("2026-12-20") == []  # already reached: nothing changes
    assert account.last_time == "2027-01-01T00:00:00+08:00"


def test_bills_issued_on_a_later_day(bda: PriceBook) -> None:
    """Issued on day 3: November (2,000 calls: 1,000 × 0.002 = 2.00) closes on 12-01 but is
    issued and settled on 12-03, after the top-up of 12-02 (balance 1.00 + 5.00 − 2.00)."""
    book = ratecard.loads(BDA_RULES.read_text(encoding="utf-8").replace(
        "issued on day 1", "issued on day 3"), "day3.rules")
    account = Account(book)
    account.feed([{"time": "2026-11-01", "type": "topup", "amount": "1.00"},
                  use("2026-11-10", "DetectBody", 2000)])
    assert account.advance("2026-12-01T00:00:00+08:00") == []
    account = Account.restore(book, account.snapshot())  # the closed bill waits in the state
    assert account.feed([{"time": "2026-12-02", "type": "topup", "amount": "5.00"}]) == []
    (november,) = account.close_through("2026-11")
    assert november.settlement is not None
    assert (november.issued, november.settlement.balance_after) == (date(2026, 12, 3),
                                                                    Decimal("4.00"))
    assert account.last_time == "2026-12-03T00:00:00+08:00"


def test_preview_is_the_month_so_far(bda: PriceBook) -> None:
    """After 11-02 of worked case 1: 1,000 allowance + 8,600 from the lot, nothing postpaid,
    total 0.00, the `low` alert; the account itself is unchanged."""
    journal = read("worked-1.jsonl")
    account = Account(bda)
    assert account.preview() is None
    account.feed(journal[:2])
    before = account.snapshot()
    preview = account.preview()
    assert preview is not None
    assert [(line.source, line.quantity) for line in preview.lines] == [
        ("allowance", 1000), ("pack", 8600)]
    assert (preview.month, preview.total, preview.settlement) == (date(2026, 11, 1),
                                                                  Decimal("0.00"), None)
    assert [alert.kind for alert in preview.alerts] == ["low"]
    assert account.snapshot() == before


def test_a_journal_file_and_typed_entries(bda: PriceBook, tmp_path: Path) -> None:
    """A JSON Lines file and typed entries feed like dicts; ignored entries are numbered in
    the account's whole journal (the second `x` is its fifth entry)."""
    lines = (JOURNALS / "account.jsonl").read_text(encoding="utf-8").splitlines()
    first = tmp_path / "first.jsonl"
    first.write_text("\n".join(lines[:4]) + "\n", encoding="utf-8")
    account = Account(bda)
    account.feed(first)
    assert account.entries == 4
    account.feed([ratecard.Usage("2026-12-02", "DetectBody", 100, id="x"),
                  ratecard.Topup("2026-12-05", "0.50"), ratecard.Topup("2026-12-06", "2.00"),
                  ratecard.Usage("2026-12-07", "DetectBody", 1200),
                  ratecard.Purchase("2026-12-08", "search", "10万")])
    bills = account.close_through("2026-12")
    assert bills == bda.bill(JOURNALS / "account.jsonl")[1:]
    assert [(i.id, i.line) for i in bills[0].ignored] == [("x", 5)]


# --- late, bad and resent entries --------------------------------------------------------------


def test_a_late_entry_is_refused_and_changes_nothing(bda: PriceBook) -> None:
    """The account reached 11-05; a batch holding an entry of 11-03 is refused whole (its
    good entry of 11-06 is not applied either); with `on_invalid` the late entry is reported
    and the rest applied."""
    account = Account(bda)
    account.feed([use("2026-11-05T00:00:00+08:00", "DetectBody", 10)])
    before = account.snapshot()
    batch = [use("2026-11-06", "DetectBody", 5), use("2026-11-03T12:00:00+08:00", "SearchTrace", 1)]
    with pytest.raises(LateEntryError) as caught:
        account.feed(batch)
    error = caught.value
    assert isinstance(error, JournalError)
    assert (error.line, error.field, error.time, error.reached) == (
        2, "time", "2026-11-03T12:00:00+08:00", "2026-11-05T00:00:00+08:00")
    assert str(error) == (
        "journal entry 2: field `time`: 2026-11-03T12:00:00+08:00 is earlier than "
        "2026-11-05T00:00:00+08:00, the latest instant this account has reached: an account "
        "takes its journal in time order (bill the whole journal again with PriceBook.bill to "
        "take a late entry into account)")
    assert account.snapshot() == before

    reported: list[JournalError] = []
    account.feed(batch, on_invalid=reported.append)
    assert [(e.line, type(e).__name__) for e in reported] == [(2, "LateEntryError")]
    (november,) = account.close_through("2026-11")
    assert november.lines[0].quantity == 15
    assert account.entries == 3


def test_a_bad_entry_refuses_the_batch(bda: PriceBook) -> None:
    account = Account(bda)
    before = account.snapshot()
    with pytest.raises(JournalError, match=r"^journal entry 2: field `count`: -1 is negative$"):
        account.feed([use("2026-11-02", "DetectBody", 5), use("2026-11-03", "DetectBody", -1)])
    assert account.snapshot() == before


def test_a_late_resend_is_ignored_on_the_month_being_built(bda: PriceBook) -> None:
    """A client retrying request `u-1` of 11-02 after the account reached 11-20: its id was
    seen, so it is ignored (listed on November with its own time), not refused."""
    account = Account(bda)
    account.feed([use("2026-11-02T10:00:00+08:00", "DetectBody", 1500, "u-1"),
                  use("2026-11-20", "DetectBody", 10)])
    account.feed([use("2026-11-02T10:00:00+08:00", "DetectBody", 1500, "u-1")])
    (november,) = account.close_through("2026-11")
    assert november.total == Decimal("1.02")  # 1,510 − 1,000 = 510 × 0.002
    assert [(i.type, i.id, i.time, i.line) for i in november.ignored] == [
        ("usage", "u-1", datetime.fromisoformat("2026-11-02T10:00:00+08:00"), 3)]


def test_entries_within_a_batch_may_come_in_any_order(bda: PriceBook) -> None:
    batch = read("worked-1.jsonl")
    account = Account(bda)
    account.feed(batch[::-1])
    assert account.close_through("2026-11") == bda.bill(batch)


# --- snapshots --------------------------------------------------------------------------------


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _walk(item)]
    if isinstance(value, list):
        return [v for item in value for v in _walk(item)]
    return [value]


def test_snapshot_is_plain_json_with_money_as_strings(bda: PriceBook) -> None:
    account = Account(bda)
    account.feed(read("account.jsonl"))
    state = account.snapshot()
    assert json.loads(json.dumps(state)) == state
    assert not any(isinstance(v, float) for v in _walk(state))
    assert state["account"] == {"suspensions": [], "in_debt": False, "balance": "1.50"}
    # December's 1,200 calls are added up, not drawn yet: nothing can fire an alert for them
    assert (state["pending"], state["month"]["postpaid"]) == ({"detection": "1200"}, {})
    assert state["seen"] == {"usage": ["x"], "purchase": []}
    assert state["closed"] == []
    assert state["checksum"].startswith("sha256:")


def test_a_closed_bill_waiting_to_be_issued_is_saved_whole() -> None:
    text = BDA_RULES.read_text(encoding="utf-8").replace("issued on day 1", "issued on day 5")
    book = ratecard.loads(text, "day5.rules")
    account = Account(book)
    account.feed([use("2026-11-10", "DetectBody", 2000), use("2026-12-02", "DetectBody", 1)])
    state = account.snapshot()
    assert [(b["month"], b["issued"], b["total"]) for b in state["closed"]] == [
        ("2026-11", "2026-12-05", "2.00")]
    (november,) = Account.restore(book, state).advance("2026-12-05")
    assert november == book.bill_month([use("2026-11-10", "DetectBody", 2000)], "2026-11")


@pytest.fixture(scope="module")
def saved(bda: PriceBook) -> dict[str, Any]:
    """A snapshot in the middle of worked case 1 (a lot, an alert, the month's draws)."""
    account = Account(bda)
    account.feed(read("worked-1.jsonl")[:2])
    return account.snapshot()


def _without(document: dict[str, Any], *path: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target = changed
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return reseal(changed)


def _with(document: dict[str, Any], value: Any, *path: str | int) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return reseal(changed)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda s: "{", "snapshot is not valid JSON: Expecting property name enclosed in double "
     "quotes at line 1 column 2"),
    (lambda s: b"\xff", "snapshot is not UTF-8 text (byte 1)"),
    (lambda s: "[1, 2]", "a snapshot is a JSON object, not an array"),
    (lambda s: {**s, "format": "other"},
     'not a ratecard account snapshot: field `format` is "other", not "ratecard-account"'),
    (lambda s: {**s, "version": 2}, "unknown snapshot version 2: this ratecard reads version 1"),
    (lambda s: {**s, "version": "1"},
     'unknown snapshot version "1": this ratecard reads version 1'),
    (lambda s: {k: v for k, v in s.items() if k != "checksum"},
     "snapshot field `checksum`: missing field"),
    (lambda s: {**s, "entries": 3},
     "snapshot checksum does not match its content: the snapshot was changed or damaged after "
     "it was taken"),
    (lambda s: _without(s, "month", "alerts"), "snapshot field `month.alerts` is missing"),
    (lambda s: _without(s, "seen"), "snapshot field `seen` is missing"),
    (lambda s: _with(s, 1400, "lots", 0, "remaining"),
     'snapshot field `lots[0].remaining`: expected a number written as a string of digits '
     '("12.50"), found 1400'),
    (lambda s: _with(s, "1e3", "lots", 0, "remaining"),
     'snapshot field `lots[0].remaining`: expected a number written as a string of digits '
     '("12.50"), found "1e3"'),
    (lambda s: _with(s, "10001", "lots", 0, "remaining"),
     "snapshot field `lots[0].remaining`: 10001 units left in a lot of 10000"),
    (lambda s: _with(s, "-5", "pending", "detection"),
     "snapshot field `pending.detection`: -5 is negative"),
    (lambda s: _with(s, "detecton", "lots", 0, "meter"),
     'snapshot field `lots[0].meter`: "detecton" is not a meter of rules `bda`'),
    (lambda s: _with(s, [3], "held", "detection"),
     "snapshot field `held.detection[0]`: no lot 3 in `lots` (1 lots)"),
    (lambda s: _with(s, "2026-13", "month", "month"),
     'snapshot field `month.month`: expected a month YYYY-MM, found "2026-13"'),
    (lambda s: _with(s, "2026-11-02T10:00:00", "last"),
     'snapshot field `last`: "2026-11-02T10:00:00" has no UTC offset'),
    (lambda s: _with(s, "2026-12-02T10:00:00+08:00", "last"),
     "snapshot field `last`: the latest instant reached is not in the month under construction"),
    (lambda s: _with(s, ["fraud"], "account", "suspensions"),
     "snapshot field `account.suspensions[0]`: `fraud` is not a reason to suspend in rules "
     "`bda`"),
    (lambda s: _with(s, {"detection": "1"}, "allowance", "left"),
     "snapshot field `allowance.left`: expected the pools `detection`, `library`, `search`, "
     "`segmentation`, found `detection`"),
    (lambda s: _with(s, "yes", "allowance", "granted"),
     'snapshot field `allowance.granted`: expected true or false, found "yes"'),
])
def test_a_corrupt_snapshot_is_one_clear_error(
    bda: PriceBook, saved: dict[str, Any], damage: Any, message: str
) -> None:
    with pytest.raises(SnapshotError) as caught:
        Account.restore(bda, damage(saved))
    assert str(caught.value) == message
    assert isinstance(caught.value, ratecard.Error)
    assert not isinstance(caught.value, ratecard.UsageError)  # the store's fault, not the request's


def _deep(depth: int) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for _ in range(depth):
        nested = {"a": nested}
    return nested


def _circular() -> dict[str, Any]:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    return loop


@pytest.mark.parametrize(("damage", "message"), [
    (lambda s: {**s, "entries": Decimal(4)},
     "snapshot is not JSON data: Object of type Decimal is not JSON serializable"),
    (lambda s: {**s, "seen": {"usage": {"u-1"}, "purchase": []}},
     "snapshot is not JSON data: Object of type set is not JSON serializable"),
    (lambda s: {**s, 1: "x"},
     "snapshot is not JSON data: '<' not supported between instances of 'int' and 'str'"),
    (lambda s: {**s, "month": _circular()}, "snapshot is not JSON data: Circular reference "
     "detected"),
    (lambda s: {**s, "month": _deep(100_000)}, "snapshot is not JSON data: nested too deeply"),
])
def test_a_snapshot_dict_that_is_not_json_data_is_a_snapshot_error(
    bda: PriceBook, saved: dict[str, Any], damage: Any, message: str
) -> None:
    """A dict passed to `restore` holding what JSON cannot (a Decimal, a set, a key that is not
    a string, a loop, a nesting deeper than Python recurses) was a TypeError or RecursionError
    from the checksum; it is a SnapshotError like any other damage."""
    with pytest.raises(SnapshotError) as caught:
        Account.restore(bda, damage(saved))
    assert str(caught.value) == message


def test_a_snapshot_of_other_rules_is_refused(bda: PriceBook, saved: dict[str, Any]) -> None:
    """Other rules (AWS Lambda), or the BDA sheet with one price changed, refuse the snapshot;
    the same sheet reformatted, commented and renamed in its display names restores it."""
    lambda_book = ratecard.load(BDA_RULES.parent / "aws-lambda.rules")
    with pytest.raises(SnapshotError, match=r"^snapshot was taken under other rules \(`bda`, "
                       r"fingerprint [0-9a-f]{12}\), not `lambda` \(fingerprint [0-9a-f]{12}\): "
                       r"restore it with the rules it was taken under, or bill the account's "
                       r"journal again under the new rules$"):
        Account.restore(lambda_book, saved)
    text = BDA_RULES.read_text(encoding="utf-8")
    dearer = ratecard.loads(text.replace("(0, 300万]       0.002", "(0, 300万]       0.0021"))
    with pytest.raises(SnapshotError, match="another version of these rules"):
        Account.restore(dearer, saved)
    cosmetic = ratecard.loads(
        "# reformatted\n" + text.replace('"人体检测" / "Body detection"', '"人体检测" / "Bodies"')
        .replace("  counts DetectBody", "      counts   DetectBody"))
    assert fingerprint(cosmetic) == fingerprint(bda)
    assert Account.restore(cosmetic, saved).snapshot() == saved


def test_the_fingerprint_is_the_same_in_every_process(bda: PriceBook) -> None:
    """It hashes what the rules compile to, never memory addresses or set order."""
    code = ("import ratecard; from ratecard.engine.snapshot import fingerprint; "
            f"print(fingerprint(ratecard.load({str(BDA_RULES)!r})))")
    for seed in ("1", "2"):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        assert out.strip() == fingerprint(bda)


def test_an_account_stopped_by_an_error_must_be_restored() -> None:
    """Geocoding has no published price above 500,000 requests a month: the month's close
    fails; the account refuses to go on until restored from its last snapshot."""
    book = ratecard.load(BDA_RULES.parent / "google-geocoding.rules")
    account = Account(book)
    account.feed([use("2026-11-02", "Geocode", 600_000)])
    saved = account.snapshot()
    with pytest.raises(ratecard.ContactSalesError,
                       match=r"^2026-11: meter `geocoding`: 100000 units reach"):
        account.close_through("2026-11")
    with pytest.raises(AccountError, match="restore it from a snapshot taken before"):
        account.feed([use("2026-12-02", "Geocode", 1)])
    assert Account.restore(book, saved).month == "2026-11"


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 20_000) | st.text(max_size=8)
    | st.sampled_from(["1400", "-1", "0.5", "2026-11-02T10:00:00+08:00", "2026-11", "detection",
                       "DetectBody", "violation", "p-1"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=6), children, max_size=3),
    max_leaves=5,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


def _alike(value: Any) -> st.SearchStrategy[Any]:
    """A value of the same kind as `value`: another amount, count, flag or time."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(max(0, value - 2), value + 2)
    if isinstance(value, str) and re.fullmatch(r"-?\d+(\.\d+)?", value):
        return st.decimals(-3, 3000, places=2).map(str)
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT.*", value):
        return st.sampled_from(["2026-12-01T00:00:00+08:00", "2026-12-05T00:00:00+08:00",
                                "2026-12-06T12:00:00+08:00", "2026-11-30T23:59:59+08:00"])
    return _JSON


def december(bills: list[ratecard.Bill]) -> tuple[Any, ...]:
    """What the rest of account.jsonl bills: its month, total, lines, prepaid, settlement."""
    assert len(bills) == 1
    (bill,) = bills
    assert bill.settlement is not None
    return (bill.month, bill.total, [(line.source, line.quantity, line.amount)
                                     for line in bill.lines],
            bill.prepaid_total, bill.settlement.balance_before, bill.settlement.balance_after)


#: The rest of account.jsonl (entries 7-9) fed to the account saved after its first 6, worked
#: by hand. The balance is -0.50 and the account suspended for arrears; the 2.00 top-up of
#: 12-06 brings it to 1.50 and reopens it, so December's 1,000 allowance is granted then; the
#: 1,200 calls of 12-07 take 1,000 from it and 200 postpaid × 0.002 = 0.40; the search pack of
#: 12-08 is prepaid (190.00); on 2027-01-01 the bill is settled: 1.50 − 0.40 = 1.10.
DECEMBER = (date(2026, 12, 1), Decimal("0.40"),
            [("allowance", 1000, Decimal("0.00")), ("postpaid", 200, Decimal("0.40"))],
            Decimal("190.00"), Decimal("1.50"), Decimal("1.10"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_damaged_snapshot_restores_consistently_or_is_refused(
    bda: PriceBook, data: st.DataObject
) -> None:
    """Any field of a real snapshot deleted or replaced by any JSON value or one of its kind
    (checksum resealed, so the field checks are what stands in the way), or none: the restore
    is a SnapshotError naming the field, or an account whose state saves and restores to itself
    and that bills on without any error but the rules' own (UsageError); bills whose lines are
    rounded half up to the fen and summed, with the 1,200 calls fed after the restore on them.
    Undamaged, the rest of the journal bills `DECEMBER`, worked by hand."""
    account = Account(bda)
    account.feed(read("account.jsonl")[:6])
    original = account.snapshot()
    document = copy.deepcopy(original)
    paths = [p for p in _paths(document) if p[0] not in ("checksum", "format", "version")]
    for _ in range(data.draw(st.integers(0, 3))):
        path = data.draw(st.sampled_from(paths))
        target: Any = document
        try:
            for key in path[:-1]:
                target = target[key]
            if isinstance(target, dict) != isinstance(path[-1], str):
                continue  # an earlier change turned a list into an object or back
            how = data.draw(st.sampled_from(["delete", "any", "alike"]))
            if how == "delete" and isinstance(target, dict):
                del target[path[-1]]
            elif how == "alike":
                target[path[-1]] = data.draw(_alike(target[path[-1]]))
            else:
                target[path[-1]] = data.draw(_JSON)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change removed or replaced the way there
    try:
        restored = Account.restore(bda, reseal(document))
    except SnapshotError as error:
        assert document != original
        assert str(error).startswith("snapshot "), str(error)  # the field, or the rules
        return
    state = restored.snapshot()
    assert Account.restore(bda, state).snapshot() == state  # what it accepted is a state
    intact = {**state, "checksum": None} == {**original, "checksum": None}
    try:
        bills = restored.feed(read("account.jsonl")[6:])
        if restored.month is not None:
            bills += restored.close_through(restored.month)
        restored.snapshot()
    except ratecard.UsageError as error:
        assert not intact, error
        assert "\n" not in str(error), str(error)
        return
    if intact:
        assert december(bills) == DECEMBER
    for bill in bills:
        assert bill.total == sum((line.amount for line in bill.lines), Decimal(0))
        for line in bill.lines:
            assert line.amount == line.precise_amount.quantize(Decimal("0.01"), ROUND_HALF_UP)
    detection = sum((line.quantity for bill in bills for line in bill.lines
                     if line.meter == "detection"), Decimal(0)) + sum(
        (rejected.quantity for bill in bills for rejected in bill.rejected
         if rejected.meter == "detection"), Decimal(0))
    assert detection >= 1200


def test_the_rest_of_the_journal_after_a_restore_is_the_worked_december(bda: PriceBook) -> None:
    account = Account(bda)
    account.feed(read("account.jsonl")[:6])
    restored = Account.restore(bda, json.dumps(account.snapshot()))
    bills = restored.feed(read("account.jsonl")[6:]) + restored.close_through("2026-12")
    assert december(bills) == DECEMBER


# --- the command line -----------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_state_resumes_across_runs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The account journal in two files, billed in two runs with a state file, then closed:
    the same bills, with the same text, as one `ratecard bill` of the whole journal."""
    lines = (JOURNALS / "account.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    first, second = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    first.write_text("".join(lines[:4]), encoding="utf-8")
    second.write_text("".join(lines[4:]), encoding="utf-8")
    state = tmp_path / "account.json"
    code, whole, _ = run(capsys, "bill", str(BDA_RULES), "--journal",
                         str(JOURNALS / "account.jsonl"))
    november, december = whole.split("\n\n2026-12, issued 2027-01-01\n")

    code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal", str(first), "--state",
                         str(state))
    assert (code, out, err) == (0, november + "\n", "")
    assert json.loads(state.read_text(encoding="utf-8"))["entries"] == 4
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal", str(second), "--state",
                       str(state))
    assert (code, out) == (0, "(no bill issued: the account is in 2026-12, at "
                              "2026-12-08T00:00:00+08:00)\n")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal", str(empty), "--state",
                       str(state), "--close-through", "2026-12")
    assert (code, out) == (0, "2026-12, issued 2027-01-01\n" + december)
    assert "ignored: usage id `x` seen before (line 5)" in december
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal", str(empty), "--state",
                       str(state), "--json")
    assert (code, json.loads(out)) == (0, {"schema": "ratecard.bills/1", "bills": []})


def test_cli_state_errors_leave_the_state_file_alone(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Worked case 3 billed twice with one state file: its purchases carry ids, so the second
    run ignores them as resends, but its usage has none: the late 07-01 entry stops the run
    (exit 2, nothing printed) and the state file is left as it was."""
    state = tmp_path / "account.json"
    journal = str(JOURNALS / "worked-3.jsonl")
    code, _, _ = run(capsys, "bill", str(BDA_RULES), "--journal", journal, "--state", str(state))
    kept = state.read_text(encoding="utf-8")
    code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal", journal, "--state",
                         str(state))
    assert (code, out) == (2, "")
    assert err.startswith(f"ratecard: error: {journal}:3: field `time`: "
                          "2026-07-01T12:00:00+08:00 is earlier than 2026-08-05T12:00:00+08:00")
    assert state.read_text(encoding="utf-8") == kept

    broken = tmp_path / "broken.json"
    damaged = kept.replace('"purchases": 2', '"purchases": 3')
    assert damaged != kept
    broken.write_text(damaged, encoding="utf-8")
    code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal", journal, "--state",
                         str(broken))
    assert (code, out, err) == (2, "", f"ratecard: error: {broken}: snapshot checksum does not "
                                "match its content: the snapshot was changed or damaged after "
                                "it was taken\n")
    for argv, message in [
        (["--month", "2026-11"], "--month cannot be combined with --state"),
        (["--close-through", "2026-11"], "--close-through needs --state"),
    ]:
        extra = [] if "--state" in message and argv[0] == "--close-through" else [
            "--state", str(state)]
        code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal",
                             str(JOURNALS / "worked-1.jsonl"), *argv, *extra)
        assert (code, out) == (2, "")
        assert message in err


def test_snapshot_example_in_the_docs_is_current() -> None:
    """docs/billing.md shows a snapshot's fields: the names it lists are those of a snapshot."""
    text = (ROOT / "docs" / "billing.md").read_text(encoding="utf-8")
    account = Account(ratecard.load(BDA_RULES))
    account.feed(read("worked-1.jsonl"))
    for key in account.snapshot():
        assert f"`{key}`" in text, key


def test_misused_calls_are_usage_errors(bda: PriceBook) -> None:
    account = Account(bda)
    with pytest.raises(ratecard.UsageError, match=r"^feed takes a list of entries, not one "
                       r"entry: write feed\(\[entry\]\)$"):
        account.feed(use("2026-11-02", "DetectBody", 5))  # type: ignore[arg-type]
    with pytest.raises(ratecard.UsageError, match="feed takes a list of entries"):
        account.feed(ratecard.Reopen("2026-11-02"))  # type: ignore[arg-type]
    with pytest.raises(ratecard.UsageError, match="not int"):
        account.advance(20261102)  # type: ignore[arg-type]
    with pytest.raises(ratecard.UsageError, match="is a time without a date"):
        account.advance("10:00")
    with pytest.raises(ratecard.UsageError, match="must be written YYYY-MM"):
        account.close_through("11/2026")
    assert account.close_through("2026-11") == []  # nothing fed: nothing to bill
    assert (account.month, account.entries) == (None, 0)
