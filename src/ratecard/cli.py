"""The command line: `ratecard check | quote | ...` (exit 0 ok, 1 diagnostics, 2 usage or I/O)."""

from __future__ import annotations

import argparse
import contextlib
import decimal
import errno
import io
import json
import os
import shutil
import signal
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, BinaryIO, NoReturn, TextIO, cast

from ratecard.api import analyze, analyze_acknowledged
from ratecard.console import (
    COLOR,
    EXIT_DIAGNOSTICS,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    compile_file,
    read_source,
    report,
    stderr_palette,
    stdout_palette,
    version,
)
from ratecard.diagnostics import Diagnostic, render_all, summary
from ratecard.errors import UsageError
from ratecard.literals import format_plain
from ratecard.source import SourceFile
from ratecard.terminal import COLOR_MODES, PLAIN, Palette, journal_progress, progress

if TYPE_CHECKING:
    # The evaluator is imported where a command needs it: `ratecard check` never loads it.
    from ratecard.engine.account import Account
    from ratecard.engine.bills import Bill, BillLine, SubscriptionCharge
    from ratecard.engine.journal import JournalError
    from ratecard.engine.pricebook import HeldPack, MeterPlan, PriceBook
    from ratecard.nodes import Rules
    from ratecard.render import Publishing, RenderedSheet

ZERO_AMOUNT = Decimal(0)
# The versions of the `--json` shapes (docs/api.md, "JSON output"; a JSON Schema for each in
# docs/schemas/). A key added keeps the version; a key removed or changed gets a new one.
QUOTE_SCHEMA = "ratecard.quote/1"  # quote --json: one bill, DESIGN.md's four keys
BILL_SCHEMA = "ratecard.bill/1"  # bill --month --json: that month's bill
BILLS_SCHEMA = "ratecard.bills/1"  # bill --json (and --state): {"bills": [...]}

LOCK_TIMEOUT = 60.0  # seconds `bill --state` waits for another run on the same state file


def _fail(message: str) -> int:
    with contextlib.suppress(OSError):  # stderr gone too: the exit status still tells
        print(f"ratecard: {stderr_palette().paint('error', 'error')}: {message}",
              file=sys.stderr)
    return EXIT_USAGE


# --- check --------------------------------------------------------------------------------

def _ignored_codes(items: Sequence[str]) -> set[str]:
    """The warning codes of `--ignore W003,W004` (repeatable); CommandError for anything else."""
    from ratecard.check import WARNINGS

    codes: set[str] = set()
    for item in items:
        for code in filter(None, (part.strip() for part in item.split(","))):
            if code.upper().startswith("E"):
                raise CommandError(f"--ignore {code}: errors cannot be ignored; fix them")
            if code.upper() not in WARNINGS:
                raise CommandError(f"--ignore {code}: not a warning code; warnings are "
                                   + ", ".join(WARNINGS))
            codes.add(code.upper())
    return codes


def cmd_check(args: argparse.Namespace) -> int:
    """Check rules files: every diagnostic of every file; exit 1 if any has an error (or, with
    `--deny warnings`, a warning). `--ignore` leaves warnings out of the report.

    A file with nothing to report (its warnings acknowledged by `# allow:` or ignored) prints
    nothing, as a compiler says nothing of a clean file; the others end with a verdict line,
    `x.rules: ok (2 warnings)` or `x.rules: failed (1 error)`. `--verbose` gives every file its
    verdict line, with the warnings its `# allow:` comments acknowledge counted.
    """
    ignored = _ignored_codes(args.ignore)
    deny = args.deny is not None
    failed = False
    collected: list[Diagnostic] = []
    acknowledged: dict[str, int] = {}
    sources: dict[str, SourceFile] = {}
    for path in args.files:
        source = read_source(path)
        sources[path] = source
        _, diagnostics, allowed = analyze_acknowledged(source)
        diagnostics = [d for d in diagnostics if d.is_error or d.code not in ignored]
        collected.extend(diagnostics)
        acknowledged[path] = len(allowed)
        failed = failed or any(d.is_error or deny for d in diagnostics)
    if args.format == "json":
        print(render_all(collected, sources, "json"))
    elif args.format in ("github", "sarif"):
        from ratecard.annotations import to_github, to_sarif

        if args.format == "sarif":
            print(to_sarif(collected, sources, version()))
        elif collected:
            print(to_github(collected, sources))
    else:
        if collected:
            print(render_all(collected, sources, args.format, stderr_palette()),
                  file=sys.stderr)
        for path in args.files:
            own = [d for d in collected if d.span.file == path]
            verdict = "failed" if any(d.is_error or deny for d in own) else "ok"
            details = [summary(own)] if own else []
            if args.verbose and acknowledged[path]:
                count = acknowledged[path]
                details.append(f"{count} acknowledged" if own else
                               f"{count} warning{'s' if count != 1 else ''} acknowledged")
            if own or args.verbose:
                shown = f" ({', '.join(details)})" if details else ""
                print(f"{path}: {verdict}{shown}")
    return EXIT_DIAGNOSTICS if failed else EXIT_OK


# --- fmt ----------------------------------------------------------------------------------

STDIN = "-"


def _read_for_fmt(path: str) -> tuple[SourceFile, bytes]:
    """A file's text and its bytes as they are on disk (`-`: standard input)."""
    if path != STDIN:
        source = read_source(path)
        try:
            return source, Path(path).read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from None
    data = sys.stdin.buffer.read()
    try:
        return SourceFile("<stdin>", data.decode("utf-8-sig")), data
    except UnicodeDecodeError as exc:
        raise CommandError(f"<stdin>: not UTF-8 text (byte {exc.start})") from None


def _rewrite(path: str, text: str) -> None:
    """Replace a file's content in one step (a symlink's target, keeping its mode)."""
    target = Path(path).resolve()
    temporary = target.with_name(f".{target.name}.ratecard-fmt")
    try:
        temporary.write_bytes(text.encode("utf-8"))
        shutil.copymode(target, temporary)
        os.replace(temporary, target)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def cmd_fmt(args: argparse.Namespace) -> int:
    """Rules in canonical layout: printed, checked (--check) or rewritten in place (--write)."""
    from ratecard.fmt import FormatError, format_source

    if args.write and STDIN in args.files:
        raise CommandError("--write cannot rewrite standard input")
    failed = False
    unformatted = formatted_already = with_errors = 0
    for path in args.files:
        source, data = _read_for_fmt(path)
        try:
            formatted = format_source(source)
        except FormatError as exc:
            raise CommandError(f"cannot format {exc}; the file is left as it is") from None
        if isinstance(formatted, Diagnostic):
            report([formatted], source, "full")
            failed = True
            with_errors += 1
        elif args.check:
            if formatted.encode("utf-8") != data:
                print(f"would reformat {path}")
                failed = True
                unformatted += 1
            else:
                formatted_already += 1
        elif args.write:
            if formatted.encode("utf-8") != data:
                _rewrite(path, formatted)
                print(f"{path}: reformatted")
        else:
            sys.stdout.write(formatted)
    if args.check:
        print(_fmt_check_summary(unformatted, formatted_already, with_errors))
    return EXIT_DIAGNOSTICS if failed else EXIT_OK


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _fmt_check_summary(unformatted: int, formatted: int, with_errors: int) -> str:
    """`1 file would be reformatted, 2 files already formatted` (as ruff says it); each
    count only when it is not 0, and a file with a syntax error counted apart."""
    parts = []
    if unformatted:
        parts.append(f"{_files(unformatted)} would be reformatted")
    if formatted or not (unformatted or with_errors):
        parts.append(f"{_files(formatted)} already formatted")
    if with_errors:
        parts.append(f"{_files(with_errors)} with a syntax error" if with_errors == 1
                     else f"{_files(with_errors)} with syntax errors")
    return ", ".join(parts)


