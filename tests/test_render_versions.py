"""Price sheets of rules with dated versions: the sheet in effect on a day, its effective date,
the announcement of later versions (old → new), grandfathering, `render --at`, contracts
refused, and the `changes` module the announcement is built from.

The worked example is examples/price-change/bda-2027.rules: from 2027-01-01 the first bracket
(0, 300万] of detection, library and search costs 0.0016 (was 0.002), segmentation's first
bracket (0, 1万] 0.009 (was 0.01), the 1万 detection pack 16 (was 18), and the monthly
allowance is 2,000 per meter (was 1,000).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

import ratecard
from ratecard import cli
from ratecard.changes import (
    ALLOWANCE,
    BRACKET_BOUND,
    BRACKET_PRICE,
    KINDS,
    LADDER,
    LADDER_MAXIMUM,
    LADDER_MINIMUM,
    PACK_ADDED,
    PACK_FREEZE,
    PACK_PRICE,
    PACK_REFUND,
    PACK_VALIDITY,
    PACK_WITHDRAWN,
    Change,
    changes,
)
from ratecard.engine import pricebook
from ratecard.engine.ladders import Bracket, Ladder
from ratecard.engine.pricebook import PriceBook
from ratecard.render import build_sheet, change_days, format_date, render
from tests.conftest import ROOT
from tests.test_render import HtmlSnapshot, MarkdownSnapshot

EXAMPLE = ROOT / "examples" / "price-change"
BDA_2027 = EXAMPLE / "bda-2027.rules"
ACME = EXAMPLE / "acme.rules"
BEFORE = "2026-12-15"  # the 2026 prices, with the 2027 changes announced
AFTER = "2027-02-01"  # the 2027 prices, nothing announced

# Every kind of change, and grandfathering: a shared allowance (a+b), a pack withdrawn, a pack
# price, a pack added, a moved bound and a bracket price, a minimum dropped and a maximum added,
# a ladder that changes shape (c: one volume bracket → two graduated ones), pack validity and
# refunds; then a version that keeps accounts opened before it on the previous prices.
SHOP = """\
rules shop "商店" / "Shop"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter a "甲" / "A" unit "次" / "call" counts A1
meter b "乙" / "B" unit "次" / "call" counts B1
meter c "丙" / "C" unit "次" / "call" counts C1

allowance 100 per month on a, b shared
allowance 50 per month on c
packs valid 1 year {
  size  1万  10万
  a     10   90
  b     10   -
}
ladder graduated by postpaid per month on a, b {
  (0, 1万]  0.01
  (1万, ∞)  0.008
  minimum 5
}
ladder volume by postpaid per month on c {
  (0, ∞)  0.02
}
deduct allowance, packs by expiry, postpaid

from 2027-01-01 {
  allowance 150 per month on a, b shared
  packs valid 6 months, no refund {
    size  1万  10万
    a     -    80
    b     10   95
  }
  ladder graduated by postpaid per month on a, b {
    (0, 2万]  0.01
    (2万, ∞)  0.007
    maximum 500
  }
  ladder graduated by postpaid per month on c {
    (0, 1万]  0.02
    (1万, ∞)  0.01
  }
}

