"""`ratecard diff OLD NEW`: worked diffs of the shipped price change, its md and json shapes,
git revisions, bad inputs, and properties (symmetric, empty after `fmt`, names every edited
price)."""

from __future__ import annotations

import json
import random
import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import nodes
from ratecard.changes import ALLOWANCE, BRACKET_PRICE, LADDER, PACK_PRICE, Change
from ratecard.cli import main
from ratecard.diff import SCHEMA, Diff, Example, compare
from ratecard.fmt import format_source
from ratecard.literals import format_plain
from ratecard.parser import parse
from ratecard.source import SourceFile
from ratecard.transform import to_nodes
from ratecard.versions import is_contract
from tests.conftest import BDA_RULES, ROOT, RULES
from tests.strategies import rules_texts

PRICE_CHANGE = ROOT / "examples" / "price-change" / "bda-2027.rules"
CONTRACT = ROOT / "examples" / "price-change" / "acme.rules"
LAMBDA = RULES / "aws-lambda.rules"


def _sheets() -> list[Path]:
    """Every rules file shipped or kept as a golden case that is not a contract."""
    found = []
    for path in (*sorted(RULES.glob("*.rules")),
                 *sorted((ROOT / "tests" / "cases" / "valid").glob("*.rules")), PRICE_CHANGE):
        source = SourceFile(str(path), path.read_text(encoding="utf-8"))
        tree = parse(source)
        assert not isinstance(tree, ratecard.Diagnostic)
        if not is_contract(to_nodes(tree, source)):
            found.append(path)
    return found


SHEETS = _sheets()

PROPERTY = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diff", *argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- the worked price change -------------------------------------------------------------------

def test_the_2027_price_change_in_text(capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """rules/tencent-bda.rules → examples/price-change/bda-2027.rules: the same sheet until
    2027, then a version that doubles the allowance, cuts the first brackets and the 1万
    detection pack.

    Detection's quotes (DetectBody, a month, CNY; old allowance 1,000, new 2,000):
    - 2,000 calls: old 1,000 postpaid × 0.002 = 2.00; new all free = 0.00; -2.00, -100.00%.
    - 1,502,000: old 1,501,000 × 0.002 = 3002.00; new 1,500,000 × 0.0016 = 2400.00; -602.00,
      -602 / 3002 = -20.05%.
    - 15,002,000 (the cliff): old 15,001,000 postpaid pass 1500万 and all cost 0.0015 =
      22501.50; new 15,000,000 stay in (300万, 1500万] at 0.0018 = 27000.00: +4498.50, 19.99%.
    - 15,002,001: old 15,001,001 × 0.0015 = 22501.5015 → 22501.50; new 15,000,001 × 0.0015 =
      22500.0015 → 22500.00; -1.50, -0.01%.
    """
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, "rules/tencent-bda.rules", "examples/price-change/bda-2027.rules")
    assert (code, err) == (1, "")
    lines = out.splitlines()
    assert lines[:4] == [
        "rules/tencent-bda.rules → examples/price-change/bda-2027.rules: 10 changes",
        "",
        "from 2027-01-01",
        "",
    ]
    detection = lines[lines.index("  detection"):lines.index("  library") - 1]
    assert detection == [
        "  detection",
        "    allowance per month  1000 → 2000",
        "    pack 10,000 price    18 → 16",
        "    bracket 1 price      (0, 3000000] 0.002 → (0, 3000000] 0.0016",
        "    a month of (CNY):",
        "      DetectBody × 1,000           0.00 →     0.00      0.00     0.00%",
        "      DetectBody × 2,000           2.00 →     0.00     -2.00  -100.00%",
        "      DetectBody × 1,502,000    3002.00 →  2400.00   -602.00   -20.05%",
        "      DetectBody × 3,002,000    5401.80 →  4800.00   -601.80   -11.14%",
        "      DetectBody × 3,002,001    5401.80 →  5400.00     -1.80    -0.03%",
        "      DetectBody × 9,002,000   16201.80 → 16200.00     -1.80    -0.01%",
        "      DetectBody × 15,002,000  22501.50 → 27000.00  +4498.50    19.99%",
        "      DetectBody × 15,002,001  22501.50 → 22500.00     -1.50    -0.01%",
        "      DetectBody × 30,002,000  45001.50 → 45000.00     -1.50     0.00%",
    ]
    assert "    version added  — → 2027-01-01" in lines
    assert "    bracket 1 price      (0, 10000] 0.01 → (0, 10000] 0.009" in lines


