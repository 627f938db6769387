"""The command line: exit codes, output forms and one-line usage errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ratecard.cli import main
from tests.conftest import BDA_RULES, ROOT

BDA = str(BDA_RULES)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_ok_reports_warnings(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The shipped sheet acknowledges its 8 warnings (`# allow:`), so its check says nothing;
    without those, they show."""
    assert run(capsys, "check", BDA) == (0, "", "")
    bare = tmp_path / "bda.rules"
    bare.write_text(re.sub(r"  # allow: .*", "", BDA_RULES.read_text(encoding="utf-8")),
                    encoding="utf-8")
    code, out, err = run(capsys, "check", str(bare))
    assert code == 0
    assert out == f"{bare}: ok (8 warnings)\n"
    assert (
        "warning[W003]: volume cliff: 2,700,001 to 3,000,000 units cost more than 3,000,001"
        in err
    )


def test_check_verbose_gives_every_file_its_verdict(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`--verbose`: a clean file's verdict too, with the warnings acknowledged counted; a file
    with warnings left counts both (one `# allow: W003` removed of the sheet's eight)."""
    assert run(capsys, "check", "--verbose", BDA) == (
        0, f"{BDA}: ok (8 warnings acknowledged)\n", "")
    one_left = tmp_path / "bda.rules"
    one_left.write_text(BDA_RULES.read_text(encoding="utf-8").replace(
        "0.0018  # allow: W003 as on the page", "0.0018"), encoding="utf-8")
    code, out, err = run(capsys, "check", "-v", str(one_left))
    assert (code, out) == (0, f"{one_left}: ok (1 warning, 7 acknowledged)\n")
    assert err.count("warning[W003]") == 1
    lambda_rules = str(ROOT / "rules" / "aws-lambda.rules")  # no warning to acknowledge
    assert run(capsys, "check", "--verbose", lambda_rules) == (0, f"{lambda_rules}: ok\n", "")
    assert run(capsys, "check", lambda_rules) == (0, "", "")


def test_check_every_file_and_exit_1(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text(BDA_RULES.read_text(encoding="utf-8").replace(
        "on detection, library, search", "on detecton, library, search"), encoding="utf-8")
    code, out, err = run(capsys, "check", BDA, str(bad))
    assert code == 1
    assert f"{bad}: failed (1 error)" in out
    assert "error[E203]: unknown meter `detecton`" in err
    assert "= help: did you mean `detection`?" in err


def test_check_concise_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('rules x "X" / "X"\ncurrency XYZ\n', encoding="utf-8")
    code, _, err = run(capsys, "check", "--format", "concise", str(bad))
    assert code == 1
    assert err.splitlines()[0] == f"{bad}:1:7: error[E107] missing `rounding` setting"
    code, out, _ = run(capsys, "check", "--format", "json", str(bad))
    data = json.loads(out)
    assert code == 1
    assert list(data) == ["schema", "diagnostics"]
    assert data["schema"] == "ratecard.check/1"
    assert [(d["code"], d["line"], d["column"]) for d in data["diagnostics"]] == [
        ("E107", 1, 7), ("E107", 1, 7), ("E103", 2, 10)]


def test_check_json_counts_code_points(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Columns and offsets in check's JSON count code points, not UTF-8 bytes (a BOM dropped)."""
    text = 'rules x "人体" / "X"\ncurrency XYZ\n'
    bad = tmp_path / "bad.rules"
    bad.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    code, out, err = run(capsys, "check", "--format", "json", str(bad))
    assert (code, err) == (1, "")
    last = json.loads(out)["diagnostics"][-1]
    assert (last["code"], last["line"], last["column"]) == ("E103", 2, 10)
    assert (last["start"], last["end"]) == (text.index("XYZ"), text.index("XYZ") + 3)
    assert text.index("XYZ") == 28 != len(text[:28].encode("utf-8"))


def test_check_json_with_nothing_to_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", "--format", "json", BDA) == (
        0, '{\n  "schema": "ratecard.check/1",\n  "diagnostics": []\n}\n', "")


def test_check_missing_file_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "no/such.rules")
    assert (code, out) == (2, "")
    assert err == "ratecard: error: no/such.rules: no such file\n"


def test_check_non_utf8_is_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "latin1.rules"
    path.write_bytes(b"rules x \"\xe9\"")
    code, _, err = run(capsys, "check", str(path))
    assert code == 2
    assert err == f"ratecard: error: {path}: not UTF-8 text (byte 9)\n"


def test_quote_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "quote", BDA, "DetectBody=150000", "--pack", "detection:10万")
    assert code == 0
    assert out.splitlines()[-4:] == [
        "",
        "total CNY 98.00",
        "alert: pack detection:100000#1 low (0 of 100,000 left)",
        "alert: pack detection:100000#1 exhausted (0 of 100,000 left)",
    ]
    assert "detection  postpaid                   49,000  (0, 3000000]       0.002   98.00" in out


@pytest.mark.parametrize("size", ["100000", "100k", "10万", "0.1M"])
def test_quote_pack_size_in_every_number_form(
    capsys: pytest.CaptureFixture[str], size: str
) -> None:
    code, out, _ = run(capsys, "quote", BDA, "DetectBody=150000", "--pack", f"detection:{size}",
                       "--json")
    assert code == 0
    assert json.loads(out)["total"] == "98.00"


def test_quote_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "quote", BDA, "SearchTrace=3001001", "--json")
    data = json.loads(out)
    assert code == 0
    # DESIGN.md's four keys, and the version of the shape first.
    assert list(data) == ["schema", "currency", "total", "lines", "alerts"]
    assert data["schema"] == "ratecard.quote/1"
    assert data["total"] == "5400.00"
    postpaid = data["lines"][-1]
    assert postpaid == {
        "meter": "search", "source": "postpaid", "quantity": "3000001", "unit_price": "0.0018",
        "amount": "5400.00", "precise_amount": "5400.0018", "bracket": "(3000000, 15000000]",
        "bracket_bounds": {"lo": "3000000", "hi": "15000000", "lo_closed": False,
                           "hi_closed": True},
        "pack": None, "blocks": None, "period": None,
    }


