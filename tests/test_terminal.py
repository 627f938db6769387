"""Colour on a terminal: rustc's colours for diagnostics, bold totals, and none where it is not
wanted (not a terminal, NO_COLOR, TERM=dumb, `--color never`); the plain text is unchanged."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from ratecard.api import analyze
from ratecard.cli import main
from ratecard.diagnostics import render_all
from ratecard.source import SourceFile
from ratecard.terminal import COLOR, PLAIN, use_color
from tests.conftest import BDA_RULES, ROOT

BDA = str(BDA_RULES)
INVALID = sorted((ROOT / "tests" / "cases" / "invalid").glob("*.rules"))
SGR = re.compile(r"\x1b\[[0-9;]*m")
RED, YELLOW, BLUE, CYAN, BOLD, RESET = "\x1b[1;31m", "\x1b[1;33m", "\x1b[1;34m", "\x1b[1;36m", \
    "\x1b[1m", "\x1b[0m"


class Stream(io.StringIO):
    """A text stream that is, or is not, a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


# --- when -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "env", "tty", "expected"), [
    ("auto", {}, True, True),
    ("auto", {}, False, False),
    # NO_COLOR: any value but the empty string (no-color.org).
    ("auto", {"NO_COLOR": "1"}, True, False),
    ("auto", {"NO_COLOR": "0"}, True, False),
    ("auto", {"NO_COLOR": ""}, True, True),
    # FORCE_COLOR: colour without a terminal; NO_COLOR wins over it, as in CPython.
    ("auto", {"FORCE_COLOR": "1"}, False, True),
    ("auto", {"FORCE_COLOR": ""}, False, False),
    ("auto", {"FORCE_COLOR": "1", "NO_COLOR": "1"}, False, False),
    ("auto", {"TERM": "dumb"}, True, False),
    ("auto", {"TERM": "dumb", "FORCE_COLOR": "1"}, True, True),
    # The command line decides over the environment.
    ("always", {"NO_COLOR": "1"}, False, True),
    ("always", {"TERM": "dumb"}, False, True),
    ("never", {"FORCE_COLOR": "1"}, True, False),
    ("never", {}, True, False),
])
def test_when_a_stream_gets_colour(mode: str, env: dict[str, str], tty: bool,
                                   expected: bool) -> None:
    assert use_color(Stream(tty), mode, env) is expected


def test_a_stream_without_isatty_or_closed_gets_none() -> None:
    closed = io.StringIO()
    closed.close()  # its isatty raises ValueError
    assert use_color(closed, "auto", {}) is False
    assert use_color(object(), "auto", {}) is False  # type: ignore[arg-type]


# --- what -------------------------------------------------------------------------------------

def test_diagnostics_in_rustcs_colours() -> None:
    """An error and a warning, every part in its colour (rustc's): the severity and code bold
    red / yellow, the message bold, the gutter bold blue, the carets and label in the severity's
    colour, `help` bold cyan; the summary's counts in theirs."""
    text = ('rules x "X" / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'
            'meter alpha "A" / "A" counts A1\nladder volume by total per month on alpah {\n'
            '  (0, ∞) 0.01\n}\n')
    source = SourceFile("x.rules", text)
    _, diagnostics = analyze(source)
    assert render_all(diagnostics, {"x.rules": source}, "full", COLOR) == (
        f"{RED}error[E203]{RESET}{BOLD}: unknown meter `alpah`{RESET}\n"
        f" {BLUE}-->{RESET} x.rules:4:37\n"
        f"  {BLUE}|{RESET}\n"
        f"{BLUE}4 |{RESET} ladder volume by total per month on alpah {{\n"
        f"  {BLUE}|{RESET} {' ' * 36}{RED}^^^^^ not a meter of these rules{RESET}\n"
        f"  {BLUE}|{RESET}\n"
        f"  {BLUE}={RESET} {CYAN}help{RESET}: did you mean `alpha`?\n"
        f"\n"
        f"{RED}1 error{RESET}")
    cliff = BDA_RULES.read_text(encoding="utf-8").replace(
        "0.002  # allow: W003 as on the page", "0.002")
    source = SourceFile("bda.rules", cliff)
    _, diagnostics = analyze(source)
    (warning,) = diagnostics
    shown = render_all(diagnostics, {"bda.rules": source}, "full", COLOR)
    assert shown.startswith(f"{YELLOW}warning[W003]{RESET}{BOLD}: volume cliff")
    assert f"{YELLOW}^^^^^ 3,000,000 units cost 6000" in shown
    assert shown.endswith(f"\n\n{YELLOW}1 warning{RESET}")
    concise = render_all(diagnostics, {}, "concise", COLOR)
    assert concise == f"{warning.span}: {YELLOW}warning[W003]{RESET} {warning.message}"


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_colour_only_adds_escape_codes(path: Path) -> None:
    """Every diagnostic of every invalid case: the coloured text less its escape codes is the
    plain text, byte for byte, in both forms; the plain palette adds none."""
    source = SourceFile(path.name, path.read_text(encoding="utf-8"))
    _, diagnostics = analyze(source)
    for fmt in ("full", "concise"):
        plain = render_all(diagnostics, {path.name: source}, fmt)
        assert render_all(diagnostics, {path.name: source}, fmt, PLAIN) == plain
        assert "\x1b" not in plain
        coloured = render_all(diagnostics, {path.name: source}, fmt, COLOR)
        assert coloured != plain
        assert SGR.sub("", coloured) == plain


