"""Hypothesis strategies that write rules files from the language's constructs.

`rules_texts()` builds a whole sheet statement by statement: header and settings, meters with
every clause, unpriced actions, allowances (own, `shared`, `while active`), pack tables, ladders
of every mode, basis, period and price-term form (unit, `per N`, blocks, flat fees, `contact
sales`, `minimum`, `maximum`, `charge flat at zero`, `combined`), deduction, alerts, bills and
suspension, pack terms (refund windows, `stop when exhausted`, `contact sales` cells, `then
smallest`) and orders. Tokens are joined by random whitespace, line breaks and comments.

With `valid=True` (the default) the sheet is also semantically sound, so it compiles without
errors; with `valid=False` its names, choice words and numbers are arbitrary (the checker's
diagnostics are expected, never an exception).

`mutated()` takes a shipped sheet or a valid golden case and deletes, repeats or swaps a few of
its tokens, inserts text, or turns its spaces into tabs: mostly broken files.

Used by the parser fuzz tests and by the formatter's property tests.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from hypothesis import strategies as st
from lark.lexer import PatternStr

from ratecard.diagnostics import BIDI_CONTROLS
from ratecard.engine.money import ROUNDING_MODES
from ratecard.literals import SUFFIXES, format_plain, parse_number
from ratecard.parser import lark_parser

Tokens = list[str]

#: Every keyword of the grammar (reserved where it is expected), and `inf`.
KEYWORDS: frozenset[str] = frozenset(
    t.pattern.value
    for t in lark_parser().terminals
    if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()
) | {"inf"}

# Punctuation needs no whitespace around it; words (and `-` before a digit) do.
_PUNCTUATION = frozenset(",{}()[]/+∞")

# The characters the language reads as whitespace, and line breaks that it does not.
_SPACES = (" ", "  ", "\t", "\n", "\r\n", "\n\n", "\u3000", "\f", "   \n  ")
_ODD = "\u2028\u0085\x0b\x1c\u00a0é人体检测\"#\\'`{}()[]%∞"

ZONES = ("UTC", "Asia/Shanghai", "Europe/Berlin", "America/Los_Angeles", "Etc/GMT+8")
CURRENCIES = ("CNY", "USD", "EUR", "JPY", "GBP")
INCREMENTS = ("1", "0.1", "0.01", "0.001", "10")
LANGUAGES: tuple[tuple[str, ...] | None, ...] = (None, ("zh", "en"), ("en",), ("zh",), ("en", "zh"))


# --- lexical pieces ---------------------------------------------------------------------------

def names(prefix: str = "") -> st.SearchStrategy[str]:
    """Identifiers that are not keywords: `detection`, `a_2`."""
    tail = st.text("abcdefghijklmnopqrstuvwxyz0123456789_", max_size=7)
    first = st.sampled_from("abcdefghijklmnopqrstuvwxyz")
    # A keyword gets a digit: still a name, still unique among the others.
    return st.builds(lambda a, b: prefix + a + b, first, tail).map(
        lambda s: s + "0" if s in KEYWORDS else s)


def actions() -> st.SearchStrategy[str]:
    """API action names: `DetectBody`."""
    words = st.sampled_from(("Detect", "Create", "Get", "List", "Body", "Person", "Trace", "Search",
                             "Group", "Segment", "Task", "Pic", "Ocr", "Sms", "Send"))
    return st.lists(words, min_size=2, max_size=3).map("".join) | st.builds(
        lambda a, b: a + b, words, st.text("ABCXYZabcxyz0123456789", min_size=1, max_size=4))


def comment(rnd: random.Random) -> str:
    """A comment with its line break: any text but a line break after `#`."""
    chars = []
    for _ in range(rnd.randrange(20)):
        if rnd.random() < 0.3:
            chars.append(rnd.choice(_ODD))
        else:
            code = rnd.choice((rnd.randrange(32, 127), rnd.randrange(0x80, 0x3000),
                               rnd.randrange(0x3000, 0x10FFFF)))
            ch = chr(code)
            chars.append(ch if ch != "\n" and not 0xD800 <= code < 0xE000 else "?")
    return "#" + "".join(chars) + "\n"


def separator(rnd: random.Random, required: bool) -> str:
    """Whitespace between two tokens: mostly one space, sometimes line breaks and comments."""
    if rnd.random() < 0.75:
        return " " if required or rnd.random() < 0.5 else ""
    pieces = [comment(rnd) if rnd.random() < 0.3 else rnd.choice(_SPACES)
              for _ in range(rnd.randrange(1 if required else 0, 4))]
    return "".join(pieces)


def strings() -> st.SearchStrategy[str]:
    """A display name as a quoted string literal, never blank, with escapes now and then."""
    # Visible text only: control characters, separators and bidi controls are E112.
    chars = st.characters(codec="utf-8", exclude_characters='\n"\\',
                          exclude_categories=("Cc", "Cs", "Zl", "Zp")).filter(
        lambda ch: ch not in BIDI_CONTROLS) | st.sampled_from("人体 é")
    shown = st.sampled_from(("人", "体", "检测", "A", "Body", "é", "0", "\\\"", "\\\\"))
    body = st.builds(lambda a, b, c: a + b + c, st.text(chars, max_size=5), shown,
                     st.text(chars, max_size=6))
    return body.map(lambda s: f'"{s}"')


NAMES = names()
METER_NAMES = names("m")
ACTIONS = actions()
STRINGS = strings()


def number_text(draw: st.DrawFn, value: Decimal) -> str:
    """One way of writing `value` as a number literal: plain, `_`-grouped, or with a suffix."""
    forms = [format_plain(value)]
    if value == value.to_integral_value():
        whole = int(value)
        if whole >= 1000:
            forms.append(f"{whole:_}")
        for suffix, factor in SUFFIXES.items():
            scaled = value / factor
            if whole and scaled == scaled.to_integral_value():
                forms.append(f"{int(scaled)}{suffix}")
            elif whole and (scaled * 10) == (scaled * 10).to_integral_value():
                forms.append(f"{format_plain(scaled.normalize())}{suffix}")
    text = draw(st.sampled_from(forms))
    assert parse_number(text) == value, (text, value)
    return text


def _decimal(draw: st.DrawFn, low: int, high: int, places: int) -> Decimal:
    units = draw(st.integers(low, high))
    return Decimal(units).scaleb(-draw(st.integers(0, places)))


def _label(draw: st.DrawFn, languages: int) -> Tokens:
    texts = draw(st.lists(STRINGS, min_size=1, max_size=languages))
    out: Tokens = []
    for text in texts:
        out += ["/", text] if out else [text]
    return out


def _listed(items: Sequence[str]) -> Tokens:
    out: Tokens = []
    for item in items:
        out += [",", item] if out else [item]
    return out


def _joined(draw: st.DrawFn, parts: Sequence[Tokens], sep: str = ",") -> Tokens:
    out: Tokens = []
    for part in parts:
        out += [sep, *part] if out else list(part)
    return out


# --- the sheet ----------------------------------------------------------------------------------

@st.composite
def rules_texts(draw: st.DrawFn, valid: bool = True) -> str:
    """A whole rules file (semantically sound when `valid`), tokens joined by random spacing."""
    statements = draw(rules_statements(valid))
    return draw(spaced(statements))


@st.composite
def spaced(draw: st.DrawFn, statements: list[Tokens]) -> str:
    """Tokens joined by random whitespace and comments (and some around the file)."""
    # One seeded Random for the spacing: drawing every separator from Hypothesis costs ten
    # times more than the rest of the sheet. The seed replays a failure (and shrinks to 0, plain
    # spacing, when the spacing does not matter).
    seed = draw(st.integers(0, 2**32))
    rnd = random.Random(seed)
    if seed == 0:
        return " ".join(t for statement in statements for t in statement)
    out = [separator(rnd, False)]
    previous = ""
    for token in (t for statement in statements for t in statement):
        if previous:
            needed = not (
                previous in _PUNCTUATION or token in _PUNCTUATION
            ) or (previous == "-" and token[:1].isdigit())
            out.append(separator(rnd, needed))
        out.append(token)
        previous = token
    out.append(separator(rnd, False))
    return "".join(out)


@st.composite
def rules_statements(draw: st.DrawFn, valid: bool = True) -> list[Tokens]:
    """The statements of a sheet, each a list of tokens; the header first."""
    languages = draw(st.sampled_from(LANGUAGES))
    n_lang = len(languages) if languages else 2
    word = NAMES if valid else st.one_of(NAMES, st.sampled_from(
        ("volume", "postpaid", "month", "up", "year", "packs", "arrears")))
    header: Tokens = ["rules", draw(NAMES), *_label(draw, n_lang)]

    settings: list[Tokens] = [
        ["currency", draw(st.sampled_from(CURRENCIES) if valid else word)],
        ["rounding", draw(st.sampled_from(sorted(ROUNDING_MODES)) if valid else word),
         draw(st.sampled_from(INCREMENTS)) if valid else _any_number(draw)],
        ["timezone", draw(st.sampled_from(ZONES))],
    ]
    if languages:
        settings.append(["languages", *_joined(draw, [[x] for x in languages], "/")])
    if not valid:
        settings = draw(st.lists(st.sampled_from(settings), max_size=5))
    settings = draw(st.permutations(settings))
    grouped: list[Tokens] = []
    while settings:
        size = draw(st.integers(1, len(settings)))
        grouped.append(_joined(draw, settings[:size]))
        settings = settings[size:]

    meters = draw(st.lists(METER_NAMES, min_size=1, max_size=4, unique=True))
    pool = 4 * len(meters) + 2
    all_actions = draw(st.lists(ACTIONS, min_size=pool, max_size=pool + 4, unique=True))
    body: list[Tokens] = [*grouped]
    body += [_meter(draw, m, all_actions, n_lang, valid) for m in meters]
    if draw(st.booleans()):
        unpriced = ["unpriced", *_listed(all_actions[:draw(st.integers(1, 2))])]
        if draw(st.booleans()):
            unpriced += _label(draw, n_lang)
        body.append(unpriced)
    allowances = _allowances(draw, meters, valid)
    packs = _packs(draw, meters, valid)
    body += allowances + packs
    body += _ladders(draw, meters, valid)
    body += _tail(draw, bool(allowances), bool(packs), valid)
    body += _orders(draw, n_lang, valid)
    if not valid:
        body = draw(st.lists(st.sampled_from(body), max_size=len(body) + 2)) if body else body
    return [header, *draw(st.permutations(body))]


ANY_NUMBER = st.one_of(
    st.builds(
        lambda sign, whole, fraction, suffix: f"{sign}{whole}{fraction}{suffix}",
        st.sampled_from(("", "", "-")), st.integers(0, 10**6).map(str) | st.just("1_000"),
        st.sampled_from(("", "", ".5", ".0018", ".25")),
        st.sampled_from(("", "", "k", "M", "B", "万", "亿", "千")),
    ),
    st.sampled_from(("0", "1万次", "0.0.2", "1e5", "1__0", "-0", "9" * 40, "1.", "0.1.")),
)


def _any_number(draw: st.DrawFn) -> str:
    """Any number token, well formed or not: `-1`, `1万次`, `0.0.2`, `10k`."""
    return draw(ANY_NUMBER)


def _meter(draw: st.DrawFn, name: str, pool: list[str], n_lang: int, valid: bool) -> Tokens:
    # Each meter takes its actions off the front of the shared pool: unique across the sheet.
    counted = [pool.pop() for _ in range(draw(st.integers(1, 2)))]
    clauses: list[Tokens] = [["counts", *_listed(counted)]]
    if draw(st.booleans()):
        clauses.append(["counts", *_listed([pool.pop()])])
    if draw(st.booleans()):
        clauses.append(["free", *_listed([pool.pop()])])
    if draw(st.booleans()):
        clauses.append(["unit", *_label(draw, n_lang)])
        if draw(st.booleans()):  # a display unit of N metered units
            size = _decimal(draw, 1, 10**4, 0) if valid else None
            clauses[-1] += ["=", number_text(draw, size) if size is not None
                            else _any_number(draw), *_label(draw, n_lang)]
    if draw(st.booleans()):
        mode = draw(st.sampled_from(sorted(ROUNDING_MODES)) if valid else NAMES)
        clauses.append(["quantity", "rounded", mode, "to",
                        draw(st.sampled_from(INCREMENTS)) if valid else _any_number(draw)])
    if not valid:
        clauses = draw(st.lists(st.sampled_from(clauses), max_size=4))
    return ["meter", name, *_label(draw, n_lang),
            *[t for c in draw(st.permutations(clauses)) for t in c]]


def _partition(draw: st.DrawFn, items: list[str], max_parts: int) -> list[list[str]]:
    shuffled: list[str] = draw(st.permutations(items))
    parts: list[list[str]] = []
    while shuffled:
        size = draw(st.integers(1, len(shuffled))) if len(parts) < max_parts - 1 else len(shuffled)
        parts.append(shuffled[:size])
        shuffled = shuffled[size:]
    return parts


def _target(draw: st.DrawFn, group: list[str], meters: list[str]) -> Tokens:
    if sorted(group) == sorted(meters) and draw(st.booleans()):
        return ["every", "meter"]
    others = [m for m in meters if m not in group]
    if others and draw(st.booleans()):
        return ["every", "meter", "except", *_listed(others)]
    return _listed(group)


def _allowances(draw: st.DrawFn, meters: list[str], valid: bool) -> list[Tokens]:
    if not draw(st.booleans()):
        return []
    covered = draw(st.lists(st.sampled_from(meters), min_size=1, unique=True))
    out = []
    for group in _partition(draw, covered, 3):
        amount = _decimal(draw, 1, 10**7, 0)
        statement = ["allowance", number_text(draw, amount) if valid else _any_number(draw),
                     "per", "month" if valid else draw(NAMES), "on",
                     *_target(draw, group, meters)]
        if draw(st.booleans()):
            statement.append("shared")
        if draw(st.booleans()):
            statement += ["while", "active"]
        out.append(statement)
    return out


def _packs(draw: st.DrawFn, meters: list[str], valid: bool) -> list[Tokens]:
    if not draw(st.booleans()):
        return []
    sold = draw(st.lists(st.sampled_from(meters), min_size=1, unique=True))
    amount = draw(st.integers(1, 3))
    unit = draw(st.sampled_from(("year", "years", "month", "months", "day", "days")))
    out = []
    for group in _partition(draw, sold, 2):
        options: list[Tokens] = [["valid", str(amount), unit]]
        options += [["no", what] for what in draw(
            st.lists(st.sampled_from(("refund", "freeze")), unique=True))]
        if (not valid or ["no", "refund"] not in options) and draw(st.integers(0, 3)) == 0:
            options.append(["refundable", "within", str(draw(st.integers(1, 30))),
                            draw(st.sampled_from(("days", "day", "months"))), "if", "unused"])
        if not valid and draw(st.integers(0, 3)) == 0:  # (a sound sheet prices them postpaid)
            options.append(["stop", "when", draw(st.sampled_from(("exhausted", "empty")))])
        sizes = draw(st.lists(st.integers(1, 10**8), min_size=1, max_size=4, unique=True))
        table: Tokens = ["{", "size", *[number_text(draw, Decimal(s)) for s in sizes]]
        for meter in group:
            table.append(meter)
            for _ in sizes:
                if draw(st.integers(0, 4)) == 0:
                    table.append("-")
                elif draw(st.integers(0, 9)) == 0:
                    table += ["contact", "sales"]
                else:
                    table.append(number_text(draw, _decimal(draw, 0, 10**6, 2)) if valid
                                 else _any_number(draw))
        table.append("}")
        ordered = draw(st.permutations(options))
        out.append(["packs", *_joined(draw, ordered), *table])
    return out


def _price(draw: st.DrawFn, valid: bool) -> Tokens:
    def amount() -> str:
        return number_text(draw, _decimal(draw, 0, 10**5, 4)) if valid else _any_number(draw)

    def positive() -> str:
        return number_text(draw, _decimal(draw, 1, 10**6, 0)) if valid else _any_number(draw)

    unit: Tokens = [amount()]
    if draw(st.booleans()):
        unit += ["per", positive()]
    rounding: Tokens = draw(st.sampled_from(
        (["rounded", "up"], ["rounded", "down"], ["prorated"])))
    block = [amount(), "per", "block", "of", positive(), *rounding]
    flat = [amount(), "flat"]
    kind = draw(st.integers(0, 6))
    if kind == 6:
        return ["contact", "sales"]
    terms = [[unit], [block], [flat], [unit, flat], [flat, unit], [block, flat]][kind]
    if not valid and draw(st.booleans()):
        terms = [unit, block, flat, unit]
    return _joined(draw, terms, "+")


def _orders(draw: st.DrawFn, n_lang: int, valid: bool) -> list[Tokens]:
    """Products sold by order: brackets over the order's quantity, a minimum, a unit."""
    out = []
    for name in draw(st.lists(names("o"), max_size=2, unique=True)):
        options: list[Tokens] = []
        if draw(st.booleans()):
            options.append(["minimum", number_text(draw, _decimal(draw, 1, 500, 0)) if valid
                            else _any_number(draw)])
        if draw(st.booleans()):
            options.append(["unit", *_label(draw, n_lang)])
        bounds = sorted(draw(st.sets(st.integers(1, 10**4), max_size=3)))
        table: Tokens = ["{"]
        for lo, hi in zip([0, *bounds], [*bounds, None], strict=True):
            table += ["(", number_text(draw, Decimal(lo)), ",",
                      "∞" if hi is None else number_text(draw, Decimal(hi)),
                      ")" if hi is None else "]", *_price(draw, valid)]
        table.append("}")
        head = ["order", name, *_label(draw, n_lang)]
        out.append([*head, *[t for option in options for t in [",", *option]], *table])
    return out


