"""Filters: exact Decimals (and days) as a price sheet writes them, and the message catalogue.

`format_quantity`, `format_count`, `format_money`, `format_unit_price`, `format_bracket`,
`format_percent` (1万次 / 10K calls, 88元 / CN¥88, 0.002元/次 / $0.002/call,
0 < 调用量 ≤ 300万), `format_date` (2027年1月1日 / 1 January 2027), `md_escape`; `messages`
reads `templates/messages.toml`. The templates use them as Jinja2 filters too. The locale data
(symbols, currency names, grouping, short scales, month names) is CLDR's, by Babel.
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

import babel
import babel.dates
import babel.numbers

from ratecard.diagnostics import is_control
from ratecard.engine.money import CONTEXT
from ratecard.literals import parse_number

if TYPE_CHECKING:
    from ratecard.engine.pricebook import MeterPlan

# The locale each sheet language formats numbers, money and days in (CLDR data, by Babel).
LOCALES: Mapping[str, str] = {"zh": "zh_CN", "en": "en"}
# Chinese sheets write an amount as Tencent's page does, the number then the currency's unit:
# 88元, 0.20美元. Babel knows the currencies' Chinese names (美元, 欧元); for the renminbi the
# page writes its unit, 元, not its name (人民币).
_ZH_UNIT = {"CNY": "元"}
# Chinese writes a plain number below 10,000 ungrouped (5000, as 1000万 on the page); English
# groups from 1,000 on.
_GROUP_FROM: Mapping[str, int] = {"zh": 10_000, "en": 1_000}


def _locale(lang: str) -> babel.Locale:
    return babel.Locale.parse(LOCALES[lang])


def _exact(value: Decimal) -> None:
    if not isinstance(value, Decimal):
        # A float here would have lost its digits already: money is Decimal everywhere.
        raise TypeError(f"a sheet formats Decimal, not {type(value).__name__}: {value!r}")


def _fraction(value: Decimal) -> str:
    """The fraction digits of a number pattern that shows `value` exactly as it is written."""
    exponent = value.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return "." + "0" * digits if digits else ""


def _decimal(value: Decimal, lang: str, grouped: bool = True) -> str:
    """Every digit of `value` (trailing zeros dropped), in the locale's symbols."""
    with decimal.localcontext(CONTEXT):
        return babel.numbers.format_decimal(value, locale=_locale(lang), group_separator=grouped,
                                            decimal_quantization=False)


@functools.cache
def _scales(lang: str) -> tuple[tuple[Decimal, str, str], ...]:
    """The short scales of the locale, largest first: (10^8, "", "亿"), (10^4, "", "万") in
    Chinese; (10^9, "", "B") ... (10^3, "", "K") in English (CLDR's compact decimal formats,
    those the rules language reads back)."""
    found: dict[Decimal, tuple[str, str]] = {}
    for magnitude, pattern in _locale(lang).compact_decimal_formats["short"]["other"].items():
        prefix, suffix = pattern.prefix[0], pattern.suffix[0]
        zeros = pattern.pattern.count("0")
        scale = Decimal(magnitude).scaleb(1 - zeros)
        if (prefix or suffix) and _reads_back(f"{prefix}1{suffix}", scale):
            found.setdefault(scale, (prefix, suffix))
    return tuple((scale, *found[scale]) for scale in sorted(found, reverse=True))


def _reads_back(text: str, value: Decimal) -> bool:
    """Whether the rules language reads `text` as `value`: a sheet only uses the short scales
    a reader can copy into rules (万, 亿, K, M, B; not 万亿 or T)."""
    try:
        return parse_number(text) == value
    except ValueError:
        return False


def plural(unit: str) -> str:
    """The English plural of a unit name: call → calls, query → queries; GB stays GB."""
    if not unit or not unit.isascii() or not unit[-1].islower():
        return unit
    if " " in unit and unit.endswith("s"):  # "thousand calls" is plural already
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
    """A size or bracket bound, short: 1万次, 1000万, 10K calls, 3M; exact, never rounded.

    The locale's short scale (万, 亿; K, M, B) is used where the number is exact to two
    decimals in it, else the next smaller one, else the number in full."""
    _exact(value)
    number: str | None = None
    for scale, prefix, suffix in _scales(lang):
        if abs(value) >= scale:
            scaled = CONTEXT.divide(value, scale)
            if scaled == scaled.quantize(Decimal("0.01"), context=CONTEXT):
                with decimal.localcontext(CONTEXT):
                    digits = babel.numbers.format_decimal(scaled, format="0.##",
                                                          locale=_locale(lang))
                number = f"{prefix}{digits}{suffix}"
                break
    if number is None:
        number = _decimal(value, lang, grouped=abs(value) >= _GROUP_FROM[lang])
    return _with_unit(number, value, lang, unit)


def format_count(value: Decimal, lang: str, unit: str | None = None) -> str:
    """An exact count with the locale's grouping: 1,000次, 999,000 calls."""
    _exact(value)
    return _with_unit(_decimal(value, lang), value, lang, unit)


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """An amount with the digits the rules or the bill hold, in the language's convention:
    88元, 1998.00元, 0.20美元 (as Tencent's page writes them); $0.40, CN¥88, €1,998.00.

    Babel formats the Decimal itself with exactly its own fraction digits (a pattern made for
    it), in the project's decimal context: no float, no rounding; a float is a TypeError."""
    _exact(amount)
    fraction = _fraction(amount)
    locale = _locale(lang)
    with decimal.localcontext(CONTEXT):
        if lang == "zh":
            number = babel.numbers.format_decimal(amount, format="0" + fraction, locale=locale)
            name = _ZH_UNIT.get(currency) or _currency_name(currency, locale)
            return f"{number}{name}" if name else f"{number} {currency}"
        pattern = _ZERO_DIGITS.sub("0" + fraction,
                                   locale.currency_formats["standard"].pattern)
        return babel.numbers.format_currency(amount, currency, format=pattern, locale=locale,
                                             currency_digits=False)


_ZERO_DIGITS = re.compile(r"0(\.0+)?(?!0)")


def _currency_name(currency: str, locale: babel.Locale) -> str:
    """A currency's display name in the locale (美元), or "" when the locale has none."""
    name = babel.numbers.get_currency_name(currency, locale=locale)
    return "" if name == currency else name


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


def format_percent(fraction: Decimal, lang: str = "en") -> str:
    """A fraction as a percentage, every digit kept: 0.15 → 15%, 0.155 → 15.5%."""
    _exact(fraction)
    with decimal.localcontext(CONTEXT):
        return babel.numbers.format_percent(fraction, locale=_locale(lang),
                                            decimal_quantization=False)


# Days: the locale's long date in Chinese (2027年1月1日); day, month, year in English, with
# CLDR's month names (1 January 2027).
_DATE_FORMATS: Mapping[str, str] = {"zh": "long", "en": "d MMMM y"}


def format_date(day: date, lang: str) -> str:
    """A day as a sheet writes it: 2027年1月1日, 1 January 2027."""
    return babel.dates.format_date(day, _DATE_FORMATS[lang], locale=_locale(lang))


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
