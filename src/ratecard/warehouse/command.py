"""`ratecard warehouse`: bill a usage table on DuckDB or Spark from the command line.

Light to import (the engines load only when the command runs), so that the other commands of
`ratecard` start as fast as before.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

# The command's exit codes are the CLI's: 0 billed, 1 the rules have errors, 2 bad input.
from ratecard.console import EXIT_DIAGNOSTICS, EXIT_OK, CommandError, compile_file
from ratecard.warehouse.display import contract_refused, progress


def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of `ratecard warehouse`."""
    parser.add_argument("file", metavar="FILE", help="the rules file")
    parser.add_argument(
        "--usage",
        action="append",
        metavar="PATH",
        help="usage rows: a Parquet or CSV file, a directory of them or a glob "
        "(repeatable); columns account, time, action, count[, id]",
    )
    parser.add_argument(
        "--requests",
        action="append",
        metavar="PATH",
        help="request rows (repeatable, beside or instead of --usage): columns account, time, "
        "action[, id] and one per quantity and property of the rules' requests",
    )
    parser.add_argument(
        "--purchases",
        action="append",
        metavar="PATH",
        help="pack purchases: account, time, meter, size[, id]",
    )
    parser.add_argument(
        "--events",
        action="append",
        metavar="PATH",
        help="account events: account, time, type (suspend, reopen, topup, credit, subscribe, "
        "cancel) and the entry's fields: reason, amount, credit, currency, id, plan, quantity, "
        "meter, subscription",
    )
    parser.add_argument(
        "--accounts",
        action="append",
        metavar="PATH",
        help="accounts' openings, for rules with grants, credits or fees: account, opened (a time "
        "with an offset); an account without a row opens at its first entry",
    )
    parser.add_argument(
        "--contracts",
        metavar="FILE",
        help="accounts billed under contracts: a CSV or Parquet table with the columns "
        "account, contract (a contract file, relative to the table's directory)",
    )
    parser.add_argument("--month", metavar="YYYY-MM", help="only this month's bills")
    parser.add_argument(
        "--engine",
        choices=("duckdb", "spark"),
        default="duckdb",
        help="where the SQL runs: DuckDB, embedded (default), or Spark",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="write the bills (account, month, total) to a .parquet, .csv or "
        ".jsonl file; without it they are printed as CSV",
    )
    parser.add_argument(
        "--lines", metavar="PATH", help="write the bills' lines to a .parquet, .csv or .jsonl file"
    )
    for flag, what in (
        ("--credits", "each bill's credit balances (rules with credits): account, month, id, "
         "credit, amount, paid, remaining, expires"),
        ("--rejected", "usage the engine's replay rejected (packs that stop service, usage while "
         "suspended): account, month, meter, action, quantity, reason"),
        ("--daily-bills", "the daily bills (`bill per day on ...`): account, day, month, issued, "
         "total"),
        ("--daily-lines", "the daily bills' lines: account, day, line, meter, source, quantity, "
         "unit_price, amount, precise_amount, bracket, pack, per"),
    ):
        parser.add_argument(flag, metavar="PATH", help=f"write {what} to a .parquet, .csv or "
                            ".jsonl file")
    parser.add_argument(
        "--on-invalid",
        choices=("skip", "stop"),
        default="skip",
        help="bad input rows (and months the rules cannot bill) are reported "
        "and skipped (default), or stop the run with nothing written",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="DuckDB threads")
    parser.add_argument("--memory-limit", metavar="SIZE", help="DuckDB memory limit, e.g. 4GB")
    parser.add_argument(
        "--no-statistics", dest="statistics", action="store_false",
        help="check every usage row even where the Parquet files' statistics prove them good "
        "(for files whose writer may state wrong statistics)",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display on a terminal"
    )


#: The steps of a run, as its progress shows them (read, histories, meter, drawdown, price,
#: bills, write).
STEPS = 7