def test_the_price_change_in_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(BDA_RULES), str(PRICE_CHANGE), "--format", "md")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == f"### ratecard diff: `{BDA_RULES}` → `{PRICE_CHANGE}`"
    assert "#### From 2027-01-01" in lines
    table = lines.index("| meter | what | old | new |")
    assert lines[table + 1:table + 5] == [
        "|---|---|---|---|",
        "| every meter | version added | — | 2027-01-01 |",
        "| segmentation | allowance per month | 1000 | 2000 |",
        "| segmentation | bracket 1 price | (0, 10000] 0.01 | (0, 10000] 0.009 |",
    ]
    quotes = lines.index("| meter | usage | old | new | change | % |")
    assert lines[quotes + 1] == "|---|---|---:|---:|---:|---:|"
    # Segmentation at 102,000 calls: old 101,000 postpaid in (10万, 100万] × 0.008 = 808.00;
    # new 100,000 in (1万, 10万] × 0.009 = 900.00: the allowance moves a customer up a price.
    assert ("| segmentation | SegmentPortraitPic × 102,000 | 808.00 | 900.00 | +92.00 | 11.39% |"
            in lines)
    assert all(line.count("|") == 7 for line in lines[quotes:] if line.startswith("| segm"))


def test_the_price_change_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(BDA_RULES), str(PRICE_CHANGE), "--format", "json")
    data = json.loads(out)
    assert code == 1
    assert list(data) == ["schema", "old", "new", "same", "currency", "changes", "examples"]
    assert (data["schema"], data["same"], data["currency"]) == (
        SCHEMA, False, {"old": "CNY", "new": "CNY"})
    assert len(data["changes"]) == 10
    assert data["changes"][4] == {
        "what": "pack_price", "meter": "detection", "key": "10000", "version": "2027-01-01",
        "title": "pack 10,000 price", "old": "18", "new": "16"}
    assert {(c["what"], c["meter"]) for c in data["changes"]} >= {
        ("allowance", m) for m in ("segmentation", "detection", "library", "search")}
    cliff = next(x for x in data["examples"]
                 if x["meter"] == "detection" and x["quantity"] == "15002000")
    assert cliff == {"version": "2027-01-01", "meter": "detection", "action": "DetectBody",
                     "quantity": "15002000", "old": "22501.50", "new": "27000.00",
                     "delta": "4498.50", "percent": "19.99"}
    from tests.test_json_schema import assert_valid

    assert_valid(data)


def test_the_same_file_and_its_formatted_text_bill_alike(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    """Comments, layout and the order of meters, ladders and actions are not changes."""
    text = BDA_RULES.read_text(encoding="utf-8")
    moved = tmp_path / "moved.rules"
    # The search meter moved first, the two ladders swapped, comments gone, spacing changed.
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    search = 'meter search "人体搜索" / "Body search"\n  unit "次" / "call"\n  counts SearchTrace\n'
    assert search in body
    body = body.replace(search, "")
    first, second = body.index("ladder volume by postpaid per month on detection"), \
        body.index("ladder volume by postpaid per month on segmentation")
    end = body.index("}", second) + 1
    ladders = body[first:end]
    one, two = ladders[:ladders.index("}") + 1], ladders[ladders.index("}") + 1:].strip()
    body = body[:first] + two + "\n\n" + one + body[end:]
    header_end = body.index("\nmeter ")
    body = body[:header_end] + "\n" + search + body[header_end:]
    moved.write_text(body.replace("  counts DetectBody, DetectBodyJoints",
                                  "  counts   DetectBodyJoints ,DetectBody"), encoding="utf-8")
    code, out, _ = run(capsys, str(BDA_RULES), str(moved))
    assert (code, out) == (0, f"{BDA_RULES} → {moved}: no changes (the two bill alike)\n")
    code, out, _ = run(capsys, str(BDA_RULES), str(moved), "--format", "md")
    assert code == 0 and "No changes: the two bill alike." in out


def test_different_currencies_are_a_diff_that_names_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(BDA_RULES), str(LAMBDA), "--format", "json")
    assert (code, err) == (1, "")
    data = json.loads(out)
    assert data["currency"] == {"old": "CNY", "new": "USD"}
    every = [(c["what"], c["old"], c["new"]) for c in data["changes"] if c["meter"] is None]
    assert ("currency", "CNY", "USD") in every
    assert ("timezone", "Asia/Shanghai", "UTC") in every
    kinds = {(c["what"], c["meter"]) for c in data["changes"]}
    assert ("meter_removed", "detection") in kinds and ("meter_added", "requests") in kinds
    code, text, _ = run(capsys, str(BDA_RULES), str(LAMBDA))
    assert ["currency", "CNY", "→", "USD"] in [line.split() for line in text.splitlines()]
    assert "a month of (CNY → USD):" in text


