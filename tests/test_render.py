"""Price sheets: the formatting filters, the view models, the templates, the CLI, and the
Chinese sheet against the real Tencent Cloud page (a copy: `tests/pages/tencent-bda-pricing.md`).
"""

from __future__ import annotations

import decimal
import itertools
import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import hypothesis.strategies as st
import jinja2
import pytest
from hypothesis import assume, given, settings
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

import ratecard
from ratecard import cli
from ratecard.engine.pricebook import HeldPack, PriceBook
from ratecard.literals import parse_number
from ratecard.render import (
    FORMATS,
    LANGS,
    build_sheet,
    change_days,
    environment,
    format_bracket,
    format_count,
    format_date,
    format_money,
    format_percent,
    format_quantity,
    format_unit_price,
    md_escape,
    messages,
    plural,
    render,
    sheet_filename,
    sheet_kind,
)
from tests.conftest import BDA_RULES, ROOT, RULES

SEED = ROOT / "tests" / "pages" / "tencent-bda-pricing.md"
SHEETS = ROOT / "docs" / "price-sheets"
RULES_FILES = sorted(RULES.glob("*.rules"))
SHAPES = sorted((ROOT / "tests" / "cases" / "valid").glob("*.rules")) + sorted(
    (ROOT / "tests" / "conformance").glob("*.rules")
)


class MarkdownSnapshot(SingleFileSnapshotExtension):
    """A snapshot stored as a real `.md` file."""

    file_extension = "md"
    _write_mode = WriteMode.TEXT


class HtmlSnapshot(SingleFileSnapshotExtension):
    """A snapshot stored as a real `.html` file."""

    file_extension = "html"
    _write_mode = WriteMode.TEXT


def sheet(book: PriceBook, fmt: str = "md", lang: str = "zh") -> str:
    result = render(book, fmt, lang)
    assert result.warnings == ()
    return result.text


def tables(markdown: str) -> list[list[list[str]]]:
    """Every Markdown table of a document: rows of cells, without the separator rows."""
    found: list[list[list[str]]] = []
    current: list[list[str]] = []
    for line in [*markdown.splitlines(), ""]:
        line = line.strip()
        if line.startswith("|"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", cell) for cell in cells):
                current.append(cells)
        elif current:
            found.append(current)
            current = []
    return found


_FULL_WIDTH = str.maketrans({"＜": "<", "＞": ">", "＝": "=", "（": "(", "）": ")",
                             "，": ",", "：": ":", "　": " "})


def normalised(cell: str) -> str:
    """A cell without whitespace, with ASCII symbols, and `X<调用量` written `调用量>X` (the
    page writes the last bracket of one table each way)."""
    text = re.sub(r"\s+", "", cell.translate(_FULL_WIDTH))
    last = re.fullmatch(r"(.+)<调用量", text)
    return f"调用量>{last.group(1)}" if last else text


def normalised_tables(markdown: str) -> list[list[list[str]]]:
    return [[[normalised(c) for c in row] for row in table] for table in tables(markdown)]


# --- filters --------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "expected"), [
    ("0", "0"), ("1000", "1000"), ("5000", "5000"), ("10000", "1万"), ("15000", "1.5万"),
    ("100000", "10万"), ("999000", "99.9万"), ("1000000", "100万"), ("3000000", "300万"),
    ("10000000", "1000万"), ("15000000", "1500万"), ("100000000", "1亿"),
    ("150000000", "1.5亿"), ("12345", "12,345"), ("0.5", "0.5"),
])
def test_format_quantity_zh(value: str, expected: str) -> None:
    assert format_quantity(Decimal(value), "zh") == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("0", "0"), ("999", "999"), ("1000", "1K"), ("1500", "1.5K"), ("1234", "1,234"),
    ("10000", "10K"), ("100000", "100K"), ("3000000", "3M"), ("15000000", "15M"),
    ("1000000000", "1B"), ("6000000000", "6B"),
])
def test_format_quantity_en(value: str, expected: str) -> None:
    assert format_quantity(Decimal(value), "en") == expected


def test_format_quantity_with_a_unit() -> None:
    assert format_quantity(Decimal(10_000), "zh", "次") == "1万次"
    assert format_quantity(Decimal(10_000_000), "zh", "次") == "1000万次"
    assert format_quantity(Decimal(10_000), "en", "call") == "10K calls"
    assert format_quantity(Decimal(1), "en", "call") == "1 call"
    assert format_quantity(Decimal(100), "zh", "GB 秒") == "100 GB 秒"


@given(st.integers(min_value=0, max_value=10**15), st.sampled_from(LANGS))
def test_format_quantity_is_exact(value: int, lang: str) -> None:
    """A short quantity reads back, in the rules language's own number syntax, as the value."""
    text = format_quantity(Decimal(value), lang).replace(",", "")
    assert parse_number(text) == value


def test_format_count() -> None:
    assert format_count(Decimal(1000), "zh", "次") == "1,000次"
    assert format_count(Decimal(999_000), "en", "call") == "999,000 calls"
    assert format_count(Decimal(400_000), "zh", "GB 秒") == "400,000 GB 秒"
    assert format_count(Decimal("1234.5"), "en") == "1,234.5"


def test_format_money() -> None:
    assert format_money(Decimal(88), "CNY", "zh") == "88元"
    assert format_money(Decimal(63000), "CNY", "zh") == "63000元"
    assert format_money(Decimal(88), "CNY", "en") == "CN¥88"
    assert format_money(Decimal(63000), "CNY", "en") == "CN¥63,000"
    assert format_money(Decimal("1998.00"), "CNY", "en") == "CN¥1,998.00"
    assert format_money(Decimal("0.40"), "USD", "en") == "$0.40"
    assert format_money(Decimal("0.20"), "USD", "zh") == "0.20美元"
    assert format_money(Decimal("5"), "EUR", "zh") == "5欧元"
    assert format_money(Decimal("5"), "ZZZ", "zh") == "5 ZZZ"
    assert format_money(Decimal("10000"), "JPY", "en") == "¥10,000"
    assert format_money(Decimal("-8999.91"), "EUR", "en") == "-€8,999.91"