from 2027-07-01 keep accounts opened before 2027-07-01 until 2028-01-01 {
  allowance 80 per month on c
}
"""


@pytest.fixture(scope="module")
def bda2027() -> PriceBook:
    return ratecard.load(BDA_2027)


@pytest.fixture(scope="module")
def shop() -> PriceBook:
    return ratecard.loads(SHOP, "shop.rules")


def sheet(book: PriceBook, at: date | datetime | str, fmt: str = "md", lang: str = "zh") -> str:
    result = render(book, fmt, lang, at)
    assert result.warnings == ()
    return result.text


def section(text: str, start: str, end: str) -> str:
    """The text from `start` up to (not including) `end`."""
    begin = text.index(start)
    return text[begin:text.index(end, begin)]


def price(lo: int, hi: int | None, value: str) -> Bracket:
    return Bracket(Decimal(lo), None if hi is None else Decimal(hi), Decimal(value))


# --- the changes module ---------------------------------------------------------------------

def test_changes_of_the_2027_version(bda2027: PriceBook) -> None:
    """Meter by meter (segmentation, detection, library, search): the allowance 1,000 → 2,000,
    the 1万 detection pack 18 → 16, the first bracket of segmentation 0.01 → 0.009 and of the
    other three 0.002 → 0.0016; nothing else changes (other packs, brackets, pack terms)."""
    first, second = bda2027.books
    thousand, two_thousand = Decimal(1000), Decimal(2000)
    assert changes(first, second) == [
        Change(ALLOWANCE, "segmentation", thousand, two_thousand),
        Change(BRACKET_PRICE, "segmentation", price(0, 10_000, "0.01"),
               price(0, 10_000, "0.009"), 0),
        Change(ALLOWANCE, "detection", thousand, two_thousand),
        Change(PACK_PRICE, "detection", Decimal(18), Decimal(16), Decimal(10_000)),
        Change(BRACKET_PRICE, "detection", price(0, 3_000_000, "0.002"),
               price(0, 3_000_000, "0.0016"), 0),
        Change(ALLOWANCE, "library", thousand, two_thousand),
        Change(BRACKET_PRICE, "library", price(0, 3_000_000, "0.002"),
               price(0, 3_000_000, "0.0016"), 0),
        Change(ALLOWANCE, "search", thousand, two_thousand),
        Change(BRACKET_PRICE, "search", price(0, 3_000_000, "0.002"),
               price(0, 3_000_000, "0.0016"), 0),
    ]


def test_changes_of_every_kind(shop: PriceBook) -> None:
    first, second, third = shop.books
    old_c = Ladder("volume", "postpaid", (price(0, None, "0.02"),))
    new_c = Ladder("graduated", "postpaid", (price(0, 10_000, "0.02"), price(10_000, None, "0.01")))
    bound = Change(BRACKET_BOUND, "a", Decimal(10_000), Decimal(20_000), 0)
    last = Change(BRACKET_PRICE, "a", price(10_000, None, "0.008"), price(20_000, None, "0.007"),
                  1)
    minimum = Change(LADDER_MINIMUM, "a", Decimal(5), None)
    maximum = Change(LADDER_MAXIMUM, "a", None, Decimal(500))
    found = changes(first, second)
    assert found == [
        Change(ALLOWANCE, "a+b", Decimal(100), Decimal(150)),
        Change(PACK_WITHDRAWN, "a", Decimal(10), None, Decimal(10_000)),
        Change(PACK_PRICE, "a", Decimal(90), Decimal(80), Decimal(100_000)),
        bound, last, minimum, maximum,
        Change(PACK_ADDED, "b", None, Decimal(95), Decimal(100_000)),
        *(Change(c.what, "b", c.old, c.new, c.key) for c in (bound, last, minimum, maximum)),
        Change(LADDER, "c", old_c, new_c),
        Change(PACK_VALIDITY, None, (1, "year"), (6, "month")),
        Change(PACK_REFUND, None, True, False),
    ]
    assert {c.what for c in found} | {ALLOWANCE, PACK_FREEZE} == set(KINDS)
    assert changes(second, third) == [Change(ALLOWANCE, "c", Decimal(50), Decimal(80))]


def test_no_changes_between_a_book_and_itself(shop: PriceBook, bda: PriceBook) -> None:
    for book in (*shop.books, bda):
        assert changes(book, book) == []


def test_changes_backwards_swap_old_and_new(shop: PriceBook) -> None:
    """Comparing the other way round gives the same records with old and new swapped (an added
    pack becomes a withdrawn one)."""
    first, second = shop.books[:2]
    swapped = {PACK_ADDED: PACK_WITHDRAWN, PACK_WITHDRAWN: PACK_ADDED}
    assert sorted(map(repr, changes(second, first))) == sorted(
        repr(Change(swapped.get(c.what, c.what), c.meter, c.new, c.old, c.key))
        for c in changes(first, second))


def test_pack_freeze_and_meters_of_one_book_only() -> None:
    """`no freeze` added is a pack_freeze record; a meter only the old book has loses each of
    its prices (books of different rules)."""
    old = ratecard.loads(SHOP.split("\nfrom ")[0], "shop.rules")
    new = ratecard.loads(SHOP.split("\nfrom ")[0]
                         .replace("packs valid 1 year {", "packs valid 1 year, no freeze {")
                         .replace('meter c "丙" / "C" unit "次" / "call" counts C1\n', "")
                         .replace("allowance 50 per month on c\n", "")
                         .replace("ladder volume by postpaid per month on c {\n"
                                  "  (0, ∞)  0.02\n}\n", ""), "shop.rules")
    assert changes(old, new) == [
        Change(ALLOWANCE, "c", Decimal(50), None),
        Change(LADDER, "c", Ladder("volume", "postpaid", (price(0, None, "0.02"),)), None),
        Change(PACK_FREEZE, None, True, False),
    ]


# --- the sheet before the change: 2026 prices, 2027 announced --------------------------------

ANNOUNCED_ZH = """\
## 价格调整预告

