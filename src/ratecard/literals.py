"""Number literals of the language: `1000`, `1_000`, `0.0018`, `10k`, `1M`, `1万`, `100万`, `1亿`.

Shared by the transformer (rules files) and the command line (pack sizes, counts), so that every
place that takes a number takes every form the language accepts. `count_value` is the one rule
for a count, wherever it comes from (a journal, a CSV row, the command line, the Python API).
"""

from __future__ import annotations

import decimal
import re
from collections.abc import Callable
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


#: The largest count ratecard takes (a usage count, the units left in a held pack): 10^18. A
#: count also has at most MAX_DIGITS digits, so below it a month of up to 10^14 such entries,
#: times any price the language can write (28 digits), stays exact in ratecard's 60-digit context.
MAX_COUNT = 10**18
_MAX_COUNT = Decimal(MAX_COUNT)

# A decimal in exponent form, which a count may be written in as JSON may write it: 1e3, 2.5E+4.
_EXPONENT = re.compile(r"(-?)([0-9]+(?:\.[0-9]+)?)[eE]([+-]?)([0-9]+)")


class NumberError(ValueError):
    """A literal that is not a number of the language; the message says why."""


class CountError(NumberError):
    """A count that is a number but not one ratecard takes (negative, too large, not finite,
    a float, not a number at all); the message starts with the value as given."""


def parse_number(text: str) -> Decimal:
    """The exact value of a number literal, or NumberError saying what is wrong with it."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        raise NumberError(f"`{shorten(text)}` is not a number")
    sign, whole, fraction, suffix = match.groups()
    integral, decimals = whole.replace("_", ""), (fraction or "").replace("_", "")
    if len(integral.lstrip("0")) + len(decimals) > MAX_DIGITS:
        raise NumberError(f"`{shorten(text)}` has more than {MAX_DIGITS} digits")
    digits = integral + ("." + decimals if decimals else "")
    value = Decimal(digits)
    if suffix:
        if suffix not in SUFFIXES:
            if suffix.startswith(".") and fraction is not None:
                raise NumberError(f"`{shorten(text)}` has more than one decimal point")
            if suffix.startswith("."):
                raise NumberError(f"`{shorten(text)}` needs digits after its decimal point")
            raise NumberError(f"`{shorten(text)}` has an unknown suffix `{shorten(suffix)}`")
        value = _EXACT.multiply(value, SUFFIXES[suffix])
        # A whole result of a suffix is written out (1.5万 → 15000, not 1.50E+4).
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1), context=_EXACT)
    # Without a suffix the value keeps the digits as written: `5.00` stays 5.00.
    return -value if sign else value


def format_plain(value: Decimal) -> str:
    """A Decimal as plain digits, never in exponent form: 15000, 0.0018."""
    return format(value, "f")


def count_value(value: object, shown: Callable[[object], str] = repr) -> Decimal:
    """The exact value of a count, or CountError / NumberError saying what is wrong with it.

    A count is an int, a Decimal or a str (a number form of the language, or a decimal in
    exponent form such as `1e3`); never a float, whose value is not the decimal written. It is
    finite, ≥ 0, at most MAX_COUNT, and written with at most MAX_DIGITS digits. Whether it must
    be whole depends on the meter, and is for the caller to check. `shown` renders a value of a
    type that is not taken, for the message (the journal shows it as JSON).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value <= MAX_COUNT:
            return Decimal(value)
        number = Decimal(value)  # no str(): an int of 5000 digits has none
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        number = _count_text(value.strip())
    elif isinstance(value, float):
        raise CountError(f"{shown(value)} is a float: pass a count as an int, a Decimal or a "
                         "str (counts are exact, never binary floats)")
    else:
        raise CountError(f"{shorten(shown(value))} is not a number")
    if not number.is_finite():
        raise CountError(f"{shown_number(number)} is not a finite number")
    if number < 0:
        raise CountError(f"{shown_number(number)} is negative")
    if number > _MAX_COUNT:
        raise CountError(f"{shown_number(number)} is more than the largest count, "
                         f"{MAX_COUNT} (10^18)")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int), "a finite number"
    if exponent < 0 and max(number.adjusted() + 1, 0) - exponent > MAX_DIGITS:
        raise NumberError(f"`{shown_number(number)}` has more than {MAX_DIGITS} digits")
    return number


def _count_text(text: str) -> Decimal:
    """A count's text: a number of the language, or a decimal in exponent form."""
    match = _EXPONENT.fullmatch(text)
    if match is None:
        try:
            return parse_number(text)
        except NumberError:
            plain = _NUMBER.fullmatch(text)
            if plain is None or len(plain.group(2).replace("_", "").lstrip("0")) <= 19:
                raise
            # Too many digits for a number, but first, by its value, too large for a count
            # (or negative): said as a count of 5000 digits is said in every other form.
            if plain.group(1):
                raise CountError(f"{shorten(text)} is negative") from None
            raise CountError(f"{shorten(text)} is more than the largest count, {MAX_COUNT} "
                             "(10^18)") from None
    sign, mantissa, exponent_sign, exponent = match.groups()
    if len(exponent.lstrip("0")) > 6:  # far beyond any count, or any digit, either way
        if Decimal(mantissa) == 0:
            return Decimal(0)
        if exponent_sign == "-":
            raise NumberError(f"`{shorten(text)}` has more than {MAX_DIGITS} digits")
        if sign:
            raise CountError(f"{shorten(text)} is negative")
        raise CountError(f"{shorten(text)} is more than the largest count, {MAX_COUNT} (10^18)")
    return Decimal(f"{sign}{mantissa}E{exponent_sign}{exponent}")


def shown_number(value: Decimal) -> str:
    """A Decimal for a message: plain digits unless they would be many, shortened if long."""
    if value.is_finite() and -40 < value.adjusted() < 40:
        return shorten(format_plain(value))
    return shorten(str(value))


def shorten(text: str, limit: int = 48) -> str:
    """Text for a message, its middle left out if long: `99999999999999…99999 (5000 digits)`."""
    if len(text) <= limit:
        return text
    what = "digits" if text.isdigit() else "characters"
    return f"{text[:20]}…{text[-8:]} ({len(text)} {what})"