@pytest.mark.parametrize(("amount", "currency", "lang", "expected"), [
    ("0.0015", "USD", "en", "$0.0015"),
    ("12345678901234.56", "USD", "en", "$12,345,678,901,234.56"),
    ("0.0000166667", "USD", "en", "$0.0000166667"),
    ("0.0015", "CNY", "zh", "0.0015元"),
    ("12345678901234.56", "CNY", "zh", "12345678901234.56元"),
    ("123456789012345678901234567890.123456789", "EUR", "en",
     "€123,456,789,012,345,678,901,234,567,890.123456789"),
])
def test_money_is_formatted_exactly(amount: str, currency: str, lang: str, expected: str) -> None:
    """Babel formats the Decimal itself, with all its digits (more than a float's 17 and the
    default decimal context's 28): a FloatOperation trap proves no float is mixed in."""
    with decimal.localcontext() as context:
        context.traps[decimal.FloatOperation] = True
        assert format_money(Decimal(amount), currency, lang) == expected


def test_a_float_is_refused() -> None:
    with pytest.raises(TypeError, match="Decimal, not float"):
        format_money(0.1, "USD", "en")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Decimal, not float"):
        format_count(1e6, "en")  # type: ignore[arg-type]


@given(st.builds(lambda n, places: Decimal(n).scaleb(-places),
                st.integers(-10**17, 10**17), st.integers(0, 12)),
       st.sampled_from(["USD", "EUR", "CNY"]))
def test_money_reads_back_as_the_same_decimal(amount: Decimal, currency: str) -> None:
    """Every amount, in both languages, reads back (symbols and grouping removed) as the very
    same Decimal, exponent included: 1998.00 stays 1998.00."""
    en = format_money(amount, currency, "en")
    zh = format_money(amount, currency, "zh")
    for text in (en, zh):
        digits = re.sub(r"[^0-9.\-]", "", text)
        assert Decimal(digits) == amount
        assert Decimal(digits).as_tuple().exponent == min(amount.as_tuple().exponent, 0)


def test_formats_come_from_the_locale_data() -> None:
    """The short scales (万, 亿; K, M, B) and month names are CLDR's, by Babel; scales the rules
    language cannot read back (万亿, T) are not used."""
    assert format_quantity(Decimal(10**12), "zh") == "10000亿"
    assert format_quantity(Decimal(2 * 10**12), "en") == "2000B"
    assert format_count(Decimal(10**7), "zh", "次") == "10,000,000次"
    assert format_date(date(2027, 7, 1), "zh") == "2027年7月1日"
    assert format_date(date(2027, 7, 1), "en") == "1 July 2027"


def test_format_unit_price() -> None:
    assert format_unit_price(Decimal("0.002"), "CNY", "zh", "次") == "0.002元/次"
    assert format_unit_price(Decimal("0.0018"), "CNY", "en", "call") == "CN¥0.0018/call"
    assert format_unit_price(Decimal("5.00"), "USD", "en", "request", Decimal(1000)) == \
        "$5.00/1K requests"
    assert format_unit_price(Decimal("0.20"), "USD", "zh", "次", Decimal(10**6)) == \
        "0.20美元/100万次"


def test_format_bracket() -> None:
    m = Decimal(10_000)
    assert format_bracket(Decimal(0), 300 * m, "zh", "调用量") == "0 < 调用量 ≤ 300万"
    assert format_bracket(300 * m, 1500 * m, "zh", "调用量") == "300万 < 调用量 ≤ 1500万"
    assert format_bracket(1500 * m, None, "zh", "调用量") == "调用量 > 1500万"
    assert format_bracket(Decimal(0), None, "zh", "调用量") == "全部调用量"
    assert format_bracket(Decimal(0), 300 * m, "en", "volume") == "0 < volume ≤ 3M"
    assert format_bracket(1500 * m, None, "en", "volume") == "volume > 15M"
    assert format_bracket(Decimal(0), None, "en", "volume") == "any volume"


def test_format_percent_and_plural() -> None:
    assert format_percent(Decimal("0.15")) == "15%"
    assert format_percent(Decimal("0.125"), "zh") == "12.5%"
    assert [plural(u) for u in ("call", "query", "box", "GB", "GB-second", "次")] == \
        ["calls", "queries", "boxes", "GB", "GB-seconds", "次"]


def test_md_escape() -> None:
    assert md_escape("a|b*c_d") == "a\\|b\\*c\\_d"
    assert md_escape("0 < 调用量 ≤ 300万") == "0 < 调用量 ≤ 300万"
    assert md_escape("<script>") == "\\<script>"


