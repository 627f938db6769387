"""The HTML price sheet in a real browser (Debian's chromium, headless).

The page is laid out at phone and desktop widths, each in an iframe of that width (headless
chromium's window is never narrower than 500 px, an iframe is exactly as wide as asked); a script
in the harness page, not in the sheet, measures it and writes the result into the DOM, which
`--dump-dom` prints. Screenshots of the sheet are kept under docs/ (`pytest --snapshot-update`
refreshes them).

Skipped, saying why, only where no chromium can be found: `.ci/run` installs it.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ratecard.engine.pricebook import PriceBook
from ratecard.render import LANGS, render
from tests.conftest import ROOT
from tests.test_render import tables

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
BROWSER = os.environ.get("RATECARD_CHROMIUM") or next(
    (found for found in map(shutil.which, BROWSERS) if found), None)

pytestmark = pytest.mark.skipif(
    BROWSER is None,
    reason="no chromium on this machine (install it with `apt-get install -y chromium`, "
    "as .ci/run does, or set RATECARD_CHROMIUM)",
)

PHONE_WIDTHS = (360, 390)
WIDTHS = (320, *PHONE_WIDTHS, 1280)
SCREENSHOTS = {"zh": (ROOT / "docs" / "price-sheet.zh.png", 1280),
               "en": (ROOT / "docs" / "price-sheet.en-phone.png", 390)}

_MEASURE = """
<script>
window.addEventListener("load", () => {
  const frames = [...document.querySelectorAll("iframe")].map(frame => {
    const doc = frame.contentDocument;
    return {
      lang: frame.dataset.lang,
      width: frame.clientWidth,
      scrollWidth: doc.documentElement.scrollWidth,
      height: doc.documentElement.scrollHeight,
      tables: [...doc.querySelectorAll("table")].map(table => ({
        rows: [...table.rows].map(row => [...row.cells].map(cell => cell.textContent.trim())),
        width: table.scrollWidth,
        room: table.parentElement.clientWidth,
      })),
    };
  });
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify(frames);
  document.body.appendChild(out);
});
</script>
"""


def chromium(tmp: Path, page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    assert BROWSER is not None
    profile = tmp / f"profile-{len(list(tmp.iterdir()))}"
    command = [
        BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars", *flags,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def frame(sheet: str, width: int, height: int, lang: str = "") -> str:
    return (f'<iframe data-lang="{lang}" width="{width}" height="{height}" '
            f'style="border:0;display:block" srcdoc="{html.escape(sheet, quote=True)}"></iframe>')


@pytest.fixture(scope="module")
def sheets(bda: PriceBook) -> dict[str, str]:
    return {lang: render(bda, "html", lang).text for lang in LANGS}


@pytest.fixture(scope="module")
def measured(
    sheets: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("browser")
    frames = "".join(frame(sheets[lang], width, 900, lang) for lang in LANGS for width in WIDTHS)
    harness = tmp / "harness.html"
    harness.write_text(f'<!DOCTYPE html><html><body style="margin:0">{frames}{_MEASURE}'
                       "</body></html>", encoding="utf-8")
    result = chromium(tmp, harness, "--window-size=1400,900", "--dump-dom")
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found, f"the browser printed no measurements: {result.stderr[-2000:]}"
    data: list[dict[str, Any]] = json.loads(html.unescape(found.group(1)))
    assert len(data) == len(LANGS) * len(WIDTHS)
    return data


def test_the_tables_are_there(measured: list[dict[str, Any]], bda: PriceBook) -> None:
    """Every table of the Markdown sheet, cell for cell, in the laid-out page, in both
    languages and at every width."""
    for page in measured:
        expected = tables(render(bda, "md", page["lang"]).text)
        shown = [[[cell.replace("\\", "") for cell in row] for row in table["rows"]]
                 for table in page["tables"]]
        assert shown == expected, (page["lang"], page["width"])
    zh = next(p for p in measured if p["lang"] == "zh")
    assert zh["tables"][0]["rows"][0] == ["资源包规格", "1万次", "10万次", "100万次", "1000万次"]


def test_nothing_overflows(measured: list[dict[str, Any]]) -> None:
    """The page never scrolls sideways; on phones (360 px and up) and on a desktop no table
    needs to scroll inside its frame either."""
    for page in measured:
        where = f"{page['lang']} at {page['width']} px"
        assert page["width"] in WIDTHS
        assert page["scrollWidth"] <= page["width"], where
        if page["width"] >= min(PHONE_WIDTHS):
            for table in page["tables"]:
                assert table["width"] <= table["room"], (where, table["rows"][0])


_COMPARE = """
<script>
function pixels(img, scale, mark) {
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(img.naturalWidth / scale));
  canvas.height = Math.max(1, Math.round(img.naturalHeight / scale));
  const context = canvas.getContext("2d");
  context.imageSmoothingQuality = "high";
  context.drawImage(img, 0, 0, canvas.width, canvas.height);
  if (mark) {  // a change the comparison must see: a box over a tenth of the top
    context.fillStyle = "#e0301e";
    context.fillRect(0, 0, canvas.width / 3, canvas.height / 10);
  }
  return context.getImageData(0, 0, canvas.width, canvas.height).data;
}
function compare(a, b, scale, mark) {
  if (a.naturalWidth !== b.naturalWidth || a.naturalHeight !== b.naturalHeight) {
    return {size: [b.naturalWidth, b.naturalHeight], mean: null, changed: null};
  }
  const x = pixels(a, scale, false), y = pixels(b, scale, mark);
  let total = 0, changed = 0;
  for (let i = 0; i < x.length; i += 4) {
    let worst = 0;
    for (let c = 0; c < 3; c++) {
      const d = Math.abs(x[i + c] - y[i + c]);
      total += d;
      worst = Math.max(worst, d);
    }
    if (worst > 32) changed++;
  }
  const count = x.length / 4;
  return {size: [b.naturalWidth, b.naturalHeight], mean: total / (3 * count),
          changed: changed / count};
}
window.addEventListener("load", () => {
  const [kept, taken] = document.querySelectorAll("img");
  const out = document.createElement("pre");
  out.id = "compared";
  out.textContent = JSON.stringify({
    kept: [kept.naturalWidth, kept.naturalHeight],
    taken: compare(kept, taken, SCALE, false),
    marked: compare(kept, kept, SCALE, true),
  });
  document.body.appendChild(out);
});
</script>
"""
#: Pixels averaged into one before comparing (anti-aliasing and hinting blur away).
SCALE = 4
#: The environment a screenshot depends on beyond the sheet: the browser and its fonts.
ENVIRONMENT = ROOT / "tests" / "screenshots.json"


def environment() -> dict[str, Any]:
    """The browser's major version and the font files it draws the sheet with (fontconfig's
    choice for the families of sheet.css), or what could not be found."""
    assert BROWSER is not None
    version = subprocess.run([BROWSER, "--version"], capture_output=True, text=True,
                             timeout=60, check=False).stdout
    major = re.search(r"(\w+) (\d+)\.", version)
    fonts: dict[str, str] = {}
    for family in ("sans-serif", "sans-serif:lang=zh-cn", "monospace"):
        try:
            found = subprocess.run(["fc-match", "-f", "%{file}", family], capture_output=True,
                                   text=True, timeout=60, check=False).stdout
        except FileNotFoundError:
            found = ""
        path = Path(found)
        fonts[family] = f"{path.name} {path.stat().st_size}" if found and path.is_file() else "?"
    return {"browser": f"{major[1]} {major[2]}" if major else "?", "fonts": fonts}


def compared(tmp: Path, kept: Path, taken: Path) -> dict[str, Any]:
    """The kept and the new screenshot compared in the browser: their sizes, the mean colour
    difference (0-255) and the share of pixels off by more than 32, after averaging SCALE×SCALE
    pixels; and the same for the kept image against itself with a box drawn over it."""
    images = "".join(
        f'<img src="data:image/png;base64,{base64.b64encode(p.read_bytes()).decode()}">'
        for p in (kept, taken))
    harness = tmp / "compare.html"
    harness.write_text(f"<!DOCTYPE html><html><body>{images}"
                       f"{_COMPARE.replace('SCALE', str(SCALE))}</body></html>", encoding="utf-8")
    result = chromium(tmp, harness, "--dump-dom")
    found = re.search(r'<pre id="compared">(.*?)</pre>', result.stdout, re.DOTALL)
    assert found, f"the browser printed no comparison: {result.stderr[-2000:]}"
    data: dict[str, Any] = json.loads(html.unescape(found.group(1)))
    return data


def test_screenshots(
    sheets: dict[str, str], measured: list[dict[str, Any]], tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """A desktop screenshot of the Chinese sheet and a phone one of the English sheet, compared
    with the ones kept in docs/.

    Where the browser's major version and the font files are those the kept images were taken
    with (tests/screenshots.json), the new screenshot has the kept one's size and, pixels
    averaged 4×4, a mean colour difference below 0.02 (of 255) and under 0.02% of its pixels off
    by more than 32: the same browser and fonts draw an unchanged sheet identically (a
    difference of 0 here), so this leaves room only for rounding noise, while a change of
    layout, spacing or colour fails (a heading colour alone moves 0.23% of the pixels). The text
    itself is checked by the DOM and snapshot tests. With other fonts or another browser the
    page reflows line by line, so pixels cannot be compared: then the width must be the kept
    one's and the height within 5% of it (the same content, laid out alike), and the test says
    what it could not compare. `pytest --snapshot-update` takes new screenshots and records this
    machine's environment."""
    update = bool(request.config.getoption("update_snapshots", default=False))
    here = environment()
    if update:
        ENVIRONMENT.write_text(json.dumps(here, indent=2) + "\n", encoding="utf-8")
    recorded = json.loads(ENVIRONMENT.read_text(encoding="utf-8"))
    same = recorded == here
    for lang, (kept, width) in SCREENSHOTS.items():
        height = next(p["height"] for p in measured if p["lang"] == lang and p["width"] == width)
        page = tmp_path / f"shot-{lang}.html"
        page.write_text(f'<!DOCTYPE html><html><body style="margin:0">'
                        f"{frame(sheets[lang], width, height)}</body></html>", encoding="utf-8")
        shot = tmp_path / f"{lang}.png"
        chromium(tmp_path, page, f"--window-size={width},{height}", f"--screenshot={shot}")
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(data[16:20], "big") == width
        assert int.from_bytes(data[20:24], "big") == height
        if update:
            shutil.copyfile(shot, kept)
        assert kept.is_file(), f"{kept} is missing: run `pytest --snapshot-update`"
        result = compared(tmp_path, kept, shot)
        # the comparison sees a change: a box over a tenth of the kept image's top
        assert result["marked"]["changed"] > 0.02, result["marked"]
        where = f"{kept.name} against a new screenshot ({lang}, {width} px)"
        if same:
            assert result["taken"]["size"] == result["kept"], where
            assert result["taken"]["mean"] < 0.02, (where, result["taken"])
            assert result["taken"]["changed"] < 0.0002, (where, result["taken"])
        else:
            kept_width, kept_height = result["kept"]
            assert kept_width == width, where
            assert abs(height - kept_height) <= 0.05 * kept_height, (where, height, kept_height)
    if not same:
        pytest.skip(f"pixels not compared: the screenshots were taken with {recorded}, this "
                    f"machine has {here} (sizes compared; `pytest --snapshot-update` retakes them)")