def test_a_changed_rule_a_moved_action_and_wording(tmp_path: Path) -> None:
    """Not prices: the deduction order, an action moved to another meter, a renamed meter
    label and an unpriced reason are each a record; the moved action's two meters are quoted."""
    text = BDA_RULES.read_text(encoding="utf-8")
    edited = (text.replace("deduct allowance, packs by expiry, postpaid",
                           "deduct packs by expiry, allowance, postpaid")
              .replace("counts DetectBody, DetectBodyJoints", "counts DetectBody")
              .replace("counts SearchTrace", "counts SearchTrace, DetectBodyJoints")
              .replace('"Portrait segmentation"', '"Portrait matting"')
              .replace('"not priced on this page"', '"not priced here"'))
    diff = compare(ratecard.loads(text, "a.rules"), ratecard.loads(edited, "b.rules"))
    found = {(e.change.what, e.change.meter, e.change.key, e.change.old, e.change.new)
             for e in diff.entries}
    assert ("deduct_order", None, None, ("allowance", "packs", "postpaid"),
            ("packs", "allowance", "postpaid")) in found
    assert ("action", None, "DetectBodyJoints", "detection", "search") in found
    assert ("meter_label", "segmentation", None, ("人像分割", "Portrait segmentation"),
            ("人像分割", "Portrait matting")) in found
    assert ("unpriced_reason", None, "CreateSegmentationTask",
            ("本页未定价", "not priced on this page"), ("本页未定价", "not priced here")) in found
    assert {x.meter for x in diff.examples} == {"detection", "search"}
    # Search's quotes did not change: the moved action is counted, not priced differently.
    assert all(x.delta == 0 for x in diff.examples)


def test_percent_of_nothing_is_new() -> None:
    assert Example(None, "m", "A", Decimal(1), Decimal("0.00"), Decimal("1.00")).percent == "new"
    assert Example(None, "m", "A", Decimal(1), Decimal("0.00"), Decimal("0.00")).percent == "0.00"
    assert Example(None, "m", "A", Decimal(1), None, Decimal("1.00")).percent is None
    assert Example(None, "m", "A", Decimal(1), Decimal("3"), Decimal("2")).percent == "-33.33"


# --- git revisions -----------------------------------------------------------------------------

