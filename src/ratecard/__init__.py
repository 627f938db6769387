"""ratecard: a pricing-rules language, its compiler, evaluator and price-sheet renderer.

    >>> import ratecard
    >>> book = ratecard.load("rules/tencent-bda.rules")
    >>> book.quote({"DetectBody": 600000, "DetectBodyJoints": 400000}).total
    Decimal('1998.00')
"""

import importlib
from typing import TYPE_CHECKING

from ratecard.api import load, load_contract, loads
from ratecard.diagnostics import Diagnostic, Severity
from ratecard.errors import ContactSalesError, Error, RulesError, UsageError

# The release, as in pyproject.toml (a test keeps them equal): `__version__` when the package's
# metadata is not installed (the sources on the path only).
_RELEASE = "0.1.0"

if TYPE_CHECKING:
    __version__: str
    from ratecard.engine.account import Account, AccountError, LateEntryError
    from ratecard.engine.bills import Alert, AlertKind, Bill, BillLine, Source
    from ratecard.engine.journal import (
        Cancel,
        Credit,
        JournalError,
        Open,
        Order,
        Purchase,
        Refund,
        Reopen,
        Request,
        Subscribe,
        Suspend,
        Topup,
        Usage,
    )
    from ratecard.engine.pricebook import HeldPack, MeterPlan, PriceBook
    from ratecard.engine.snapshot import SnapshotError
    from ratecard.render import RenderedSheet
    from ratecard.render import render as render_sheet

# Loaded on first use, so that commands that render nothing do not load the renderer.
_RENDERER = {"render_sheet": "render", "RenderedSheet": "RenderedSheet"}
# Likewise the account kept between entries (it loads the replay and its snapshots).
_ACCOUNT = ("Account", "AccountError", "LateEntryError", "SnapshotError")


# The evaluator's classes, loaded on first use too: `ratecard check` needs none of them.
_ENGINE = {
    "Alert": "bills", "AlertKind": "bills", "Bill": "bills", "BillLine": "bills",
    "Source": "bills",
    "JournalError": "journal", "Purchase": "journal", "Refund": "journal", "Order": "journal",
    "Reopen": "journal", "Subscribe": "journal", "Cancel": "journal", "Open": "journal",
    "Credit": "journal", "Request": "journal",
    "Suspend": "journal", "Topup": "journal", "Usage": "journal",
    "HeldPack": "pricebook", "MeterPlan": "pricebook", "PriceBook": "pricebook",
}


def _version() -> str:
    """The installed package's version (its metadata), else `_RELEASE`."""
    from importlib import metadata

    try:
        return metadata.version("ratecard")
    except metadata.PackageNotFoundError:
        return _RELEASE


def __getattr__(name: str) -> object:
    if name == "__version__":  # read from the metadata on first use, then kept
        value = globals()["__version__"] = _version()
        return value
    if name in _ENGINE:
        module = importlib.import_module(f"ratecard.engine.{_ENGINE[name]}")
        return getattr(module, name)
    if name in _RENDERER:
        from ratecard import render

        return getattr(render, _RENDERER[name])
    if name in _ACCOUNT:
        from ratecard.engine import account

        return getattr(account, name)
    raise AttributeError(f"module 'ratecard' has no attribute {name!r}")

__all__ = [
    "Account",
    "AccountError",
    "Alert",
    "AlertKind",
    "Bill",
    "BillLine",
    "Cancel",
    "ContactSalesError",
    "Credit",
    "Diagnostic",
    "Error",
    "HeldPack",
    "JournalError",
    "LateEntryError",
    "MeterPlan",
    "Open",
    "Order",
    "PriceBook",
    "Purchase",
    "Refund",
    "RenderedSheet",
    "Reopen",
    "Request",
    "RulesError",
    "Severity",
    "SnapshotError",
    "Source",
    "Subscribe",
    "Suspend",
    "Topup",
    "Usage",
    "UsageError",
    "__version__",
    "load",
    "load_contract",
    "loads",
    "render_sheet",
]
