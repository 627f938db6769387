"""The command line when things go wrong around it: standard output that cannot be written,
two runs on one state file, and price sheets bound for a path already taken (issue 13,
items 3, 4, 9 and 14)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import ratecard
from ratecard import statefile
from ratecard.cli import main
from tests.conftest import BDA_RULES, ROOT

BDA = str(BDA_RULES)
JOURNALS = Path(__file__).parent / "journals"
ACCOUNT = str(JOURNALS / "account.jsonl")
# Subprocesses as a user runs them: stdout buffered (the test environment may say otherwise).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
       "PYTHONPATH": str(ROOT / "src")}
NO_SPACE = "cannot write to standard output: No space left on device"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


class BrokenOutput:
    """A stdout that fails as `> /dev/full` (ENOSPC) or a closed pipe (EPIPE) does: at the
    first write, or (`at_flush`) only when what was buffered is flushed."""

    def __init__(self, error: int, at_flush: bool = False) -> None:
        self.error = error
        self.at_flush = at_flush
        self.taken: list[str] = []

    def _raise(self) -> None:
        raise OSError(self.error, os.strerror(self.error))

    def write(self, text: str) -> int:
        if not self.at_flush:
            self._raise()
        self.taken.append(text)
        return len(text)

    def flush(self) -> None:
        self._raise()


@pytest.fixture
def usage_csv(tmp_path: Path) -> str:
    path = tmp_path / "usage.csv"
    path.write_text("account,time,action,count\na-1,2026-11-02T10:00:00+08:00,DetectBody,5000\n",
                    encoding="utf-8")
    return str(path)


# --- item 9: output that cannot be written, from every command ------------------------------

COMMANDS = {
    "check": ["check", "--verbose", BDA],  # a clean file has a verdict line only with -v
    "fmt": ["fmt", BDA],
    "quote": ["quote", BDA, "DetectBody=5000"],
    "bill": ["bill", BDA, "--journal", ACCOUNT],
    "render": ["render", BDA],
    "completion": ["completion", "bash"],
}


@pytest.mark.parametrize("at_flush", [False, True], ids=["write", "flush"])
@pytest.mark.parametrize(("error", "reason"), [
    (errno.ENOSPC, "No space left on device"),
    (errno.EPIPE, "the reading end of the pipe was closed"),
], ids=["full", "pipe"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unwritable_stdout_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str,
    error: int, reason: str, at_flush: bool,
) -> None:
    """Every command, its output failing at the first write or only at the final flush (the
    output was small enough to sit in the buffer): exit 2 and one line, never a traceback."""
    monkeypatch.setattr(sys, "stdout", BrokenOutput(error, at_flush))
    code, _, err = run(capsys, *COMMANDS[command])
    assert code == 2
    assert err.splitlines()[-1] == f"ratecard: error: cannot write to standard output: {reason}"
    assert "Traceback" not in err


def test_help_to_unwritable_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ratecard --help > /dev/full`: argparse's own output is flushed inside the guard too
    (exit 2, the one line); with a working stdout, --help exits 0 as argparse does."""
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", BrokenOutput(errno.ENOSPC, at_flush=True))
        code, _, err = run(capsys, "--help")
    assert (code, err) == (2, f"ratecard: error: {NO_SPACE}\n")
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("usage: ratecard")


def test_warehouse_to_unwritable_stdout(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, usage_csv: str
) -> None:
    pytest.importorskip("duckdb")
    monkeypatch.setattr(sys, "stdout", BrokenOutput(errno.ENOSPC, at_flush=True))
    code, _, err = run(capsys, "warehouse", BDA, "--usage", usage_csv)
    assert code == 2
    assert err.splitlines()[-1] == f"ratecard: error: {NO_SPACE}"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