def test_quote_pack_with_remaining(capsys: pytest.CaptureFixture[str]) -> None:
    """A 1万 pack with 500 left: 1,000 free, 500 from the pack, 500 postpaid × 0.002 = 1.00."""
    code, out, _ = run(capsys, "quote", BDA, "DetectBody=2000", "--pack", "detection:1万:500",
                       "--json")
    assert code == 0
    assert json.loads(out)["total"] == "1.00"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["DetectFace=5"],
         "unknown action `DetectFace` in rules `bda`; did you mean `DetectBody`?"),
        (["DetectBody=-5"], "DetectBody: count -5 is negative"),
        (["DetectBody=1.5"], "DetectBody: count 1.5 is not a whole number"),
        (["DetectBody"], "`DetectBody`: write usage as ACTION=COUNT, e.g. DetectBody=600000"),
        (["DetectBody=1", "DetectBody=2"], "`DetectBody` is given twice"),
        (["--pack", "detection:5万"],
         "--pack `detection:5万`: meter `detection` has no pack of size 50000 "
         "(sizes: 10000, 100000, 1000000, 10000000)"),
        (["--pack", "detecton:1万"],
         "--pack `detecton:1万`: unknown meter `detecton`; did you mean `detection`?"),
        (["--pack", "detection"],
         "--pack `detection`: write METER:SIZE or METER:SIZE:REMAINING"),
        (["--pack", "detection:1万:20000"],
         "pack detection:10000: remaining 20000 must be between 0 and the pack's size"),
        (["SegmentCustomizedPortraitPic=1"],
         "action `SegmentCustomizedPortraitPic` is not priced by rules `bda`: "
         "本页未定价 / not priced on this page"),
    ],
)
def test_quote_bad_arguments_exit_2_in_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "quote", BDA, *argv)
    assert (code, out) == (2, "")
    assert err == f"ratecard: error: {message}\n"


def test_quote_on_broken_rules_prints_diagnostics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text('rules x "X" / "X"\n', encoding="utf-8")
    code, out, err = run(capsys, "quote", str(bad), "A=1")
    assert (code, out) == (1, "")
    assert "error[E107]: missing `currency` setting" in err


def test_python_dash_m_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ratecard", "quote", BDA, "SegmentPortraitPic=50000", "--json"],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["total"] == "441.00"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    """`ratecard --version`: `ratecard X.Y.Z` on stdout, exit 0; `ratecard.__version__` is the
    installed package's version, and the release the sources carry is pyproject's version."""
    import tomllib
    from importlib import metadata

    import ratecard

    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == ratecard._RELEASE
    assert ratecard.__version__ == metadata.version("ratecard")
    assert "__version__" in dir(ratecard)  # read once, then an attribute like any other
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr() == (f"ratecard {ratecard.__version__}\n", "")


def test_version_falls_back_to_the_release(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without installed metadata (sources on the path only), `__version__` is the release the
    sources carry, pyproject's version."""
    import tomllib
    from importlib import metadata

    import ratecard
    from ratecard import cli

    def missing(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    assert ratecard.__version__  # read, so that the deletion below is undone after the test
    monkeypatch.setattr(metadata, "version", missing)
    monkeypatch.delattr(ratecard, "__version__")  # as if not read yet
    pyproject = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    assert cli.version() == pyproject["project"]["version"]
    assert ratecard.__version__ == pyproject["project"]["version"]


def test_version_is_read_from_the_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """`ratecard.__version__` is the metadata's version (a wheel built from a tag, say), read on
    first use: importing ratecard does not read the metadata."""
    import subprocess
    import sys
    from importlib import metadata

    import ratecard

    assert ratecard.__version__  # read, so that the deletion below is undone after the test
    monkeypatch.setattr(metadata, "version", lambda name: "9.8.7" if name == "ratecard" else "")
    monkeypatch.delattr(ratecard, "__version__")
    assert ratecard.__version__ == "9.8.7"
    assert ratecard.__version__ == "9.8.7"
    fresh = subprocess.run(
        [sys.executable, "-c", "import sys, ratecard; "
         "print('importlib.metadata' in sys.modules, 'ratecard.errors' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )
    assert fresh.stdout == "False True\n"


def test_no_command_prints_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """`ratecard` alone: the whole help, with every command, on stderr; exit 2 (a usage error)."""
    code, out, err = run(capsys)
    assert (code, out) == (2, "")
    assert err.startswith("usage: ratecard [-h] [--version] [--color WHEN] COMMAND ...\n")
    for command in ("check", "fmt", "quote", "bill", "render", "warehouse", "simulate"):
        assert re.search(rf"^    {command}\b", err, re.MULTILINE), command
    assert err.endswith("`ratecard COMMAND --help` describes a command.\n")
    assert "Traceback" not in err


def test_no_command_as_a_process() -> None:
    """The same from the installed entry point's module, with no traceback."""
    result = subprocess.run([sys.executable, "-m", "ratecard"], capture_output=True, text=True,
                            check=False)
    assert (result.returncode, result.stdout) == (2, "")
    assert "    check       check rules files and report every problem\n" in result.stderr
    version = subprocess.run([sys.executable, "-m", "ratecard", "--version"],
                             capture_output=True, text=True, check=False)
    assert (version.returncode, version.stderr) == (0, "")
    assert re.fullmatch(r"ratecard \d+\.\d+\.\d+\n", version.stdout)