# --- quote --------------------------------------------------------------------------------

def _usage_arguments(items: Sequence[str]) -> dict[str, str]:
    usage: dict[str, str] = {}
    for item in items:
        action, sep, count = item.partition("=")
        if not sep or not action or not count:
            raise CommandError(f"`{item}`: write usage as ACTION=COUNT, e.g. DetectBody=600000")
        if action in usage:
            raise CommandError(f"`{action}` is given twice")
        usage[action] = count
    return usage


def _pack_arguments(items: Sequence[str], book: PriceBook) -> list[HeldPack]:
    from ratecard.engine.pricebook import HeldPack

    held = []
    for item in items:
        parts = item.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise CommandError(f"--pack `{item}`: write METER:SIZE or METER:SIZE:REMAINING")
        try:
            meter = book.meter(parts[0])
            offer = book._parse_pack_size(meter, parts[1])
        except UsageError as exc:
            raise CommandError(f"--pack `{item}`: {exc}") from None
        # REMAINING is checked by the quote, by the count's rule (`PriceBook._held`).
        held.append(HeldPack(meter.name, offer.size, parts[2] if len(parts) == 3 else None))
    return held


def cmd_quote(args: argparse.Namespace) -> int:
    """Quote one month of usage totals per action, with packs held at the month's start, at
    the prices in effect on `--at` (default: today in the rules' timezone)."""
    book = compile_file(args.file)
    if book is None:
        return EXIT_DIAGNOSTICS
    if args.contract is not None:
        book = _with_contract(book, args.contract)
        if book is None:
            return EXIT_DIAGNOSTICS
    usage = _usage_arguments(args.usage)
    if args.days is not None:
        return _quote_days(book, usage, args)
    sheet = book.at(_day_option(args.at))
    packs = _pack_arguments(args.pack, sheet)
    try:
        if args.requests is not None:
            bill = sheet.quote_requests(_requests_input(args.requests), usage, packs,
                                        new_account=args.new_account)
        else:
            bill = sheet.quote(usage, packs, new_account=args.new_account)
    except UsageError as exc:
        raise CommandError(str(exc)) from None
    if args.json:
        print(json.dumps({"schema": QUOTE_SCHEMA, **bill.to_dict()}, ensure_ascii=False,
                         indent=2))
    else:
        print(format_bill(book, bill, stdout_palette()))
    return EXIT_OK


def _quote_days(book: PriceBook, usage: dict[str, str], args: argparse.Namespace) -> int:
    """`quote --days N`: the usage given is one day's, repeated on N days from `--at` (default:
    the first of this month in the rules' timezone), with `--pack METER:SIZE` bought at the
    first day's start; billed as a journal of those days is (each day on its own bracket, the
    allowance drawn day after day), and printed as `bill` prints its bills."""
    if not 1 <= args.days <= 366:
        raise CommandError(f"--days {args.days}: quote from 1 to 366 days")
    first = _day_option(args.at) or datetime.now(book.zone).date().replace(day=1)
    journal: list[dict[str, object]] = []
    for item in args.pack:
        meter, _, size = item.partition(":")
        if not meter or not size or ":" in size:
            raise CommandError(f"--pack `{item}`: with --days, write METER:SIZE (a pack bought "
                               "at the first day's start)")
        journal.append({"time": f"{first.isoformat()}T00:00:00", "type": "purchase",
                        "meter": meter, "size": size})
    for offset in range(args.days):
        day = first + timedelta(days=offset)
        journal.extend({"time": f"{day.isoformat()}T12:00:00", "type": "usage",
                        "action": action, "count": count} for action, count in usage.items())
    try:
        bills = book.bill(journal)
    except UsageError as exc:
        raise CommandError(str(exc)) from None
    total = sum((bill.total for bill in bills), ZERO_AMOUNT)
    if args.json:
        print(json.dumps({"schema": BILLS_SCHEMA, "bills": [b.to_dict() for b in bills]},
                         ensure_ascii=False, indent=2))
    else:
        shown = stdout_palette()
        print("\n\n".join(format_statement(book, bill, shown) for bill in bills))
        print(f"\n{args.days} days from {first.isoformat()}: {len(bills)} bills, total "
              f"{book.currency} {format_plain(total)}")
    return EXIT_OK


def _requests_input(path: str) -> str | BinaryIO:
    """`--requests FILE`: the path of a JSON Lines file of request entries (`-`: stdin)."""
    if path == "-":
        return sys.stdin.buffer
    if not os.path.isfile(path):
        raise CommandError(f"--requests `{path}`: no such file")
    return path


def _with_contract(book: PriceBook, path: str) -> PriceBook | None:
    """`--contract FILE`: the book billed under the contract, which must extend the rules file
    given; None (its diagnostics printed) if the contract has errors."""
    from ratecard.errors import RulesError

    source = read_source(path)
    try:
        return book.with_contract(path)
    except RulesError as exc:
        report(exc.diagnostics, source, "full")
        return None


