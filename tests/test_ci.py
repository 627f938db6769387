"""Continuous integration for pricing repositories: `ratecard check --format github` (GitHub
Actions workflow commands), `--format sarif` (a SARIF 2.1.0 log), and the pre-commit hooks in
.pre-commit-hooks.yaml, each run for real on files written here."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from ratecard.cli import main, version
from tests.conftest import BDA_RULES, ROOT

# Two errors on line 2 (`人体` before them: columns count code points) and a warning.
BROKEN = """\
rules x "人体" / "X"
currency XYZ, rounding half_up 0.01, timezone Mars/Base
meter m "M" / "M" unit "u" / "u" counts A
ladder volume by postpaid per month on m {
  (0, ∞)  0.01
}
"""


@pytest.fixture
def broken(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "x.rules").write_text(BROKEN, encoding="utf-8")
    return "rules/x.rules"


def test_github_annotations(capsys: pytest.CaptureFixture[str], broken: str) -> None:
    code = main(["check", "--format", "github", broken])
    out, err = capsys.readouterr()
    assert (code, err) == (1, "")
    assert out.splitlines() == [
        "::error file=rules/x.rules,line=2,col=10,endLine=2,endColumn=13,title=E103::unknown "
        "currency `XYZ`: not an ISO 4217 currency code%0Ahelp: use an ISO 4217 code such as "
        "`CNY`",
        "::error file=rules/x.rules,line=2,col=47,endLine=2,endColumn=56,title=E104::unknown "
        "timezone `Mars/Base`: not an IANA timezone%0Ahelp: use an IANA zone such as "
        "`Asia/Shanghai`",
    ]


def test_github_annotations_escape_what_the_runner_reads(tmp_path: Path) -> None:
    """A message's `%`, CR and LF, a property's `,` and `:`, are escaped as GitHub Actions
    reads them back."""
    from ratecard.annotations import to_github
    from ratecard.diagnostics import error
    from ratecard.source import SourceFile

    source = SourceFile("a,b:c%.rules", "x\r\ny")
    line = to_github([error("E001", "50% off\r\nnext", source.span(3, 4), "", "")],
                     {source.name: source})
    assert line == ("::error file=a%2Cb%3Ac%25.rules,line=2,col=1,endLine=2,endColumn=2,"
                    "title=E001::50%25 off%0D%0Anext")


def test_github_annotations_of_warnings_and_clean_files(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bare = tmp_path / "bda.rules"
    bare.write_text(re.sub(r"  # allow: .*", "", BDA_RULES.read_text(encoding="utf-8")),
                    encoding="utf-8")
    assert main(["check", "--format", "github", str(bare)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(line.startswith(f"::warning file={bare},line=") for line in out)
    assert {re.search(r"title=(W\d+)", line).group(1) for line in out} == {  # type: ignore[union-attr]
        "W001", "W003"}
    assert main(["check", "--format", "github", "--deny", "warnings", str(bare)]) == 1
    capsys.readouterr()
    assert main(["check", "--format", "github", str(BDA_RULES)]) == 0
    assert capsys.readouterr() == ("", "")


def test_sarif_log(capsys: pytest.CaptureFixture[str], broken: str) -> None:
    code = main(["check", "--format", "sarif", broken])
    out, err = capsys.readouterr()
    assert (code, err) == (1, "")
    log = json.loads(out)
    assert (log["version"], log["$schema"]) == (
        "2.1.0", "https://json.schemastore.org/sarif-2.1.0.json")
    (run,) = log["runs"]
    driver = run["tool"]["driver"]
    assert (driver["name"], driver["version"]) == ("ratecard", version())
    assert [rule["id"] for rule in driver["rules"]] == ["E103", "E104"]
    assert run["columnKind"] == "unicodeCodePoints"
    first, second = run["results"]
    assert first == {
        "ruleId": "E103", "ruleIndex": 0, "level": "error",
        "message": {"text": "unknown currency `XYZ`: not an ISO 4217 currency code\n"
                            "help: use an ISO 4217 code such as `CNY`"},
        "locations": [{"physicalLocation": {
            "artifactLocation": {"uri": "rules/x.rules"},
            "region": {"startLine": 2, "startColumn": 10, "endLine": 2, "endColumn": 13,
                       "charOffset": 28, "charLength": 3}}}],
    }
    assert (second["ruleId"], second["ruleIndex"]) == ("E104", 1)
    # The offsets are the text under the carets.
    region = second["locations"][0]["physicalLocation"]["region"]
    start = region["charOffset"]
    assert BROKEN[start:start + region["charLength"]] == "Mars/Base"


def test_sarif_log_of_a_clean_file_and_an_absolute_path(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check", "--format", "sarif", str(BDA_RULES)]) == 0
    log = json.loads(capsys.readouterr().out)
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []
    broken = tmp_path / "a b.rules"
    broken.write_text(BROKEN, encoding="utf-8")
    assert main(["check", "--format", "sarif", str(broken)]) == 1
    log = json.loads(capsys.readouterr().out)
    uri = log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]
    assert uri == {"uri": broken.as_uri()} and "%20" in uri["uri"]


# --- pre-commit hooks -------------------------------------------------------------------------

def hooks() -> dict[str, dict[str, str]]:
    """.pre-commit-hooks.yaml read as the flat list of mappings it is (each `- id:` starts a
    hook; every value a plain scalar)."""
    found: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in (ROOT / ".pre-commit-hooks.yaml").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r"(- |  )(\w+): (.*)", line)
        assert match, line
        if match.group(1) == "- ":
            current = {}
        current[match.group(2)] = match.group(3)
        found[current.get("id", "")] = current
    return found


def test_the_hooks_are_declared() -> None:
    declared = hooks()
    assert sorted(declared) == ["ratecard-check", "ratecard-fmt", "ratecard-render-check"]
    for hook in declared.values():
        assert {"id", "name", "entry", "language", "files"} <= set(hook)
        assert hook["language"] == "python" and hook["entry"].startswith("ratecard ")
        assert re.search(hook["files"], "rules/x.rules")
        assert not re.search(hook["files"], "README.md")


def run_hook(hook: str, *files: str) -> int:
    """A hook as pre-commit runs it: its entry, then the staged files."""
    argv = shlex.split(hooks()[hook]["entry"])
    assert argv[0] == "ratecard"
    return main([*argv[1:], *files])


def test_the_hooks_run(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    good = tmp_path / "rules" / "bda.rules"
    text = BDA_RULES.read_text(encoding="utf-8")
    good.write_text(text.replace("counts SearchTrace", "counts    SearchTrace"), encoding="utf-8")
    assert run_hook("ratecard-check", "rules/bda.rules") == 0
    assert run_hook("ratecard-fmt", "rules/bda.rules") == 0  # rewritten: pre-commit fails then
    assert good.read_text(encoding="utf-8") == text
    assert "rules/bda.rules: reformatted" in capsys.readouterr().out
    assert run_hook("ratecard-render-check", "rules/bda.rules") == 1  # no sheets yet
    assert "missing" in capsys.readouterr().out
    assert main(["render", "--out-dir", "docs/price-sheets", "rules/bda.rules"]) == 0
    assert run_hook("ratecard-render-check", "rules/bda.rules") == 0
    good.write_text(text.replace("0.0015", "0.0014"), encoding="utf-8")
    assert run_hook("ratecard-render-check", "rules/bda.rules") == 1  # stale
    (tmp_path / "rules" / "x.rules").write_text(BROKEN, encoding="utf-8")
    assert run_hook("ratecard-check", "rules/x.rules") == 1


# --- docs/ci.md ---------------------------------------------------------------------------------

CI_DOC = ROOT / "docs" / "ci.md"


def test_the_doc_example_is_the_real_output(capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """docs/ci.md's console example is what `ratecard diff` prints (its start, up to `...`)."""
    monkeypatch.chdir(ROOT)
    text = CI_DOC.read_text(encoding="utf-8")
    (command, shown), = re.findall(r"```console\n\$ ratecard (.*?)\n(.*?)```\n", text, re.S)
    assert main(shlex.split(command)) == 1
    out = capsys.readouterr().out
    assert shown.endswith("...\n")
    assert out.startswith(shown[:-len("...\n")])


def test_the_doc_workflow_runs_only_real_commands(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Every `ratecard ...` of the example workflow and hooks parses with the real parser
    (shell variables and globs given as plain words)."""
    from ratecard.cli import build_parser

    text = CI_DOC.read_text(encoding="utf-8")
    workflow = text[text.index("# .github/workflows/pricing.yml"):]
    workflow = workflow[:workflow.index("```")]
    lines = [line.strip().removeprefix("run: ") for line in workflow.splitlines()]
    commands = [line[line.index("ratecard "):] for line in lines if "ratecard " in line]
    assert len(commands) == 4
    parser = build_parser()
    for command in commands:
        words = shlex.split(command.split(" >>")[0].replace("$", "X"))
        args = parser.parse_args(words[1:])
        assert args.command in ("check", "fmt", "render", "diff"), command
        if args.command == "check":
            assert args.format == "github"
        if args.command == "diff":
            assert args.format == "md"
