"""Accessibility of the HTML sheet.

Structure, in Python, for every shipped, test and example rules file: the page's language,
headings in order, every table with a caption, column and row headers with their scope, a
keyboard-reachable and named region around each table, a logo's text alternative.

Then axe-core (vendored in tests/vendor/axe-core/, MPL-2.0) in headless chromium, as the
browser test runs it: the shipped sheets, in both languages and in the light and the dark
colour scheme, plus a published sheet with a logo, have no violation of its WCAG 2 A/AA and
best-practice rules (contrast included); a page with planted faults shows that the check sees
them. Skipped, saying why, without chromium.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard.render import LANGS, Publishing, render
from tests.conftest import ROOT, RULES
from tests.test_render_browser import BROWSER, chromium

AXE = ROOT / "tests" / "vendor" / "axe-core" / "axe.min.js"
SHIPPED = sorted(RULES.glob("*.rules"))
PATHS = (SHIPPED + sorted((ROOT / "tests" / "cases" / "valid").glob("*.rules"))
         + sorted((ROOT / "tests" / "conformance").glob("*.rules"))
         + sorted((ROOT / "examples").rglob("*.rules")))


class _Elements(HTMLParser):
    """Every start tag with its attributes and the text up to its end, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: dict[int, str] = {}
        self._open: list[tuple[str, int]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in ("wbr", "img", "meta", "br", "link"):
            self._open.append((tag, len(self.elements) - 1))
            self.text[len(self.elements) - 1] = ""

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            name, _ = self._open.pop()
            if name == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, index in self._open:
            self.text[index] += data


def parsed(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    return parser


def _pages(path: Path) -> list[tuple[str, str]]:
    book = ratecard.load(path)
    if any(b.contract is not None for b in book.books):
        return []
    return [(lang, render(book, "html", lang).text) for lang in LANGS]


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_html_structure_is_accessible(path: Path) -> None:
    for lang, page in _pages(path):
        found = parsed(page)
        tags = [tag for tag, _ in found.elements]
        html_attrs = found.elements[tags.index("html")][1]
        assert html_attrs["lang"] == {"zh": "zh-CN", "en": "en"}[lang]
        # headings: one h1, then down one level at a time, none empty
        levels = [int(tag[1]) for tag in tags if re.fullmatch(r"h[1-6]", tag)]
        assert levels[0] == 1 and levels.count(1) == 1
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels))
        ids = [a["id"] for _, a in found.elements if "id" in a]
        assert len(ids) == len(set(ids)), ids
        tables = [i for i, (tag, _) in enumerate(found.elements) if tag == "table"]
        assert tables
        for index in tables:
            wrap_tag, wrap = found.elements[index - 1]
            assert (wrap_tag, wrap["role"], wrap["tabindex"]) == ("div", "region", "0")
            caption_tag, caption = found.elements[index + 1]
            assert caption_tag == "caption" and found.text[index + 1].strip()
            assert wrap["aria-labelledby"] == caption["id"]
        cells = [(tag, a) for tag, a in found.elements if tag in ("th", "td")]
        assert all(a.get("scope") in ("col", "row") for tag, a in cells if tag == "th")
        # every body row starts with its row header; every head cell is a column header
        rows = re.findall(r"<tr[^>]*>(.*?)</tr>", page, re.DOTALL)
        for row in rows:
            assert row.startswith(('<th scope="col">', "<th scope=\"row\"")), row[:80]
        assert all(a.get("alt") is not None for tag, a in found.elements if tag == "img")


def test_table_captions_say_what_the_table_is() -> None:
    book = ratecard.load(RULES / "aws-lambda.rules")
    captions = re.findall(r'<caption id="(table-\d+)" class="visually-hidden">(.*?)</caption>',
                          render(book, "html", "en").text)
    assert captions == [("table-1", "Free quota"), ("table-2", "Postpaid: Requests"),
                        ("table-3", "Postpaid: Duration"), ("table-4", "Worked example")]
    zh = re.findall(r"<caption [^>]*>(.*?)</caption>", render(book, "html", "zh").text)
    assert zh == ["免费额度", "后付费：请求", "后付费：执行时长", "计费示例"]


