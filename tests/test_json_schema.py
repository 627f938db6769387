"""Every JSON the command line prints validates against its JSON Schema (docs/schemas/), carries
its version in `schema`, and docs/api.md documents each shape and links its schema.

The outputs are real: `check --format json`, `quote --json`, `bill --json` (every month, one
month, `--state`) on the shipped rules and journals, and on a sheet written here that has every
kind of line (a price per N units, blocks, a daily ladder, a maximum, a minimum).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

import ratecard  # noqa: E402
from ratecard.cli import BILL_SCHEMA, BILLS_SCHEMA, QUOTE_SCHEMA, main  # noqa: E402
from ratecard.diagnostics import JSON_SCHEMA as CHECK_SCHEMA  # noqa: E402
from ratecard.diff import SCHEMA as DIFF_SCHEMA  # noqa: E402
from ratecard.errors import UsageError  # noqa: E402
from ratecard.warehouse.simulate_command import SCHEMA as SIMULATE_SCHEMA  # noqa: E402
from tests.conftest import BDA_RULES, ROOT, RULES  # noqa: E402

SCHEMAS = ROOT / "docs" / "schemas"
API_DOC = ROOT / "docs" / "api.md"
JOURNALS = ROOT / "tests" / "journals"
SHIPPED = sorted(RULES.glob("*.rules"))
#: The file of each shape's schema, by the version its `schema` key names.
FILES = {CHECK_SCHEMA: "check.json", QUOTE_SCHEMA: "quote.json", BILL_SCHEMA: "bill.json",
         BILLS_SCHEMA: "bills.json", DIFF_SCHEMA: "diff.json",
         SIMULATE_SCHEMA: "simulate.json"}

# Every kind of bill line: a price per N units (`per`), blocks, a flat fee, a daily ladder with
# a maximum (its line negative), a monthly one with a minimum, a pack, an allowance.
EVERY_LINE = """\
rules lines "行" / "Lines"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter hours "时长" / "Hours" counts Run
meter files "文件" / "Files" counts Store
meter sms "短信" / "SMS" counts Send
meter calls "调用" / "Calls" counts Call
allowance 100 per month on sms
packs valid 1 month {
  size   1000
  calls  1
}
ladder graduated by total per month on hours {
  (0, 3600]   3.2 per 3600
  (3600, ∞)   2.9 per 3600 + 5 flat
}
ladder volume by total per month on files {
  (0, 1000]   1 per block of 100 rounded up
  (1000, ∞)   0.5 per block of 100 rounded down
}
ladder volume by total per day on sms {
  (0, 1000]   0.05
  (1000, ∞)   0.04
  maximum 100
}
ladder volume by postpaid per month on calls {
  (0, ∞)   0.01
  minimum 20
}
deduct allowance, packs by expiry, postpaid
alert pack remaining below 50%, pack exhausted
"""

EVERY_LINE_JOURNAL = [
    {"time": "2026-11-01T00:00:00+08:00", "type": "purchase", "meter": "calls", "size": 1000},
    {"time": "2026-11-02T09:00:00+08:00", "type": "usage", "action": "Run", "count": 7201},
    {"time": "2026-11-02T09:00:00+08:00", "type": "usage", "action": "Store", "count": 1250},
    {"time": "2026-11-02T09:00:00+08:00", "type": "usage", "action": "Send", "count": 3000},
    {"time": "2026-11-03T09:00:00+08:00", "type": "usage", "action": "Send", "count": 500},
    {"time": "2026-11-04T09:00:00+08:00", "type": "usage", "action": "Call", "count": 1200},
    {"time": "2026-12-04T09:00:00+08:00", "type": "usage", "action": "Call", "count": 5},
]


def _load(name: str) -> Any:
    return json.loads((SCHEMAS / name).read_text(encoding="utf-8"))


def _registry() -> Any:
    """The schema files, each under its file name: they refer to one another as `bill.json#...`,
    relative to where they are stored, as a reader's tools resolve them beside one another."""
    resources = [(path.name, referencing.Resource.from_contents(_load(path.name)))
                 for path in sorted(SCHEMAS.glob("*.json"))]
    return referencing.Registry().with_resources(resources)