# --- the command line ----------------------------------------------------------------------------

@pytest.fixture
def broken(tmp_path: Path) -> str:
    path = tmp_path / "broken.rules"
    path.write_text('rules x "X" / "X"\ncurrency XYZ\n', encoding="utf-8")
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_color_option_before_or_after_the_command(
    capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    _, _, plain = run(capsys, "check", broken)
    assert "\x1b" not in plain  # captured output is not a terminal
    for argv in (["--color", "always", "check", broken], ["check", "--color", "always", broken],
                 ["--color", "never", "check", "--color", "always", broken]):
        code, out, err = run(capsys, *argv)
        assert code == 1
        assert err.startswith(f"{RED}error[E107]{RESET}{BOLD}: missing `rounding` setting"), argv
        assert SGR.sub("", err) == plain
        assert out == f"{broken}: failed (3 errors)\n"  # the verdict is not coloured
    assert run(capsys, "--color", "always", "check", "--color", "never", broken)[2] == plain
    assert run(capsys, "--color", "never", "check", broken)[2] == plain


def test_environment_decides_in_auto(capsys: pytest.CaptureFixture[str],
                                     monkeypatch: pytest.MonkeyPatch, broken: str) -> None:
    _, _, plain = run(capsys, "check", broken)
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced = run(capsys, "check", broken)[2]
    assert forced.startswith(RED) and SGR.sub("", forced) == plain
    assert run(capsys, "--color", "never", "check", broken)[2] == plain
    monkeypatch.setenv("NO_COLOR", "1")
    assert run(capsys, "check", broken)[2] == plain
    assert run(capsys, "--color", "always", "check", broken)[2] == forced


def test_totals_bold_and_json_never_coloured(capsys: pytest.CaptureFixture[str]) -> None:
    """quote and bill: the total line bold, nothing else changed; JSON has no escape codes."""
    quote = ["quote", BDA, "DetectBody=150000", "--pack", "detection:10万"]
    _, plain, _ = run(capsys, *quote)
    _, coloured, _ = run(capsys, "--color", "always", *quote)
    assert f"\n{BOLD}total CNY 98.00{RESET}\n" in coloured
    assert SGR.sub("", coloured) == plain
    journal = str(ROOT / "tests" / "journals" / "account.jsonl")
    _, plain, _ = run(capsys, "bill", BDA, "--journal", journal)
    _, coloured, _ = run(capsys, "bill", BDA, "--journal", journal, "--color", "always")
    assert coloured.count(BOLD) == plain.count("\ntotal CNY ") == 2
    assert SGR.sub("", coloured) == plain
    for json_argv in ([*quote, "--json"], ["bill", BDA, "--journal", journal, "--json"],
                      ["check", "--format", "json", BDA]):
        _, out, err = run(capsys, "--color", "always", *json_argv)
        assert "\x1b" not in out + err


def test_usage_errors_say_error_in_red(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--color", "always", "check", "no/such.rules") == (
        2, "", f"ratecard: {RED}error{RESET}: no/such.rules: no such file\n")
    assert run(capsys, "check", "no/such.rules")[2] == (
        "ratecard: error: no/such.rules: no such file\n")


# --- a real terminal ------------------------------------------------------------------------------

def on_terminal(argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """Run `python -m ratecard ARGV` with stderr on a pseudo-terminal and stdout on a pipe: the
    exit code, stdout, and what the terminal showed (its `\\r\\n` read as `\\n`)."""
    master, slave = pty.openpty()
    shown = bytearray()

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                return
            if not data:
                return
            shown.extend(data)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        process = subprocess.run([sys.executable, "-m", "ratecard", *argv], stdout=subprocess.PIPE,
                                 stderr=slave, stdin=subprocess.DEVNULL, env=env, timeout=120,
                                 check=False)
    finally:
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    return (process.returncode, process.stdout.decode(),
            shown.decode("utf-8", "replace").replace("\r\n", "\n"))


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "TERM")}
    return {**env, "PYTHONPATH": str(ROOT / "src"), "TERM": "xterm-256color", **extra}


def test_a_terminal_gets_colour_and_a_pipe_none(broken: str) -> None:
    code, out, shown = on_terminal(["check", broken], _environment())
    assert (code, out) == (1, f"{broken}: failed (3 errors)\n")
    assert shown.startswith(f"{RED}error[E107]{RESET}")
    plain = SGR.sub("", shown)
    for env in (_environment(NO_COLOR="1"), _environment(TERM="dumb")):
        assert on_terminal(["check", broken], env) == (1, out, plain)
    assert on_terminal(["--color", "never", "check", broken], _environment()) == (1, out, plain)
    piped = subprocess.run([sys.executable, "-m", "ratecard", "check", broken],
                           capture_output=True, text=True, env=_environment(), check=False)
    assert (piped.returncode, piped.stdout, piped.stderr) == (1, out, plain)