@pytest.mark.parametrize(("text", "escaped"), [
    ("# heading", "\\# heading"),
    ("price #1", "price \\#1"),
    ("- item", "\\- item"),
    ("+ item", "\\+ item"),
    ("* item", "\\* item"),
    ("> quote", "\\> quote"),
    ("1. first", "1\\. first"),
    ("12) first", "12\\) first"),
    ("    code", "code"),
    ("~~struck~~", "\\~\\~struck\\~\\~"),
    ("`code`", "\\`code\\`"),
    ("[link](x)", "\\[link\\](x)"),
    ("&amp; &#124; &#x7C; & co", "\\&amp; \\&\\#124; \\&\\#x7C; & co"),
    ("a\nb", "a b"), ("a\r\nb", "a  b"), ("a\tb", "a b"), ("a\x00b\x07", "a b "),
    ("a\u2028b\u2029c\x85d", "a b c d"), ("a\u202eb", "a b"),
    # Text that only looks like a marker is left alone: no space after it, or mid-line.
    ("-1", "-1"), ("1.5万", "1.5万"), ("0.002元/次", "0.002元/次"), ("a - b", "a - b"),
])
def test_md_escape_keeps_every_line_one_line_of_text(text: str, escaped: str) -> None:
    assert md_escape(text) == escaped
    assert "\n" not in md_escape(text) and "\r" not in md_escape(text)


def test_md_escape_mid_line_keeps_markers_and_spaces() -> None:
    """Inside a sentence (after a code span), a leading `- ` or space is no block marker."""
    assert md_escape(" - and # more", starts_line=False) == " - and \\# more"


def cells(line: str) -> list[str]:
    """A Markdown table row's cells, split at the pipes that are not escaped (as GFM does)."""
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip()[1:-1])]


def structure(markdown: str) -> list[tuple[str, int]]:
    """What a Markdown sheet is made of, line by line: headings by level, table rows by their
    number of cells, bullets, quotes, numbered items, rules and paragraphs."""
    shape: list[tuple[str, int]] = []
    for line in markdown.splitlines():
        if not line:
            continue
        if heading := re.match(r"#{1,6}(?= )", line):
            shape.append(("heading", len(heading.group())))
        elif line.startswith("|"):
            shape.append(("row", len(cells(line))))
        elif re.match(r"[-+*] ", line):
            shape.append(("bullet", 0))
        elif re.match(r">|[0-9]+[.)] ", line):
            shape.append(("block", 0))
        elif re.fullmatch(r"[-*_]{3,}", line):
            shape.append(("rule", 0))
        else:
            shape.append(("paragraph", 0))
    return shape


HOSTILE = [
    "x | y | z", "# 标题", "## Heading #", "- item", "1. one", "> quote", "**bold** _it_",
    "`code`", "<b>bold</b>", "&lt;b&gt;", "[link](https://x)", "===", "~~x~~", "|", "---",
]


def named(label: str) -> str:
    """The BDA sheet with `label` as the product's, `detection`'s and `search`'s unit's names."""
    quoted = label.replace("\\", "\\\\").replace('"', '\\"')
    text = (BDA_RULES.read_text(encoding="utf-8")
            .replace('"Body detection"', f'"{quoted}"')
            .replace('"人体检测"', f'"{quoted}"')
            .replace('"人体分析" / "Body Analysis"', f'"{quoted}" / "{quoted}"')
            .replace('  unit "次" / "call"\n  counts SearchTrace',
                     f'  unit "{quoted}" / "{quoted}"\n  counts SearchTrace'))
    assert text.count(quoted) == 6
    return text


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("lang", LANGS)
def test_labels_cannot_change_the_markdown_sheets_structure(hostile: str, lang: str) -> None:
    """A display name with Markdown syntax (`|` and `#` above all) as the product's, a meter's
    and a unit's name: the sheet has exactly the headings, tables (rows × columns), bullets and
    paragraphs it has with a plain name there, and the name reads back as written."""
    markdown = sheet(ratecard.loads(named(hostile), "hostile.rules"), "md", lang)
    baseline = sheet(ratecard.loads(named("plain"), "plain.rules"), "md", lang)
    assert structure(markdown) == structure(baseline)
    assert len(tables(baseline)) >= 4
    unescaped = re.sub(r"\\(.)", r"\1", markdown)
    assert hostile in unescaped


def test_a_line_break_in_an_unchecked_book_adds_no_row_or_heading() -> None:
    """Check refuses control characters in names (E112); the renderer does not rely on it: a
    book compiled without the checker still renders one line per cell and per heading."""
    from ratecard.api import analyze
    from ratecard.compile import compile_rules
    from ratecard.source import SourceFile

    text = (named("plain")
            .replace('rules bda "plain" / "plain"', 'rules bda "甲\\n# 乙" / "A\\n- b\\r\\n> c"')
            .replace('meter detection "plain" / "plain"',
                     'meter detection "a\\n| x | y |\\n# injected" / "\\u202e|\\t|"'))
    rules, diagnostics = analyze(SourceFile("raw.rules", text))
    assert rules is not None and {d.code for d in diagnostics if d.is_error} == {"E112"}
    book = compile_rules(rules, ())
    for lang in LANGS:
        markdown = sheet(book, "md", lang)
        baseline = sheet(ratecard.loads(named("plain"), "plain.rules"), "md", lang)
        assert structure(markdown) == structure(baseline)
        assert "# injected" not in markdown.splitlines()


def test_sheet_file_names() -> None:
    assert sheet_filename("tencent-bda", "zh", "md") == "tencent-bda.zh.md"
    assert sheet_kind("tencent-bda.en.html") == ("html", "en")
    assert sheet_kind("sheet.md") == ("md", None)
    assert sheet_kind("notes.txt") == (None, None)


# --- the environment and the catalogue --------------------------------------------------------

def test_one_environment() -> None:
    env = environment()
    assert env is environment()
    assert env.undefined is jinja2.StrictUndefined
    assert env.keep_trailing_newline and env.trim_blocks and env.lstrip_blocks
    assert callable(env.autoescape)
    assert env.autoescape("sheet.html") is True
    assert env.autoescape("sheet.md") is False
    assert env.filters["money"] is format_money
    assert env.filters["quantity"] is format_quantity