def _ladders(draw: st.DrawFn, meters: list[str], valid: bool) -> list[Tokens]:
    out = []
    for group in _partition(draw, meters, 3):
        mode = draw(st.sampled_from(("volume", "graduated")) if valid else NAMES)
        statement: Tokens = ["ladder", mode]
        if valid or draw(st.booleans()):
            statement += ["by", draw(st.sampled_from(("postpaid", "total", "after_allowance")))]
        period = draw(st.sampled_from(("month", "day")))
        # A day without usage has no charge: daily ladders take no minimum (E416).
        daily = valid and period == "day"
        statement += ["per", period, "on",
                      *_target(draw, group, meters)]
        if draw(st.booleans()):
            statement.append("combined")
        statement.append("{")
        count = draw(st.integers(1, 4))
        bounds = sorted(set(draw(st.lists(
            st.integers(1, 10**9), min_size=count - 1, max_size=count - 1))))
        decimals = draw(st.booleans())
        values = [Decimal(0)] + [Decimal(b).scaleb(-3) if decimals else Decimal(b) for b in bounds]
        items: list[Tokens] = []
        # `(lo, hi]` or, all of the ladder, `[lo, hi)`.
        closed_low = draw(st.booleans())
        for i, lo in enumerate(values):
            hi = (["∞"] if draw(st.booleans()) else ["inf"]) if i == len(values) - 1 else [
                number_text(draw, values[i + 1])]
            close = ")" if i == len(values) - 1 or closed_low else "]"
            lo_text = number_text(draw, lo) if valid else _any_number(draw)
            opener = ("[" if closed_low else "(") if valid else draw(st.sampled_from("(["))
            if not valid:
                close = draw(st.sampled_from(")]"))
            items.append([opener, lo_text, ",", *hi, close, *_price(draw, valid)])
        extras: list[Tokens] = []
        low = _decimal(draw, 0, 10**4, 2)
        if draw(st.booleans()) and not daily:
            extras.append(["minimum", number_text(draw, low)])
        if draw(st.booleans()):
            extras.append(["maximum", number_text(draw, low + _decimal(draw, 0, 10**4, 2))])
        if draw(st.booleans()) and not daily:
            extras.append(["charge", "flat", "at", "zero"])
        for extra in extras:
            items.insert(draw(st.integers(0, len(items))), extra)
        statement += [t for item in items for t in item] + ["}"]
        out.append(statement)
    return out