@pytest.mark.parametrize("unbuffered", [False, True], ids=["buffered", "unbuffered"])
def test_dev_full_is_one_line_in_a_real_process(unbuffered: bool) -> None:
    """`> /dev/full` for real: the one line, exit 2, and no second report (and exit 120) when
    Python flushes its buffered stdout at exit."""
    env = {**ENV, "PYTHONUNBUFFERED": "1"} if unbuffered else ENV
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "ratecard", "quote", BDA,
                                 "DetectBody=5000"], stdout=full, stderr=subprocess.PIPE,
                                text=True, env=env, check=False)
    assert (result.returncode, result.stderr) == (2, f"ratecard: error: {NO_SPACE}\n")


# --- item 3: the bills are written before the state moves past them --------------------------

def _bill_state(state: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ratecard", "bill", BDA, "--journal", ACCOUNT, "--state",
            str(state), *extra]


def test_state_is_saved_only_after_the_bills_are_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The account journal with a state file, stdout full: exit 2, one line naming the state,
    and no state saved (there was none: there is none). With stdout working again, the run
    prints November's bill (2.00, settled 1.00 from the balance of 1.00, 1.00 in arrears) as
    the run without a state does, and saves the state; stdout failing on the next run leaves
    that state byte for byte as it was."""
    state = tmp_path / "account.json"
    argv = ["bill", BDA, "--journal", ACCOUNT, "--state", str(state)]
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", BrokenOutput(errno.ENOSPC, at_flush=True))
        code, _, err = run(capsys, *argv)
    assert (code, err) == (2, f"ratecard: error: cannot write the bills to standard output (No "
                              f"space left on device): {state} is left as it was, and a run "
                              "whose output can be written prints them again\n")
    assert not state.exists()

    code, out, err = run(capsys, *argv)
    _, whole, _ = run(capsys, "bill", BDA, "--journal", ACCOUNT)
    november = whole.split("\n\n2026-12, issued")[0]
    assert (code, out, err) == (0, november + "\n", "")
    assert "settled 2026-12-01T00:00:00+08:00: paid 1.00 from the balance, balance -1.00" in out
    saved = state.read_bytes()
    assert json.loads(saved)["entries"] == 9

    empty = tmp_path / "empty.jsonl"
    empty.touch()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", BrokenOutput(errno.EPIPE))
        code, _, err = run(capsys, "bill", BDA, "--journal", str(empty), "--state", str(state),
                           "--close-through", "2026-12")
    assert (code, err) == (2, "ratecard: error: cannot write the bills to standard output (the "
                              f"reading end of the pipe was closed): {state} is left as it "
                              "was, and a run whose output can be written prints them again\n")
    assert state.read_bytes() == saved


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_state_with_dev_full_and_a_closed_pipe_in_real_processes(tmp_path: Path) -> None:
    """The same with real descriptors: `> /dev/full`, then a pipe whose reading end is closed
    before ratecard writes (EPIPE). Neither saves the state; a run with a working stdout then
    prints November's bill and saves it."""
    state = tmp_path / "account.json"
    with open("/dev/full", "w") as full:
        result = subprocess.run(_bill_state(state), stdout=full, stderr=subprocess.PIPE,
                                text=True, env=ENV, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("ratecard: error: cannot write the bills to standard output "
                                    "(No space left on device): ")
    assert result.stderr.count("\n") == 1
    assert not state.exists()

    read, write = os.pipe()
    os.close(read)
    try:
        result = subprocess.run(_bill_state(state), stdout=write, stderr=subprocess.PIPE,
                                text=True, env=ENV, check=False)
    finally:
        os.close(write)
    assert (result.returncode, result.stderr.count("\n")) == (2, 1)
    assert "(the reading end of the pipe was closed)" in result.stderr
    assert not state.exists()

    result = subprocess.run(_bill_state(state), capture_output=True, text=True, env=ENV,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("2026-11, issued 2026-12-01\n")
    assert "total CNY 2.00" in result.stdout
    assert json.loads(state.read_text(encoding="utf-8"))["entries"] == 9


# --- item 4: one state file, one run at a time -------------------------------------------------

class HeldLock:
    """The lock of a state file, held by the test as another run would hold it."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.fd: int | None = os.open(statefile.lock_path(state), os.O_RDWR | os.O_CREAT)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


@pytest.fixture
def held(tmp_path: Path) -> Iterator[HeldLock]:
    lock = HeldLock(tmp_path / "account.json")
    try:
        yield lock
    finally:
        lock.release()


def _journal(path: Path, action: str, count: int) -> str:
    """`count` entries of one call each, all at one instant, so that either journal may be fed
    before the other (an account takes entries at the instant it has reached)."""
    entry = json.dumps({"time": "2026-11-02T10:00:00+08:00", "type": "usage", "action": action,
                        "count": 1})
    path.write_text((entry + "\n") * count, encoding="utf-8")
    return str(path)


def test_two_runs_on_one_state_file_keep_both_journals(held: HeldLock, tmp_path: Path) -> None:
    """Two real processes bill two journals (1,500 DetectBody calls, 2,500 SearchTrace calls)
    into one state file at the same time. Both start while the state's lock is held and are
    set off together when it is let go, so they contend for it: the second waits for the
    first. Both exit 0 and the state holds both journals: 4,000 entries, and November closes
    with detection 1,000 from the allowance + 500 postpaid, search 1,000 + 1,500 postpaid:
    2,000 × 0.002 = 4.00 (one volume ladder over the two meters)."""
    state = held.state
    journals = [_journal(tmp_path / "a.jsonl", "DetectBody", 15000),
                _journal(tmp_path / "b.jsonl", "SearchTrace", 25000)]
    runs = [subprocess.Popen([sys.executable, "-m", "ratecard", "bill", BDA, "--journal", path,
                              "--state", str(state), "--lock-timeout", "30"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
            for path in journals]
    time.sleep(0.2)  # both start and wait at the lock (or, if slower, find it held)
    held.release()
    results = [process.communicate(timeout=60) for process in runs]
    assert [process.returncode for process in runs] == [0, 0], results
    assert [out for out, _ in results] == [
        "(no bill issued: the account is in 2026-11, at 2026-11-02T10:00:00+08:00)\n"] * 2
    account = ratecard.Account.restore(ratecard.load(BDA_RULES), state.read_bytes())
    assert account.entries == 40000
    (november,) = account.close_through("2026-11")
    assert [(line.meter, line.source, line.quantity) for line in november.lines] == [
        ("detection", "allowance", 1000), ("detection", "postpaid", 14000),
        ("search", "allowance", 1000), ("search", "postpaid", 24000)]
    assert str(november.total) == "76.00"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a.jsonl", "account.json", "account.json.lock", "b.jsonl"]  # no temporary file left


def test_a_run_that_cannot_get_the_lock_gives_up_clearly(
    capsys: pytest.CaptureFixture[str], held: HeldLock, tmp_path: Path
) -> None:
    """Another run holds the state's lock past --lock-timeout: exit 2, one line naming the
    state and its lock, nothing printed, the state as it was."""
    state = held.state
    state.write_text("kept", encoding="utf-8")
    started = time.monotonic()
    code, out, err = run(capsys, "bill", BDA, "--journal", ACCOUNT, "--state", str(state),
                         "--lock-timeout", "0.2")
    assert 0.2 <= time.monotonic() - started < 2
    assert (code, out) == (2, "")
    assert err == (f"ratecard: error: {state} is in use: another ratecard run holds its lock "
                   f"{state}.lock (waited 0.2 s; wait longer with --lock-timeout SECONDS)\n")
    assert state.read_text(encoding="utf-8") == "kept"


def test_a_run_waits_for_the_lock_and_reads_the_state_only_then(
    held: HeldLock, tmp_path: Path
) -> None:
    """A run of the account journal's last six entries (December's) starts while another holds
    the lock and waits, without touching the state. Meanwhile the holder saves the account fed
    the first three (November's). Let go, the waiting run reads that state (there was none when
    it started): its entries make November's bill due (2,000 calls: 1,000 from the allowance,
    1,000 × 0.002 = 2.00), and the state counts all nine entries."""
    state = held.state
    lines = Path(ACCOUNT).read_text(encoding="utf-8").splitlines(keepends=True)
    later = tmp_path / "later.jsonl"
    later.write_text("".join(lines[3:]), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "ratecard", "bill", BDA, "--journal", str(later), "--state",
         str(state)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    time.sleep(0.2)
    assert process.poll() is None and not state.exists()
    account = ratecard.Account(ratecard.load(BDA_RULES))
    account.feed([json.loads(line) for line in lines[:3]])
    state.write_text(json.dumps(account.snapshot()), encoding="utf-8")
    held.release()
    out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (0, "")
    assert out.startswith("2026-11, issued 2026-12-01\n") and "total CNY 2.00" in out
    assert json.loads(state.read_text(encoding="utf-8"))["entries"] == 9


def test_the_state_is_replaced_whole_through_a_synced_unique_temporary_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The new state is written to a temporary file of its own in the state's directory,
    synced, and renamed over the state, and then the directory is synced; the state keeps its
    mode. A stale file at the old fixed temporary name changes nothing."""
    state = tmp_path / "account.json"
    state.write_text("", encoding="utf-8")
    state.unlink()
    (tmp_path / ".account.json.ratecard-state").mkdir()  # in the way of the old fixed name
    calls: list[str] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append("fsync " + ("directory" if os.path.isdir(f"/proc/self/fd/{fd}")
                                 else "file"))
        real_fsync(fd)

    def replace(source: str, target: str) -> None:
        name = Path(source).name
        assert Path(source).parent == tmp_path and name.startswith(".account.json.")
        calls.append("replace")
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    code, _, err = run(capsys, "bill", BDA, "--journal", ACCOUNT, "--state", str(state))
    assert (code, err) == (0, "")
    assert calls == ["fsync file", "replace", "fsync directory"]
    assert json.loads(state.read_text(encoding="utf-8"))["entries"] == 9

    state.chmod(0o640)
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    code, _, _ = run(capsys, "bill", BDA, "--journal", str(empty), "--state", str(state))
    assert code == 0 and state.stat().st_mode & 0o777 == 0o640