def test_catalogue_languages_have_the_same_words() -> None:
    assert set(messages("zh")) == set(messages("en"))
    assert all(text.strip() or key.startswith(("usage", "example_verb", "verb_"))
               for lang in LANGS for key, text in messages(lang).items())


def test_cli_choices_match_the_renderer() -> None:
    assert cli.SHEET_FORMATS == FORMATS
    assert cli.SHEET_LANGS == LANGS


def test_view_models_hold_strings_only(bda: PriceBook) -> None:
    view, warnings = build_sheet(bda, "zh")
    assert warnings == ()

    def walk(value: object) -> None:
        if isinstance(value, tuple):
            for item in value:
                walk(item)
        elif hasattr(value, "__attrs_attrs__"):
            for field in value.__attrs_attrs__:
                walk(getattr(value, field.name))
        else:
            assert isinstance(value, str | bool), repr(value)

    walk(view)


# --- the Chinese sheet reproduces the page -------------------------------------------------------

def test_zh_sheet_reproduces_every_table_of_the_page(bda: PriceBook) -> None:
    """The page's four tables (packs, both postpaid ladders, prepaid vs postpaid), cell for cell
    and in the page's order, among the sheet's tables."""
    page = normalised_tables(SEED.read_text(encoding="utf-8"))
    ours = normalised_tables(sheet(bda))
    assert len(page) == 4
    position = 0
    for table in page:
        assert table in ours[position:], f"missing or out of order: {table[0]}"
        position = ours.index(table, position) + 1


def test_zh_sheet_cells_as_the_page_writes_them(bda: PriceBook) -> None:
    found = tables(sheet(bda))
    packs, ladder, segmentation, modes = found[0], found[1], found[2], found[3]
    assert packs[0] == ["资源包规格", "1万次", "10万次", "100万次", "1000万次"]
    assert packs[1] == ["人像分割", "88元", "860元", "7300元", "63000元"]
    assert ladder[0] == ["月接口调用总量", "0 < 调用量 ≤ 300万", "300万 < 调用量 ≤ 1500万",
                         "调用量 > 1500万"]
    assert ladder[1] == ["人体检测", "0.002元/次", "0.0018元/次", "0.0015元/次"]
    assert segmentation[0] == ["月接口调用总量", "0 < 调用量 ≤ 1万", "1万 < 调用量 ≤ 10万",
                               "10万 < 调用量 ≤ 100万", "调用量 > 100万"]
    assert segmentation[1] == ["人像分割", "0.01元/次", "0.009元/次", "0.008元/次",
                               "0.007元/次"]
    assert modes[2] == ["计费周期", "年", "月"]


@pytest.mark.parametrize("sentence", [
    # free quota, issued as a free pack, first
    "您每月每种服务均有1,000次的免费调用额度，以免费资源包的形式发放到您的账号中，优先扣除",
    # shared meters, free actions
    "`DetectBody`、`DetectBodyJoints`两个接口的调用量合并计入人体检测，定价相同，"
    "共享调用量阶梯、预付费资源包",
    "仅`CreatePerson`、`CreateTrace`两个接口收费，且调用量合并计入人体库管理，合并计算阶梯和费用",
    "`CreateGroup`、`DeleteGroup`、`GetGroupList`、`ModifyGroup`、`DeletePerson`、"
    "`GetPersonList`、`ModifyPersonInfo`接口免费",
    # deduction order, suspension, bill, refunds
    "系统将按照免费资源包 > 付费资源包 > 按量计费的顺序进行结算，即免费资源包是优先扣除的",
    "若您因欠费停服或违禁原因停服后，将不能继续享受免费额度，只有服务重新开启后才可继续享受免费额度",
    "人体分析本月账单将于次月1日推送，并自动完成结算。当账户余额不足时，服务将停止，"
    "充值足够金额后，服务将恢复正常",
    "预付费当前不支持退款和剩余次数冻结",
    "预付费资源包模式目前不支持购买退费和有效期过后的剩余次数冻结",
    # validity, alerts, billing cycle
    "预付费资源包支持多种规格，有效期均为一年，一年内若资源包次数未使用完，则过期作废；"
    "若超额调用，则超额部分转入后付费模式",
    "当资源包剩余次数不足15%或耗尽时，我们将提醒您；剩余次数耗尽时此服务将自动转入后付费模式，"
    "或者您可以继续购买资源包叠加",
    "本月账单将于次月1日推送，系统自动完成结算",
    # how the bracket is chosen (basis postpaid), and the volume mode
    "阶梯按每月的后付费调用量（扣除免费额度和资源包之后的调用量）选择；达到某个阶梯后，"
    "所有后付费调用量按该阶梯的单价计费。阶梯越高，单价越低。",
])
def test_zh_sheet_says_what_the_page_says(bda: PriceBook, sentence: str) -> None:
    assert sentence in sheet(bda)


# --- the English sheet --------------------------------------------------------------------------

def test_en_sheet_has_the_same_tables_in_english(bda: PriceBook) -> None:
    zh, en = tables(sheet(bda, lang="zh")), tables(sheet(bda, lang="en"))
    assert [[len(row) for row in t] for t in zh] == [[len(row) for row in t] for t in en]
    packs, ladder = en[0], en[1]
    assert packs[0] == ["Pack size", "10K calls", "100K calls", "1M calls", "10M calls"]
    assert packs[1] == ["Portrait segmentation", "CN¥88", "CN¥860", "CN¥7,300",
                        "CN¥63,000"]
    assert ladder[0] == ["Monthly calls", "0 < volume ≤ 3M", "3M < volume ≤ 15M",
                         "volume > 15M"]
    assert ladder[1] == ["Body detection", "CN¥0.002/call", "CN¥0.0018/call",
                         "CN¥0.0015/call"]