def _grouped(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return format_plain(value)


def _unit_price(line: BillLine, book: PriceBook | None = None) -> str:
    """A line's price as the rules write it: `0.002`, or `3.2 per 3,600` for a price per N;
    on a meter with a display unit, per one of it when that is exact (`3.2 per hour` for 3.2
    per 3600 seconds)."""
    plan = _display_plan(book, line.meter)
    if plan is not None and plan.display_size is not None:
        per = line.per if line.per is not None else Decimal(1)
        context = decimal.Context(prec=60)
        price = context.divide(context.multiply(line.unit_price, plan.display_size), per)
        if not context.flags[decimal.Inexact] and book is not None:
            return f"{format_plain(price.normalize(context))} per " \
                   f"{_english(book, plan.display_unit)}"
    if line.per is None:
        return format_plain(line.unit_price)
    return f"{format_plain(line.unit_price)} per {_grouped(line.per)}"


def _display_plan(book: PriceBook | None, meter: str) -> MeterPlan | None:
    """The meter's plan if it has a display unit."""
    if book is None:
        return None
    for plan in book.meters:
        if plan.name == meter and plan.display_size is not None:
            return plan
    return None


def _english(book: PriceBook, labels: Sequence[str]) -> str:
    """A display name in English if the rules have one, else the first."""
    if "en" in book.languages and book.languages.index("en") < len(labels):
        return labels[book.languages.index("en")]
    return labels[0] if labels else "unit"


def _source(line: BillLine) -> str:
    """A line's source column: `pack ID`, `grant ID`, `credit ID`, `subscription ID` (units it
    covered), `fee ID` (what a subscription or fee costs), `discount 20%` (a contract's),
    `true-up`, or the source's name."""
    if line.source in ("subscription", "fee", "grant", "credit") and line.pack is not None:
        return f"{line.source} {line.pack}"
    if line.pack is not None:
        return f"pack {line.pack}"
    if line.source == "discount" and line.rate is not None:
        return f"discount {format_plain((line.rate * 100).normalize())}%"
    if line.source == "true_up":
        return "true-up"
    return line.source


def _charged(c: SubscriptionCharge) -> str:
    """How a subscription's month was charged: `10 × 280 × 16/30 days = 1493.33`."""
    part = {"period": "", "day": f" × {format_plain(c.used)}/{format_plain(c.of)} days",
            "second": f" × {format_plain(c.used)}/{format_plain(c.of)} seconds"}[c.measure]
    if c.measure == "day" and c.of == 1:
        part = f" × {format_plain(c.used)} day" + ("s" if c.used != 1 else "")
    return (f"{_grouped(c.quantity)} × {format_plain(c.unit_price)}{part} = "
            f"{format_plain(c.amount)}")


def format_bill(book: PriceBook, bill: Bill, palette: Palette = PLAIN) -> str:
    """A bill as an aligned text table for a terminal (with colour, its total line bold). A bill
    of a dated version or under a contract names them under the title; a contract's discount
    lines follow the lines they discount, and a true-up to its minimum spend comes last and is
    explained under the total."""
    title = " / ".join(book.labels) or book.name
    rows = [("meter", "source", "quantity", "bracket", "unit price", "amount")]
    true_up = ZERO_AMOUNT
    for line in bill.lines:
        if line.source == "true_up":
            true_up += line.amount
        rows.append((
            line.meter,
            _source(line),
            "" if line.source in ("true_up", "credit") else _grouped(line.quantity),
            line.bracket or "",
            _unit_price(line, book) if line.source == "postpaid"
            else format_plain(line.unit_price) if line.source == "fee" else "",
            format_plain(line.amount),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    right = {2, 4, 5}

    def fmt(row: Sequence[str]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w)
                 for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        return "  ".join(cells).rstrip()

    out = [f"{title} ({book.currency})"]
    terms = [f"version from {bill.version}"] if bill.version is not None else []
    if bill.contract is not None:
        terms.append(f"contract {bill.contract}")
    if terms:
        out.append(", ".join(terms))
    out.extend(("", fmt(rows[0])))
    out.append("  ".join("-" * w for w in widths))
    out.extend(fmt(row) for row in rows[1:])
    if len(rows) == 1:
        out.append("(no billable usage)")
    out.append("")
    out.append(palette.paint("bold", f"total {bill.currency} {format_plain(bill.total)}"))
    if true_up:
        out.append(f"true-up {format_plain(true_up)}: the lines come to "
                   f"{format_plain(bill.total - true_up)}, under the contract's minimum spend "
                   f"of {format_plain(bill.total)}")
    for credit in bill.credits:
        out.append(f"credit {credit.credit_id}: paid {format_plain(credit.paid)} "
                   f"{'this day' if bill.day is not None else 'this month'}, "
                   f"{format_plain(credit.remaining)} of {format_plain(credit.amount)} left, "
                   f"valid until {credit.expires.isoformat()}")
    for alert in bill.alerts:
        out.append(f"alert: pack {alert.pack} {alert.kind} "
                   f"({_grouped(alert.remaining)} of {_grouped(alert.size)} left)"
                   + (f" at {alert.time.isoformat()}" if alert.time else ""))
    return "\n".join(out)


# --- bill ---------------------------------------------------------------------------------

def cmd_bill(args: argparse.Namespace) -> int:
    """Replay an account journal: the bill of every month it touches, or of `--month`."""
    with contextlib.ExitStack() as held:
        state = None if args.state is None else _lock_state(args, held)
        return _bill(args, state)


def _lock_state(args: argparse.Namespace, held: contextlib.ExitStack) -> Path:
    """`bill --state`: take the state file's lock (statefile.py) for the whole run, into `held`:
    from before the state is read until after it is saved. The state's real path."""
    from ratecard import statefile

    try:
        return held.enter_context(statefile.locked(args.state, args.lock_timeout))
    except statefile.StateFileError as exc:
        raise CommandError(str(exc)) from None


def _bill(args: argparse.Namespace, state: Path | None) -> int:
    from ratecard.engine.bills import Bill

    book = compile_file(args.file)
    if book is None:
        return EXIT_DIAGNOSTICS
    if args.contract is not None:
        book = _with_contract(book, args.contract)
        if book is None:
            return EXIT_DIAGNOSTICS
    skipped: list[JournalError] = []
    # A line on stderr while the journal is read (above its progress bar, if it has one).
    notice: Callable[[str], None] = _to_stderr

    def skip(error: JournalError) -> None:
        skipped.append(error)
        notice(f"ratecard: skipped {error}")

    on_invalid = skip if args.skip_invalid else None
    account = None
    save: Callable[[], None] | None = None
    try:
        if args.close_through is not None and state is None:
            raise CommandError("--close-through needs --state: a journal billed whole closes "
                               "every month it reaches")
        # The journal is open (and its progress bar shown) for the replay only: the bar is
        # cleared before the bills are printed.
        with contextlib.ExitStack() as reading:
            journal, notice = _journal(args, reading)
            if state is not None:
                account, issued, save = _resume(args, book, journal, on_invalid, state)
                result: list[Bill] | Bill = issued
            else:
                result = (book.bill(journal, on_invalid=on_invalid) if args.month is None
                          else _month_bills(book, journal, args.month, on_invalid))
        notice = _to_stderr
    except UsageError as exc:
        raise CommandError(str(exc)) from None
    except FileNotFoundError:
        raise CommandError(f"{args.journal}: no such file") from None
    except OSError as exc:
        raise CommandError(f"{args.journal}: {exc.strerror or exc}") from None
    bills = [result] if isinstance(result, Bill) else result
    if args.json:
        data = {"schema": BILL_SCHEMA, **result.to_dict()} if isinstance(result, Bill) else {
            "schema": BILLS_SCHEMA, "bills": [bill.to_dict() for bill in bills]}
        text = json.dumps(data, ensure_ascii=False, indent=2)
    else:
        shown = stdout_palette()
        text = "\n\n".join(format_statement(book, bill, shown) for bill in bills)
    if skipped:
        entries = "entry" if len(skipped) == 1 else "entries"
        print(f"ratecard: skipped {len(skipped)} invalid journal {entries}", file=sys.stderr)
    if not text and account is not None:
        text = ("(no bill issued: the account has no entries yet)" if account.month is None
                else f"(no bill issued: the account is in {account.month}, at "
                f"{account.last_time})")
    if save is None:
        print(text or "(the journal has no entries)")
        return EXIT_OK
    # The bills reach stdout before the state moves past them: if they cannot be written, the
    # state is left as it was and the next run prints them again.
    try:
        print(text)
        sys.stdout.flush()
    except OutputError as exc:
        raise CommandError(f"cannot write the bills to standard output ({exc.reason}): "
                           f"{args.state} is left as it was, and a run whose output can be "
                           "written prints them again") from None
    save()
    return EXIT_OK


def _month_bills(book: PriceBook, journal: str | BinaryIO, month: str,
                 on_invalid: Callable[[JournalError], None] | None) -> list[Bill] | Bill:
    """`--month`: the month's bill; under `bill per day on ...`, its daily bills too, in the
    order of issue (the month's bill last)."""
    if not book.billing.daily:
        return book.bill_month(journal, month, on_invalid=on_invalid)
    bills = book.bill(journal, on_invalid=on_invalid)
    wanted = [bill for bill in bills if bill.month is not None
              and f"{bill.month.year:04d}-{bill.month.month:02d}" == month]
    if not wanted:  # the month's error, as without days
        if isinstance(journal, str):
            book.bill_month(journal, month, on_invalid=on_invalid)
        raise UsageError(f"no bill for {month} in this journal")
    return wanted


def _to_stderr(message: str) -> None:
    print(message, file=sys.stderr)


def _journal(args: argparse.Namespace,
             reading: contextlib.ExitStack) -> tuple[str | BinaryIO, Callable[[str], None]]:
    """`--journal`: a path, or `-` for standard input (read once, as a file would be); and how
    to print a line on stderr while it is read.

    A journal over terminal.PROGRESS_BYTES billed with a terminal on stderr shows a progress
    bar, counting its bytes as they are read; it is opened here, and the bar and the file are
    closed when `reading` ends. Anywhere else (a pipe, a small file, standard input that is not
    a file), nothing is shown and the journal goes to the engine as it is.
    """
    if args.journal == STDIN:
        journal: str | BinaryIO = sys.stdin.buffer
        size = _size_left(sys.stdin.buffer)
        name = getattr(sys.stdin.buffer, "name", None)
        name = name if isinstance(name, str) else "<stdin>"
    else:
        journal = name = str(args.journal)
        try:
            status = os.stat(journal)
        except OSError:  # the engine reports it, as always
            status = None
        size = status.st_size if status is not None and stat.S_ISREG(status.st_mode) else None
    if size is None or not journal_progress(size, sys.stderr):
        return journal, _to_stderr
    if isinstance(journal, str):
        journal = reading.enter_context(open(journal, "rb"))  # noqa: SIM115 - `reading` closes it
    bar = reading.enter_context(progress(size, Path(name).name, sys.stderr))
    return cast(BinaryIO, bar.reading(journal, name)), bar.write


def _size_left(stream: BinaryIO) -> int | None:
    """The bytes left to read in a stream that is a regular file (None for a pipe, a
    terminal, or anything without a file descriptor)."""
    try:
        fd = stream.fileno()
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            return None
        return max(0, status.st_size - os.lseek(fd, 0, os.SEEK_CUR))
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return None


def _resume(args: argparse.Namespace, book: PriceBook, journal: str | BinaryIO,
            on_invalid: Callable[[JournalError], None] | None,
            path: Path) -> tuple[Account, list[Bill], Callable[[], None]]:
    """`bill --state`: the account saved in the state file `path` (a new one if the file does
    not exist) fed the journal and its months closed through `--close-through`; the bills issued
    on the way, and the function that saves the account back (the caller holds the lock)."""
    if args.month is not None:
        raise CommandError("--month cannot be combined with --state: the bills printed are "
                           "those the journal makes due (close a month with --close-through)")
    from ratecard import statefile
    from ratecard.engine.account import Account
    from ratecard.engine.snapshot import SnapshotError

    try:
        saved: bytes | None = path.read_bytes()
    except FileNotFoundError:
        saved = None
    except OSError as exc:
        raise CommandError(f"{args.state}: {exc.strerror or exc}") from None
    try:
        account = Account(book) if saved is None else Account.restore(book, saved)
    except SnapshotError as exc:
        raise CommandError(f"{args.state}: {exc}") from None
    issued = account.feed(journal, on_invalid=on_invalid)
    if args.close_through is not None:
        issued += account.close_through(args.close_through)
    text = json.dumps(account.snapshot(), ensure_ascii=False, indent=1) + "\n"

    def save() -> None:
        try:
            statefile.replace(path, text.encode("utf-8"), args.state)
        except statefile.StateFileError as exc:
            raise CommandError(f"{exc}; the bills above are printed but not saved: the next "
                               "run prints them again") from None

    return account, issued, save


def format_statement(book: PriceBook, bill: Bill, palette: Palette = PLAIN) -> str:
    """A monthly bill from a journal as text: the bill's table, then what it lists apart."""
    from ratecard.engine.bills import month_text

    assert bill.month is not None and bill.issued is not None
    period = (month_text(bill.month) if bill.day is None
              else f"{bill.day.isoformat()} (daily bill)")
    out = [f"{period}, issued {bill.issued.isoformat()}",
           format_bill(book, bill, palette)]
    for p in bill.prepaid:
        listed = "" if p.list_price is None else f" (list price {format_plain(p.list_price)})"
        out.append(f"prepaid: pack {p.pack} ({_grouped(p.size)} {p.meter}) {format_plain(p.price)}"
                   f"{listed}, bought {p.time.isoformat()}, expires {p.expires.isoformat()}")
    if bill.prepaid:
        out.append(f"prepaid total {bill.currency} {format_plain(bill.prepaid_total)} "
                   "(already paid, not in the total)")
    for back in bill.refunds:
        out.append(f"refunded: pack {back.pack} ({_grouped(back.size)} {back.meter}) "
                   f"{format_plain(back.amount)} on {back.time.isoformat()}, bought "
                   f"{back.purchased.isoformat()}")
    if bill.refunds:
        out.append(f"refund total {bill.currency} {format_plain(bill.refund_total)} "
                   "(paid back, not in the total)")
    for o in bill.orders:
        price = ("contact sales" if o.unit_price is None
                 else f"{format_plain(o.unit_price)} each")
        listed = "" if o.list_amount is None else f" (list {format_plain(o.list_amount)})"
        out.append(f"order {o.order}: {_grouped(o.quantity)} {o.product} in {o.bracket} at "
                   f"{price}: {format_plain(o.amount)}{listed}, {o.time.isoformat()}")
    if bill.orders:
        out.append(f"orders total {bill.currency} {format_plain(bill.orders_total)} "
                   "(paid when ordered, not in the total)")
    plans = {plan.name: plan for plan in book.subscriptions}
    lang = book.languages.index("en") if "en" in book.languages else 0
    for c in bill.subscriptions:
        plan = plans.get(c.plan)
        unit = plan.unit[lang] if plan is not None and lang < len(plan.unit) else "unit"
        what = (f"{format_plain(c.unit_price)} per {c.period}" if c.fee else
                f"{c.plan}" + (f" on {c.meter}" if c.meter else "")
                + f", {_grouped(c.quantity)} {unit} at {format_plain(c.unit_price)} per "
                f"{unit} and {c.period}")
        out.append(f"{'fee' if c.fee else 'subscription'} {c.subscription}: {what}, "
                   f"{c.start.isoformat()} to {c.end.isoformat()}: {_charged(c)}")
    for v in bill.void:
        out.append(f"void: pack {v.pack} expired {v.time.isoformat()} with "
                   f"{_grouped(v.quantity)} units left")
    for r in bill.rejected:
        why = "while suspended" if r.reason == "suspended" else f"({r.reason})"
        out.append(f"rejected {why}: {r.action} {_grouped(r.quantity)} "
                   f"({r.entries} {'entry' if r.entries == 1 else 'entries'})")
    for f in bill.free:
        out.append(f"free: {f.action} {_grouped(f.quantity)}")
    for i in bill.ignored:
        out.append(f"ignored: {i.type} id `{i.id}` seen before (line {i.line})")
    for held in bill.packs:
        out.append(f"held at month end: pack {held.pack} {_grouped(held.remaining)} of "
                   f"{_grouped(held.size)} left, expires {held.expires.isoformat()}")
    for e in bill.events:
        detail = "".join((f" {format_plain(e.amount)}" if e.amount is not None else "",
                          f" ({e.reason})" if e.reason else "",
                          " automatically" if e.automatic else ""))
        balance = f", balance {format_plain(e.balance)}" if e.balance is not None else ""
        out.append(f"account: {e.time.isoformat()} {e.kind}{detail}, now {e.status}{balance}")
    if bill.settlement is not None:
        s = bill.settlement
        out.append(f"settled {s.time.isoformat()}: paid {format_plain(s.paid)} from the "
                   f"balance, balance {format_plain(s.balance_after)}"
                   + (f", arrears {format_plain(s.arrears)}" if s.arrears else "")
                   + (": account suspended for arrears" if s.suspended else ""))
    return "\n".join(out)


# --- render -------------------------------------------------------------------------------

SHEETS_DIR = "docs/price-sheets"
# ratecard.render's FORMATS and LANGS (a test keeps them equal); spelled out here so that the
# commands that render nothing do not load the renderer.
SHEET_FORMATS = ("md", "html")
SHEET_LANGS = ("zh", "en")


def _render_targets(args: argparse.Namespace) -> list[tuple[str, Path | None, str, str]]:
    """(rules file, output path or None for stdout, format, language) of every sheet asked for.

    No -o and no --out-dir: stdout, or with --check the conventional files under
    docs/price-sheets/. -o: one sheet, its format and language from the flags or the name
    (`x.en.html`). --out-dir: every format and language (or those the flags name).
    """
    if args.output is not None and args.out_dir is not None:
        raise CommandError("give -o PATH or --out-dir DIR, not both")
    if args.output is None and args.out_dir is None and not args.check:
        if len(args.files) > 1:
            raise CommandError("several rules files: write their sheets with --out-dir DIR")
        return [(args.files[0], None, args.format or "md", args.lang or "zh")]
    if args.output is not None:
        if len(args.files) > 1:
            raise CommandError("-o takes one rules file; use --out-dir DIR for several")
        from ratecard.render import sheet_kind

        fmt, lang = sheet_kind(Path(args.output).name)
        return [(args.files[0], Path(args.output), args.format or fmt or "md",
                 args.lang or lang or "zh")]
    out_dir = Path(args.out_dir or SHEETS_DIR)
    formats = [args.format] if args.format else list(SHEET_FORMATS)
    langs = [args.lang] if args.lang else list(SHEET_LANGS)
    from ratecard.render import sheet_filename

    return [(path, out_dir / sheet_filename(Path(path).stem, lang, fmt), fmt, lang)
            for path in args.files for fmt in formats for lang in langs]


def _same_file(a: str | Path, b: str | Path) -> bool:
    """Whether two paths name one file: the same file on disk (through symlinks, `./`, `..`
    or a hard link) where both exist, else the same resolved path."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def _refuse_collisions(files: Sequence[str], targets: Sequence[tuple[str, Path | None, str, str]],
                       checking: bool) -> None:
    """Before anything is written (or checked): a rules file given twice, two sheets bound for
    one path (`a/x.rules b/x.rules --out-dir d`), or a sheet bound for one of the rules files
    (`-o x.rules`) is a CommandError naming the inputs and the path."""
    verb, done = ("be checked against", "checked") if checking else ("be written to", "written")
    for i, path in enumerate(files):
        for other in files[:i]:
            if _same_file(path, other):
                shown = f"`{path}`" if path == other else f"`{other}` and `{path}`"
                raise CommandError(f"{shown}: the same rules file is given twice")
    written: list[tuple[str, Path]] = []
    for source, out, _, _ in targets:
        if out is None:
            continue
        for rules in files:
            if _same_file(out, rules):
                raise CommandError(f"the sheet of `{source}` would {verb} `{out}`, which is the "
                                   f"rules file `{rules}`: choose another output path; nothing "
                                   f"was {done}")
        for earlier, before in written:
            if _same_file(out, before):
                place = f"`{out}`" if out == before else f"`{before}` and `{out}` (one file)"
                raise CommandError(f"the sheets of `{earlier}` and `{source}` would both {verb} "
                                   f"{place}: render them to separate --out-dir directories, or "
                                   f"rename one; nothing was {done}")
        written.append((source, out))


def _sheet_state(path: Path, data: bytes) -> str:
    try:
        return "up to date" if path.read_bytes() == data else "stale"
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror}") from None


def _write_sheet(path: Path, data: bytes, make_dir: bool) -> None:
    try:
        if make_dir:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}") from None


def _regenerate_hint(args: argparse.Namespace) -> str:
    flags = "".join(f" --{name} {value}" for name, value in
                    (("format", args.format), ("lang", args.lang)) if value)
    where = f" -o {args.output}" if args.output else f" --out-dir {args.out_dir or SHEETS_DIR}"
    at = f" --at {args.at}" if args.at else ""
    extra = "".join(f" --{name} {value}" for name, value in
                    (("publish", args.publish), ("template", args.template)) if value)
    return f"ratecard render {' '.join(args.files)}{where}{flags}{at}{extra}"


def _day_option(text: str | None) -> date | None:
    """The day of `--at YYYY-MM-DD` (None without it), for `quote` and `render`."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise CommandError(f"--at {text}: a day is YYYY-MM-DD, e.g. 2027-01-01") from None


def _sheet_sources(files: Sequence[str]) -> dict[str, tuple[SourceFile, Rules | None,
                                                             list[Diagnostic]]]:
    """Each rules file read and checked, before anything is rendered: a contract file is a
    CommandError (a contract is a customer's terms, not a published price sheet)."""
    from ratecard.versions import contract_parts, is_contract

    analyzed = {}
    for path in files:
        source = read_source(path)
        rules, diagnostics = analyze(source)
        if rules is not None and is_contract(rules):
            header = contract_parts(rules).header
            raise CommandError(
                f"{path} is contract `{header.name.value}`: a customer's terms, not a published "
                f"price sheet; render the rules file it extends (`{header.extends.value}`)")
        analyzed[path] = (source, rules, diagnostics)
    return analyzed


def _sheet_book(source: SourceFile, rules: Rules | None,
                diagnostics: Sequence[Diagnostic]) -> PriceBook | None:
    """The compiled book of a checked rules file, or None (its diagnostics printed)."""
    if rules is None or any(d.is_error for d in diagnostics):
        report(diagnostics, source, "full")
        return None
    from ratecard.compile import compile_rules

    return compile_rules(rules, tuple(diagnostics))


def _versions_note(path: str, book: PriceBook, day: date) -> str:
    """Why the sheet of a rules file with dated versions can go stale without an edit."""
    from ratecard.render import change_days

    days = change_days(book)
    later = [d for d in days if d > day]
    when = (f"changes next on {later[0].isoformat()}" if later
            else f"last changed on {[d for d in days if d <= day][-1].isoformat()}")
    return (f"ratecard: note: {path} has dated versions: its sheet is the one in effect today, "
            f"{day.isoformat()}, and {when}; pass --at YYYY-MM-DD to render a given day's sheet")


def _publishing_options(args: argparse.Namespace) -> Publishing | None:
    """`--publish FILE.toml` read, `--template DIR` checked: each a one-line CommandError."""
    from ratecard.render import PublishError, load_publishing

    publish = None
    if args.publish is not None:
        try:
            publish = load_publishing(args.publish)
        except PublishError as exc:
            raise CommandError(f"--publish {exc}") from None
    if args.template is not None and not Path(args.template).is_dir():
        raise CommandError(f"--template {args.template}: not a directory")
    return publish


def _render_one(render_sheet: Callable[..., RenderedSheet], book: PriceBook, fmt: str,
                lang: str, at: date | None, publish: Publishing | None,
                args: argparse.Namespace) -> RenderedSheet:
    """One sheet; a template of --template that fails, or publishing settings that do not
    fit the rules, is a one-line CommandError."""
    import jinja2

    try:
        sheet: RenderedSheet = render_sheet(book, fmt, lang, at, publish=publish,
                                            templates=args.template)
    except jinja2.TemplateError as exc:
        where = f"{exc.filename}:{exc.lineno}: " if isinstance(
            exc, jinja2.TemplateSyntaxError) and exc.filename else ""
        raise CommandError(f"--template {args.template}: {where}{exc.message or exc}") from None
    except ValueError as exc:
        if publish is None:
            raise
        raise CommandError(f"--publish {args.publish}: {exc}") from None
    return sheet


def cmd_render(args: argparse.Namespace) -> int:
    """Render price sheets; with --check, exit 1 if a generated sheet is missing or stale."""
    from ratecard.render import render as render_sheet

    at = _day_option(args.at)
    publish = _publishing_options(args)
    targets = _render_targets(args)
    _refuse_collisions(args.files, targets, args.check)
    analyzed = _sheet_sources(args.files)
    books: dict[str, PriceBook | None] = {}
    warned: set[tuple[str, str]] = set()
    noted: set[str] = set()
    failed = False
    states = {"stale": 0, "missing": 0, "up to date": 0}
    for path, out, fmt, lang in targets:
        if path not in books:
            books[path] = _sheet_book(*analyzed[path])
        book = books[path]
        if book is None:
            failed = True
            continue
        sheet = _render_one(render_sheet, book, fmt, lang, at, publish, args)
        for warning in sheet.warnings:
            if (path, warning) not in warned:
                warned.add((path, warning))
                print(f"ratecard: warning: {path}: {warning}", file=sys.stderr)
        if out is None:
            sys.stdout.write(sheet.text)
            continue
        data = sheet.text.encode("utf-8")
        if args.check:
            state = _sheet_state(out, data)
            states[state] += 1
            if state != "up to date":
                print(f"{state}: {out}")
                if book.timeline and at is None and path not in noted:
                    noted.add(path)
                    today = datetime.now(book.zone).date()
                    print(_versions_note(path, book, today), file=sys.stderr)
        else:
            _write_sheet(out, data, make_dir=args.output is None)
            print(f"{out}: written")
    stale = states["stale"] + states["missing"]
    if args.check and any(states.values()):
        print(_render_check_summary(states))
    if stale:
        sheets = "1 price sheet is" if stale == 1 else f"{stale} price sheets are"
        print(f"ratecard: {sheets} out of date with the rules; regenerate with "
              f"`{_regenerate_hint(args)}`", file=sys.stderr)
    return EXIT_DIAGNOSTICS if failed or stale else EXIT_OK


def _render_check_summary(states: dict[str, int]) -> str:
    """`12 sheets up to date`, `1 sheet stale, 1 missing, 10 up to date`: the counts that are
    not 0, the first one naming the sheets."""
    parts = [f"{count} {state}" for state, count in states.items() if count]
    first, _, rest = parts[0].partition(" ")
    noun = "sheet" if first == "1" else "sheets"
    parts[0] = f"{first} {noun} {rest}"
    return ", ".join(parts)


# --- completion ---------------------------------------------------------------------------

SHELLS = ("bash", "zsh", "fish")


# --- diff ---------------------------------------------------------------------------------

def cmd_diff(args: argparse.Namespace) -> int:
    """What changes from the rules OLD to NEW (docs/ci.md, "ratecard diff"): exit 0 when the two
    bill alike, 1 when they differ, 2 when a side cannot be read or has errors."""
    from ratecard.diff import DiffError, compare, compile_side, read_side, render

    books = []
    failed = False
    for spec in (args.old, args.new):
        try:
            source = read_side(spec)
            book, diagnostics = compile_side(source)
        except DiffError as exc:
            raise CommandError(str(exc)) from None
        if book is None:
            report(diagnostics, source, "full")
            failed = True
        books.append(book)
    old, new = books
    if failed or old is None or new is None:
        print(f"ratecard: {stderr_palette().paint('error', 'error')}: no diff: fix the errors "
              "above first", file=sys.stderr)
        return EXIT_USAGE
    diff = compare(old, new, args.old, args.new)
    print(render(diff, args.format))
    return EXIT_OK if diff.same else EXIT_DIAGNOSTICS


def cmd_completion(args: argparse.Namespace) -> int:
    """`ratecard completion SHELL`: the shell's completion script for every command and option,
    generated from this parser by shtab (docs: README, "Shell completion")."""
    import shtab

    parser = build_parser()
    _completion_hints(parser, shtab.glob("*.rules"), shtab.FILE, shtab.DIRECTORY)
    sys.stdout.write(shtab.complete(parser, shell=args.shell))
    return EXIT_OK


def _completion_hints(parser: argparse.ArgumentParser, rules: object, path: object,
                      directory: object) -> None:
    """What each argument completes to, from its metavar: a rules file (`FILE`, `OLD`, `NEW`),
    any file (`PATH`, `STATE.json`) or a directory (`DIR`); other arguments complete their
    choices."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command in action.choices.values():
                _completion_hints(command, rules, path, directory)
        elif action.metavar in ("FILE", "OLD", "NEW") and not action.option_strings:
            action.complete = rules  # type: ignore[attr-defined]
        elif action.metavar in ("PATH", "STATE.json"):
            action.complete = path  # type: ignore[attr-defined]
        elif action.metavar == "DIR":
            action.complete = directory  # type: ignore[attr-defined]


# --- the parser -------------------------------------------------------------------------------

def cmd_lsp(args: argparse.Namespace) -> int:
    """The language server (pygls, the optional extra `lsp`), until the editor closes it."""
    try:
        from ratecard.lsp import serve
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in ("pygls", "lsprotocol", "cattrs"):
            raise
        raise CommandError("`ratecard lsp` needs pygls: pip install 'ratecard[lsp]'") from None
    return serve()


class _VersionAction(argparse.Action):
    """`--version`: `ratecard X.Y.Z` on stdout, exit 0; the metadata is read only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: object, option_string: str | None = None) -> None:
        print(f"ratecard {version()}")
        parser.exit()


_COLOR_HELP = ("colour diagnostics and totals: auto (the default: on a terminal, unless "
               "NOCOLOR is set or FORCECOLOR forces it), always, or never")


def _color_option(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--color", choices=COLOR_MODES, default=default, metavar="WHEN",
                        help=_COLOR_HELP if default != argparse.SUPPRESS else
                        "as `ratecard --color`: auto, always or never")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ratecard",
        description="Check, quote, bill and render pricing rules.",
        epilog="`ratecard COMMAND --help` describes a command.",
    )
    parser.add_argument("--version", action=_VersionAction,
                        help="print ratecard's version and exit")
    _color_option(parser, "auto")
    # `--color` is taken after the command too (`ratecard check --color never x.rules`); left
    # out there (SUPPRESS), it does not overwrite the value given before the command.
    after = argparse.ArgumentParser(add_help=False)
    _color_option(after, argparse.SUPPRESS)
    # Not required: `ratecard` alone prints the whole help, with the commands (main).
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    check = commands.add_parser("check", parents=[after],
                                help="check rules files and report every problem")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.add_argument("--format", choices=("full", "concise", "json", "github", "sarif"),
                       default="full",
                       help="diagnostics as rustc-style blocks, one line each, JSON, GitHub "
                       "Actions annotations (on stdout), or a SARIF 2.1.0 log (docs/ci.md)")
    check.add_argument("--ignore", action="append", default=[], metavar="CODES",
                       help="leave these warnings out, e.g. W003,W004 (repeatable); errors "
                       "cannot be ignored")
    check.add_argument("--deny", choices=("warnings",),
                       help="`--deny warnings`: any warning left makes the check fail (exit 1), "
                       "for CI")
    check.add_argument("-v", "--verbose", action="store_true",
                       help="a verdict line for every file, clean ones too, counting the "
                       "warnings acknowledged by `# allow:` comments")
    check.set_defaults(run=cmd_check)

    fmt = commands.add_parser(
        "fmt", parents=[after],
        help="print rules files in canonical layout, or check or rewrite them",
        description="Print rules files in canonical layout (docs/language.md, \"Canonical "
        "layout\"): the same tokens and comments, only the spacing changes. `-` reads standard "
        "input. A file with a syntax error gets its diagnostic and is left as it is.",
    )
    fmt.add_argument("files", nargs="+", metavar="FILE")
    fmt_mode = fmt.add_mutually_exclusive_group()
    fmt_mode.add_argument("--check", action="store_true",
                          help="say `would reformat FILE` for each file not in canonical "
                          "layout, then how many are; exit 1 if there are any")
    fmt_mode.add_argument("-w", "--write", action="store_true",
                          help="rewrite the files that are not in canonical layout, in place")
    fmt.set_defaults(run=cmd_fmt)

    quote = commands.add_parser("quote", parents=[after], help="price one month of usage totals")
    quote.add_argument("file", metavar="FILE")
    quote.add_argument("usage", nargs="*", metavar="ACTION=N",
                       help="calls per action in the month, e.g. DetectBody=600000 or 60万")
    quote.add_argument("--pack", action="append", default=[], metavar="METER:SIZE[:REMAINING]",
                       help="a pack held at the month's start (repeatable); SIZE as 100000, "
                       "100k or 10万")
    quote.add_argument("--at", metavar="YYYY-MM-DD",
                       help="quote the prices in effect on this day, for rules with dated "
                       "versions or a contract (default: today in the rules' timezone)")
    quote.add_argument("--contract", metavar="FILE",
                       help="quote under this contract file (it extends the rules FILE)")
    quote.add_argument("--days", type=int, metavar="N",
                       help="the usage given is one day's, on each of N days from --at "
                       "(default: the first of this month): the days' bills and the month's, "
                       "as `bill` prints them (for meters billed or priced per day)")
    quote.add_argument("--new-account", action="store_true",
                       help="the account's first month: hold the grants issued once too")
    quote.add_argument("--requests", metavar="FILE",
                       help="a JSON Lines file of `request` entries (- for stdin), priced as one "
                       "month together with any ACTION=N")
    quote.add_argument("--json", action="store_true", help="print the bill as JSON")
    quote.set_defaults(run=cmd_quote)

    bill = commands.add_parser("bill", parents=[after],
                               help="replay an account journal into monthly bills")
    bill.add_argument("file", metavar="FILE")
    bill.add_argument("--journal", required=True, metavar="PATH",
                      help="the account's journal: JSON Lines, or a usage CSV (.csv); `-` reads "
                      "JSON Lines from standard input")
    bill.add_argument("--month", metavar="YYYY-MM", help="only this month's bill")
    bill.add_argument("--contract", metavar="FILE",
                      help="bill under this contract file (it extends the rules FILE)")
    bill.add_argument("--json", action="store_true", help="print the bills as JSON")
    bill.add_argument("--skip-invalid", action="store_true",
                      help="report each bad journal entry on stderr and bill the rest")
    bill.add_argument("--state", metavar="STATE.json",
                      help="resume the account saved in this file (a new account if it does "
                      "not exist), print the bills the journal makes due, save the account back")
    bill.add_argument("--close-through", metavar="YYYY-MM",
                      help="with --state: the journal is complete through this month; close "
                      "it and issue its bill")
    bill.add_argument("--lock-timeout", type=float, default=LOCK_TIMEOUT, metavar="SECONDS",
                      help="with --state: how long to wait for another run to release the "
                      f"state's lock STATE.json.lock (default {LOCK_TIMEOUT:g})")
    bill.set_defaults(run=cmd_bill)

    render = commands.add_parser(
        "render", parents=[after],
        help="render price sheets (Markdown, HTML; Chinese, English) from rules",
        description="Render the price sheet of rules files. Without -o or --out-dir the sheet "
        f"goes to stdout; --check compares instead of writing (by default with {SHEETS_DIR}/"
        "<stem>.<lang>.<md|html>) and exits 1 if a sheet is missing or stale.",
    )
    render.add_argument("files", nargs="+", metavar="FILE")
    render.add_argument("--format", choices=SHEET_FORMATS,
                        help="md or html (default: md, or from -o's name; all with --out-dir)")
    render.add_argument("--lang", choices=SHEET_LANGS,
                        help="zh or en (default: zh, or from -o's name; all with --out-dir)")
    render.add_argument("-o", "--output", metavar="PATH", help="write (or --check) this file")
    render.add_argument("--out-dir", metavar="DIR",
                        help="write (or --check) DIR/<stem>.<lang>.<format> for every format "
                        "and language")
    render.add_argument("--check", action="store_true",
                        help="compare the generated files with fresh renders; print those stale "
                        "or missing and a count; exit 1 if any")
    render.add_argument("--at", metavar="YYYY-MM-DD",
                        help="rules with dated versions: the sheet in effect on this day, with "
                        "the changes announced after it (default: today in the rules' "
                        "timezone); rules without versions render the same on every day")
    render.add_argument("--publish", metavar="FILE.toml",
                        help="publishing settings: vendor name and logo, tax note, effective "
                        "day (docs/rendering.md, \"Publishing\")")
    render.add_argument("--template", metavar="DIR",
                        help="templates here (sheet.html, sheet.md, sheet.css) replace the "
                        "built-in ones")
    render.set_defaults(run=cmd_render)

    diff = commands.add_parser(
        "diff", parents=[after],
        help="what a change to a rules file changes: prices, rules, quotes before and after",
        description="Compare two rules files as sheets: every changed price, bound, allowance, "
        "pack, rule and wording, old beside new, grouped by meter, and quotes of each changed "
        "meter at representative volumes before and after. OLD or NEW may be REV:PATH, the "
        "file at a git revision (PATH relative to the current directory). Exit 0 when the "
        "two bill alike, 1 when they differ, 2 on errors.",
    )
    diff.add_argument("old", metavar="OLD", help="the rules before: a file, or REV:PATH")
    diff.add_argument("new", metavar="NEW", help="the rules after: a file, or REV:PATH")
    diff.add_argument("--format", choices=("text", "md", "json"), default="text",
                      help="text for a terminal (the default), md for a pull-request comment, "
                      "or json")
    diff.set_defaults(run=cmd_diff)

    completion = commands.add_parser(
        "completion", parents=[after], help="print the shell completion script (bash, zsh, fish)",
        description="Print the completion script of SHELL for every ratecard command and option "
        "(README, \"Shell completion\", says where to put it), e.g. `ratecard completion bash > "
        "~/.local/share/bash-completion/completions/ratecard`.",
    )
    completion.add_argument("shell", choices=SHELLS, metavar="SHELL", help="bash, zsh or fish")
    completion.set_defaults(run=cmd_completion)

    lsp = commands.add_parser(
        "lsp", parents=[after],
        help="run the language server for editors, on stdin and stdout (docs/editors.md)")
    lsp.add_argument("--stdio", action="store_true",
                     help="talk over standard input and output (the default, and the only way)")
    lsp.set_defaults(run=cmd_lsp)

    from ratecard.warehouse import command as warehouse_command  # light: no engine loaded

    warehouse = commands.add_parser(
        "warehouse", parents=[after], help="bill a usage table of many accounts on DuckDB or Spark")
    warehouse_command.configure(warehouse)
    warehouse.set_defaults(run=warehouse_command.run)

    _add_simulate(commands, after)
    return parser


def _add_simulate(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], after: argparse.ArgumentParser
) -> None:
    """`ratecard simulate OLD NEW --usage U`: a price change's revenue impact (light: no engine
    loaded until it runs)."""
    from ratecard.warehouse import simulate_command

    simulate = commands.add_parser(
        "simulate", parents=[after],
        help="bill a usage table under two rules files and compare: a price change's revenue "
        "impact")
    simulate_command.configure(simulate)
    simulate.set_defaults(run=simulate_command.run)