def _tail(draw: st.DrawFn, allowance: bool, packs: bool, valid: bool) -> list[Tokens]:
    out: list[Tokens] = []
    steps: list[Tokens] = []
    if allowance:
        steps.append(["allowance"])
    if packs:
        order = draw(st.sampled_from(("expiry", "purchase", "purchase then smallest")))
        steps.append(["packs", "by", *order.split()])
    optional = draw(st.booleans())
    if steps or optional:
        ordered = [*draw(st.permutations(steps)), ["postpaid"]]
        out.append(["deduct", *_joined(draw, ordered)])
    if draw(st.booleans()):
        percent = f"{draw(st.integers(1, 100))}%"
        conditions = draw(st.lists(st.sampled_from(
            (("pack", "remaining", "below", percent), ("pack", "exhausted"), ("pack", "expired"))),
            min_size=1, unique=True))
        out.append(["alert", *_joined(draw, [list(c) for c in conditions])])
    if draw(st.booleans()):
        options: list[Tokens] = []
        if draw(st.booleans()):
            options.append(["issued", "on", "day", str(draw(st.integers(1, 28)))])
        if draw(st.booleans()):
            options.append(["settle", "from", "balance"])
        if draw(st.booleans()):
            options.append(["skip", "empty"])
        options = draw(st.permutations(options))
        out.append(["bill", "per", "month", *[t for o in options for t in [",", *o]]])
    if draw(st.booleans()):
        reasons = draw(st.lists(st.sampled_from(("arrears", "violation")), min_size=1, unique=True))
        out.append(["suspend", "for", *_listed(reasons)])
    if not valid and out:
        out = draw(st.lists(st.sampled_from(out), max_size=len(out) + 2))
    return out