def test_en_sheet_states_the_basis(bda: PriceBook) -> None:
    text = sheet(bda, lang="en")
    assert ("The bracket is chosen by the month's postpaid volume (what is left after the "
            "free quota and packs); once that reaches a bracket, every postpaid call is priced "
            "at that bracket's price.") in text
    assert "Bills are settled in this order: free pack > paid packs > postpaid billing" in text


# --- the worked example ------------------------------------------------------------------------

def test_worked_example_is_the_evaluators_bill(bda: PriceBook) -> None:
    """1,000,000 detection calls (600,000 DetectBody + 400,000 DetectBodyJoints) with one
    100K pack held: 1,000 free, 100,000 from the pack, 899,000 postpaid in (0, 300万] at 0.002:
    899,000 × 0.002 = 1798.00."""
    bill = bda.quote({"DetectBody": 600_000, "DetectBodyJoints": 400_000},
                     [HeldPack("detection", Decimal(100_000))])
    assert bill.total == Decimal("1798.00")
    example = tables(sheet(bda))[-1]
    assert example[0] == ["来源", "数量", "阶梯", "单价", "金额"]
    assert example[1] == ["免费额度", "1,000次", "—", "—", "0.00元"]
    assert example[2] == ["资源包（10万次，已预付）", "100,000次", "—", "—", "0.00元"]
    assert example[3] == ["后付费", "899,000次", "0 < 调用量 ≤ 300万", "0.002元/次", "1798.00元"]
    assert example[4] == ["合计", "1,000,000次", "—", "—", format_money(bill.total, "CNY", "zh")]
    assert ("后付费调用量为899,000次（1,000,000次扣除免费额度1,000次和资源包100,000次），落在 "
            "0 < 调用量 ≤ 300万 阶梯") in sheet(bda)
    assert "本月资源包提醒：剩余不足15%、已耗尽。" in sheet(bda)


def test_worked_example_follows_the_rules_not_a_typed_text() -> None:
    """The same sheet with 0.003 in the first bracket: 899,000 × 0.003 = 2697.00."""
    text = BDA_RULES.read_text(encoding="utf-8").replace(
        "(0, 300万]       0.002", "(0, 300万]       0.003")
    changed = sheet(ratecard.loads(text, "changed.rules"))
    assert "| 后付费 | 899,000次 | 0 < 调用量 ≤ 300万 | 0.003元/次 | 2697.00元 |" in changed
    assert "| 合计 | 1,000,000次 | — | — | 2697.00元 |" in changed


@pytest.mark.parametrize(("basis", "zh", "en"), [
    ("total", "阶梯按当月全部调用量（含免费额度和资源包抵扣的部分）选择",
     "The bracket is chosen by all calls of the month (including those covered by the free "
     "quota and packs)"),
    ("after_allowance", "阶梯按当月扣除免费额度之后的调用量（含资源包抵扣的部分）选择",
     "The bracket is chosen by the month's calls after the free quota (including those "
     "covered by packs)"),
])
def test_every_basis_is_stated(basis: str, zh: str, en: str) -> None:
    text = BDA_RULES.read_text(encoding="utf-8").replace("by postpaid", f"by {basis}")
    book = ratecard.loads(text, "basis.rules")
    assert zh in sheet(book, lang="zh")
    assert en in sheet(book, lang="en")


def test_worked_example_with_basis_total_picks_the_bracket_by_all_calls() -> None:
    text = BDA_RULES.read_text(encoding="utf-8").replace("by postpaid", "by total")
    assert "当月全部调用量为1,000,000次，落在 0 < 调用量 ≤ 300万 阶梯" in sheet(
        ratecard.loads(text, "total.rules"))


# --- other shapes of rules -------------------------------------------------------------------

SHAPED = """
rules shapes "形状" / "Shapes"
currency EUR, rounding half_up 0.01, timezone Europe/Berlin

meter storage "存储" / "Storage" unit "GB" / "GB" counts Put
meter geo "地理编码" / "Geocoding" unit "次" / "request" counts Geocode, GeocodeBatch
meter jobs "任务" / "Jobs" unit "次" / "job" counts Run

allowance 5 per month on storage
deduct allowance, postpaid

ladder volume by after_allowance per month on storage {
  (0, 100]        0.023 + 1 flat
  (100, 10M]      0.021
  (10M, inf)      contact sales
  minimum 2
  maximum 10_000
}
ladder graduated by total per month on geo {
  (0, 100k]      5.00 per 1000
  (100k, ∞)      4.00 per 1000
}
ladder graduated by postpaid per month on jobs {
  (0, 1000]      0
  (1000, ∞)      2 per block of 100 rounded up
}
"""


@pytest.fixture(scope="module")
def shaped() -> PriceBook:
    return ratecard.loads(SHAPED, "shapes.rules")


def test_other_ladder_shapes_in_zh(shaped: PriceBook) -> None:
    found = tables(sheet(shaped, lang="zh"))
    assert found[0] == [["服务", "每月免费额度"], ["存储", "5 GB"], ["地理编码", "—"],
                        ["任务", "—"]]
    assert found[1] == [
        ["月用量", "0 < 用量 ≤ 100", "100 < 用量 ≤ 1000万", "用量 > 1000万"],
        ["存储", "1欧元（固定费用） + 0.023欧元/GB", "0.021欧元/GB", "联系销售"],
    ]
    assert found[2] == [["月接口调用总量", "0 < 调用量 ≤ 10万", "调用量 > 10万"],
                        ["地理编码", "5.00欧元/1000次", "4.00欧元/1000次"]]
    assert found[3] == [["月接口调用总量", "0 < 调用量 ≤ 1000", "调用量 > 1000"],
                        ["任务", "免费", "2欧元/100次（不足100次按100次计）"]]
    text = sheet(shaped, lang="zh")
    assert "存储：每月后付费费用不低于2欧元，不足部分补足。" in text
    assert "存储：每月后付费费用最高10000欧元（封顶）。" in text
    assert "标注“联系销售”的阶梯没有公开价格，请联系销售获取报价。" in text