### 2027年1月1日起

自 2027年1月1日 起，以下价格调整生效。已购买的资源包按购买时的价格、规格和有效期使用。

| 服务 | 调整项目 | 调整前 | 调整后 |
| --- | --- | --- | --- |
| 全部服务 | 每月免费额度 | 1,000次 | 2,000次 |
| 人像分割 | 后付费 0 < 调用量 ≤ 1万 | 0.01元/次 | 0.009元/次 |
| 人体检测 | 1万次资源包 | 18元 | 16元 |
| 人体检测、人体库管理、人体搜索 | 后付费 0 < 调用量 ≤ 300万 | 0.002元/次 | 0.0016元/次 |

"""

ANNOUNCED_EN = """\
## Upcoming price changes

### From 1 January 2027

These changes take effect on 1 January 2027. Packs already bought keep the price, size and \
validity they were bought with.

| Service | Item | Before | After |
| --- | --- | --- | --- |
| All services | Free each month | 1,000 calls | 2,000 calls |
| Portrait segmentation | Postpaid, 0 < volume ≤ 10K | CN¥0.01/call | CN¥0.009/call |
| Body detection | Pack of 10K calls | CN¥18 | CN¥16 |
| Body detection, Body library management and Body search | Postpaid, 0 < volume ≤ 3M \
| CN¥0.002/call | CN¥0.0016/call |

