"""Price sheets: a PriceBook → view models of formatted strings → Jinja2 templates (md, html).

Three layers, each testable alone:

- filters (`render.filters`): `format_quantity`, `format_count`, `format_money`,
  `format_unit_price`, `format_bracket`, `format_percent` turn exact Decimals into the strings a
  sheet shows (1万次 / 10K calls, 88元 / CN¥88, 0.002元/次 / $0.002/call,
  0 < 调用量 ≤ 300万), and `format_date` a day (2027年1月1日 / 1 January 2027), on Babel's
  CLDR data;
- view models (`render.view`): `SheetView` and its parts hold only strings (and `Piece`s, text
  marked as code); `build_sheet` (`render.sheet`) fills them from a PriceBook and the message
  catalogue `templates/messages.toml`, a module per section: the free quota
  (`render.allowance`), packs (`render.packs`), ladders (`render.ladders`), notes
  (`render.notes`), dated versions and the changes to come (`render.versions`), the billing
  modes (`render.modes`) and the worked example, computed with the evaluator itself
  (`render.example`, `PriceBook.quote`); what they share is the `Page` being written
  (`render.page`: words, names, formatting);
- the one Environment (`environment()`) with the templates `sheet.md` and `sheet.html`
  (`environment(DIR)`: a directory's templates ahead of them).

`render(..., publish=load_publishing(FILE))` adds a vendor's name, logo, tax note and effective
day (`render.publish`).

The HTML sheet also carries the cost calculator (`render.calculator`): the sheet's price book
compiled for a JavaScript evaluator (`templates/calculator.js`), with its form
(`calculator.html`).

A display name missing in the requested language falls back to another language (or the
identifier) and is reported in `RenderedSheet.warnings`; a sheet never shows a blank name.
"""

from __future__ import annotations

import functools
import unicodedata
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import attrs
import markupsafe

from ratecard.diagnostics import is_control
from ratecard.engine.pricebook import PriceBook
from ratecard.render.calculator import calculator
from ratecard.render.filters import (
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
)
from ratecard.render.publish import PublishError, Publishing, load_publishing
from ratecard.render.sheet import HTML_LANG, LANGS, build_sheet
from ratecard.render.versions import Dated, change_days, dated
from ratecard.render.view import (
    Block,
    Part,
    Piece,
    RenderedSheet,
    Rich,
    SheetView,
    Table,
    plain_text,
)

if TYPE_CHECKING:
    import jinja2

__all__ = [
    "FORMATS", "HTML_LANG", "LANGS", "TEMPLATES", "Block", "Dated", "Part", "Piece",
    "PublishError", "Publishing", "RenderedSheet", "Rich", "SheetView", "Table", "build_sheet",
    "change_days", "dated", "environment", "format_bracket", "format_count", "format_date",
    "format_money", "format_percent", "format_quantity", "format_unit_price",
    "load_publishing", "md_escape", "messages", "plain_text", "plural", "published", "render",
    "sheet_filename", "sheet_kind",
]

FORMATS = ("md", "html")
TEMPLATES = {"md": "sheet.md", "html": "sheet.html"}


# --- the environment -------------------------------------------------------------------------

def _md_rich(rich: Rich) -> str:
    return "".join(f"`{p.text}`" if p.code and _code_span_safe(p.text)
                   else md_escape(p.text, starts_line=not i) for i, p in enumerate(rich))


def _code_span_safe(text: str) -> bool:
    """Whether `text` can stand in a code span as it is: identifiers always can; a backtick
    would end the span and a line break would end the line."""
    return "`" not in text and not any(is_control(ch) for ch in text)


def _html_rich(rich: Rich) -> markupsafe.Markup:
    out = markupsafe.Markup()
    for piece in rich:
        if piece.code:
            out += markupsafe.Markup("<code>{}</code>").format(piece.text)
        else:
            out += markupsafe.escape(piece.text)
    return out


def _html_cell(text: str) -> markupsafe.Markup:
    """A table cell's text, escaped, with a line-break opportunity after each `/` and after a
    currency symbol before a digit (so that `CN¥0.0018/call` can wrap on a phone instead of
    widening the table)."""
    out = markupsafe.Markup()
    for index, char in enumerate(text):
        if index and char.isdigit() and unicodedata.category(text[index - 1]) == "Sc":
            out += markupsafe.Markup("<wbr>")
        out += markupsafe.escape(char)
        if char == "/":
            out += markupsafe.Markup("<wbr>")
    return out


