"""Publishing hooks: the vendor's name and logo, a tax note and the effective day from
`--publish FILE.toml`, templates replaced from `--template DIR`, and stable anchors per meter."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

import ratecard
from ratecard import cli
from ratecard.engine.pricebook import PriceBook
from ratecard.render import (
    LANGS,
    PublishError,
    Publishing,
    environment,
    load_publishing,
    render,
)
from ratecard.render.page import Page
from tests.conftest import ROOT, RULES

LAMBDA = RULES / "aws-lambda.rules"
BDA_2027 = ROOT / "examples" / "price-change" / "bda-2027.rules"
LOGO = (b'<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4">'
        b'<rect width="4" height="4"/></svg>')
SETTINGS = """\
vendor = { zh = "示例云", en = "Example Cloud" }
logo = "logo.svg"
tax = { zh = "以上价格不含增值税。", en = "Prices exclude VAT." }
effective = 2026-01-01
"""


def publishing(tmp_path: Path, text: str = SETTINGS, logo: bytes = LOGO,
               name: str = "logo.svg") -> Path:
    (tmp_path / name).write_bytes(logo)
    path = tmp_path / "publish.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lambda_book() -> PriceBook:
    return ratecard.load(LAMBDA)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- the publishing file --------------------------------------------------------------------

def test_publishing_file_is_read(tmp_path: Path) -> None:
    settings = load_publishing(publishing(tmp_path))
    assert settings.vendor_in("zh") == "示例云" and settings.vendor_in("en") == "Example Cloud"
    assert settings.tax_in("en") == "Prices exclude VAT."
    assert settings.effective is not None and settings.effective.isoformat() == "2026-01-01"
    assert settings.logo == "data:image/svg+xml;base64," + base64.b64encode(LOGO).decode()


def test_one_string_serves_every_language(tmp_path: Path) -> None:
    settings = load_publishing(publishing(tmp_path, 'vendor = "ACME"\ntax = "VAT included."\n'))
    assert [settings.vendor_in(lang) for lang in LANGS] == ["ACME", "ACME"]
    assert settings.logo == "" and settings.effective is None


@pytest.mark.parametrize(("text", "message"), [
    ('vendor = "A"\ncolour = "red"\n', "unknown key `colour`; the keys are vendor, logo, tax, "
                                       "effective"),
    ('effective = "2026-01-01"\n', "`effective` is a day, written 2026-01-01 (no quotes)"),
    ("effective = 2026-01-01T10:00:00\n", "`effective` is a day"),
    ('vendor = 3\n', "`vendor` is a string, or a table of strings by language"),
    ('tax = { fr = "TVA" }\n', "`tax` has a text in `fr`; the languages are zh, en"),
    ('vendor = "A\\nB"\n', "`vendor` is one line of text, not empty"),
    ('vendor = " "\n', "`vendor` is one line of text, not empty"),
    ('logo = "logo.svg"\n', "a `logo` needs a `vendor`"),
    ('vendor = "A"\nlogo = "missing.svg"\n', "cannot read logo"),
    ('vendor = "A"\nlogo = "logo.gif"\n', "use an image of type .jpeg, .jpg, .png, .svg, .webp"),
    ("vendor = \n", "not a TOML file"),
])
def test_bad_publishing_files(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(PublishError, match=re.escape(message)):
        load_publishing(publishing(tmp_path, text))


def test_a_big_logo_is_refused(tmp_path: Path) -> None:
    path = publishing(tmp_path, 'vendor = "A"\nlogo = "logo.png"\n', b"\x89PNG" + bytes(40_000),
                      "logo.png")
    with pytest.raises(PublishError, match=r"logo .* is 40,004 bytes; at most 32 KiB"):
        load_publishing(path)


# --- on the sheet ---------------------------------------------------------------------------

def test_published_sheet_in_markdown(tmp_path: Path, lambda_book: PriceBook) -> None:
    settings = load_publishing(publishing(tmp_path))
    en = render(lambda_book, "md", "en", publish=settings).text
    assert en.startswith(
        "# AWS Lambda pricing\n\n*Example Cloud*\n\nAWS Lambda services are billed postpaid by "
        "volume.\n\n**Prices effective from 1 January 2026.**\n\nPrices exclude VAT.\n\n"
        "## Prices\n")
    zh = render(lambda_book, "md", "zh", publish=settings).text
    assert "*示例云*\n\n" in zh
    assert "**以下价格自 2026年1月1日 起生效。**\n\n以上价格不含增值税。\n\n## 价格详情" in zh


def test_published_sheet_in_html(tmp_path: Path, lambda_book: PriceBook) -> None:
    settings = load_publishing(publishing(tmp_path))
    html = render(lambda_book, "html", "en", publish=settings).text
    assert (f'<p class="vendor"><img src="{settings.logo}" alt="" height="40">'
            "<span>Example Cloud</span></p>\n<h1>AWS Lambda pricing</h1>") in html
    assert '<p class="tax">Prices exclude VAT.</p>' in html
    assert ('<p class="effective"><strong>Prices effective from 1 January 2026.</strong></p>'
            in html)
    # still one file: the logo is inline, nothing is fetched
    assert not re.search(r'(src|href)="(?!data:|#)', html)


def test_without_publishing_the_sheet_is_unchanged(lambda_book: PriceBook) -> None:
    shipped = ROOT / "docs" / "price-sheets" / "aws-lambda.en.html"
    assert render(lambda_book, "html", "en", publish=Publishing()).text == \
        shipped.read_text("utf-8")


def test_publishing_text_is_escaped(lambda_book: PriceBook) -> None:
    hostile = Publishing(vendor={"": "<script>x</script> | # *y*"}, tax={"": "<b>VAT</b>"})
    html = render(lambda_book, "html", "en", publish=hostile).text
    assert "<script>x" not in html and "<b>VAT" not in html
    assert "<span>&lt;script&gt;x&lt;/script&gt; | # *y*</span>" in html
    md = render(lambda_book, "md", "en", publish=hostile).text
    assert "*\\<script>x\\</script> \\| \\# \\*y\\**" in md


def test_rules_with_versions_state_their_own_effective_days(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    settings = load_publishing(publishing(tmp_path))
    with pytest.raises(ValueError, match="dated versions"):
        render(ratecard.load(BDA_2027), "md", "en", "2026-12-15", publish=settings)
    code, out, err = run(["render", str(BDA_2027), "--at", "2026-12-15", "--publish",
                          str(tmp_path / "publish.toml")], capsys)
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.startswith(f"ratecard: error: --publish {tmp_path / 'publish.toml'}: these rules "
                          "have dated versions")
    # without `effective` the versioned sheet takes the vendor's name and tax note
    (tmp_path / "publish.toml").write_text('vendor = "ACME"\ntax = "VAT included."\n', "utf-8")
    code, out, _ = run(["render", str(BDA_2027), "--at", "2026-12-15", "--lang", "en",
                        "--publish", str(tmp_path / "publish.toml")], capsys)
    assert code == cli.EXIT_OK
    assert ("*ACME*\n\nEvery Body Analysis service can be paid for in two ways: prepaid packs, "
            "or postpaid by volume.\n\n**Prices in effect until 31 December 2026.**\n\n"
            "VAT included.\n\n") in out


def test_cli_publish_writes_and_checks(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    settings = publishing(tmp_path)
    out_dir = tmp_path / "site"
    argv = ["render", str(LAMBDA), "--out-dir", str(out_dir), "--publish", str(settings)]
    assert run(argv, capsys)[0] == cli.EXIT_OK
    assert "Example Cloud" in (out_dir / "aws-lambda.en.html").read_text("utf-8")
    assert run([*argv, "--check"], capsys) == (cli.EXIT_OK, "4 sheets up to date\n", "")
    # the same files checked without the settings are stale
    code, out, _ = run(["render", str(LAMBDA), "--out-dir", str(out_dir), "--check"], capsys)
    assert code == 1 and out.endswith("4 sheets stale\n")
    (tmp_path / "publish.toml").write_text('vendor = "ACME"\n', "utf-8")
    code, _, err = run([*argv, "--check"], capsys)
    assert code == 1
    assert err.endswith(f"regenerate with `ratecard render {LAMBDA} --out-dir {out_dir} "
                        f"--publish {settings}`\n")


def test_cli_bad_publishing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = publishing(tmp_path, 'vendor = "A"\nlogo = "nope.png"\n')
    code, out, err = run(["render", str(LAMBDA), "--publish", str(path)], capsys)
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.startswith(f"ratecard: error: --publish {path}: cannot read logo ")
    assert err.count("\n") == 1


# --- templates ------------------------------------------------------------------------------

def test_template_directory_replaces_the_stylesheet(tmp_path: Path,
                                                    lambda_book: PriceBook) -> None:
    (tmp_path / "sheet.css").write_text("body { color: rebeccapurple; }\n", "utf-8")
    html = render(lambda_book, "html", "en", templates=tmp_path).text
    # The custom stylesheet replaces the built-in one; the calculator's own rules follow it.
    assert "<style>\nbody { color: rebeccapurple; }\n" in html
    assert "--accent:" not in html  # the built-in stylesheet's definitions are gone
    # the Markdown template is still the built-in one
    assert render(lambda_book, "md", "en", templates=tmp_path).text == \
        render(lambda_book, "md", "en").text


def test_template_extends_the_default(tmp_path: Path, lambda_book: PriceBook) -> None:
    (tmp_path / "sheet.html").write_text(
        '{% extends "default/sheet.html" %}\n'
        '{% block head %}<link rel="icon" href="data:,">{% endblock %}\n'
        "{% block footer %}{{ super() }}<p>{{ sheet.title }} · Example Cloud Ltd.</p>"
        "{% endblock %}\n", "utf-8")
    html = render(lambda_book, "html", "en", templates=tmp_path).text
    assert '<link rel="icon" href="data:,"></head>' in html
    assert "<p>AWS Lambda pricing · Example Cloud Ltd.</p></footer>" in html
    default = render(lambda_book, "html", "en").text
    assert html.count("<table>") == default.count("<table>") > 0
    assert environment(str(tmp_path)) is environment(str(tmp_path))
    assert environment(str(tmp_path)) is not environment()


def test_cli_template_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["render", str(LAMBDA), "--template", str(tmp_path / "none")], capsys)
    assert (code, err) == (cli.EXIT_USAGE,
                           f"ratecard: error: --template {tmp_path / 'none'}: not a directory\n")
    (tmp_path / "sheet.md").write_text("# {{ sheet.title }\n", "utf-8")
    code, out, err = run(["render", str(LAMBDA), "--template", str(tmp_path)], capsys)
    assert (code, out) == (cli.EXIT_USAGE, "")
    assert err.startswith(f"ratecard: error: --template {tmp_path}: ")
    assert "sheet.md:1: " in err and err.count("\n") == 1


# --- anchors --------------------------------------------------------------------------------

@pytest.mark.parametrize("path", sorted(RULES.glob("*.rules")), ids=lambda p: p.stem)
def test_every_meter_has_a_stable_anchor(path: Path) -> None:
    """`#meter-NAME` on the first row naming a meter, `#postpaid-NAME` (`prepaid-`, `free-`)
    on each of its rows: unique ids, the rules' identifiers, the same in both languages."""
    book = ratecard.load(path)
    ids = {}
    for lang in LANGS:
        html = render(book, "html", lang).text
        found = re.findall(r' id="([^"]+)"', html)
        assert len(found) == len(set(found)), found
        ids[lang] = found
        cells = Page(book, lang).cells  # shown in a price table's cells: no row of their own
        for plan in book.meters:
            if plan.name in cells:
                continue
            assert found.count(f"meter-{plan.name}") == 1
            if plan.ladder is not None:
                assert f"postpaid-{plan.name}" in found
            if plan.packs:
                assert f"prepaid-{plan.name}" in found
    assert ids["zh"] == ids["en"]


def test_anchor_sits_on_the_meters_row(lambda_book: PriceBook) -> None:
    html = render(lambda_book, "html", "en").text
    assert ('<tr id="free-duration"><th scope="row" id="meter-duration">Duration</th>'
            "<td>400,000 GB-seconds</td></tr>") in html
    assert '<tr id="postpaid-duration"><th scope="row">Duration</th>' in html


def test_the_documented_publishing_file_loads(tmp_path: Path) -> None:
    """docs/rendering.md's example file, as written there (with a logo beside it)."""
    doc = (ROOT / "docs" / "rendering.md").read_text("utf-8")
    block = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert block is not None
    settings = load_publishing(publishing(tmp_path, block.group(1)))
    assert (settings.vendor_in("en"), settings.tax_in("zh")) == ("Example Cloud",
                                                                 "以上价格不含增值税。")
    assert settings.logo.startswith("data:image/svg+xml;base64,")
    assert settings.effective is not None and settings.effective.isoformat() == "2026-01-01"
