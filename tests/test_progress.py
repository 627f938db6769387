"""`bill` of a big journal shows a progress bar on stderr when stderr is a terminal, and nothing
anywhere else: the bills are the same either way.

The terminal is a real pseudo-terminal (`pty`); the journal is just over the size that gets a
bar (terminal.PROGRESS_BYTES, 1 MiB)."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest

from ratecard.terminal import PROGRESS_BYTES, Counted, journal_progress
from tests.conftest import BDA_RULES, ROOT

BDA = str(BDA_RULES)
ENV = {**{k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")},
       "PYTHONPATH": str(ROOT / "src"), "TERM": "xterm-256color"}
BAR = "%|"  # tqdm's bar: `journal.jsonl:  41%|████▌      | 530k/1.26M [...]`


class Tty(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_a_bar_only_for_a_big_journal_on_a_terminal() -> None:
    assert journal_progress(PROGRESS_BYTES + 1, Tty(True)) is True
    assert journal_progress(PROGRESS_BYTES, Tty(True)) is False
    assert journal_progress(None, Tty(True)) is False  # a pipe: its size is not known
    assert journal_progress(10 * PROGRESS_BYTES, Tty(False)) is False


def test_counted_reads_are_the_streams_reads() -> None:
    counted: list[int] = []
    stream = Counted(io.BytesIO(b"x" * 100_000), "j.jsonl", counted.append)
    assert isinstance(stream, io.IOBase) and stream.name == "j.jsonl"
    assert len(stream.read(65536)) == 65536
    assert len(stream.read(65536)) == 100_000 - 65536
    assert stream.read(65536) == b""
    assert counted == [65536, 100_000 - 65536]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A journal just over 1 MiB: 12,000 usage entries of November 2026, 1,000 calls each, and
    a pack bought on the first.

    Bill: detection 12,000,000 calls; 1,000 free, 1,000,000 from the 100万 pack, 10,999,000
    postpaid in (3000000, 15000000] × 0.0018 = 19798.20."""
    path = tmp_path_factory.mktemp("journal") / "big.jsonl"
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps({"time": "2026-11-01T00:00:00+08:00", "type": "purchase",
                              "meter": "detection", "size": 1_000_000}) + "\n")
        for i in range(12_000):
            minute = i % 1440
            out.write(json.dumps({
                "time": f"2026-11-{1 + i // 1440:02d}T{minute // 60:02d}:{minute % 60:02d}:00"
                        "+08:00",
                "type": "usage", "action": "DetectBody", "count": 1000,
                "id": f"u-{i:08d}-{'x' * 40}"}) + "\n")
    assert PROGRESS_BYTES < path.stat().st_size < 2 * PROGRESS_BYTES
    return path


def on_terminal(argv: list[str], stdout_too: bool = False,
                stdin: IO[bytes] | None = None) -> tuple[int, str, str]:
    """`python -m ratecard ARGV` with stderr (and, with `stdout_too`, stdout) on a
    pseudo-terminal: exit code, stdout (empty with `stdout_too`), what the terminal got."""
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
        process = subprocess.run(
            [sys.executable, "-m", "ratecard", *argv], stdin=stdin or subprocess.DEVNULL,
            stdout=slave if stdout_too else subprocess.PIPE, stderr=slave, env=ENV,
            timeout=300, check=False)
    finally:
        os.close(slave)
        reader.join(timeout=30)
        os.close(master)
    return (process.returncode, (process.stdout or b"").decode(),
            shown.decode("utf-8", "replace"))


def piped(argv: list[str], stdin: IO[bytes] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ratecard", *argv],
                          stdin=stdin or subprocess.DEVNULL, capture_output=True, text=True,
                          env=ENV, timeout=300, check=False)


def test_a_terminal_shows_the_bar_and_a_pipe_nothing(big: Path) -> None:
    argv = ["bill", BDA, "--journal", str(big)]
    quiet = piped(argv)
    assert (quiet.returncode, quiet.stderr) == (0, "")
    assert "\ntotal CNY 19798.20\n" in quiet.stdout
    code, out, shown = on_terminal(argv)
    assert (code, out) == (0, quiet.stdout)  # the same bills
    assert "big.jsonl:   0%|" in shown
    assert f" 0.00/{big.stat().st_size / 2**20:.2f}M " in shown  # of the file's bytes, in MiB
    # Cleared at the end (tqdm's leave=False): spaces over the bar, the cursor back at 0.
    assert shown.rstrip(" ").endswith("\r") and not shown.endswith(BAR)


def test_a_small_journal_shows_nothing() -> None:
    small = ROOT / "tests" / "journals" / "account.jsonl"
    code, out, shown = on_terminal(["bill", BDA, "--journal", str(small)])
    assert (code, shown) == (0, "")
    assert out == piped(["bill", BDA, "--journal", str(small)]).stdout


def test_the_bar_is_gone_before_the_bills_are_printed(big: Path) -> None:
    """stdout and stderr on one terminal, as in a shell: the bills start on a clean line, after
    the bar is cleared."""
    code, _, shown = on_terminal(["bill", BDA, "--journal", str(big)], stdout_too=True)
    assert code == 0
    bar_end = shown.rindex(BAR)
    bills = shown.index("2026-11, issued 2026-12-01")
    assert bar_end < bills
    between = shown[bar_end:bills]
    assert between.rstrip("\r\n").rstrip(" ").endswith("\r")  # the clearing line, then the bills


def test_standard_input_from_a_file_has_a_bar_and_from_a_pipe_none(big: Path) -> None:
    argv = ["bill", BDA, "--journal", "-"]
    with big.open("rb") as journal:
        code, out, shown = on_terminal(argv, stdin=journal)
    assert code == 0 and "<stdin>:   0%|" in shown
    with big.open("rb") as journal:
        assert out == piped(argv, stdin=journal).stdout
    # A pipe: its size is not known, so no bar (and the bills as from the file).
    feeder = subprocess.Popen(["cat", str(big)], stdout=subprocess.PIPE)
    assert feeder.stdout is not None
    try:
        code, piped_out, shown = on_terminal(argv, stdin=feeder.stdout)
    finally:
        feeder.stdout.close()
        feeder.wait()
    assert (code, piped_out, shown) == (0, out, "")


def test_skipped_entries_are_printed_above_the_bar(big: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_bytes(big.read_bytes() + b'{"time": "2026-11-30T00:00:00+08:00"}\n')
    code, out, shown = on_terminal(["bill", BDA, "--journal", str(broken), "--skip-invalid"])
    assert code == 0
    assert f"ratecard: skipped {broken}:12002: " in shown
    assert shown.index(BAR) < shown.index("ratecard: skipped ")
    assert shown.rstrip().endswith("ratecard: skipped 1 invalid journal entry")
    quiet = piped(["bill", BDA, "--journal", str(broken), "--skip-invalid"])
    assert quiet.stdout == out
    assert BAR not in quiet.stderr and quiet.stderr.count("ratecard: skipped") == 2


def test_state_runs_show_the_bar_too(big: Path, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    code, out, shown = on_terminal(["bill", BDA, "--journal", str(big), "--state", str(state),
                                    "--close-through", "2026-11"])
    assert code == 0 and BAR in shown
    assert "\ntotal CNY 19798.20\n" in out
    assert json.loads(state.read_text(encoding="utf-8"))["entries"] == 12_001