@functools.cache
def environment(templates: str | None = None) -> jinja2.Environment:
    """The one Environment: package templates, strict undefined, autoescape for HTML only.

    With `templates`, a directory: a template there (`sheet.html`, `sheet.md`, `sheet.css`)
    replaces the package's of that name, and can extend the package's own as
    `default/sheet.html` (filling its blocks `head`, `header` and `footer`)."""
    import jinja2  # here, not at the top: commands that render nothing do not pay for it

    package = jinja2.PackageLoader("ratecard", "templates")
    loader: jinja2.BaseLoader = package
    if templates is not None:
        loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates), package,
                                      jinja2.PrefixLoader({"default": package})])
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            default_for_string=False, default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({
        "quantity": format_quantity,
        "count": format_count,
        "money": format_money,
        "unit_price": format_unit_price,
        "bracket": format_bracket,
        "percent": format_percent,
        "date": format_date,
        "md": md_escape,
        "md_rich": _md_rich,
        "html_rich": _html_rich,
        "html_cell": _html_cell,
    })
    return env


def render(
    book: PriceBook, fmt: str = "md", lang: str = "zh",
    at: date | datetime | str | None = None, *,
    publish: Publishing | None = None, templates: str | Path | None = None,
) -> RenderedSheet:
    """A book's price sheet as Markdown or HTML, in Chinese or English.

    A sheet with dated versions shows the prices in effect on the day `at` (a `date`, an aware
    `datetime` or `YYYY-MM-DD`; default: today in the rules' timezone), says from when, and
    announces the later versions' changes; a sheet without versions ignores `at`.
    The HTML sheet's cost calculator quotes those same prices.

    `publish` (`load_publishing(FILE)`) adds the vendor's name and logo, a tax note, and for
    rules without dated versions the day the prices take effect; `templates` is a directory
    whose templates replace the package's of the same name (see `environment`).

    ValueError for an unknown format or language, a book billed under a contract, or an
    effective day given for rules with dated versions (they state their own); UsageError for a
    day that is not one; jinja2.TemplateError for a template of `templates` that fails. Names
    missing in `lang` fall back to the other language and are listed in `.warnings`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format `{fmt}`; use one of {', '.join(FORMATS)}")
    view, warnings = build_sheet(book, lang, at)
    if publish is not None:
        view = published(view, book, publish)
    # The HTML sheet's calculator quotes the prices of the sheet shown (in effect on `at`).
    shown = calculator(dated(book, at)[0], lang) if fmt == "html" else None
    env = environment(None if templates is None else str(templates))
    text = env.get_template(TEMPLATES[fmt]).render(sheet=view, calculator=shown)
    return RenderedSheet(text, warnings)


def published(view: SheetView, book: PriceBook, publish: Publishing) -> SheetView:
    """The view with a vendor's publishing settings: name, logo, tax note, effective day."""
    effective = view.effective
    if publish.effective is not None:
        if book.timeline or book.version is not None:
            raise ValueError("these rules have dated versions, which say from when each "
                             "version's prices apply: leave `effective` out of the publishing "
                             "settings")
        sentence = messages(view.lang)["effective_from"].format(
            day=format_date(publish.effective, view.lang))
        effective = (*effective, (Piece(sentence),))
    return attrs.evolve(view, vendor=publish.vendor_in(view.lang), logo=publish.logo,
                        tax=publish.tax_in(view.lang), effective=effective)


def sheet_filename(stem: str, lang: str, fmt: str) -> str:
    """The conventional file name of a generated sheet: `tencent-bda.zh.md`."""
    return f"{stem}.{lang}.{fmt}"


def sheet_kind(filename: str) -> tuple[str | None, str | None]:
    """The format and language a conventional file name says: `x.zh.md` → ("md", "zh")."""
    parts = filename.split(".")
    fmt = parts[-1] if len(parts) > 1 and parts[-1] in FORMATS else None
    lang = parts[-2] if len(parts) > 2 and parts[-2] in LANGS else None
    return fmt, lang
