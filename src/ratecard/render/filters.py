"""Filters: exact Decimals (and days) as a price sheet writes them, and the message catalogue.

`format_quantity`, `format_count`, `format_money`, `format_unit_price`, `format_bracket`,
`format_percent` (1万次 / 10K calls, 88元 / CNY 88, 0.002元/次 / CNY 0.002/call,
0 < 调用量 ≤ 300万), `format_date` (2027年1月1日 / 1 January 2027), `md_escape`; `messages`
reads `templates/messages.toml`. The templates use them as Jinja2 filters too.
"""

from __future__ import annotations

import decimal
import functools
import re
import tomllib
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING

from ratecard.diagnostics import is_control
from ratecard.engine.money import CONTEXT
from ratecard.literals import format_plain

if TYPE_CHECKING:
    from ratecard.engine.pricebook import MeterPlan

# Quantities written with a scale suffix when that is exact to two decimals: 1万, 1.5万, 10K, 3M.
_SCALES: Mapping[str, tuple[tuple[Decimal, str], ...]] = {
    "zh": ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万")),
    "en": ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K")),
}
_ZH_CURRENCY = {"CNY": "元", "USD": "美元", "EUR": "欧元", "HKD": "港元", "JPY": "日元",
                "GBP": "英镑"}


def _plain(value: Decimal) -> str:
    """Digits without exponent and without trailing zeros after the point: 1.5, 300, 0.002."""
    if value == value.to_integral_value():
        return format_plain(value.quantize(Decimal(1)))
    return format_plain(value.normalize())


def _grouped(text: str) -> str:
    """Thousands separators in the whole part of a plain number: 1998.00 → 1,998.00."""
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


def plural(unit: str) -> str:
    """The English plural of a unit name: call → calls, query → queries; GB stays GB."""
    if not unit or not unit.isascii() or not unit[-1].islower():
        return unit
    if unit.endswith(("s", "x", "ch", "sh")):
        return unit + "es"
    if unit.endswith("y") and unit[-2:-1] not in ("a", "e", "i", "o", "u"):
        return unit[:-1] + "ies"
    return unit + "s"


def _with_unit(number: str, value: Decimal, lang: str, unit: str | None) -> str:
    if not unit:
        return number
    if lang == "zh":
        # 1万次, but 400,000 GB 秒: a Latin unit keeps its space.
        return f"{number} {unit}" if unit[0].isascii() else f"{number}{unit}"
    return f"{number} {unit if value == 1 else plural(unit)}"


def format_quantity(value: Decimal, lang: str, unit: str | None = None) -> str:
    """A size or bracket bound, short: 1万次, 1000万, 10K calls, 3M; exact, never rounded."""
    number: str | None = None
    for scale, suffix in _SCALES[lang]:
        if abs(value) >= scale:
            scaled = CONTEXT.divide(value, scale)
            if scaled == scaled.quantize(Decimal("0.01"), context=CONTEXT):
                number = _plain(scaled) + suffix
                break
    if number is None:
        text = _plain(value)
        # Chinese writes 5000 ungrouped (as 1000万 on the page); English groups 1,234.
        number = text if abs(value) < (10_000 if lang == "zh" else 1_000) else _grouped(text)
    return _with_unit(number, value, lang, unit)


def format_count(value: Decimal, lang: str, unit: str | None = None) -> str:
    """An exact count with thousands separators: 1,000次, 999,000 calls."""
    return _with_unit(_grouped(_plain(value)), value, lang, unit)


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """An amount as written in the rules or on a bill: 88元, 1998.00元, CNY 88, CNY 1,998.00."""
    text = format_plain(amount)
    if lang == "zh":
        symbol = _ZH_CURRENCY.get(currency)
        return f"{text}{symbol}" if symbol else f"{text} {currency}"
    return f"{currency} {_grouped(text)}"


def format_unit_price(
    price: Decimal, currency: str, lang: str, unit: str, per: Decimal = Decimal(1)
) -> str:
    """A price per unit or per `per` units: 0.002元/次, 0.1元/1000次, CNY 0.10/1K calls."""
    money = format_money(price, currency, lang)
    if per == 1:
        return f"{money}/{unit}"
    return f"{money}/{format_quantity(per, lang, unit)}"


def format_bracket(
    lo: Decimal, hi: Decimal | None, lang: str, noun: str, closed_low: bool = False
) -> str:
    """A bracket `(lo, hi]` as the sheet's column header: 0 < 调用量 ≤ 300万, volume > 15M; a
    bracket `[lo, hi)` (`closed_low`): 300 ≤ 用量 < 1000, volume ≥ 5K."""
    return bracket_text(lo, hi, lang, noun, messages(lang), closed_low)


def bracket_text(
    lo: Decimal, hi: Decimal | None, lang: str, noun: str, m: Mapping[str, str],
    closed_low: bool = False,
) -> str:
    high = None if hi is None else format_quantity(hi, lang)
    return bracket_words(lo == 0, hi is None, format_quantity(lo, lang), high, noun, m,
                         closed_low)


