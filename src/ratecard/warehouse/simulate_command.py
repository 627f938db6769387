"""`ratecard simulate OLD NEW --usage U`: the revenue impact of a price change on a usage table.

Light to import (the engines load only when the command runs), like `ratecard warehouse`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ratecard.console import EXIT_DIAGNOSTICS, EXIT_OK, CommandError, compile_file
from ratecard.warehouse.display import (
    SCHEMA,
    contract_refused,
    grouped,
    percent_text,
    progress,
)

if TYPE_CHECKING:
    from ratecard.warehouse.simulate import Simulation



def configure(parser: argparse.ArgumentParser) -> None:
    """The arguments of `ratecard simulate`."""
    parser.add_argument("old", metavar="OLD", help="the rules file billing today")
    parser.add_argument("new", metavar="NEW", help="the rules file with the price change")
    parser.add_argument(
        "--usage",
        required=True,
        action="append",
        metavar="PATH",
        help="usage rows: a Parquet or CSV file, a directory of them or a glob "
        "(repeatable); columns account, time, action, count[, id]",
    )
    parser.add_argument(
        "--purchases", action="append", metavar="PATH",
        help="pack purchases: account, time, meter, size[, id]",
    )
    parser.add_argument(
        "--events", action="append", metavar="PATH",
        help="account events: account, time, type (suspend, reopen, topup, credit, subscribe, "
        "cancel) and the entry's fields: reason, amount, credit, currency, id, plan, quantity, "
        "meter, subscription",
    )
    parser.add_argument(
        "--accounts", action="append", metavar="PATH",
        help="accounts' openings, for rules with grants or credits: account, opened (a time "
        "with an offset); an account without a row opens at its first entry",
    )
    parser.add_argument(
        "--contracts", metavar="FILE",
        help="accounts billed under contracts: a CSV or Parquet table with the columns "
        "account, contract; each contract is applied on OLD and on NEW",
    )
    parser.add_argument("--month", metavar="YYYY-MM", help="only this month's bills")
    parser.add_argument(
        "--engine", choices=("duckdb", "spark"), default="duckdb",
        help="where the SQL runs: DuckDB, embedded (default), or Spark",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the comparison as JSON (money as strings)"
    )
    parser.add_argument(
        "--accounts-out", metavar="FILE",
        help="write account, month, old_total, new_total, delta to a .parquet or .csv file",
    )
    parser.add_argument(
        "-o", "--output", metavar="report.html",
        help="write a self-contained HTML report with charts (needs the simulate extra)",
    )
    parser.add_argument(
        "--on-invalid", choices=("skip", "stop"), default="skip",
        help="bad input rows are reported and skipped (default), or stop the run",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="DuckDB threads")
    parser.add_argument("--memory-limit", metavar="SIZE", help="DuckDB memory limit, e.g. 4GB")
    parser.add_argument(
        "--no-statistics", dest="statistics", action="store_false",
        help="check every usage row even where the Parquet files' statistics prove them good",
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress display on a terminal"
    )


def run(args: argparse.Namespace) -> int:
    """Run `ratecard simulate`: the summary (or JSON) on stdout, problems on stderr."""
    from ratecard.errors import UsageError

    old = compile_file(args.old)
    new = compile_file(args.new)
    if old is None or new is None:
        return EXIT_DIAGNOSTICS
    try:
        from ratecard.warehouse.api import check_collisions
        from ratecard.warehouse.simulate import contracts_on, refuse_unlike, simulate_warehouse
    except ImportError as exc:
        raise CommandError(
            f"`ratecard simulate` needs the warehouse extra "
            f"(pip install 'ratecard[warehouse]'): {exc}"
        ) from None
    from ratecard.warehouse.terms import ContractError

    try:
        refuse_unlike(old, new, args.old, args.new)
        rules = {"rules": [args.old, args.new]}
        if args.contracts:
            rules["contracts"] = [args.contracts]
        check_collisions(rules, {"accounts (output)": args.accounts_out, "report": args.output})
        if args.output is not None:
            from ratecard.warehouse.report import check_report_path

            check_report_path(args.output)
        contracts = (
            (contracts_on(args.old, args.contracts), contracts_on(args.new, args.contracts))
            if args.contracts
            else None
        )
        from ratecard.warehouse.simulate import STEPS

        with progress(sys.stderr, args.quiet, STEPS) as step:
            sim = simulate_warehouse(
                old,
                new,
                args.usage,
                old_name=args.old,
                new_name=args.new,
                purchases=args.purchases,
                events=args.events,
                accounts=args.accounts,
                contracts=contracts,
                month=args.month,
                engine=args.engine,
                on_invalid=args.on_invalid,
                threads=args.threads,
                memory_limit=args.memory_limit,
                accounts_out=args.accounts_out,
                on_step=step,
                statistics=args.statistics,
            )
        if args.output is not None:
            from ratecard.warehouse.report import write_report

            write_report(sim, args.output)
    except ContractError as exc:
        return contract_refused(exc)
    except UsageError as exc:
        raise CommandError(str(exc)) from None
    except ImportError as exc:
        raise CommandError(f"`ratecard simulate` is missing a library: {exc}") from None
    except OSError as exc:
        raise CommandError(str(exc)) from None
    _report_problems(sim)
    if args.json:
        print(json.dumps({"schema": SCHEMA, **sim.to_dict()}, ensure_ascii=False, indent=2))
    else:
        print(format_summary(sim))
    return EXIT_OK


def _report_problems(sim: Simulation) -> None:
    """Bad rows and unbillable months on stderr: once when the usage was metered once, else
    per rules file."""
    sides = [("", sim.old)] if sim.one_scan else [
        (f"{sim.old_file}: ", sim.old), (f"{sim.new_file}: ", sim.new)
    ]
    for prefix, result in sides:
        for invalid in result.invalid:
            print(f"ratecard: {prefix}skipped {invalid.describe()}", file=sys.stderr)
    for name, result in ((sim.old_file, sim.old), (sim.new_file, sim.new)):
        for problem in result.problems:
            print(f"ratecard: {name}: not billed: {problem.describe()}", file=sys.stderr)


def _table(rows: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def format_summary(sim: Simulation) -> str:
    """The terminal summary of a simulation."""
    scan = "metered once" if sim.one_scan else f"metered twice: {sim.two_scans_because}"
    out = [
        f"Simulation: {sim.old_file} -> {sim.new_file}, {sim.accounts} accounts "
        f"({sim.currency}; {sim.engine}, {scan}; {sim.seconds:.1f} s)",
        "Usage is assumed unchanged by the price change.",
        "",
    ]
    right = (False, True, True, True, True)
    out += _table(
        [
            ("", "old", "new", "change", "%"),
            ("revenue", grouped(sim.old_total), grouped(sim.new_total),
             grouped(sim.delta, True), percent_text(sim.percent)),
        ],
        right,
    )
    out.append(
        f"accounts: {sim.up} up, {sim.down} down, {sim.same} unchanged"
        + (f" ({sim.from_zero} billed nothing before)" if sim.from_zero else "")
    )
    if sim.left_out:
        out.append(
            f"left out: {sim.left_out} account months that one of the files cannot bill "
            "(reported above)"
        )
    if sim.percentiles:
        out += ["", "change per account (percentile: money, percent of the old total)"]
        out += _table(
            [("p", "money", "%")]
            + [(f"p{p.percentile}", grouped(p.delta, True), percent_text(p.percent))
               for p in sim.percentiles],
            (False, True, True),
        )
    if sim.meters:
        out += ["", "by meter"]
        out += _table(
            [("meter", "old", "new", "change", "%")]
            + [(c.name, grouped(c.old), grouped(c.new), grouped(c.delta, True),
                percent_text(c.percent)) for c in sim.meters],
            right,
        )
    if sim.months:
        out += ["", "by month"]
        out += _table(
            [("month", "old", "new", "change", "%", "accounts")]
            + [(c.name, grouped(c.old), grouped(c.new), grouped(c.delta, True),
                percent_text(c.percent), str(c.accounts)) for c in sim.months],
            (*right, True),
        )
    for title, movers in (("biggest movers up", sim.movers_up),
                          ("biggest movers down", sim.movers_down)):
        out += ["", title]
        if not movers:
            out.append("  (none)")
            continue
        out += _table(
            [("account", "old", "new", "change", "%")]
            + [(m.account, grouped(m.old), grouped(m.new), grouped(m.delta, True),
                percent_text(m.percent)) for m in movers],
            right,
        )
    return "\n".join(out)