def _exit_on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


@contextlib.contextmanager
def _signals_end_cleanly() -> Iterator[None]:
    """SIGTERM, SIGINT and SIGHUP end the command as `sys.exit(128 + signal)` would, so that
    `finally` blocks and context managers run (temporary files are removed) and no traceback
    is printed. Only in the main thread, where Python lets a handler be set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    names = ("SIGTERM", "SIGINT", "SIGHUP")
    wanted = [getattr(signal, name) for name in names if hasattr(signal, name)]
    before = {number: signal.signal(number, _exit_on_signal) for number in wanted}
    try:
        yield
    finally:
        for number, handler in before.items():
            signal.signal(number, handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    output = _GuardedOutput(sys.stdout)
    color = None
    try:
        with _signals_end_cleanly(), contextlib.redirect_stdout(cast(TextIO, output)):
            try:
                args = parser.parse_args(argv)
            except SystemExit:  # argparse's own exit (--help): its output must arrive too
                sys.stdout.flush()
                raise
            color = COLOR.set(args.color)
            if args.command is None:  # `ratecard` alone: the commands, on stderr, exit 2
                parser.print_help(sys.stderr)
                return EXIT_USAGE
            code: int = args.run(args)
            sys.stdout.flush()  # inside the guard: the last of the output can fail too
    except CommandError as exc:
        return _fail(str(exc))
    except OutputError as exc:
        return _fail(str(exc))
    finally:
        if color is not None:
            COLOR.reset(color)
    return code


# --- standard output that cannot be written ---------------------------------------------------

class OutputError(Exception):
    """Standard output cannot be written: a full device (`> /dev/full`) or a pipe whose reader
    has gone (`| head -c1`). One line on stderr and exit 2, from every command."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"cannot write to standard output: {reason}")
        self.reason = reason


class _GuardedOutput:
    """Standard output for the length of a command: a failed write or flush is an OutputError.

    A closed pipe is reported like a full disk (one line, exit 2) rather than ignored: a
    command whose output did not arrive never exits 0, and `bill --state` does not save.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc) from None

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)

    def _failed(self, exc: OSError) -> OutputError:
        # What is still buffered for the real stdout would fail again when Python flushes it
        # at exit, with a second report: point the descriptor at /dev/null to drop it.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fd = self._stream.fileno()
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, fd)
            os.close(null)
        reason = ("the reading end of the pipe was closed" if exc.errno == errno.EPIPE
                  else exc.strerror or str(exc))
        return OutputError(reason)


if __name__ == "__main__":
    sys.exit(main())