def bracket_words(
    first: bool, last: bool, low: str, high: str | None, noun: str, m: Mapping[str, str],
    closed_low: bool,
) -> str:
    """A bracket's header from its bounds as shown (`first`: it starts at 0; `last`: it is
    open-ended)."""
    form = "_closed_low" if closed_low else ""
    if last:
        key = "bracket_all" if first else f"bracket_last{form}"
        return m[key].format(noun=noun, lo=low)
    key = f"bracket_first{form}" if first else f"bracket_middle{form}"
    return m[key].format(noun=noun, lo=low, hi=high)


def plain_decimal(value: Decimal) -> Decimal:
    """A Decimal without trailing zeros (1.50 → 1.5) and without an exponent (1E+2 → 100)."""
    return value.normalize() if value != value.to_integral_value() else value.quantize(
        Decimal(1))


def _exact_divide(value: Decimal, size: Decimal) -> Decimal | None:
    """value / size if it is exact in ratecard's context (a finite decimal), else None."""
    context = CONTEXT.copy()
    context.clear_flags()
    quotient = context.divide(value, size)
    return None if context.flags[decimal.Inexact] else plain_decimal(quotient)


# How many decimals a quantity or price converted to a display unit keeps when the quotient is
# not a finite decimal (shown with `≈`).
_APPROXIMATE = Decimal("0.000001")


def _in_display(value: Decimal, size: Decimal) -> tuple[Decimal, bool]:
    """value / size, and whether it is approximate (rounded to six decimals)."""
    exact = _exact_divide(value, size)
    if exact is not None:
        return exact, False
    return plain_decimal(CONTEXT.divide(value, size).quantize(_APPROXIMATE)), True


def shown_quantity(value: Decimal, plan: MeterPlan) -> tuple[Decimal, bool]:
    """A quantity of a meter in the unit the sheet shows it in, and whether that is rounded:
    in its display unit (1,080,000 seconds are 300 hours), else as metered."""
    if plan.display_size is None:
        return value, False
    return _in_display(value, plan.display_size)


def shown_price(price: Decimal, per: Decimal, plan: MeterPlan) -> tuple[Decimal, Decimal, bool]:
    """A price of `price` per `per` metered units as (price, per, approximate) in the unit the
    sheet shows: with a display unit, per one of it (3.2 per 3600 seconds is 3.2 per hour,
    0.001 per second 3.6 per hour), exact unless the quotient is not a finite decimal."""
    if plan.display_size is None:
        return price, per, False
    if per == plan.display_size:
        return price, Decimal(1), False
    scaled, approximate = _in_display(CONTEXT.multiply(price, plan.display_size), per)
    return scaled, Decimal(1), approximate


def approx(text: str, approximate: bool) -> str:
    """`≈` before a shown number that is rounded."""
    return f"≈{text}" if approximate else text


def format_percent(fraction: Decimal) -> str:
    """A fraction as a percentage: 0.15 → 15%."""
    return _plain(CONTEXT.multiply(fraction, Decimal(100))) + "%"


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def format_date(day: date, lang: str) -> str:
    """A day as a sheet writes it: 2027年1月1日, 1 January 2027."""
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


# Markdown that can change a sheet's structure: inline marks everywhere, and at the start of a
# line a heading, list item, quote or thematic break (only where a paragraph or bullet starts).
_MD_PUNCTUATION = frozenset("\\`*_[]|#~")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BLOCK_START = re.compile(r"[-+*=](?=\s|$)|[0-9]{1,9}(?=[.)](\s|$))|>")


def md_escape(text: str, starts_line: bool = True) -> str:
    """Plain text safe as one Markdown line, in a table cell or a paragraph: no line break or
    control character (each becomes a space), `|`, `*`, `_`, `#`, `~`, backticks, brackets, tags
    and entities escaped, and, if the text starts a line, no list, quote or heading marker and
    no indent there."""
    out = []
    for index, char in enumerate(text):
        following = text[index + 1 : index + 2]
        tag = char == "<" and (following.isalpha() or following in "/!?")
        if is_control(char):
            out.append(" ")
        elif char in _MD_PUNCTUATION or tag or (char == "&" and _ENTITY.match(text, index)):
            out.append("\\" + char)
        else:
            out.append(char)
    escaped = "".join(out)
    if not starts_line:
        return escaped
    escaped = escaped.lstrip(" ")
    start = _BLOCK_START.match(escaped)
    if start is not None:
        at = start.end() if start.group().isdigit() else start.start()
        escaped = escaped[:at] + "\\" + escaped[at:]
    return escaped


# --- the message catalogue -------------------------------------------------------------------

@functools.cache
def messages(lang: str) -> Mapping[str, str]:
    """The catalogue's words for one language (`templates/messages.toml`)."""
    text = resources.files("ratecard").joinpath("templates/messages.toml").read_text("utf-8")
    catalogue: dict[str, dict[str, str]] = tomllib.loads(text)
    return catalogue[lang]