def validator(version: str) -> Any:
    """A draft 2020-12 validator of the shape `version` names (formats checked: dates)."""
    schema = _load(FILES[version])
    cls = jsonschema.Draft202012Validator
    return cls(schema, registry=_registry(), format_checker=cls.FORMAT_CHECKER)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    """A command's JSON on stdout (exit 0 or 1, nothing else)."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code in (0, 1), err
    return json.loads(out)


def assert_valid(data: Any) -> None:
    """`data` validates against the schema its own `schema` key names, every error shown."""
    errors = sorted(validator(data["schema"]).iter_errors(data), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


# --- the schema files -------------------------------------------------------------------------

def test_every_schema_file_is_a_draft_2020_12_schema_named_by_its_version() -> None:
    assert sorted(p.name for p in SCHEMAS.glob("*.json")) == sorted(FILES.values())
    for version, name in FILES.items():
        schema = _load(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["title"] == version
        assert schema["properties"]["schema"] == {"const": version}
        assert "schema" in schema["required"]


def test_api_doc_links_every_schema_and_names_its_version() -> None:
    doc = API_DOC.read_text(encoding="utf-8")
    assert "## JSON output" in doc
    section = doc[doc.index("## JSON output"):]
    for version, name in FILES.items():
        assert f"(schemas/{name})" in section, name
        assert f'"{version}"' in section, version
    # Positions in check's JSON count code points: said where the shape is described.
    assert "code points" in section


CONSOLE = re.compile(r"```console\n\$ ratecard (.*?)\n(.*?)```\n", re.S)


def test_api_doc_examples_are_real_outputs(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Each example of docs/api.md's JSON section is what its command prints, from the
    repository's root (a last line `...`: the start of it), and validates when whole."""
    monkeypatch.chdir(ROOT)
    doc = API_DOC.read_text(encoding="utf-8")
    section = doc[doc.index("## JSON output"):doc.index("\n## ", doc.index("## JSON output"))]
    examples = CONSOLE.findall(section)
    assert len(examples) == 3
    for command, shown in examples:
        code = main(command.split())
        out, _ = capsys.readouterr()
        assert code in (0, 1)
        if shown.endswith("...\n"):
            assert out.startswith(shown[:-len("...\n")]), command
        else:
            assert out == shown, command
        assert_valid(json.loads(out))
    # The check example's offsets: `text[start:end]` is the text under the carets.
    (diagnostic,) = json.loads(examples[-1][1])["diagnostics"]
    text = (ROOT / diagnostic["file"]).read_bytes().decode("utf-8-sig")
    assert text[diagnostic["start"]:diagnostic["end"]] == "localtime"


# --- real outputs -----------------------------------------------------------------------------

def _usage(book: ratecard.PriceBook, count: int) -> list[str]:
    return [f"{action}={count}" for meter in book.meters for action in meter.actions]


def _quotes() -> Iterator[tuple[str, list[str]]]:
    for path in SHIPPED:
        book = ratecard.load(path)
        for count in (0, 1, 4999, 3_000_001):
            usage = _usage(book, count)
            try:
                book.quote(dict(item.split("=") for item in usage))
            except UsageError:  # a bracket without a published price (contact sales)
                continue
            yield str(path), usage
    yield str(BDA_RULES), ["DetectBody=150000", "SearchTrace=2000", "--pack", "detection:10万",
                           "--pack", "search:1万:500"]


@pytest.mark.parametrize(("rules", "usage"), list(_quotes()),
                         ids=lambda v: Path(v).name if isinstance(v, str) else str(len(v)))
def test_quote_json_validates(capsys: pytest.CaptureFixture[str], rules: str,
                              usage: list[str]) -> None:
    data = run(capsys, "quote", rules, *usage, "--json")
    assert list(data) == ["schema", "currency", "total", "lines", "alerts"]
    assert data["schema"] == QUOTE_SCHEMA
    assert_valid(data)