def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com",
                    "-c", "commit.gpgsign=false", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A git repository with rules/bda.rules committed, then edited in the work tree."""
    (tmp_path / "rules").mkdir()
    rules = tmp_path / "rules" / "bda.rules"
    rules.write_text(BDA_RULES.read_text(encoding="utf-8"), encoding="utf-8")
    _git(tmp_path, "init", "-q", "-b", "main")
    _git(tmp_path, "add", ".")
    _git(tmp_path, "commit", "-q", "-m", "prices")
    rules.write_text(BDA_RULES.read_text(encoding="utf-8").replace(
        "(1500万, ∞)      0.0015", "(1500万, ∞)      0.0014"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_file_at_a_git_revision(capsys: pytest.CaptureFixture[str], repo: Path) -> None:
    code, out, err = run(capsys, "main:rules/bda.rules", "rules/bda.rules", "--format", "json")
    assert (code, err) == (1, "")
    changes = [(c["what"], c["meter"], c["key"], c["old"], c["new"])
               for c in json.loads(out)["changes"]]
    assert changes == [
        ("bracket_price", meter, "2", "(15000000, ∞) 0.0015", "(15000000, ∞) 0.0014")
        for meter in ("detection", "library", "search")]
    # From a subdirectory, PATH is relative to it, as the NEW side's path is.
    (repo / "rules" / "x").mkdir()
    with pytest.MonkeyPatch.context() as inner:
        inner.chdir(repo / "rules")
        assert run(capsys, "HEAD:bda.rules", "HEAD:./bda.rules")[0] == 0


@pytest.mark.parametrize(("old", "message"), [
    ("nope:rules/bda.rules", "nope:rules/bda.rules: no such file, nor at a git revision: "),
    ("main:rules/missing.rules", "main:rules/missing.rules: no such file, nor at a git "
                                 "revision: "),
    ("missing.rules", "missing.rules: no such file (a file at a git revision is REV:PATH)"),
    ("rules", "rules: is a directory, not a rules file"),
])
def test_a_missing_revision_or_path_is_a_clear_error(capsys: pytest.CaptureFixture[str],
                                                     repo: Path, old: str, message: str) -> None:
    code, out, err = run(capsys, old, "rules/bda.rules")
    assert (code, out) == (2, "")
    assert err.startswith(f"ratecard: error: {message}")
    assert len(err.splitlines()) == 1 and "Traceback" not in err


def test_outside_a_repository(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, _, err = run(capsys, "HEAD:x.rules", str(BDA_RULES))
    assert code == 2
    assert err.startswith("ratecard: error: HEAD:x.rules: no such file, nor at a git revision: "
                          "not a git repository")


# --- bad inputs ---------------------------------------------------------------------------------

def test_a_file_with_errors_prints_its_diagnostics(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    broken = tmp_path / "broken.rules"
    broken.write_text(BDA_RULES.read_text(encoding="utf-8").replace("currency CNY",
                                                                    "currency XYZ"),
                      encoding="utf-8")
    code, out, err = run(capsys, str(BDA_RULES), str(broken))
    assert (code, out) == (2, "")
    assert "error[E103]: unknown currency `XYZ`" in err
    assert f"--> {broken}:6:10" in err
    assert err.rstrip().endswith("ratecard: error: no diff: fix the errors above first")
    assert "Traceback" not in err


def test_contracts_are_refused_clearly(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, str(CONTRACT), str(CONTRACT))
    assert (code, out) == (2, "")
    assert err == (f"ratecard: error: {CONTRACT}: is a contract; `ratecard diff` compares rules "
                   "files: diff the rules files the contracts extend\n")


# --- properties ------------------------------------------------------------------------------

def _records(diff: Diff, swap: bool = False) -> set[tuple[object, ...]]:
    def key(change: Change) -> tuple[object, ...]:
        old, new = (change.new, change.old) if swap else (change.old, change.new)
        return (change.what, change.meter, change.key, old, new)

    flipped = {"meter_added": "meter_removed", "meter_removed": "meter_added",
               "version_added": "version_removed", "version_removed": "version_added",
               "pack_added": "pack_withdrawn", "pack_withdrawn": "pack_added"}
    found = set()
    for entry in diff.entries:
        what, *rest = key(entry.change)
        found.add((entry.version, flipped.get(str(what), what) if swap else what, *rest))
    return found


def _examples(diff: Diff, swap: bool = False) -> set[tuple[object, ...]]:
    return {(x.version, x.meter, x.action, x.quantity, *((x.new, x.old) if swap else
                                                         (x.old, x.new)))
            for x in diff.examples}


def assert_symmetric(old: ratecard.PriceBook, new: ratecard.PriceBook) -> None:
    there, back = compare(old, new), compare(new, old)
    assert _records(there) == _records(back, swap=True)
    assert _examples(there) == _examples(back, swap=True)
    assert there.same == back.same


Edit = tuple[nodes.Number, str, tuple[str, ...], object, "date | None"]


def _numbers(rules: nodes.Rules) -> list[Edit]:
    """The editable money and allowance numbers of a file, in the sheet as first written and in
    each dated version: (the number, what changes, the meters it applies to, the key, the
    version's day or None)."""
    meters = tuple(s.name.value for s in rules.statements if isinstance(s, nodes.Meter))

    def targets(target: nodes.Target) -> tuple[str, ...]:
        return tuple(target.of(meters))  # (`every meter except ...` leaves some out)

    found: list[Edit] = []
    statements = [(s, None) for s in rules.statements]
    statements += [(inner, s.start.value) for s in rules.statements
                   if isinstance(s, nodes.Version) and s.body for inner in s.body]
    for statement, day in statements:
        if isinstance(statement, nodes.Ladder):
            for index, bracket in enumerate(statement.brackets):
                for term in bracket.terms:
                    found.append((term.amount, BRACKET_PRICE, targets(statement.target), index,
                                  day))
        elif isinstance(statement, nodes.Packs):
            for row in statement.rows:
                for size, cell in zip(statement.row_sizes(row), row.cells, strict=True):
                    if isinstance(cell, nodes.Number):
                        found.append((cell, PACK_PRICE, (row.meter.value,), size.value, day))
        elif isinstance(statement, nodes.Allowance) and statement.extra is None:
            found.append((statement.amount, ALLOWANCE, targets(statement.target), None, day))
    return found


EditCase = tuple[str, str, str, tuple[str, ...], object, Decimal, "date | None"]


@st.composite
def edits(draw: st.DrawFn) -> EditCase:
    """A shipped or golden rules file, and that file with one of its prices or allowances
    raised: (old text, new text, what changes, the meters, the key, the new value, the day of
    the version edited or None)."""
    path = draw(st.sampled_from(SHEETS))
    text = path.read_text(encoding="utf-8")
    source = SourceFile(str(path), text)
    tree = parse(source)
    assert not isinstance(tree, ratecard.Diagnostic)
    numbers = _numbers(to_nodes(tree, source))
    versioned = [edit for edit in numbers if edit[4] is not None]
    if versioned and draw(st.booleans()):  # as often in a version as in the first sheet
        numbers = versioned
    number, what, meters, key, day = draw(st.sampled_from(numbers))
    assert number.value is not None
    step = draw(st.sampled_from(["1", "0.5", "0.0001", "17", "1000"]))
    value = number.value + Decimal(step)
    if what == ALLOWANCE:
        value = value.to_integral_value() + 1
    span = number.span
    edited = text[:span.start] + format_plain(value) + text[span.end:]
    return text, edited, what, meters, key, value, day


@PROPERTY
@given(edits())
def test_every_edited_price_is_named(edit: EditCase) -> None:
    """The edit is a record of the sheet it was made in (the first, or its version's), for
    every meter it prices, and the diff is symmetric."""
    text, edited, what, meters, key, value, day = edit
    try:
        new = ratecard.loads(edited, "edited.rules")
    except ratecard.RulesError:  # the raise broke an order the checker enforces
        assume(False)
    old = ratecard.loads(text, "old.rules")
    diff = compare(old, new)
    there = [e.change for e in diff.entries if e.version == day]
    assert there, "an edited price must be a change"
    sheet = old if day is None else old.at(day)
    for meter in meters:
        plan = next(p for p in new.at(day).meters if p.name == meter)
        if what == ALLOWANCE:
            assert any(c.what == ALLOWANCE and c.meter == plan.pool for c in there)
        elif what == PACK_PRICE:
            price = next(o.price for p in sheet.at(day).meters if p.name == meter
                         for o in p.packs if o.size == key)
            assert Change(PACK_PRICE, meter, price, value, key) in there
        else:
            named = [c for c in there if c.meter == meter and c.what in (BRACKET_PRICE, LADDER)]
            assert named and all(c.key in (key, None) for c in named)
    assert_symmetric(old, new)
    quoted = {x.meter for x in diff.examples if x.version == day}
    if what != PACK_PRICE:
        assert quoted >= set(meters)
    else:  # a month's quote holds no packs: pack prices are not quoted
        assert not quoted


@PROPERTY
@given(rules_texts(), rules_texts())
def test_diff_is_symmetric_between_any_two_sheets(one: str, two: str) -> None:
    assert_symmetric(ratecard.loads(one, "one.rules"), ratecard.loads(two, "two.rules"))


@PROPERTY
@given(rules_texts())
def test_a_sheet_and_its_formatted_text_bill_alike(text: str) -> None:
    formatted = format_source(SourceFile("x.rules", text))
    assert isinstance(formatted, str)
    diff = compare(ratecard.loads(text, "x.rules"), ratecard.loads(formatted, "x.rules"))
    assert diff.same and not diff.examples


@pytest.mark.parametrize("path", SHEETS, ids=lambda p: p.name)
def test_every_shipped_sheet_against_itself_and_its_layout(
        capsys: pytest.CaptureFixture[str], path: Path, tmp_path: Path) -> None:
    formatted = format_source(SourceFile(str(path), path.read_text(encoding="utf-8")))
    assert isinstance(formatted, str)
    other = tmp_path / path.name
    other.write_text(formatted, encoding="utf-8")
    rnd = random.Random(path.name)
    other.write_text("# a comment\n" * rnd.randint(1, 3) + formatted, encoding="utf-8")
    code, out, _ = run(capsys, str(path), str(other))
    assert (code, out) == (0, f"{path} → {other}: no changes (the two bill alike)\n")


# --- dated versions --------------------------------------------------------------------------

def _entries(diff: Diff) -> list[tuple[str | None, str, str | None, object, str | None,
                                       str | None]]:
    from ratecard.diff import shown

    return [(None if e.version is None else e.version.isoformat(), e.change.what,
             e.change.meter, e.change.key, shown(e.change, e.change.old),
             shown(e.change, e.change.new)) for e in diff.entries]


def test_versions_are_compared_day_by_day() -> None:
    """A price changed in the sheet as first written, and restated by the 2027 version, is a
    change until 2027 only; a version moved to another day is removed on its old day (the
    prices there go back) and added on the new one (nothing else differs from then on)."""
    text = PRICE_CHANGE.read_text(encoding="utf-8")
    cheaper = text.replace("(1500万, ∞)      0.0015", "(1500万, ∞)      0.0014", 1)
    old = ratecard.loads(text, "old.rules")
    diff = compare(old, ratecard.loads(cheaper, "new.rules"))
    assert _entries(diff) == [
        (None, "bracket_price", meter, 2, "(15000000, ∞) 0.0015", "(15000000, ∞) 0.0014")
        for meter in ("detection", "library", "search")]
    moved = compare(old, ratecard.loads(text.replace("from 2027-01-01 {", "from 2027-02-01 {"),
                                        "new.rules"))
    records = _entries(moved)
    assert records[0] == ("2027-01-01", "version_removed", None, None, "2027-01-01", None)
    assert ("2027-01-01", "pack_price", "detection", Decimal(10000), "16", "18") in records
    assert ("2027-01-01", "allowance", "search", None, "2000", "1000") in records
    assert len(records) == 11 and records[-1] == (
        "2027-02-01", "version_added", None, None, None, "2027-02-01")
    # January 2027 quotes: the old sheet's 2027 prices against the new sheet's first ones.
    cliff = next(x for x in moved.examples if x.meter == "detection"
                 and x.quantity == 15_002_000)
    assert (cliff.version, cliff.old, cliff.new) == (
        old.timeline[0].start, Decimal("27000.00"), Decimal("22501.50"))
    kept = compare(old, ratecard.loads(text.replace(
        "from 2027-01-01 {",
        "from 2027-01-01 keep accounts opened before 2027-01-01 until 2027-07-01 {"), "new.rules"))
    assert _entries(kept) == [(
        "2027-01-01", "version_keep", None, None, None,
        "accounts opened before 2027-01-01 keep the previous prices until 2027-07-01")]


def test_every_field_of_a_sheet_is_compared() -> None:
    """The fields `sheet_changes` and the version comparison read: a field added to the
    compiled sheet fails here until the diff compares it (or says why it need not)."""
    import attrs

    from ratecard.engine.pricebook import BillingPolicy, MeterPlan, PackPolicy, PriceBook

    def names(cls: type) -> set[str]:
        return {f.name for f in attrs.fields(cls) if f.init}

    assert names(PriceBook) == {
        "name", "labels", "languages", "currency", "rounding", "timezone", "meters", "routes",
        "unpriced", "deduct_order", "packs", "alerts", "billing", "ladder_groups",
        "allowance_pools", "warnings", "version", "contract", "timeline", "orders",
        "subscriptions", "grants", "credits",
        # a request is compared by its parts' routes (`changes._routes`) and the meters its
        # price table makes; `price_tables` is how the sheet shows those meters
        "requests", "price_tables"}
    assert names(MeterPlan) == {"name", "labels", "unit", "actions", "free_actions",
                                "allowance", "ladder", "packs", "quantity_rounding",
                                "allowance_pool", "display_unit", "display_size",
                                "pack_terms", "entry_minimum", "count_scales",
                                "amount_rounding",
                                # compared with the minimum (`changes._entry_minimum`)
                                "entry_minimum_wording"}
    assert names(PackPolicy) == {"valid_amount", "valid_unit", "order", "refundable",
                                 "frozen_after_expiry", "smallest_first"}
    assert names(BillingPolicy) == {"issued_day", "settle_from_balance", "suspend_reasons",
                                    "allowance_while_active", "skip_empty", "daily"}


def test_the_command_offers_every_format() -> None:
    """cli.py spells the formats out (building the parser does not load the diff); they are
    `ratecard.diff.FORMATS`, and each renders."""
    import argparse

    from ratecard.cli import build_parser
    from ratecard.diff import FORMATS, render

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    (option,) = [a for a in commands.choices["diff"]._actions if "--format" in a.option_strings]
    assert tuple(option.choices) == FORMATS
    same = compare(ratecard.load(BDA_RULES), ratecard.load(BDA_RULES), "a", "b")
    assert [render(same, fmt).splitlines()[-1] for fmt in FORMATS] == [
        "a → b: no changes (the two bill alike)", "No changes: the two bill alike.", "}"]


def test_a_pipe_is_read_as_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`ratecard diff <(git show ...) new.rules`: the shell passes a FIFO, read once."""
    import os
    import threading

    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    fifo = tmp_path / "old.rules"
    os.mkfifo(fifo)
    text = BDA_RULES.read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as stream:
            stream.write(text)

    writer = threading.Thread(target=feed)
    writer.start()
    code, out, err = run(capsys, str(fifo), str(BDA_RULES))
    writer.join()
    assert (code, err) == (0, "")
    assert out == f"{fifo} → {BDA_RULES}: no changes (the two bill alike)\n"


def test_a_display_unit_and_skip_empty_are_changes(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    """Showing seconds as hours changes no bill but changes the page; `skip empty` changes
    which bills exist: both are listed, and the files differ (exit 1)."""
    old = tmp_path / "old.rules"
    old.write_text(
        'rules asr "语音" / "ASR"\ncurrency CNY, rounding half_up 0.01, timezone Asia/Shanghai\n'
        'meter rec "录音" / "Recording" counts Rec\n  unit "秒" / "second"\n'
        "ladder graduated by total per month on rec {\n  (0, ∞)  3.2 per 3600\n}\n"
        "deduct postpaid\nbill per month\n", encoding="utf-8")
    new = tmp_path / "new.rules"
    new.write_text(old.read_text(encoding="utf-8")
                   .replace('unit "秒" / "second"', 'unit "小时" / "hour" = 3600 "秒" / "second"')
                   .replace("bill per month", "bill per month, skip empty"), encoding="utf-8")
    code, out, err = run(capsys, str(old), str(new), "--format", "json")
    assert (code, err) == (1, "")
    assert [(c["what"], c["meter"], c["old"], c["new"]) for c in json.loads(out)["changes"]] == [
        ("meter_display_unit", "rec", None, "小时 / hour = 3600"),
        ("skip_empty", None, "no", "yes"),
    ]


def test_orders_are_compared(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An order's minimum and a product withdrawn: each a change of its own, and swapping the
    files swaps them."""
    from tests.test_orders import SHEET

    old = tmp_path / "old.rules"
    old.write_text(SHEET, encoding="utf-8")
    assert "minimum 50," in SHEET
    edited = SHEET.replace("minimum 50,", "minimum 100,", 1)
    start = edited.index("order sdk_recognition")
    end = edited.index("}", start) + 2
    new = tmp_path / "new.rules"
    new.write_text(edited[:start] + edited[end:], encoding="utf-8")
    code, out, err = run(capsys, str(old), str(new), "--format", "json")
    assert (code, err) == (1, "")
    found = [(c["what"], c["key"], c["old"], c["new"]) for c in json.loads(out)["changes"]]
    assert found == [("order", "sdk_detect minimum", "50", "100"),
                     ("order", "sdk_recognition", "sdk_recognition", None)]
    code, out, _ = run(capsys, str(new), str(old), "--format", "json")
    assert [(c["key"], c["old"], c["new"]) for c in json.loads(out)["changes"]] == [
        ("sdk_detect minimum", "100", "50"), ("sdk_recognition", None, "sdk_recognition")]
