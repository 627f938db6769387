"""The Python API's surface: the exceptions under `ratecard.Error`, what `ratecard` exports, and
the 0.x names kept as deprecated aliases."""

from __future__ import annotations

import pytest

import ratecard
from ratecard.engine.account import AccountError, LateEntryError
from ratecard.engine.journal import JournalError
from ratecard.engine.snapshot import SnapshotError
from ratecard.errors import ContactSalesError, Error, RulesError, UsageError
from tests.conftest import BDA_RULES


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