def test_other_ladder_shapes_in_en(shaped: PriceBook) -> None:
    found = tables(sheet(shaped, lang="en"))
    assert found[1][1] == ["Storage", "€1 flat + €0.023/GB", "€0.021/GB",
                           "contact sales"]
    assert found[2][0] == ["Monthly requests", "0 < volume ≤ 100K", "volume > 100K"]
    assert found[2][1] == ["Geocoding", "€5.00/1K requests", "€4.00/1K requests"]
    assert found[3][1] == ["Jobs", "free", "€2/100 jobs, a started 100 jobs counts whole"]
    text = sheet(shaped, lang="en")
    assert "Storage: postpaid charges are at least €2 a month; any shortfall is billed." in text
    assert "Storage: postpaid charges are capped at €10,000 a month." in text
    assert "Storage: The bracket is chosen by the month's GB after the free quota;" in text
    assert ("Geocoding: Brackets count all requests of the month, and each request is priced "
            "at the bracket it falls in (graduated).") in text
    assert ("Jobs: Brackets count the month's postpaid volume (what is left after the free "
            "quota)") not in text


def test_graduated_example_lists_each_bracket(shaped: PriceBook) -> None:
    """Geocoding (two actions, so the example's meter), 1,000,000 requests by total,
    graduated: 100,000 × 5/1000 = 500.00 and 900,000 × 4/1000 = 3600.00; the month's bill
    also holds storage's minimum of 2.00 (charged without usage): 4102.00 in all."""
    text = sheet(shaped, lang="en")
    assert ("one month with 600,000 requests of `Geocode` and 400,000 requests of "
            "`GeocodeBatch`, 1,000,000 requests in all.") in text
    assert ("| Postpaid | 100,000 requests | 0 < volume ≤ 100K | €5.00/1K requests "
            "| €500.00 |") in text
    assert ("| Postpaid | 900,000 requests | volume > 100K | €4.00/1K requests "
            "| €3,600.00 |") in text
    assert "| Storage: Minimum top-up | — | — | — | €2.00 |" in text
    assert "| Total | 1,000,000 requests | — | — | €4,102.00 |" in text
    assert ("All requests of the month come to 1,000,000 requests; graduated: 100,000 requests "
            "at €5.00/1K requests (0 < volume ≤ 100K), 900,000 requests at €4.00/1K requests "
            "(volume > 100K).") in text


@pytest.mark.parametrize("path", RULES_FILES + SHAPES, ids=lambda p: p.stem)
def test_every_rules_file_renders_without_blank_cells(path: Path) -> None:
    """Every sheet, on every day it changes (rules with dated versions), has full tables; a
    contract is a customer's terms, not a sheet, and is not rendered."""
    book = ratecard.load(path)
    if any(b.contract is not None for b in book.books):
        with pytest.raises(ValueError, match="billed under contract"):
            render(book, "md", "zh")
        return
    for day, lang in itertools.product((None, *change_days(book)), LANGS):
        result = render(book, "md", lang, day)
        assert result.text.endswith("\n") and not result.text.endswith("\n\n")
        for table in tables(result.text):
            widths = {len(row) for row in table}
            assert len(widths) == 1, table
            assert all(cell and cell != "None" for row in table for cell in row), table
        html = render(book, "html", lang, day).text
        assert html.count("<table>") == len(tables(result.text))


@st.composite
def ladder_rules(draw: st.DrawFn) -> str:
    """A rules file with one ladder of random shape, allowance and packs."""
    bounds = sorted(draw(st.sets(st.integers(1, 10**9), min_size=0, max_size=3)))
    edges = ["0", *map(str, bounds), "∞"]
    price = st.one_of(
        st.decimals(min_value=0, max_value=100, places=4).map(str),
        st.tuples(st.integers(0, 50), st.sampled_from(["100", "1000", "1M"])).map(
            lambda t: f"{t[0]} per {t[1]}"),
        st.integers(1, 100).map(lambda n: f"0.01 + {n} flat"),
        st.tuples(st.integers(1, 9), st.sampled_from(["up", "down"])).map(
            lambda t: f"{t[0]} per block of 100 rounded {t[1]}"),
        st.just("contact sales"),
    )
    brackets = "\n".join(f"  ({lo}, {hi}]  {draw(price)}".replace("∞]", "∞)")
                         for lo, hi in itertools.pairwise(edges))
    mode = draw(st.sampled_from(["volume", "graduated"]))
    basis = draw(st.sampled_from(["postpaid", "total", "after_allowance"]))
    unit = draw(st.sampled_from(['"次" / "call"', '"GB" / "GB"', '"小时" / "hour"']))
    allowance = draw(st.integers(0, 10**6))
    packs = draw(st.booleans())
    return "\n".join([
        'rules random "随机" / "Random"',
        "currency CNY, rounding half_up 0.01, timezone Asia/Shanghai",
        f'meter m "计量" / "Meter" unit {unit} counts A, B',
        f"allowance {allowance} per month on m" if allowance else "",
        "packs valid 1 year, no refund {\n  size 1万 10万\n  m 10 90\n}" if packs else "",
        "deduct allowance, packs by expiry, postpaid" if packs else "deduct allowance, postpaid",
        f"ladder {mode} by {basis} per month on m {{\n{brackets}\n}}",
        "",
    ])