# --- mutated files ------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
#: The seeds of `mutated()`: every shipped sheet and every valid golden case but contracts (a
#: contract is read with the rules file it extends, from its directory).
SEED_TEXTS = {
    p.name: text
    for p in sorted([*(ROOT / "rules").glob("*.rules"),
                     *(ROOT / "tests" / "cases" / "valid").glob("*.rules")])
    if not (text := p.read_text(encoding="utf-8")).startswith("contract ")
}

# Strings, comments, words and numbers, punctuation and whitespace: good enough to cut a file
# into pieces that a person would delete, repeat or swap.
_PIECE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\w.%]+|\s+|.', re.DOTALL)

_INSERTS = st.one_of(
    st.text(max_size=3),
    st.sampled_from(["{", "}", "(", "]", ",", "\"", "#", "\n", "\r", "\t", "\ufeff", "\u3000",
                     "，", "（", "∞", "-", "+", "/", "%", "meter", "ladder", "0", "1万", "inf"]),
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A seed file with a few tokens deleted, duplicated or swapped and text inserted."""
    name = draw(st.sampled_from(sorted(SEED_TEXTS)))
    pieces = _PIECE.findall(SEED_TEXTS[name])
    for _ in range(draw(st.integers(1, 4))):
        if not pieces:
            break
        i = draw(st.integers(0, len(pieces) - 1))
        j = draw(st.integers(0, len(pieces) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "tabs"]))
        if operation == "delete":
            del pieces[i]
        elif operation == "duplicate":
            pieces.insert(j, pieces[i])
        elif operation == "swap":
            pieces[i], pieces[j] = pieces[j], pieces[i]
        elif operation == "insert":
            pieces.insert(i, draw(_INSERTS))
        else:
            pieces = [p.replace(" ", "\t") if p.isspace() else p for p in pieces]
    return "".join(pieces)
