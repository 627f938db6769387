"""What the warehouse's commands print beside their results: progress on a terminal, money
and percentages in their summaries, a contract's diagnostics, and the simulation's JSON
version. Below `command`, `simulate_command`, `simulate` and `report`, which all use it."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, TextIO

#: The version of the JSON shape `ratecard simulate --json` prints (docs/schemas/simulate.json).
SCHEMA = "ratecard.simulate/1"


@contextlib.contextmanager
def progress(out: TextIO, quiet: bool, steps: int) -> Iterator[Any]:
    """A counter of `steps` steps on a terminal (tqdm): a function to call with each step's
    name as it starts; or None: not a terminal, or `--quiet`."""
    try:
        shown = not quiet and out.isatty()
    except (AttributeError, ValueError, OSError):
        shown = False
    if not shown:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(total=steps, file=out, unit="step", leave=False, dynamic_ncols=True)

    def step(name: str) -> None:
        if bar.n or bar.desc:
            bar.update(1)
        bar.set_description_str(name)

    try:
        yield step
    finally:
        bar.close()


def grouped(value: Decimal, signed: bool = False) -> str:
    """Money with thousands separators (`1,234.50`), signed (`+0.30`) if asked."""
    text = f"{value:,f}"
    return f"+{text}" if signed and value > 0 else text


def percent_text(value: Decimal | None) -> str:
    if value is None:
        return "n/a"
    return f"{'+' if value > 0 else ''}{value}%"


def print_diagnostics(diagnostics: Any) -> None:
    """A contract file's diagnostics, as `ratecard check` prints them (on stderr)."""
    if not diagnostics:
        return
    from pathlib import Path

    from ratecard.api import read_rules_text
    from ratecard.diagnostics import render_all
    from ratecard.source import SourceFile

    sources = {}
    for diagnostic in diagnostics:
        name = diagnostic.span.file
        if name not in sources:
            try:
                sources[name] = SourceFile(name, read_rules_text(Path(name)))
            except (OSError, UnicodeDecodeError):
                continue
    print(render_all(diagnostics, sources), file=sys.stderr)


def contract_refused(exc: Any) -> int:
    """A `ContractError` of `warehouse` or `simulate`, as the command line reports it: the
    contract's diagnostics, then exit 1 (a contract with errors, as a rules file with errors);
    CommandError (exit 2) for one without diagnostics (a missing file, a bad table row)."""
    from ratecard.console import EXIT_DIAGNOSTICS, CommandError

    print_diagnostics(exc.diagnostics)
    if not exc.diagnostics:
        raise CommandError(str(exc)) from None
    print(f"ratecard: error: {exc}", file=sys.stderr)
    return EXIT_DIAGNOSTICS
