"""ratecard: a pricing-rules language, its compiler, evaluator and price-sheet renderer.

    >>> import ratecard
    >>> book = ratecard.load("rules/tencent-bda.rules")
    >>> book.quote({"DetectBody": 600000, "DetectBodyJoints": 400000}).total
    Decimal('1998.00')
"""

from ratecard.api import load, loads
from ratecard.diagnostics import Diagnostic, Severity
from ratecard.engine.bills import Alert, Bill, BillLine
from ratecard.engine.pricebook import HeldPack, MeterPlan, PriceBook
from ratecard.errors import ContactSalesError, RulesError, UsageError

__all__ = [
    "Alert",
    "Bill",
    "BillLine",
    "ContactSalesError",
    "Diagnostic",
    "HeldPack",
    "MeterPlan",
    "PriceBook",
    "RulesError",
    "Severity",
    "UsageError",
    "load",
    "loads",
]