def test_a_state_that_cannot_be_written_leaves_the_old_one_and_no_temporary_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The rename fails (a full disk, say): exit 2 naming the state, the bills were printed
    (they will be printed again), the old state is untouched and the temporary file is gone."""
    state = tmp_path / "account.json"
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert run(capsys, "bill", BDA, "--journal", str(empty), "--state", str(state))[0] == 0
    kept = state.read_bytes()

    def replace(source: str, target: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", replace)
    code, out, err = run(capsys, "bill", BDA, "--journal", ACCOUNT, "--state", str(state))
    assert code == 2
    assert out.startswith("2026-11, issued 2026-12-01\n")
    assert err == (f"ratecard: error: cannot write {state}: No space left on device; the bills "
                   "above are printed but not saved: the next run prints them again\n")
    assert state.read_bytes() == kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "account.json", "account.json.lock", "empty.jsonl"]


# --- item 14: price sheets bound for a path already taken --------------------------------------

@pytest.fixture
def two_x(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """a/x.rules and b/x.rules (the BDA sheet, twice), the working directory tmp_path."""
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.rules").write_bytes(BDA_RULES.read_bytes())
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize(("argv", "message"), [
    (["a/x.rules", "b/x.rules", "--out-dir", "d"],
     "the sheets of `a/x.rules` and `b/x.rules` would both be written to `d/x.zh.md`: render "
     "them to separate --out-dir directories, or rename one; nothing was written"),
    (["a/x.rules", "b/x.rules", "--out-dir", "d", "--check"],
     "the sheets of `a/x.rules` and `b/x.rules` would both be checked against `d/x.zh.md`: "
     "render them to separate --out-dir directories, or rename one; nothing was checked"),
    (["a/x.rules", "b/x.rules", "--out-dir", "d", "--format", "html", "--lang", "en"],
     "the sheets of `a/x.rules` and `b/x.rules` would both be written to `d/x.en.html`: render "
     "them to separate --out-dir directories, or rename one; nothing was written"),
    (["a/x.rules", "-o", "a/x.rules"],
     "the sheet of `a/x.rules` would be written to `a/x.rules`, which is the rules file "
     "`a/x.rules`: choose another output path; nothing was written"),
    (["a/x.rules", "-o", "./b/../a/x.rules"],
     "the sheet of `a/x.rules` would be written to `b/../a/x.rules`, which is the rules file "
     "`a/x.rules`: choose another output path; nothing was written"),
    (["link.rules", "-o", "a/x.rules"],
     "the sheet of `link.rules` would be written to `a/x.rules`, which is the rules file "
     "`link.rules`: choose another output path; nothing was written"),
    (["a/x.rules", "-o", "hard.md"],
     "the sheet of `a/x.rules` would be written to `hard.md`, which is the rules file "
     "`a/x.rules`: choose another output path; nothing was written"),
    (["a/x.rules", "./a/x.rules", "--out-dir", "d"],
     "`a/x.rules` and `./a/x.rules`: the same rules file is given twice"),
    (["a/x.rules", "link.rules", "--out-dir", "d"],
     "`a/x.rules` and `link.rules`: the same rules file is given twice"),
    (["a/x.rules", "c/y.rules", "--out-dir", "d", "--format", "md", "--lang", "zh"],
     "the sheets of `a/x.rules` and `c/y.rules` would both be written to `d/x.zh.md` and "
     "`d/y.zh.md` (one file): render them to separate --out-dir directories, or rename one; "
     "nothing was written"),
    (["a/x.rules", "c/y.rules", "--out-dir", "d", "--format", "md", "--lang", "en"],
     "the sheets of `a/x.rules` and `c/y.rules` would both be written to `d/x.en.md` and "
     "`d/y.en.md` (one file): render them to separate --out-dir directories, or rename one; "
     "nothing was written"),
])
def test_render_outputs_that_collide_are_refused_before_anything_is_written(
    capsys: pytest.CaptureFixture[str], two_x: Path, argv: list[str], message: str | None
) -> None:
    """Two sheets bound for one path (the second would replace the first; also two names of
    one file: d/y.zh.md a hard link of d/x.zh.md, d/y.en.md a symlink to d/x.en.md), a sheet
    bound for a rules file (through `./`, `..`, a symlink or a hard link), or one rules file
    given twice: exit 2 naming the inputs and the path, and not a byte written anywhere."""
    (two_x / "link.rules").symlink_to("a/x.rules")
    os.link(two_x / "a" / "x.rules", two_x / "hard.md")
    (two_x / "c").mkdir()
    (two_x / "c" / "y.rules").write_bytes(BDA_RULES.read_bytes())
    (two_x / "d").mkdir()
    (two_x / "d" / "x.zh.md").write_text("old", encoding="utf-8")
    os.link(two_x / "d" / "x.zh.md", two_x / "d" / "y.zh.md")
    (two_x / "d" / "x.en.md").write_text("old", encoding="utf-8")
    (two_x / "d" / "y.en.md").symlink_to("x.en.md")
    before = _tree(two_x)
    code, out, err = run(capsys, "render", *argv)
    assert (code, out, err) == (2, "", f"ratecard: error: {message}\n")
    assert _tree(two_x) == before


def test_render_paths_that_do_not_collide_are_rendered(
    capsys: pytest.CaptureFixture[str], two_x: Path
) -> None:
    """Sheets beside their rules file (a/x.en.md is not a/x.rules), and two rules files of
    different stems in one directory: rendered as before."""
    (two_x / "b" / "x.rules").rename(two_x / "b" / "y.rules")
    code, out, _ = run(capsys, "render", "a/x.rules", "--out-dir", "a", "--format", "md",
                       "--lang", "en")
    assert (code, out) == (0, "a/x.en.md: written\n")
    code, out, _ = run(capsys, "render", "a/x.rules", "b/y.rules", "--out-dir", "d",
                       "--format", "md", "--lang", "zh")
    assert (code, out) == (0, "d/x.zh.md: written\nd/y.zh.md: written\n")
    assert (two_x / "a" / "x.rules").read_bytes() == BDA_RULES.read_bytes()