def run(args: argparse.Namespace) -> int:
    """Run `ratecard warehouse`: bills written or printed, problems reported on stderr."""
    from ratecard.errors import UsageError

    if not args.usage and not args.requests:
        raise CommandError("give --usage, --requests or both")
    book = compile_file(args.file)
    if book is None:
        return EXIT_DIAGNOSTICS
    try:
        from ratecard.warehouse.api import bill_warehouse, check_collisions
    except ImportError as exc:
        raise CommandError(
            f"`ratecard warehouse` needs the warehouse extra "
            f"(pip install 'ratecard[warehouse]'): {exc}"
        ) from None
    from ratecard.warehouse.schema import output_format
    from ratecard.warehouse.terms import ContractError

    try:
        check_collisions(
            {"rules": [args.file], **({"contracts": [args.contracts]} if args.contracts else {})},
            {"bills (output)": args.output, "lines": args.lines, **_extra_outputs(args)},
        )
        for path in _extra_outputs(args).values():
            if path is not None:
                output_format(path)  # (an unknown extension, before anything runs)
        with progress(sys.stderr, args.quiet, STEPS) as step:
            result = bill_warehouse(
                book,
                args.usage,
                requests=args.requests,
                purchases=args.purchases,
                events=args.events,
                accounts=args.accounts,
                month=args.month,
                engine=args.engine,
                output=args.output,
                lines=args.lines,
                on_invalid=args.on_invalid,
                threads=args.threads,
                memory_limit=args.memory_limit,
                return_lines=False,
                contracts=args.contracts,
                on_step=step,
                statistics=args.statistics,
            )
    except ContractError as exc:
        return contract_refused(exc)
    except UsageError as exc:
        raise CommandError(str(exc)) from None
    except ImportError as exc:
        raise CommandError(f"the {args.engine} engine is not installed: {exc}") from None
    except OSError as exc:
        raise CommandError(str(exc)) from None
    try:
        _write_extra(args, result)
    except UsageError as exc:
        raise CommandError(str(exc)) from None
    for invalid in result.invalid:
        print(f"ratecard: skipped {invalid.describe()}", file=sys.stderr)
    for problem in result.problems:
        print(f"ratecard: not billed: {problem.describe()}", file=sys.stderr)
    if result.bills is not None:
        _print_bills(result.bills)
    stats = result.stats
    written = f", {stats['lines']} lines" if "lines" in stats else ""
    print(
        f"ratecard: {stats.get('bills', 0)} bills{written} ({args.engine}, "
        f"{sum(stats.get('seconds', {}).values()):.1f} s)",
        file=sys.stderr,
    )
    return EXIT_OK


#: The outputs beside the bills and lines: the option's destination, the result's field, and
#: what the rules need for it.
_EXTRA = (
    ("credits", "credits", "credits"),
    ("rejected", "rejected", "account billed by the engine's replay"),
    ("daily_bills", "daily_bills", "daily bills (`bill per day on ...`)"),
    ("daily_lines", "daily_lines", "daily bills (`bill per day on ...`)"),
)


def _extra_outputs(args: argparse.Namespace) -> dict[str, Any]:
    return {name.replace("_", " "): getattr(args, name) for name, _, _ in _EXTRA}


def _write_extra(args: argparse.Namespace, result: Any) -> None:
    """Write the credit balances, rejected usage and daily bills asked for; a run whose rules
    have none says so on stderr and writes no file."""
    from ratecard.warehouse.output import write_table
    from ratecard.warehouse.schema import output_format

    for name, field, needs in _EXTRA:
        path = getattr(args, name)
        if path is None:
            continue
        table = getattr(result, field)
        if table is None:
            print(f"ratecard: no {name.replace('_', ' ')} written: the rules have no {needs}",
                  file=sys.stderr)
            continue
        write_table(table, path, output_format(path))


def _print_bills(table: Any) -> None:
    """The bills as CSV: account, month, total, and, when the run has them, the version and
    contract each bill names."""
    columns = table.to_pydict()
    named = [c for c in ("version", "contract") if c in columns]
    print(",".join(["account", "month", "total", *named]))
    for index, (account, month, total) in enumerate(
        zip(columns["account"], columns["month"], columns["total"], strict=True)
    ):
        extra = ["" if columns[c][index] is None else _csv(columns[c][index]) for c in named]
        print(",".join([_csv(account), month, format(total, "f"), *extra]))


def _csv(text: str) -> str:
    if any(ch in text for ch in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
