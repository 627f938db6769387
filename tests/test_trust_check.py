"""What `check` refuses so that nothing fails later or differs by machine (issue 13, items 13, 18,
21 and 30): control characters in display names (E112), host-dependent timezones (E113), pack
validities past what billing can compute (E508), and acknowledged warnings (`# allow:`, W005,
`check --ignore`, `check --deny warnings`)."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest

import ratecard
from ratecard.api import analyze
from ratecard.cli import main
from ratecard.diagnostics import Diagnostic, render
from ratecard.source import SourceFile
from tests.conftest import BDA_RULES, RULES

HEADER = 'rules x "X" / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'
LADDER = "ladder volume by total per month on every meter {\n  (0, ∞)  0.01\n}\n"


def diagnose(text: str) -> list[Diagnostic]:
    rules, diagnostics = analyze(SourceFile("x.rules", text))
    assert rules is not None, diagnostics
    return diagnostics


def found(text: str) -> list[tuple[str, int, int, str]]:
    """(code, line, column, message) of every diagnostic."""
    return [(d.code, d.span.line, d.span.column, d.message) for d in diagnose(text)]


# --- E112: control characters in display names --------------------------------------------------

# (as written between the quotes, what the message calls it, the width of the carets)
CONTROLS = [
    (r"\n", "a line break (U+000A)", 2),
    ("\t", "a tab (U+0009)", 1),
    (r"\t", "a tab (U+0009)", 2),
    (r"\r", "a carriage return (U+000D)", 2),
    ("\r", "a carriage return (U+000D)", 1),
    (r"\x00", "a NUL character (U+0000)", 4),
    (r"\0", "a NUL character (U+0000)", 2),
    ("\x07", "the control character U+0007", 1),
    (r"\a", "the control character U+0007", 2),
    (r"\x1b", "the control character U+001B", 4),
    ("\x7f", "the control character U+007F", 1),
    ("\x85", "the control character U+0085", 1),
    (r"\x9b", "the control character U+009B", 4),
    ("\u2028", "a line separator (U+2028)", 1),
    (r"\u2029", "a paragraph separator (U+2029)", 6),
    ("\u202e", "the bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE)", 1),
    (r"\u202E", "the bidirectional control U+202E (RIGHT-TO-LEFT OVERRIDE)", 6),
    (r"\U00002066", "the bidirectional control U+2066 (LEFT-TO-RIGHT ISOLATE)", 10),
    (r"\N{RIGHT-TO-LEFT MARK}", "the bidirectional control U+200F (RIGHT-TO-LEFT MARK)", 22),
    ("\u061c", "the bidirectional control U+061C (ARABIC LETTER MARK)", 1),
    (r"\ud800", "a lone surrogate U+D800", 6),
]


@pytest.mark.parametrize(("written", "name", "width"), CONTROLS,
                         ids=[repr(c[0]) for c in CONTROLS])
def test_a_control_character_in_a_meter_label_is_e112_at_the_character(
    written: str, name: str, width: int
) -> None:
    text = HEADER + f'meter a "甲" / "ab{written}c" counts A\n' + LADDER
    (d,) = diagnose(text)
    # `meter a "甲" / "ab` is 17 characters: the character (or its escape) is column 18.
    assert (d.code, d.span.line, d.span.column, d.message) == (
        "E112", 3, 18, f"display name contains {name}")
    assert d.span.end - d.span.start == width
    assert d.help.startswith("a display name is one line of visible text: remove it")


@pytest.mark.parametrize("place", ["rules", "meter", "unit", "unpriced"])
def test_every_display_name_is_checked(place: str) -> None:
    bad = r'"a\nb"'
    text = {
        "rules": f'rules x {bad} / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'
                 'meter a "A" counts A\n' + LADDER,
        "meter": HEADER + f'meter a {bad} counts A\n' + LADDER,
        "unit": HEADER + f'meter a "A"\n  unit "次" / {bad}\n  counts A\n' + LADDER,
        "unpriced": HEADER + f'meter a "A" counts A\nunpriced B {bad}\n' + LADDER,
    }[place]
    assert [d.code for d in diagnose(text)] == ["E112"]


def test_only_the_first_control_character_of_a_name_is_reported() -> None:
    text = HEADER + 'meter a "a\\tb\\nc\\x07" / "A" counts A\n' + LADDER
    assert found(text) == [("E112", 3, 11, "display name contains a tab (U+0009)")]


@pytest.mark.parametrize("name", ["人体检测", "Body | detection # 1", "a\\\"b\\\\c", "é\u200d👍",
                                  "\\u4eba", "x\u3000y", "<b>&amp;</b>"])
def test_visible_text_passes(name: str) -> None:
    """Punctuation, escapes of visible characters, a zero-width joiner (emoji, scripts) and an
    ideographic space are text."""
    assert diagnose(HEADER + f'meter a "{name}" counts A\n' + LADDER) == []


def test_a_control_character_cannot_reach_a_compiled_book() -> None:
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.loads(HEADER + 'meter a "a\\nb" counts A\n' + LADDER)
    assert [d.code for d in raised.value.diagnostics] == ["E112"]


def test_the_diagnostic_shows_raw_control_characters_as_symbols() -> None:
    """The source line is printed with ␉-style symbols and �, never the raw character (a raw
    U+202E would reorder the terminal's line), and the carets stay under the character."""
    text = HEADER + 'meter a "ab\u202ec\x07" / "x\ty" counts A\n' + LADDER
    source = SourceFile("x.rules", text)
    _, diagnostics = analyze(source)
    shown = render(diagnostics[0], source)
    assert shown.splitlines()[3:5] == [
        '3 | meter a "ab\ufffdc\u2407" / "x y" counts A',
        "  |            ^ reorders the text around it when shown",
    ]


# --- E113: timezones that depend on the machine; E104 with a suggestion ------------------------

@pytest.mark.parametrize(("zone", "label", "help_text"), [
    ("localtime", "the zone of whatever machine runs ratecard",
     "bills would differ from machine to machine: name the zone the bills are computed in, "
     "e.g. `timezone Asia/Shanghai` or `timezone UTC`"),
    ("posixrules", "the default rules file of whatever machine runs ratecard",
     "bills would differ from machine to machine: name the zone the bills are computed in, "
     "e.g. `timezone Asia/Shanghai` or `timezone UTC`"),
    ("Factory", "the tz database's placeholder for a zone that was never set",
     "bills would differ from machine to machine: name the zone the bills are computed in, "
     "e.g. `timezone Asia/Shanghai` or `timezone UTC`"),
    ("posix/Asia/Shanghai", "a copy of `Asia/Shanghai` that only some machines have",
     "write `timezone Asia/Shanghai`"),
    ("right/Europe/Berlin",
     "a variant counting leap seconds of `Europe/Berlin` that only some machines have",
     "write `timezone Europe/Berlin`"),
])
def test_a_host_dependent_timezone_is_e113(zone: str, label: str, help_text: str) -> None:
    (d,) = diagnose(HEADER.replace("UTC", zone) + 'meter a "A" counts A\n' + LADDER)
    assert (d.code, d.span.line, d.span.column, d.message, d.label, d.help) == (
        "E113", 2, 47, f"timezone `{zone}` is not the same zone on every machine", label,
        help_text)


@pytest.mark.parametrize(("zone", "hint"), [
    ("Asia/Shangai", "did you mean `Asia/Shanghai`?"),
    ("asia/shanghai", "did you mean `Asia/Shanghai`?"),
    ("Europe/Berln", "did you mean `Europe/Berlin`?"),
    ("Mars/Olympus_Mons", "use an IANA zone such as `Asia/Shanghai`"),
    ("Local", "use an IANA zone such as `Asia/Shanghai`"),  # never suggests `localtime`
])
def test_an_unknown_timezone_is_e104_with_a_suggestion(zone: str, hint: str) -> None:
    (d,) = diagnose(HEADER.replace("UTC", zone) + 'meter a "A" counts A\n' + LADDER)
    assert (d.code, d.message, d.help) == ("E104", f"unknown timezone `{zone}`", hint)


@pytest.mark.parametrize("zone", ["UTC", "Asia/Shanghai", "America/Los_Angeles", "Etc/GMT+8"])
def test_iana_zones_pass(zone: str) -> None:
    assert diagnose(HEADER.replace("UTC", zone) + 'meter a "A" counts A\n' + LADDER) == []


# --- E508: pack validity past what billing can compute ----------------------------------------

def packs(valid: str, zone: str = "UTC") -> str:
    return (HEADER.replace("UTC", zone) + 'meter a "A" counts A\n' + LADDER
            + f"packs valid {valid} {{\n  size 10\n  a 0.05\n}}\n"
            + "deduct packs by expiry, postpaid\n")


@pytest.mark.parametrize(("longest", "unit"), [(998, "years"), (11_976, "months"),
                                                (364_512, "days"), (998, "year")])
def test_the_longest_validity_passes_and_one_more_is_e508(longest: int, unit: str) -> None:
    assert diagnose(packs(f"{longest} {unit}")) == []
    (d,) = diagnose(packs(f"{longest + 1} {unit}"))
    assert (d.code, d.span.line, d.span.column, d.message, d.label, d.help) == (
        "E508", 7, 13, f"pack validity `{longest + 1} {unit}` is too long",
        "a pack bought at the end of 9000 would expire after the year 9998",
        "journals hold times up to 9000 and expiry dates must stay within 9998: a validity is "
        "at most 998 years, 11,976 months or 364,512 days")


def test_the_issue_repro_99999_years_is_e508() -> None:
    assert [(d.code, d.span.line) for d in diagnose(packs("99999 year"))] == [("E508", 7)]
    assert [d.code for d in diagnose(packs("9" * 28 + " days"))] == ["E508"]


@pytest.mark.parametrize("zone", ["Etc/GMT+12", "Pacific/Kiritimati", "America/Los_Angeles"])
@pytest.mark.parametrize("valid", ["998 years", "11976 months", "364512 days"])
def test_a_pack_of_the_longest_validity_bought_at_the_last_instant_bills(
    zone: str, valid: str
) -> None:
    """The bound is what the engine computes: a pack bought at the last microsecond a journal
    may hold (9000-12-31T23:59:59.999999, local) expires 9998-12-31T23:59:59.999999 local, in
    the zones furthest behind (-12:00) and ahead (+14:00) of UTC; its 3 units come from it."""
    book = ratecard.loads(packs(valid, zone))
    last = "9000-12-31T23:59:59.999999"
    (bill,) = book.bill([
        {"time": last, "type": "purchase", "meter": "a", "size": 10},
        {"time": last, "type": "usage", "action": "A", "count": 3},
    ])
    assert (bill.month, bill.total) == (date(9000, 12, 1), 0)
    expires = bill.prepaid[0].expires
    assert expires.replace(tzinfo=None) == datetime(9998, 12, 31, 23, 59, 59, 999999)
    assert bill.to_dict()["prepaid"][0]["expires"].startswith("9998-12-31T23:59:59.999999")


# --- W005 and `# allow:` ------------------------------------------------------------------------

CLIFF = (HEADER + 'meter a "A" counts A\n'
         "ladder volume by postpaid per month on a {\n"
         "  (0, 300万]  0.002<comment>\n"
         "  (300万, ∞)  0.0018\n"
         "}\n")


def cliff_text(comment: str) -> str:
    """A sheet with a volume cliff at 300万 (line 5), `comment` at the end of that line."""
    return CLIFF.replace("<comment>", comment)


def test_an_allow_comment_acknowledges_the_warning_on_its_line() -> None:
    """3,000,000 calls cost 6000, 3,000,001 cost 5400.0018: W003 at `300万` (line 5)."""
    assert [(d.code, d.span.line) for d in diagnose(cliff_text(""))] == [("W003", 5)]
    for comment in ("  # allow: W003", "  # allow: W003 as on the page", "  #allow:W003",
                    "  # allow : W003,", "  # allow: W003 v2 of the page, H100 sizes"):
        assert diagnose(cliff_text(comment)) == [], comment
    for comment in ("  # allow: W004, W003 both meant", "  # allow: W003 W004 meant"):
        assert [(d.code, d.message) for d in diagnose(cliff_text(comment))] == [
            ("W005", "`# allow: W004` acknowledges nothing")], comment
    book = ratecard.loads(cliff_text("  # allow: W003 as on the page"))
    assert book.warnings == ()


def test_an_allow_that_acknowledges_nothing_is_w005() -> None:
    text = cliff_text("  # allow: W003, W004 meant")
    assert found(text) == [("W005", 5, 36, "`# allow: W004` acknowledges nothing")]
    (d,) = diagnose(text)
    assert (d.label, d.help) == (
        "no W004 on line 5",
        "remove `W004` here, or move it to the end of the line that W004 points at")


def test_an_allow_on_another_line_acknowledges_nothing() -> None:
    text = cliff_text("").replace(
        "  (0, 300万]", "  # allow: W003 as on the page\n  (0, 300万]")
    assert [(code, line) for code, line, _, _ in found(text)] == [("W005", 5), ("W003", 6)]


@pytest.mark.parametrize(("comment", "message", "help_text"), [
    ("  # allow: E203", "`E203` cannot be allowed",
     "fix what E203 reports and remove it here"),
    ("  # allow: W005", "`W005` cannot be allowed",
     "remove the stale `# allow:` instead; `check --ignore W005` hides them all"),
    ("  # allow: W03", "unknown warning `W03`", "did you mean `W003`?"),
    ("  # allow: w009", "unknown warning `w009`", "did you mean `W006`?"),
    ("  # allow: W9999", "unknown warning `W9999`",
     "warnings are `W001`, `W002`, `W003`, `W004`, `W005`, `W006`"),
    ("  # allow: as on the page", "`# allow:` names no warning",
     "write the codes it acknowledges, e.g. `# allow: W003 as on the page`"),
])
def test_a_wrong_allow_is_w005_and_acknowledges_nothing(
    comment: str, message: str, help_text: str
) -> None:
    diagnostics = diagnose(cliff_text(comment))
    assert [(d.code, d.message, d.help) for d in diagnostics] == [
        ("W003", "volume cliff: 2,700,001 to 3,000,000 units cost more than 3,000,001",
         diagnostics[0].help),
        ("W005", message, help_text),
    ]


def test_errors_are_never_acknowledged() -> None:
    text = (HEADER + 'meter a "A" counts A\n'
            "ladder volume by total per month on b {  # allow: E203\n  (0, ∞)  0.01\n}\n")
    assert [(code, line) for code, line, _, _ in found(text)] == [
        ("E206", 3), ("E203", 4), ("W005", 4)]


def test_allow_is_only_a_comment_that_starts_so() -> None:
    """`allowance` in a comment, or `allow:` later in a comment's text, is just a comment."""
    for comment in ("  # allowance: W003", "  # we allow: W003", '  # "allow: W003"'):
        assert [d.code for d in diagnose(cliff_text(comment))] == ["W003"], comment


def test_an_allow_inside_a_string_is_no_comment() -> None:
    text = HEADER.replace('"X" / "X"', '"# allow: W003" / "X"') + cliff_text("")[len(HEADER):]
    assert [d.code for d in diagnose(text)] == ["W003"]


# --- the shipped sheets and the command line ------------------------------------------------------

def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


SHIPPED = sorted(str(p) for p in RULES.glob("*.rules"))


def test_the_shipped_sheets_are_quiet_even_when_warnings_are_denied(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """Every warning of the shipped sheets is acknowledged: `check` prints nothing (a clean
    file has no verdict line unless `--verbose`), with `--deny warnings` too."""
    assert run(capsys, "check", *SHIPPED) == (0, "", "")
    assert run(capsys, "check", "--deny", "warnings", *SHIPPED) == (0, "", "")
    # The BDA page's three W001 and five W003; the face page's eight W003 (four ladders); the
    # ASR page's fourteen; the OCR page's 22 volume cliffs.
    acknowledged = {str(BDA_RULES): 8,
                    str(BDA_RULES.with_name("tencent-face-recognition.rules")): 8,
                    str(BDA_RULES.with_name("tencent-asr.rules")): 14,
                    str(BDA_RULES.with_name("tencent-ocr.rules")): 22}
    expected = "".join(f"{path}: ok ({acknowledged[path]} warnings acknowledged)\n"
                       if path in acknowledged else f"{path}: ok\n" for path in SHIPPED)
    assert str(BDA_RULES) in SHIPPED
    assert run(capsys, "check", "--deny", "warnings", "--verbose", *SHIPPED) == (0, expected, "")


def test_the_tencent_sheet_acknowledges_eight_warnings_of_its_page() -> None:
    """Its page sells 10万次 for 190元 (dearer per call than 1万次 for 18元: W001 on three rows)
    and prices all units at the bracket reached (five cliffs: W003)."""
    text = BDA_RULES.read_text(encoding="utf-8")
    bare = re.sub(r"  # allow: .*", "", text)
    assert sorted(d.code for d in diagnose(bare)) == ["W001"] * 3 + ["W003"] * 5
    assert text.count("# allow: W001 as on the page") == 3
    assert text.count("# allow: W003 as on the page") == 5


@pytest.fixture
def cliff(tmp_path: Path) -> Path:
    path = tmp_path / "cliff.rules"
    path.write_text(cliff_text("") + "meter b \"B\" counts B\n"
                    "ladder graduated by total per month on b {\n"
                    "  (0, 10]  0.01\n  (10, ∞)  0.02\n}\n", encoding="utf-8")
    return path


def test_cli_ignore_leaves_warnings_out(capsys: pytest.CaptureFixture[str], cliff: Path) -> None:
    code, out, err = run(capsys, "check", str(cliff))
    assert (code, out) == (0, f"{cliff}: ok (2 warnings)\n")
    assert "warning[W003]" in err and "warning[W004]" in err
    code, out, err = run(capsys, "check", "--ignore", "W003", str(cliff))
    assert (code, out) == (0, f"{cliff}: ok (1 warning)\n")
    assert "warning[W003]" not in err and "warning[W004]" in err
    for flags in (["--ignore", "W003,W004"], ["--ignore", "W003", "--ignore", "W004"],
                  ["--ignore", " W004 , W003 "], ["--ignore", "w003,w004"]):
        assert run(capsys, "check", *flags, str(cliff)) == (0, "", "")
    code, out, _ = run(capsys, "check", "--ignore", "W003", "--format", "json", str(cliff))
    assert (code, [d["code"] for d in json.loads(out)["diagnostics"]]) == (0, ["W004"])


def test_cli_deny_warnings_fails_on_a_warning_left(
    capsys: pytest.CaptureFixture[str], cliff: Path
) -> None:
    code, out, err = run(capsys, "check", "--deny", "warnings", str(cliff))
    assert (code, out) == (1, f"{cliff}: failed (2 warnings)\n")
    assert err.endswith("\n\n2 warnings\n")
    assert run(capsys, "check", "--deny", "warnings", "--ignore", "W003,W004", str(cliff)) == (
        0, "", "")
    code, out, _ = run(capsys, "check", "--deny", "warnings", "--format", "json", str(cliff))
    assert (code, len(json.loads(out)["diagnostics"])) == (1, 2)


@pytest.mark.parametrize(("value", "message"), [
    ("E203", "--ignore E203: errors cannot be ignored; fix them"),
    ("W009", "--ignore W009: not a warning code; warnings are W001, W002, W003, W004, W005, "
     "W006"),
    ("W003,x", "--ignore x: not a warning code; warnings are W001, W002, W003, W004, W005, "
     "W006"),
])
def test_cli_ignore_takes_warning_codes_only(
    capsys: pytest.CaptureFixture[str], cliff: Path, value: str, message: str
) -> None:
    assert run(capsys, "check", "--ignore", value, str(cliff)) == (
        2, "", f"ratecard: error: {message}\n")


def test_cli_deny_takes_warnings_only(capsys: pytest.CaptureFixture[str], cliff: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["check", "--deny", "W003", str(cliff)])
    assert exited.value.code == 2
    assert "invalid choice: 'W003' (choose from 'warnings')" in capsys.readouterr().err


# --- W003 and W004 say what the ladder does ------------------------------------------------------

def ladder_warnings(mode: str, brackets: str) -> list[tuple[str, int, str, str]]:
    text = HEADER + 'meter a "A" counts A\n' + (
        f"ladder {mode} by total per month on a {{\n{brackets}}}\n")
    return [(d.code, d.span.line, d.message, d.label) for d in diagnose(text)]


def test_a_cliff_names_only_quantities_of_its_bracket() -> None:
    """Lago's L6: 10 units cost 10 × 5 + 100 = 150, 11 cost 11 × 2 + 50 = 72; solving
    5q + 100 > 72 gives q > -5.6, but the bracket's quantities start at 1."""
    assert ladder_warnings("volume", "  (0, 10]  5 + 100 flat\n  (10, ∞)  2 + 50 flat\n") == [
        ("W003", 5, "volume cliff: 1 to 10 units cost more than 11",
         "10 units cost 150, 11 cost 72")]


def test_a_cliff_of_one_quantity_is_said_so() -> None:
    """Stripe's S2: 15 units cost 15 × 3 + 30 = 75, 16 cost 16 × 2 + 40 = 72; 14 cost
    14 × 3 + 30 = 72, not more: only 15 does."""
    brackets = "  (10, 15]  3 + 30 flat\n  (15, ∞)  2 + 40 flat\n"
    assert ladder_warnings("volume", "  (0, 10]  3 + 30 flat\n" + brackets)[-1] == (
        "W003", 6, "volume cliff: 15 units cost more than 16", "15 units cost 75, 16 cost 72")


def test_a_cliff_after_a_flat_fee_alone_is_found() -> None:
    """OpenMeter's O1: 10 units cost the flat 150, 11 cost 11 × 10 = 110: all of (5, 10]."""
    assert ladder_warnings("volume", "  (0, 5]  100 flat\n  (5, 10]  150 flat\n"
                           "  (10, ∞)  10\n") == [
        ("W003", 6, "volume cliff: 6 to 10 units cost more than 11",
         "10 units cost 150, 11 cost 110")]


@pytest.mark.parametrize("first", ["0", "0 + 5 flat", "5 flat"])
@pytest.mark.parametrize("mode", ["graduated", "volume"])
def test_a_price_after_a_bracket_without_one_is_no_w004(first: str, mode: str) -> None:
    """Free units, or units a flat fee includes, then a price: a free tier, not a misordering
    (a volume cliff is still one: 1,000 units cost 5, 1,001 cost 0.1001)."""
    found_codes = [code for code, *_ in ladder_warnings(
        mode, f"  (0, 1k]  {first}\n  (1k, ∞)  0.10 per 1000\n")]
    assert found_codes == (["W003"] if mode == "volume" and "flat" in first else [])


def test_a_dearer_bracket_after_a_priced_one_is_still_w004() -> None:
    assert ladder_warnings("graduated", "  (0, 100]  0.01\n  (100, ∞)  0.02\n") == [
        ("W004", 6, "bracket is dearer per unit than the one below it",
         "0.02 per unit after 0.01")]


def test_contact_sales_is_not_compared() -> None:
    assert ladder_warnings("volume", "  (0, 100]  0.01\n  (100, ∞)  contact sales\n") == []
