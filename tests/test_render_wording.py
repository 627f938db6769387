"""A published sheet's words: every sentence follows from what the rules declare, in correct
English and Chinese, under headings in order, without the project's internal words.

Every shipped and test rules file is rendered in both languages and both formats (on every day
its sheet changes); crafted rules pin the grammar of lists and of free and unpriced actions.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

import ratecard
from ratecard.engine.pricebook import PriceBook
from ratecard.render import LANGS, change_days, render
from tests.conftest import ROOT, RULES

PATHS = (sorted(RULES.glob("*.rules"))
         + sorted((ROOT / "tests" / "cases" / "valid").glob("*.rules"))
         + sorted((ROOT / "tests" / "conformance").glob("*.rules"))
         + sorted((ROOT / "examples").rglob("*.rules")))


def _sheets(path: Path) -> list[tuple[PriceBook, str, str, str]]:
    """(book, lang, Markdown, HTML) of every sheet a rules file publishes."""
    book = ratecard.load(path)
    if any(b.contract is not None for b in book.books):
        return []
    return [(book, lang, render(book, "md", lang, day).text, render(book, "html", lang, day).text)
            for day, lang in itertools.product((None, *change_days(book)), LANGS)]


@pytest.fixture(scope="module", params=PATHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def sheets(request: pytest.FixtureRequest) -> list[tuple[PriceBook, str, str, str]]:
    return _sheets(request.param)


def _prose(markdown: str) -> str:
    """The sheet's text without tables (whose cells may hold names) and code spans."""
    lines = [line for line in markdown.splitlines() if not line.startswith("|")]
    return re.sub(r"`[^`]*`", "`…`", "\n".join(lines))


def test_headings_go_down_one_level_at_a_time(
    sheets: list[tuple[PriceBook, str, str, str]],
) -> None:
    for _, _, markdown, html in sheets:
        levels = [len(m.group(1)) for m in re.finditer(r"^(#{1,6}) ", markdown, re.MULTILINE)]
        # The HTML sheet's cost calculator is a part of its own (h2, then h3), HTML only.
        calculator = re.findall(r'<section class="part part-calculator".*?</section>', html,
                                re.S)
        page = re.sub(r'<section class="part part-calculator".*?</section>', "", html,
                      flags=re.S)
        html_levels = [int(n) for n in re.findall(r"<h([1-6])[ >]", page)]
        for part in calculator:  # (a sheet the calculator refuses says so under its h2)
            assert [int(n) for n in re.findall(r"<h([1-6])[ >]", part)] == (
                [2] if "calculator-left-out" in part else [2, 3])
        assert levels == html_levels
        assert levels[0] == 1 and levels.count(1) == 1
        for before, after in itertools.pairwise(levels):
            assert after <= before + 1, (before, after)


INTERNAL = re.compile(r"evaluator|\brules `|\bmeter `|计费规则 `|评估器|ratecard", re.IGNORECASE)


def test_no_internal_words(sheets: list[tuple[PriceBook, str, str, str]]) -> None:
    """No rules id, no "evaluator", no "the rules `x`" on a published page (the generator
    meta tag of the HTML and the calculator's script, code a reader does not see, aside)."""
    for book, _, markdown, html in sheets:
        assert not INTERNAL.search(markdown), INTERNAL.search(markdown)
        body = re.sub(r"<script\b.*?</script>", "", html.split("<body>", 1)[1], flags=re.S)
        assert not INTERNAL.search(body), INTERNAL.search(body)
        actions = {a for plan in book.meters for a in plan.actions} | set(book.unpriced)
        if book.name not in actions:
            assert f"`{book.name}`" not in markdown
            assert f"<code>{book.name}</code>" not in html


def test_packs_are_mentioned_only_where_the_rules_sell_them(
    sheets: list[tuple[PriceBook, str, str, str]],
) -> None:
    for book, lang, markdown, _ in sheets:
        if any(plan.packs for plan in book.meters):
            continue
        prose = _prose(markdown)
        if lang == "en":
            assert not re.search(r"\bpacks?\b", prose, re.IGNORECASE), prose
        else:
            assert "资源包" not in prose, prose


def test_billing_modes_are_compared_only_where_there_is_a_choice(
    sheets: list[tuple[PriceBook, str, str, str]],
) -> None:
    for book, lang, markdown, _ in sheets:
        both = any(p.packs for p in book.meters) and bool(book.ladder_groups)
        for word in {"zh": ("计费与结算方式", "适用场景"),
                     "en": ("Billing and settlement", "Best for")}[lang]:
            assert (word in markdown) == both, word


def test_free_quota_is_a_free_pack_only_beside_paid_packs(
    sheets: list[tuple[PriceBook, str, str, str]],
) -> None:
    for book, lang, markdown, _ in sheets:
        packs = any(p.packs for p in book.meters)
        phrase = "免费资源包" if lang == "zh" else "free pack"
        if not packs:
            assert phrase not in markdown