# --- axe-core in the browser -------------------------------------------------------------------

_RUN_AXE = """<script>
axe.run(document, {resultTypes: ["violations"]}).then(result => {
  const out = document.createElement("pre");
  out.id = "axe-result";
  out.textContent = JSON.stringify(result.violations.map(v => ({
    id: v.id, impact: v.impact,
    nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)})));
  document.body.appendChild(out);
}, error => {
  const out = document.createElement("pre");
  out.id = "axe-result";
  out.textContent = JSON.stringify([{id: "axe-error", impact: "", nodes: [String(error)]}]);
  document.body.appendChild(out);
});
</script>"""
# Chromium's blink setting for prefers-color-scheme: 0 is dark, 1 light.
SCHEMES = {"light": "1", "dark": "0"}


def axe_violations(tmp: Path, page: str, scheme: str = "light") -> list[dict[str, Any]]:
    """The violations axe-core finds in a copy of the page (the sheet itself holds no script:
    the copy gets axe and a runner before `</body>`)."""
    script = AXE.read_text(encoding="utf-8").replace("</script", "<\\/script")
    tested = page.replace("</body>", f"<script>{script}</script>{_RUN_AXE}</body>", 1)
    target = tmp / f"axe-{len(list(tmp.iterdir()))}.html"
    target.write_text(tested, encoding="utf-8")
    result = chromium(tmp, target, "--window-size=1280,900", "--virtual-time-budget=30000",
                      f"--blink-settings=preferredColorScheme={SCHEMES[scheme]}",
                      "--dump-dom")
    found = re.search(r'<pre id="axe-result">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found, f"axe printed nothing: {result.stderr[-2000:]}"
    violations: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
    return violations


needs_browser = pytest.mark.skipif(
    BROWSER is None,
    reason="no chromium on this machine (install it with `apt-get install -y chromium`, "
    "as .ci/run does, or set RATECARD_CHROMIUM)",
)


# Two runs in the quick suite (a few seconds each); every sheet, language and scheme in the
# slow one (.ci/run runs both).
QUICK = {("tencent-bda", "zh", "light"), ("aws-lambda", "en", "dark")}
AXE_CASES = [
    pytest.param(path, lang, scheme, id=f"{path.stem}-{lang}-{scheme}",
                 marks=() if (path.stem, lang, scheme) in QUICK else pytest.mark.slow)
    for path in SHIPPED for lang in LANGS for scheme in SCHEMES
]


@needs_browser
@pytest.mark.parametrize(("path", "lang", "scheme"), AXE_CASES)
def test_axe_finds_nothing(path: Path, lang: str, scheme: str, tmp_path: Path) -> None:
    page = render(ratecard.load(path), "html", lang).text
    assert axe_violations(tmp_path, page, scheme) == []


@needs_browser
def test_axe_finds_nothing_on_a_published_sheet(tmp_path: Path) -> None:
    logo = ("data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIH"
            "dpZHRoPSI0IiBoZWlnaHQ9IjQiLz4=")
    publish = Publishing(vendor={"": "Example Cloud"}, tax={"": "Prices exclude VAT."},
                         logo=logo)
    page = render(ratecard.load(RULES / "tencent-bda.rules"), "html", "en",
                  publish=publish).text
    assert axe_violations(tmp_path, page) == []


@needs_browser
def test_axe_sees_planted_faults(tmp_path: Path) -> None:
    """The check is live: a page without its language and with a pale text colour is
    reported for both."""
    page = render(ratecard.load(RULES / "aws-lambda.rules"), "html", "en").text
    broken = (page.replace('<html lang="en">', "<html>")
              .replace("--muted: #52606d;", "--muted: #d0d4d8;", 1))
    found = {v["id"] for v in axe_violations(tmp_path, broken)}
    assert {"html-has-lang", "color-contrast"} <= found