@settings(max_examples=40, deadline=None)
@given(ladder_rules())
def test_any_ladder_renders_in_both_languages(text: str) -> None:
    try:
        book = ratecard.loads(text, "random.rules")
    except ratecard.RulesError:
        assume(False)
        return
    for lang in LANGS:
        result = render(book, "md", lang)
        assert result.warnings == ()
        found = tables(result.text)
        assert all(cell for table in found for row in table for cell in row)
        assert render(book, "html", lang).text.count("<table>") == len(found)


# --- names missing in a language ------------------------------------------------------------------

def test_missing_name_falls_back_with_a_warning() -> None:
    text = BDA_RULES.read_text(encoding="utf-8").replace(
        'meter search "人体搜索" / "Body search"', 'meter search "人体搜索"')
    result = render(ratecard.loads(text, "fallback.rules"), "md", "en")
    assert result.warnings == (
        "meter `search` has no en display name; the en sheet uses the zh one: 人体搜索",
    )
    assert "| 人体搜索 | CN¥18 | CN¥190 | CN¥1,800 | CN¥17,000 |" in result.text
    assert render(ratecard.loads(text, "fallback.rules"), "md", "zh").warnings == ()


def test_rules_without_the_language_warn_once() -> None:
    book = ratecard.load(ROOT / "tests" / "cases" / "valid" / "flat-and-contact.rules")
    result = render(book, "md", "zh")
    assert result.warnings == (
        "rules `storage` declare no zh display names (languages: en); the zh sheet uses the "
        "names of another language",
    )
    assert result.text.startswith("# Storage 价格说明\n")


def test_default_unit_follows_the_declared_languages() -> None:
    """A meter without `unit` counts calls: `call` in English even when English comes first."""
    book = ratecard.loads(
        'rules t "T" / "测试"\nlanguages en / zh\n'
        "currency CNY, rounding half_up 0.01, timezone UTC\n"
        'meter m "M" / "计量" counts A\n'
        "ladder volume by total per month on m {\n  (0, inf) 0.01\n}\n", "en-first.rules")
    assert tables(sheet(book, lang="en"))[0] == [["Monthly calls", "any volume"],
                                                 ["M", "CN¥0.01/call"]]
    assert tables(sheet(book, lang="zh"))[0] == [["月接口调用总量", "全部调用量"],
                                                 ["计量", "0.01元/次"]]


def test_unknown_format_or_language_is_a_value_error(bda: PriceBook) -> None:
    with pytest.raises(ValueError, match="unknown format `pdf`"):
        render(bda, "pdf", "zh")
    with pytest.raises(ValueError, match="unknown language `fr`"):
        render(bda, "md", "fr")


def test_public_api(bda: PriceBook) -> None:
    result = ratecard.render_sheet(bda, "md", "en")
    assert isinstance(result, ratecard.RenderedSheet)
    assert result.text.startswith("# Body Analysis pricing\n")


# --- HTML -------------------------------------------------------------------------------------

def test_html_is_self_contained(bda: PriceBook) -> None:
    for lang in LANGS:
        html = sheet(bda, "html", lang)
        assert html.startswith("<!DOCTYPE html>\n")
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
        assert "<style>" in html
        for needle in ("http://", "https://", "<link", "src=", "@import", "url("):
            assert needle not in html
        # the one script is the calculator's, inline, with its data (tests/test_calculator.py)
        assert re.findall(r"<script[^>]*>", html) == [
            '<script type="application/json" id="calculator-data">', "<script>"]
    assert '<html lang="zh-CN">' in sheet(bda, "html", "zh")


def test_html_escapes_what_the_rules_say() -> None:
    text = BDA_RULES.read_text(encoding="utf-8").replace('"Body search"', '"<b>Search</b> & co"')
    book = ratecard.loads(text, "escape.rules")
    html = render(book, "html", "en").text
    assert "&lt;b&gt;Search&lt;/b&gt; &amp; co" in html
    assert "<b>" not in html
    markdown = render(book, "md", "en").text
    assert "| \\<b>Search\\</b> & co | CN¥18 |" in markdown


@pytest.mark.parametrize("lang", LANGS)
def test_html_escapes_hostile_names_everywhere(lang: str) -> None:
    """Autoescape covers the title, headings, cells and sentences: no tag or entity from a name
    reaches the page, and the page has the same elements as with a plain name."""
    hostile = "<script>alert(1)</script> & <b>&amp;</b> | # x"
    html = render(ratecard.loads(named(hostile), "h.rules"), "html", lang).text
    plain = render(ratecard.loads(named("plain"), "p.rules"), "html", lang).text
    # no script but the calculator's two (its data holds meter ids, never display names)
    assert html.count("<script") == plain.count("<script") == 2 and "<b>" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;&amp;amp;&lt;/b&gt; | # x"
    assert f"<title>{escaped}" in html
    elements = re.compile(r"<(?!wbr)[a-z0-9]+")  # a cell may break after any `/`
    assert elements.findall(html) == elements.findall(plain)


def test_html_tables_match_markdown_tables(bda: PriceBook) -> None:
    html = sheet(bda, "html", "zh")
    assert html.count("<table>") == len(tables(sheet(bda)))
    assert ("<tr id=\"postpaid-detection\"><th scope=\"row\">人体检测</th><td>0.002元/<wbr>次</td>"
            "<td>0.0018元/<wbr>次</td><td>0.0015元/<wbr>次</td></tr>") in html


# --- snapshots --------------------------------------------------------------------------------

@pytest.mark.parametrize("lang", LANGS)
def test_bda_markdown_snapshot(bda: PriceBook, lang: str, snapshot: SnapshotAssertion) -> None:
    assert sheet(bda, "md", lang) == snapshot(extension_class=MarkdownSnapshot)