@pytest.mark.parametrize("journal", sorted(p.name for p in JOURNALS.glob("*.jsonl")))
def test_bill_json_validates(capsys: pytest.CaptureFixture[str], journal: str) -> None:
    """Every month of each journal, then each month on its own (`--month`: that bill)."""
    data = run(capsys, "bill", str(BDA_RULES), "--journal", str(JOURNALS / journal), "--json")
    assert (list(data), data["schema"]) == (["schema", "bills"], BILLS_SCHEMA)
    assert_valid(data)
    assert data["bills"]
    for bill in data["bills"]:
        one = run(capsys, "bill", str(BDA_RULES), "--journal", str(JOURNALS / journal),
                  "--month", bill["month"], "--json")
        assert one["schema"] == BILL_SCHEMA
        assert_valid(one)
        assert {key: value for key, value in one.items() if key != "schema"} == bill


def test_bill_state_json_validates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = str(tmp_path / "state.json")
    journal = str(JOURNALS / "account.jsonl")
    issued = run(capsys, "bill", str(BDA_RULES), "--journal", journal, "--state", state,
                 "--close-through", "2026-12", "--json")
    assert [b["month"] for b in issued["bills"]] == ["2026-11", "2026-12"]
    assert_valid(issued)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    none = run(capsys, "bill", str(BDA_RULES), "--journal", str(empty), "--state", state,
               "--json")
    assert none == {"schema": BILLS_SCHEMA, "bills": []}
    assert_valid(none)


def test_every_kind_of_line_validates(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    rules = tmp_path / "lines.rules"
    rules.write_text(EVERY_LINE, encoding="utf-8")
    journal = tmp_path / "lines.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in EVERY_LINE_JOURNAL),
                       encoding="utf-8")
    data = run(capsys, "bill", str(rules), "--journal", str(journal), "--json")
    assert_valid(data)
    november = data["bills"][0]
    lines = november["lines"]
    assert {line["source"] for line in lines} == {
        "allowance", "pack", "postpaid", "maximum", "minimum"}
    assert any("per" in line for line in lines)
    assert any(line["blocks"] is not None for line in lines)
    assert any(line["period"] is not None for line in lines)
    assert any(line["amount"].startswith("-") for line in lines)  # the maximum's line
    assert november["alerts"] and november["prepaid"]
    assert_valid(run(capsys, "quote", str(rules), "Run=7201", "Store=1250", "Send=3000",
                     "Call=10", "--pack", "calls:1000:400", "--json"))


