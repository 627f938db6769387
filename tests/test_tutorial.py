"""docs/tutorial.md is true: its files compile, and its commands print what it says they print.

The tutorial is replayed in an empty folder, top to bottom, as a reader would type it:

- a code block after `<!-- file: NAME -->` is saved as NAME;
- any other ```rules block shows part of a file as it stands at that point: it must be there,
  word for word;
- `<!-- replace in NAME: "OLD" with "NEW" -->` is an edit the text asks the reader to make
  (`\n` in OLD and NEW is a line break);
- in a ```console block, each `$ ratecard ...` line is run, and what it prints (stderr, then
  stdout, as a terminal shows it) must be the lines below it; a last line `...` means the rest of
  the output is left out.

The directives are HTML comments, so a reader of the rendered page does not see them.

Every ```rules block is also read by the parser on its own: a snippet a reader copies has no
syntax error (the first draft's mistakes are the checker's, not the parser's). And the page says
how to put `ratecard` on the PATH before its first command.
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

import ratecard
from ratecard.cli import main
from tests.conftest import ROOT

TUTORIAL = ROOT / "docs" / "tutorial.md"
_STEP = re.compile(
    r"<!-- file: (?P<file>\S+) -->\s*```[a-z]*\n(?P<content>.*?)```"
    r'|<!-- replace in (?P<edited>\S+): "(?P<old>[^"]*)" with "(?P<new>[^"]*)" -->'
    r"|```console\n(?P<console>.*?)```"
    r"|```rules\n(?P<shown>.*?)```",
    re.DOTALL,
)


def steps(text: str) -> Iterator[re.Match[str]]:
    yield from _STEP.finditer(text)


def run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit:  # `--help`
            code = int(exit.code or 0)
    return code, err.getvalue() + out.getvalue()


def commands(console: str) -> Iterator[tuple[str, list[str]]]:
    """(command, expected output lines) of a console block."""
    command: str | None = None
    lines: list[str] = []
    for line in console.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, lines
            command, lines = line[2:], []
        else:
            lines.append(line)
    if command is not None:
        yield command, lines


def replay(folder: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """Replay the tutorial in `folder`: (command, expected lines, printed lines) of each command."""
    text = TUTORIAL.read_text(encoding="utf-8")
    written: set[str] = set()
    for step in steps(text):
        if step["file"]:
            (folder / step["file"]).write_text(step["content"], encoding="utf-8")
            written.add(step["file"])
        elif step["shown"] is not None:
            current = [(folder / name).read_text(encoding="utf-8") for name in sorted(written)]
            assert any(step["shown"] in content for content in current), step["shown"]
        elif step["edited"]:
            path = folder / step["edited"]
            content = path.read_text(encoding="utf-8")
            old, new = (step[k].replace("\\n", "\n") for k in ("old", "new"))
            assert content.count(old) == 1, step[0]
            path.write_text(content.replace(old, new), encoding="utf-8")
        else:
            for command, expected in commands(step["console"]):
                argv = shlex.split(command)
                assert argv[0] == "ratecard", command
                _, printed = run(argv[1:])
                yield command, expected, printed.rstrip("\n").split("\n") if printed else []


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_every_command_prints_what_the_tutorial_shows(folder: Path) -> None:
    ran = 0
    for command, expected, printed in replay(folder):
        ran += 1
        if expected and expected[-1] == "...":
            assert printed[: len(expected) - 1] == expected[:-1], command
        else:
            assert printed == expected, command
    assert ran >= 10


def test_the_final_sheet_quotes_as_the_tutorial_says(folder: Path) -> None:
    """The quotes worked by hand in the tutorial, straight from `book.quote`."""
    for _ in replay(folder):
        pass
    book = ratecard.load(folder / "ocr.rules")
    assert book.quote({"RecognizeText": 800, "GetTaskStatus": 5000}).total == Decimal("0.00")
    # pages: 180,000 - 1,000 free = 179,000 postpaid, all at 0.0012 (volume) = 214.80;
    # handwriting: 120,000 - 1,000 free = 119,000: 100,000 × 0.003 + 19,000 × 0.0025 = 347.50.
    bill = book.quote({"RecognizeText": 150_000, "RecognizeTable": 30_000,
                       "RecognizeHandwriting": 120_000})
    assert [line.amount for line in bill.lines if line.source == "postpaid"] == [
        Decimal("214.80"), Decimal("300.00"), Decimal("47.50")]
    assert bill.total == Decimal("562.30")


def test_every_rules_snippet_parses() -> None:
    """Each ```rules block, on its own, has no syntax error (E0xx): none misses a `}`."""
    text = TUTORIAL.read_text(encoding="utf-8")
    snippets = [step["content"] or step["shown"] for step in steps(text)
                if (step["file"] and "```rules" in step[0]) or step["shown"] is not None]
    assert len(snippets) == text.count("```rules\n") == 9  # (journals are files too)
    for snippet in snippets:
        try:
            ratecard.loads(snippet, "snippet.rules")
        except ratecard.RulesError as error:
            syntax = [d for d in error.diagnostics if d.code.startswith("E0")]
            assert syntax == [], (snippet, [str(d) for d in syntax])


def test_a_missing_brace_is_caught() -> None:
    """The parse check above fails on a snippet without its closing `}`."""
    with pytest.raises(ratecard.RulesError) as caught:
        ratecard.loads("ladder volume by postpaid per month on pages {\n  (0, ∞) 0.0012\n"
                       "deduct allowance, postpaid\n", "snippet.rules")
    assert [d.code for d in caught.value.diagnostics if d.code.startswith("E0")] != []


def test_the_command_is_on_the_path_before_the_first_command() -> None:
    """A reader who does not program learns how to install ratecard and put it on the PATH
    (activate the venv, or type `.venv/bin/ratecard`) before the first `$ ratecard`."""
    text = TUTORIAL.read_text(encoding="utf-8")
    first = text.index("$ ratecard")
    before = text[:first]
    for needed in (".venv/bin/pip install", "source .venv/bin/activate", ".venv\\Scripts",
                   "command not found", "/.venv/bin/ratecard"):
        assert needed in before, needed
    code, printed = run(["--help"])
    assert code == 0 and printed.startswith("usage: ratecard")