@pytest.mark.parametrize("lang", LANGS)
def test_bda_html_snapshot(bda: PriceBook, lang: str, snapshot: SnapshotAssertion) -> None:
    assert sheet(bda, "html", lang) == snapshot(extension_class=HtmlSnapshot)


@pytest.mark.parametrize("lang", LANGS)
def test_shapes_markdown_snapshot(
    shaped: PriceBook, lang: str, snapshot: SnapshotAssertion
) -> None:
    assert sheet(shaped, "md", lang) == snapshot(extension_class=MarkdownSnapshot)


# --- the generated sheets in docs/ ----------------------------------------------------------------

def test_generated_sheets_are_fresh(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """docs/price-sheets/ holds every sheet of every file in rules/, as `ratecard render`
    writes them (regenerate: `ratecard render rules/*.rules --out-dir docs/price-sheets`)."""
    monkeypatch.chdir(ROOT)
    code = cli.main(["render", *(f"rules/{p.name}" for p in RULES_FILES), "--check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert out == f"{len(RULES_FILES) * len(FORMATS) * len(LANGS)} sheets up to date\n"
    expected = {sheet_filename(p.stem, lang, fmt)
                for p in RULES_FILES for lang in LANGS for fmt in FORMATS}
    assert {p.name for p in SHEETS.iterdir() if p.suffix in (".md", ".html")} == expected


# --- the command line ------------------------------------------------------------------------

def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_prints_the_sheet(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["render", str(BDA_RULES), "--lang", "en"], capsys)
    assert (code, err) == (0, "")
    assert out == sheet(ratecard.load(BDA_RULES), "md", "en")


def test_cli_writes_and_checks_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "bda.en.html"
    code, out, _ = run(["render", str(BDA_RULES), "-o", str(target)], capsys)
    assert (code, out) == (0, f"{target}: written\n")
    assert target.read_text(encoding="utf-8") == sheet(ratecard.load(BDA_RULES), "html", "en")
    assert run(["render", str(BDA_RULES), "-o", str(target), "--check"], capsys) == (
        0, "1 sheet up to date\n", "")
    target.write_text(target.read_text(encoding="utf-8").replace("CN¥<wbr>88", "CN¥<wbr>89"),
                      encoding="utf-8")
    code, out, err = run(["render", str(BDA_RULES), "-o", str(target), "--check"], capsys)
    assert (code, out) == (1, f"stale: {target}\n1 sheet stale\n")
    assert err == ("ratecard: 1 price sheet is out of date with the rules; regenerate with "
                   f"`ratecard render {BDA_RULES} -o {target}`\n")


def test_cli_out_dir_and_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["render", str(BDA_RULES), "--out-dir", str(tmp_path)], capsys)
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "tencent-bda.en.html", "tencent-bda.en.md", "tencent-bda.zh.html", "tencent-bda.zh.md"]
    (tmp_path / "tencent-bda.zh.html").unlink()
    code, out, err = run(["render", str(BDA_RULES), "--out-dir", str(tmp_path), "--check"],
                         capsys)
    assert code == 1
    assert out == f"missing: {tmp_path / 'tencent-bda.zh.html'}\n1 sheet missing, 3 up to date\n"
    assert "ratecard: 1 price sheet is out of date with the rules" in err
    (tmp_path / "tencent-bda.en.md").write_text("old\n", encoding="utf-8")
    code, out, err = run(["render", str(BDA_RULES), "--out-dir", str(tmp_path), "--check"],
                         capsys)
    assert (code, out) == (1, f"stale: {tmp_path / 'tencent-bda.en.md'}\n"
                              f"missing: {tmp_path / 'tencent-bda.zh.html'}\n"
                              "1 sheet stale, 1 missing, 2 up to date\n")
    assert err.startswith("ratecard: 2 price sheets are out of date with the rules; ")


def test_cli_rules_with_errors_render_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.rules"
    broken.write_text('rules x "X"\ncurrency CNY\n', encoding="utf-8")
    target = tmp_path / "x.zh.md"
    code, out, err = run(["render", str(broken), "-o", str(target)], capsys)
    assert (code, out) == (1, "")
    assert "error[E107]: missing `rounding` setting" in err
    assert not target.exists()


def test_cli_unwritable_output_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "x.md"
    code, out, err = run(["render", str(BDA_RULES), "-o", str(target)], capsys)
    assert (code, out) == (2, "")
    assert err == f"ratecard: error: cannot write {target}: No such file or directory\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["-o", "a.md", "--out-dir", "d"], "give -o PATH or --out-dir DIR, not both"),
    (["-o", "a.md", "EXTRA"], "-o takes one rules file; use --out-dir DIR for several"),
    (["EXTRA"], "several rules files: write their sheets with --out-dir DIR"),
])
def test_cli_usage_errors(argv: list[str], message: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    files = [str(BDA_RULES)] + [str(BDA_RULES) for a in argv if a == "EXTRA"]
    flags = [a for a in argv if a != "EXTRA"]
    code, _, err = run(["render", *files, *flags], capsys)
    assert (code, err) == (2, f"ratecard: error: {message}\n")


def test_cli_prints_fallback_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "fallback.rules"
    rules.write_text(BDA_RULES.read_text(encoding="utf-8").replace(
        'meter search "人体搜索" / "Body search"', 'meter search "人体搜索"'), encoding="utf-8")
    code, out, err = run(["render", str(rules), "--lang", "en"], capsys)
    assert code == 0
    assert err == (f"ratecard: warning: {rules}: meter `search` has no en display name; "
                   "the en sheet uses the zh one: 人体搜索\n")
    assert "| 人体搜索 |" in out