"""


def test_zh_markdown_before_the_change(bda2027: PriceBook) -> None:
    text = sheet(bda2027, BEFORE)
    assert text.startswith(
        "# 人体分析 价格说明\n\n"
        "人体分析产品中的各项服务，提供预付费资源包、按调用量后付费两种计费模式。\n\n"
        "**以下价格适用至 2026年12月31日。**\n\n"
        "## 价格详情\n\n")
    assert "每月每种服务均有1,000次的免费调用额度" in text
    assert "| 人体检测 | 18元 | 190元 | 1800元 | 17000元 |" in text
    assert "| 人体检测 | 0.002元/次 | 0.0018元/次 | 0.0015元/次 |" in text
    assert "| 人像分割 | 0.01元/次 | 0.009元/次 | 0.008元/次 | 0.007元/次 |" in text
    # The announcement comes right after the prices, before the billing modes.
    assert section(text, "## 价格调整预告", "## 计费与结算方式") == ANNOUNCED_ZH
    # The worked example bills the 2026 prices: 1,000,000 − 1,000 − 100,000 = 899,000 × 0.002.
    assert "899,000 × 0.002元 = 1798.00元" in text


def test_en_markdown_before_the_change(bda2027: PriceBook) -> None:
    text = sheet(bda2027, BEFORE, lang="en")
    assert "**Prices in effect until 31 December 2026.**\n\n## Prices\n\n" in text
    assert "| Body detection | CN¥18 | CN¥190 | CN¥1,800 | CN¥17,000 |" in text
    assert section(text, "## Upcoming price changes", "## Billing and settlement") == ANNOUNCED_EN
    assert "899,000 × CN¥0.002 = CN¥1,798.00" in text


def test_html_before_the_change(bda2027: PriceBook) -> None:
    zh = sheet(bda2027, BEFORE, "html")
    assert ('<p class="effective"><strong>以下价格适用至 2026年12月31日。</strong></p>\n'
            "</header>") in zh
    assert ('<section class="part part-upcoming" id="upcoming">\n<h2>价格调整预告</h2>\n'
            '<div class="block block-upcoming">\n<h3>2027年1月1日起</h3>\n'
            "<p>自 2027年1月1日 起，以下价格调整生效。已购买的资源包按购买时的价格、规格和有效期"
            "使用。</p>") in zh
    for row in (
        '<tr><th scope="row">全部服务</th><td>每月免费额度</td><td>1,000次</td>'
        "<td>2,000次</td></tr>",
        '<tr><th scope="row">人像分割</th><td>后付费 0 &lt; 调用量 ≤ 1万</td>'
        "<td>0.01元/<wbr>次</td><td>0.009元/<wbr>次</td></tr>",
        '<tr><th scope="row">人体检测</th><td>1万次资源包</td><td>18元</td><td>16元</td></tr>',
        '<tr><th scope="row">人体检测、人体库管理、人体搜索</th><td>后付费 0 &lt; 调用量 ≤ 300万'
        "</td><td>0.002元/<wbr>次</td><td>0.0016元/<wbr>次</td></tr>",
    ):
        assert row in zh
    en = sheet(bda2027, BEFORE, "html", "en")
    assert ('<p class="effective"><strong>Prices in effect until 31 December 2026.</strong></p>'
            in en)
    for row in (
        '<tr><th scope="row">All services</th><td>Free each month</td><td>1,000 calls</td>'
        "<td>2,000 calls</td></tr>",
        '<tr><th scope="row">Portrait segmentation</th><td>Postpaid, 0 &lt; volume ≤ 10K</td>'
        "<td>CN¥<wbr>0.01/<wbr>call</td><td>CN¥<wbr>0.009/<wbr>call</td></tr>",
        '<tr><th scope="row">Body detection</th><td>Pack of 10K calls</td><td>CN¥<wbr>18</td>'
        "<td>CN¥<wbr>16</td></tr>",
        '<tr><th scope="row">Body detection, Body library management and Body search</th>'
        "<td>Postpaid, 0 &lt; volume ≤ 3M</td><td>CN¥<wbr>0.002/<wbr>call</td>"
        "<td>CN¥<wbr>0.0016/<wbr>call</td></tr>",
    ):
        assert row in en
    assert en.index('id="prices"') < en.index('id="upcoming"') < en.index('id="modes"')


# --- the sheet after the change: 2027 prices, nothing announced ------------------------------

def test_zh_markdown_after_the_change(bda2027: PriceBook) -> None:
    text = sheet(bda2027, AFTER)
    assert ("两种计费模式。\n\n**以下价格自 2027年1月1日 起生效。**\n\n## 价格详情\n\n") in text
    assert "每月每种服务均有2,000次的免费调用额度" in text
    assert "| 人体检测 | 16元 | 190元 | 1800元 | 17000元 |" in text
    assert "| 人像分割 | 88元 | 860元 | 7300元 | 63000元 |" in text
    assert "| 人体检测 | 0.0016元/次 | 0.0018元/次 | 0.0015元/次 |" in text
    assert "| 人像分割 | 0.009元/次 | 0.009元/次 | 0.008元/次 | 0.007元/次 |" in text
    assert "价格调整预告" not in text
    assert "调整前" not in text
    # 1,000,000 − 2,000 − 100,000 = 898,000 postpaid calls × 0.0016 = 1436.80.
    assert ("后付费调用量为898,000次（1,000,000次扣除免费额度2,000次和资源包100,000次），落在 "
            "0 < 调用量 ≤ 300万 阶梯，所有后付费调用量按0.0016元/次计费：898,000 × 0.0016元 = "
            "1436.80元。") in text


def test_en_and_html_after_the_change(bda2027: PriceBook) -> None:
    en = sheet(bda2027, AFTER, lang="en")
    assert "**Prices effective from 1 January 2027.**\n\n## Prices\n\n" in en
    assert "| Body detection | CN¥0.0016/call | CN¥0.0018/call | CN¥0.0015/call |" in en
    assert "| Body detection | CN¥16 | CN¥190 | CN¥1,800 | CN¥17,000 |" in en
    assert "every service comes with 2,000 calls free each month" in en
    assert "Upcoming" not in en
    assert "898,000 × CN¥0.0016 = CN¥1,436.80" in en
    zh_html = sheet(bda2027, AFTER, "html")
    assert '<p class="effective"><strong>以下价格自 2027年1月1日 起生效。</strong></p>' in zh_html
    assert "upcoming" not in zh_html
    en_html = sheet(bda2027, AFTER, "html", "en")
    assert ('<p class="effective"><strong>Prices effective from 1 January 2027.</strong></p>'
            in en_html)
    assert "upcoming" not in en_html


def test_a_sheet_is_the_same_on_every_day_between_changes(bda2027: PriceBook) -> None:
    """Only the version shown, not the day, is on the sheet: it changes on version days."""
    assert sheet(bda2027, "2020-01-01") == sheet(bda2027, BEFORE) == sheet(bda2027, "2026-12-31")
    assert sheet(bda2027, "2027-01-01") == sheet(bda2027, AFTER) == sheet(bda2027, "2040-06-30")
    assert change_days(bda2027) == (date(2027, 1, 1),)


def test_one_versions_book_says_from_when(bda2027: PriceBook) -> None:
    """`book.at(day)` (a version's own book, without the timeline) renders as the timeline
    does on that day."""
    version = bda2027.at(AFTER)
    assert version.version == date(2027, 1, 1) and not version.timeline
    for fmt in ("md", "html"):
        for lang in ("zh", "en"):
            assert sheet(version, "1999-01-01", fmt, lang) == sheet(bda2027, AFTER, fmt, lang)
    # The sheet as first written, on its own, is a sheet without versions: the shipped BDA
    # sheet, which bda-2027.rules copies.
    first = bda2027.at(BEFORE)
    assert first.version is None and not first.timeline
    shipped = ROOT / "docs" / "price-sheets" / "tencent-bda.zh.md"
    assert sheet(first, AFTER) == shipped.read_text("utf-8")


def test_sheets_without_versions_ignore_the_day(bda: PriceBook) -> None:
    """The shipped sheets have no versions: the same text on any day, as before versions."""
    for fmt in ("md", "html"):
        for lang in ("zh", "en"):
            plain = render(bda, fmt, lang).text
            assert render(bda, fmt, lang, "2027-02-01").text == plain
            assert render(bda, fmt, lang, date(1999, 1, 1)).text == plain
            assert "effective" not in plain and "生效" not in plain
    assert change_days(bda) == ()
    view, _ = build_sheet(bda, "zh", "2030-01-01")
    assert view.effective == ()
    assert [part.kind for part in view.parts] == ["prices", "modes", "example"]


def test_the_day_is_read_as_the_book_reads_it(bda2027: PriceBook) -> None:
    aware = datetime.fromisoformat("2026-12-31T17:00:00+00:00")  # 2027-01-01 01:00 in Shanghai
    assert sheet(bda2027, aware) == sheet(bda2027, AFTER)
    assert sheet(bda2027, date(2026, 12, 31)) == sheet(bda2027, BEFORE)
    with pytest.raises(ratecard.UsageError, match="a day is YYYY-MM-DD"):
        render(bda2027, at="2027-13-01")


class _Frozen(datetime):
    """`datetime.now` on a fixed instant: the renderer's and the command's `today`."""

    instant = datetime(2027, 2, 3, 12, 0)

    @classmethod
    def now(cls, tz: tzinfo | None = None) -> _Frozen:
        moment = cls.instant.replace(tzinfo=tz)
        return cls(moment.year, moment.month, moment.day, moment.hour, tzinfo=tz)


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> type[_Frozen]:
    monkeypatch.setattr(pricebook, "datetime", _Frozen)
    monkeypatch.setattr(cli, "datetime", _Frozen)
    monkeypatch.setattr(_Frozen, "instant", datetime(2027, 2, 3, 12, 0))
    return _Frozen


def test_default_day_is_today(bda2027: PriceBook, today: type[_Frozen]) -> None:
    assert render(bda2027).text == sheet(bda2027, "2027-02-03")
    today.instant = datetime(2026, 12, 10, 12, 0)
    assert render(bda2027, "html", "en").text == sheet(bda2027, BEFORE, "html", "en")


# --- grandfathering and several versions -----------------------------------------------------

def effective(book: PriceBook, at: str, lang: str) -> str:
    text = sheet(book, at, lang=lang)
    return section(text, "**", "\n\n## ")


@pytest.mark.parametrize(("at", "zh", "en"), [
    ("2026-12-15", "以下价格适用至 2026年12月31日。", "Prices in effect until 31 December 2026."),
    ("2027-03-01", "以下价格自 2027年1月1日 起生效，适用至 2027年6月30日。",
     "Prices effective from 1 January 2027 until 30 June 2027."),
    ("2027-08-01", "以下价格自 2027年7月1日 起生效。2027年7月1日 前开通的账号继续按调整前的价格"
     "计费至 2027年12月31日，自 2028年1月1日 起适用以下价格。",
     "Prices effective from 1 July 2027. Accounts opened before 1 July 2027 keep the previous "
     "prices until 31 December 2027; these prices apply to them from 1 January 2028."),
    ("2028-01-01", "以下价格自 2027年7月1日 起生效。", "Prices effective from 1 July 2027."),
])
def test_effective_dates(shop: PriceBook, at: str, zh: str, en: str) -> None:
    assert effective(shop, at, "zh") == f"**{zh}**"
    assert effective(shop, at, "en") == f"**{en}**"


def test_every_later_version_is_announced(shop: PriceBook) -> None:
    zh = section(sheet(shop, "2026-12-15"), "## 价格调整预告", "## 计费与结算方式")
    assert zh == """\
## 价格调整预告

### 2027年1月1日起

自 2027年1月1日 起，以下价格调整生效。已购买的资源包按购买时的价格、规格和有效期使用。

| 服务 | 调整项目 | 调整前 | 调整后 |
| --- | --- | --- | --- |
| 甲、乙（共享） | 每月免费额度 | 100次 | 150次 |
| 甲 | 1万次资源包 | 10元 | 停售 |
| 甲 | 10万次资源包 | 90元 | 80元 |
| 甲、乙 | 后付费第1档阶梯上限 | 1万次 | 2万次 |
| 甲、乙 | 后付费 调用量 > 2万 | 0.008元/次 | 0.007元/次 |
| 甲、乙 | 每月后付费最低费用 | 5元 | — |
| 甲、乙 | 每月后付费封顶 | — | 500元 |
| 乙 | 10万次资源包 | — | 95元 |
| 丙 | 后付费阶梯 | 全部调用量：0.02元/次 | 0 < 调用量 ≤ 1万：0.02元/次；调用量 > 1万：0.01元/次 |
| 全部服务 | 资源包有效期 | 一年 | 6个月 |
| 全部服务 | 资源包退款 | 支持 | 不支持 |

### 2027年7月1日起

自 2027年7月1日 起，以下价格调整生效。2027年7月1日 前开通的账号继续按调整前的价格计费至 \
2027年12月31日。

| 服务 | 调整项目 | 调整前 | 调整后 |
| --- | --- | --- | --- |
| 丙 | 每月免费额度 | 50次 | 80次 |

"""
    en = section(sheet(shop, "2027-03-01", lang="en"), "## Upcoming", "## Billing")
    assert en == """\
## Upcoming price changes

### From 1 July 2027

These changes take effect on 1 July 2027. Accounts opened before 1 July 2027 keep the previous \
prices until 31 December 2027.

| Service | Item | Before | After |
| --- | --- | --- | --- |
| C | Free each month | 50 calls | 80 calls |

"""
    assert change_days(shop) == (date(2027, 1, 1), date(2027, 7, 1), date(2028, 1, 1))


def test_every_kind_of_change_in_english(shop: PriceBook) -> None:
    text = sheet(shop, "2026-12-15", lang="en")
    rows = section(text, "| A and B (shared) | Free each month", "\n\n")
    assert rows.splitlines() == [
        "| A and B (shared) | Free each month | 100 calls | 150 calls |",
        "| A | Pack of 10K calls | CN¥10 | withdrawn |",
        "| A | Pack of 100K calls | CN¥90 | CN¥80 |",
        "| A and B | Postpaid bracket 1, upper bound | 10K calls | 20K calls |",
        "| A and B | Postpaid, volume > 20K | CN¥0.008/call | CN¥0.007/call |",
        "| A and B | Postpaid minimum a month | CN¥5 | — |",
        "| A and B | Postpaid cap a month | — | CN¥500 |",
        "| B | Pack of 100K calls | — | CN¥95 |",
        "| C | Postpaid brackets | any volume: CN¥0.02/call | 0 < volume ≤ 10K: CN¥0.02/call; "
        "volume > 10K: CN¥0.01/call |",
        "| All services | Pack validity | a year | 6 months |",
        "| All services | Pack refunds | allowed | not allowed |",
    ]


def test_pack_freeze_is_announced() -> None:
    text = SHOP.split("\nfrom ")[0] + (
        "\nfrom 2027-01-01 {\n  packs valid 1 year, no freeze {\n"
        "    size  1万\n    a  10\n  }\n}\n")
    book = ratecard.loads(text, "shop.rules")
    zh = sheet(book, "2026-12-15")
    assert "| 全部服务 | 资源包过期后剩余次数 | 冻结保留 | 作废 |" in zh
    assert "| All services | calls left when a pack expires | kept (frozen) | lost |" in sheet(
        book, "2026-12-15", lang="en")


# --- contracts are not price sheets ----------------------------------------------------------

def test_a_contract_book_is_not_rendered() -> None:
    for book in (ratecard.load_contract(ACME), ratecard.load(ACME)):
        with pytest.raises(ValueError, match="billed under contract `acme`: a contract is a "
                                             "customer's terms, not a published price sheet"):
            render(book, "md", "zh", AFTER)


def test_cli_refuses_a_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["render", str(BDA_2027), str(ACME), "--out-dir", str(tmp_path)]
    assert cli.main(argv) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"ratecard: error: {ACME} is contract `acme`: a customer's terms, not a published price "
        "sheet; render the rules file it extends (`bda-2027.rules`)\n")
    assert list(tmp_path.iterdir()) == []  # nothing written, not even the rules file's sheets
    assert cli.main(["render", str(ACME)]) == cli.EXIT_USAGE
    assert capsys.readouterr().err.count("\n") == 1


# --- the command line ------------------------------------------------------------------------

def test_cli_at(capsys: pytest.CaptureFixture[str], bda2027: PriceBook) -> None:
    assert cli.main(["render", str(BDA_2027), "--at", BEFORE, "--lang", "en"]) == cli.EXIT_OK
    assert capsys.readouterr().out == sheet(bda2027, BEFORE, lang="en")
    assert cli.main(["render", str(BDA_2027), "--at", AFTER, "--format", "html"]) == cli.EXIT_OK
    assert capsys.readouterr().out == sheet(bda2027, AFTER, "html")


def test_cli_at_on_a_sheet_without_versions(capsys: pytest.CaptureFixture[str]) -> None:
    sheets = ROOT / "docs" / "price-sheets"
    assert cli.main(["render", str(ROOT / "rules" / "tencent-bda.rules"), "--at",
                     "2030-01-01"]) == cli.EXIT_OK
    assert capsys.readouterr().out == (sheets / "tencent-bda.zh.md").read_text("utf-8")


@pytest.mark.parametrize("day", ["2027-13-01", "tomorrow", "2027-1-1"])
def test_cli_bad_day(day: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["render", str(BDA_2027), "--at", day]) == cli.EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"ratecard: error: --at {day}: a day is YYYY-MM-DD, e.g. 2027-01-01\n"


def test_cli_check_with_at(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["render", str(BDA_2027), "--out-dir", str(tmp_path)]
    assert cli.main([*base, "--at", BEFORE]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main([*base, "--at", "2026-12-31", "--check"]) == cli.EXIT_OK
    assert capsys.readouterr().out == "4 sheets up to date\n"
    assert cli.main([*base, "--at", "2027-01-01", "--check"]) == cli.EXIT_DIAGNOSTICS
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == "4 sheets stale"
    assert captured.err == (  # no note: the day is given
        "ratecard: 4 price sheets are out of date with the rules; regenerate with "
        f"`ratecard render {BDA_2027} --out-dir {tmp_path} --at 2027-01-01`\n")


def test_cli_check_notes_a_version_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], today: type[_Frozen]
) -> None:
    """A versioned sheet checked without --at is today's: generated before 2027-01-01 it is
    stale from that day on, and the command says why."""
    base = ["render", str(BDA_2027), "--out-dir", str(tmp_path), "--lang", "zh"]
    assert cli.main([*base, "--at", BEFORE]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main([*base, "--check"]) == cli.EXIT_DIAGNOSTICS  # today is 2027-02-03
    captured = capsys.readouterr()
    assert captured.out == (f"stale: {tmp_path / 'bda-2027.zh.md'}\n"
                            f"stale: {tmp_path / 'bda-2027.zh.html'}\n2 sheets stale\n")
    assert captured.err.splitlines()[0] == (
        f"ratecard: note: {BDA_2027} has dated versions: its sheet is the one in effect today, "
        "2027-02-03, and last changed on 2027-01-01; pass --at YYYY-MM-DD to render a given "
        "day's sheet")
    assert len(captured.err.splitlines()) == 2  # the note once per rules file, then the hint
    today.instant = datetime(2026, 12, 20, 9, 0)
    assert cli.main([*base, "--check"]) == cli.EXIT_OK
    assert capsys.readouterr().out == "2 sheets up to date\n"
    assert cli.main([*base, "--check", "--at", AFTER]) == cli.EXIT_DIAGNOSTICS
    assert "ratecard: note" not in capsys.readouterr().err
    assert cli.main([*base, "--at", AFTER]) == cli.EXIT_OK
    capsys.readouterr()
    assert cli.main([*base, "--check"]) == cli.EXIT_DIAGNOSTICS
    assert capsys.readouterr().err.splitlines()[0].endswith(
        "its sheet is the one in effect today, 2026-12-20, and changes next on 2027-01-01; pass "
        "--at YYYY-MM-DD to render a given day's sheet")


# --- filters and snapshots -------------------------------------------------------------------

def test_format_date() -> None:
    assert format_date(date(2027, 1, 1), "zh") == "2027年1月1日"
    assert format_date(date(2026, 12, 31), "zh") == "2026年12月31日"
    assert format_date(date(2027, 1, 1), "en") == "1 January 2027"
    assert format_date(date(2028, 9, 30), "en") == "30 September 2028"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_bda_2027_markdown_snapshot(
    bda2027: PriceBook, lang: str, snapshot: SnapshotAssertion
) -> None:
    assert sheet(bda2027, BEFORE, "md", lang) == snapshot(extension_class=MarkdownSnapshot)


def test_bda_2027_html_snapshot(bda2027: PriceBook, snapshot: SnapshotAssertion) -> None:
    assert sheet(bda2027, BEFORE, "html", "zh") == snapshot(extension_class=HtmlSnapshot)