def test_check_json_validates(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The shipped rules (nothing to report), their warnings unacknowledged, and errors."""
    clean = run(capsys, "check", "--format", "json", *map(str, SHIPPED))
    assert clean == {"schema": CHECK_SCHEMA, "diagnostics": []}
    assert_valid(clean)
    bare = tmp_path / "bda.rules"
    bare.write_text(re.sub(r"  # allow: .*", "", BDA_RULES.read_text(encoding="utf-8")),
                    encoding="utf-8")
    broken = tmp_path / "broken.rules"
    broken.write_text('rules x "人体" / "X"\ncurrency XYZ\n', encoding="utf-8")
    syntax = tmp_path / "syntax.rules"
    syntax.write_text("rules x {\n", encoding="utf-8")
    data = run(capsys, "check", "--format", "json", str(bare), str(broken), str(syntax))
    assert {d["severity"] for d in data["diagnostics"]} == {"error", "warning"}
    assert {d["file"] for d in data["diagnostics"]} == {str(bare), str(broken), str(syntax)}
    assert_valid(data)


def test_versions_and_contracts_keys_validate() -> None:
    """What `Bill.to_dict()` adds for dated versions and contracts (`version`, `contract`, a
    `discount` line with its `rate`, a `true_up` line) is in the schemas: a real quote and a
    real monthly bill given those fields, through the same `to_dict`."""
    import attrs

    from ratecard.engine.bills import BillLine, Source

    book = ratecard.load(BDA_RULES)
    extra = (BillLine("detection", Source.DISCOUNT, Decimal(0), Decimal(0), Decimal("-0.4"),
                      Decimal("-0.40"), rate=Decimal("0.2")),
             BillLine("contract", Source.TRUE_UP, Decimal(0), Decimal(0), Decimal("498.40"),
                      Decimal("498.40")))
    quote = book.quote({"DetectBody": 1200})
    quote = attrs.evolve(quote, lines=quote.lines + extra, version=date(2027, 1, 1),
                         contract="acme")
    data = {"schema": QUOTE_SCHEMA, **quote.to_dict()}
    assert {"version", "contract"} <= set(data) and data["lines"][-2]["rate"] == "0.2"
    assert_valid(data)
    (month,) = book.bill(JOURNALS / "worked-1.jsonl")
    month = attrs.evolve(month, lines=month.lines + extra, version=date(2027, 1, 1),
                         contract="acme")
    assert_valid({"schema": BILL_SCHEMA, **month.to_dict()})
    assert_valid({"schema": BILLS_SCHEMA, "bills": [month.to_dict()]})


# --- the schemas can fail -----------------------------------------------------------------------

def test_the_schemas_refuse_what_is_not_documented(capsys: pytest.CaptureFixture[str]) -> None:
    """A key the schema does not list, money as a JSON number, a wrong version, a line without
    its bounds: each is an error, so a change to an output that the schema does not follow fails
    the tests above."""
    quote = run(capsys, "quote", str(BDA_RULES), "DetectBody=5000", "--json")
    bills = run(capsys, "bill", str(BDA_RULES), "--journal", str(JOURNALS / "worked-1.jsonl"),
                "--json")
    assert_valid(quote)
    assert_valid(bills)
    broken: list[tuple[str, Any]] = []
    extra = copy.deepcopy(quote)
    extra["discount"] = "0"
    broken.append(("extra key", extra))
    number = copy.deepcopy(quote)
    number["total"] = 8.0
    broken.append(("money as a number", number))
    version = copy.deepcopy(quote)
    version["schema"] = "ratecard.quote/2"
    broken.append(("version", version))
    bounds = copy.deepcopy(bills)
    del bounds["bills"][0]["lines"][-1]["bracket_bounds"]
    broken.append(("no bounds", bounds))
    nested = copy.deepcopy(bills)
    nested["bills"][0]["note"] = "x"
    broken.append(("extra key in a bill", nested))
    for what, data in broken:
        schema = QUOTE_SCHEMA if "currency" in data else BILLS_SCHEMA
        assert not validator(schema).is_valid(data), what


# --- bracket bounds -----------------------------------------------------------------------------

def test_bracket_bounds_are_the_brackets_of_the_rules() -> None:
    """Every bracket of the shipped rules: its label read back as bounds gives its own lo and
    hi (None for ∞), with the label's open and closed ends."""
    from ratecard.engine.bills import bracket_bounds
    from ratecard.literals import format_plain

    seen = 0
    for path in SHIPPED:
        book = ratecard.load(path)
        for ladder in {id(m.ladder): m.ladder for m in book.meters}.values():
            for bracket in ladder.brackets:
                hi = None if bracket.hi is None else format_plain(bracket.hi)
                assert bracket_bounds(bracket.label) == {
                    "lo": format_plain(bracket.lo), "hi": hi, "lo_closed": bracket.closed_low,
                    "hi_closed": hi is not None and not bracket.closed_low}
                seen += 1
    assert seen >= 10
    assert bracket_bounds(None) is None
    assert bracket_bounds("not a bracket") is None


def test_daily_bills_fit_the_bills_schema(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """`bill per day on ...`: a daily bill has `day` (a date), and `bill --month` lists the
    month's daily bills and its bill as `ratecard.bills/1`."""
    journal = tmp_path / "asr.jsonl"
    journal.write_text(
        '{"time": "2026-11-02T10:00:00+08:00", "type": "usage", '
        '"action": "SentenceRecognition", "count": 20000}\n', encoding="utf-8")
    data = run(capsys, "bill", str(RULES / "tencent-asr.rules"), "--journal", str(journal),
               "--month", "2026-11", "--json")
    assert data["schema"] == BILLS_SCHEMA
    assert [b.get("day") for b in data["bills"]] == ["2026-11-02", None]
    validator(BILLS_SCHEMA).validate(data)
    broken = copy.deepcopy(data)
    broken["bills"][0]["day"] = "2026-11"
    assert not validator(BILLS_SCHEMA).is_valid(broken)
