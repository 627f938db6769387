"""Number literals of the language: `1000`, `1_000`, `0.0018`, `10k`, `1M`, `1万`, `100万`, `1亿`.

Shared by the transformer (rules files) and the command line (pack sizes, counts), so that every
place that takes a number takes every form the language accepts.
"""

from __future__ import annotations

import decimal
import re
from decimal import Decimal

SUFFIXES: dict[str, Decimal] = {
    "k": Decimal(1_000),
    "K": Decimal(1_000),
    "千": Decimal(1_000),
    "万": Decimal(10_000),
    "M": Decimal(1_000_000),
    "亿": Decimal(100_000_000),
    "B": Decimal(1_000_000_000),
}

#: The most digits a number may be written with (leading zeros, separators and the suffix aside).
#: Within it every value is exact, and the checker's and the engine's arithmetic never overflows.
MAX_DIGITS = 28

# Wide enough for MAX_DIGITS digits times the largest suffix, exactly.
_EXACT = decimal.Context(prec=MAX_DIGITS + 12, traps=[decimal.InvalidOperation, decimal.Inexact])

_NUMBER = re.compile(r"(-?)([0-9]+(?:_[0-9]+)*)(?:\.([0-9]+(?:_[0-9]+)*))?(.*)", re.DOTALL)


class NumberError(ValueError):
    """A literal that is not a number of the language; the message says why."""


def parse_number(text: str) -> Decimal:
    """The exact value of a number literal, or NumberError saying what is wrong with it."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise NumberError(f"`{text}` is not a number")
    sign, whole, fraction, suffix = match.groups()
    integral, decimals = whole.replace("_", ""), (fraction or "").replace("_", "")
    if len(integral.lstrip("0")) + len(decimals) > MAX_DIGITS:
        raise NumberError(f"`{text}` has more than {MAX_DIGITS} digits")
    digits = integral + ("." + decimals if decimals else "")
    value = Decimal(digits)
    if suffix:
        if suffix not in SUFFIXES:
            if suffix.startswith(".") and fraction is not None:
                raise NumberError(f"`{text}` has more than one decimal point")
            if suffix.startswith("."):
                raise NumberError(f"`{text}` needs digits after its decimal point")
            raise NumberError(f"`{text}` has an unknown suffix `{suffix}`")
        value = _EXACT.multiply(value, SUFFIXES[suffix])
        # A whole result of a suffix is written out (1.5万 → 15000, not 1.50E+4).
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1), context=_EXACT)
    # Without a suffix the value keeps the digits as written: `5.00` stays 5.00.
    return -value if sign else value


def format_plain(value: Decimal) -> str:
    """A Decimal as plain digits, never in exponent form: 15000, 0.0018."""
    return format(value, "f")