def test_no_paragraph_is_said_twice(sheets: list[tuple[PriceBook, str, str, str]]) -> None:
    """A paragraph of prose appears once (the sheet with both modes restates the postpaid
    mode in its billing part, as the Tencent page does: it adds the bill's day)."""
    for _, _, markdown, _ in sheets:
        paragraphs = [p for p in markdown.split("\n\n")
                      if p and not p.startswith(("|", "#", "-", "**"))]
        assert len(paragraphs) == len(set(paragraphs)), paragraphs


def test_english_agreement(sheets: list[tuple[PriceBook, str, str, str]]) -> None:
    """One code name takes `is`, several `are`; no `at free`; a list ends with `and`."""
    for _, lang, markdown, _ in sheets:
        if lang != "en":
            continue
        prose = _prose(markdown)
        assert not re.search(r"(?<![,\w] )(?<!and )`…` are (free|charged)", prose), prose
        assert not re.search(r"`…`, `…` (are|is)", prose), prose
        assert not re.search(r"(`…` and `…`|`…`, `…`) is\b", prose), prose
        assert " at free" not in prose
        assert "paid packs is" not in prose and "free packs is" not in prose


GRAMMAR_RULES = """\
rules tasks "任务" / "Tasks"
currency USD, rounding half_up 0.01, timezone UTC
meter task "任务" / "Task" unit "次" / "call" counts CreateTask {free_actions}
{unpriced}
allowance 100 per month on task
deduct allowance, postpaid
ladder graduated by total per month on task {{
  (0, 1000]  0
  (1000, ∞)  0.5
}}
"""


def _grammar_book(free: str, unpriced: str = "") -> PriceBook:
    return ratecard.loads(GRAMMAR_RULES.format(free_actions=free, unpriced=unpriced),
                          "tasks.rules")


@pytest.fixture(scope="module")
def one_free() -> PriceBook:
    return _grammar_book("free GetTaskStatus")


def test_one_free_action_is_free(one_free: PriceBook) -> None:
    en = render(one_free, "md", "en").text
    assert ("Of the Task actions only `CreateTask` is charged; `GetTaskStatus` is free "
            "(recorded, never billed).") in en
    zh = render(one_free, "md", "zh").text
    assert ("任务相关接口中，仅`CreateTask`接口收费；`GetTaskStatus`接口免费"
            "（记录调用，不计费）。") in zh


def test_a_free_bracket_is_free_not_at_free(one_free: PriceBook) -> None:
    """1,000,000 calls, 100 of them free quota; brackets count all calls, so the postpaid
    999,900 are calls 101 to 1,000,000: 900 in (0, 1000] at 0, 999,000 in (1000, ∞) at 0.5
    = 499,500.00."""
    en = render(one_free, "md", "en").text
    assert ("graduated: 900 calls free (0 < volume ≤ 1K), 999,000 calls at $0.5/call "
            "(volume > 1K).") in en
    assert "900次按 0 < 调用量 ≤ 1000 阶梯免费" in render(one_free, "md", "zh").text


def test_lists_of_free_and_unpriced_actions() -> None:
    book = _grammar_book("free GetTaskStatus, ListTasks, DeleteTask",
                         "unpriced Export\nunpriced Import, Sync")
    en = render(book, "md", "en").text
    assert ("`GetTaskStatus`, `ListTasks` and `DeleteTask` are free (recorded, never "
            "billed).") in en
    zh = render(book, "md", "zh").text
    assert "`GetTaskStatus`、`ListTasks`、`DeleteTask`接口免费" in zh
    assert ("`Export`, `Import` and `Sync`: not priced on this page; these actions are not "
            "billed under this price sheet.") in en


def test_one_unpriced_action_is_singular() -> None:
    book = _grammar_book("", "unpriced Export")
    assert ("`Export`: not priced on this page; this action is not billed under this price "
            "sheet.") in render(book, "md", "en").text


def test_a_sheet_without_packs_describes_a_free_quota(one_free: PriceBook) -> None:
    en = render(one_free, "md", "en").text
    assert ("Every service comes with 100 calls free each month; it is used before anything "
            "is charged.") in en
    assert "Once the free quota is used up, usage moves to postpaid billing." in en
    assert "Bills are settled in this order: free quota > postpaid billing." in en
    zh = render(one_free, "md", "zh").text
    assert "您每月每种服务均有100次的免费调用额度，优先扣除。" in zh
    assert "免费额度用完后，超出部分转入后付费结算。" in zh
    assert "系统将按照免费额度 > 按量计费的顺序进行结算" in zh


def test_footer_names_no_rules_id(one_free: PriceBook) -> None:
    assert render(one_free, "md", "en").text.endswith(
        "---\n\nThis price sheet and every bill are computed from the same pricing rules, so "
        "the two cannot disagree.\n")
    assert render(one_free, "md", "zh").text.endswith(
        "---\n\n本价格说明与账单由同一份计费规则计算，二者不会不一致。\n")
