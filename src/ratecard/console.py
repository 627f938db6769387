"""What every command shares: exit statuses, the error a command stops with, the colour setting,
reading and compiling a rules file with its diagnostics reported, the version.

Below `ratecard.cli` and the commands it loads from other packages (`warehouse.command`,
`ratecard lsp`), so that they need not import the command line that imports them. Light: no
evaluator is loaded until a command compiles a file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING

from ratecard.api import analyze, read_rules_text
from ratecard.diagnostics import Diagnostic, render_all
from ratecard.source import SourceFile
from ratecard.terminal import Palette, palette

if TYPE_CHECKING:
    from ratecard.engine.pricebook import PriceBook

#: Exit statuses: 0 ok, 1 the rules have errors (diagnostics printed), 2 usage or I/O.
EXIT_OK = 0
EXIT_DIAGNOSTICS = 1
EXIT_USAGE = 2


class CommandError(Exception):
    """A usage or I/O problem: printed as one line, exit 2."""


#: `--color` of the command running (main sets it): whether stdout and stderr get colour is
#: decided for each stream when it is written to (terminal.use_color).
COLOR: ContextVar[str] = ContextVar("ratecard_color", default="auto")


def stdout_palette() -> Palette:
    return palette(sys.stdout, COLOR.get())


def stderr_palette() -> Palette:
    return palette(sys.stderr, COLOR.get())


def read_source(path: str) -> SourceFile:
    try:
        return SourceFile(path, read_rules_text(Path(path)))
    except FileNotFoundError:
        raise CommandError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{path}: is a directory, not a rules file") from None
    except UnicodeDecodeError as exc:
        raise CommandError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror}") from None


def report(diagnostics: Sequence[Diagnostic], source: SourceFile, fmt: str) -> None:
    if not diagnostics:
        return
    if fmt == "json":
        print(render_all(diagnostics, {source.name: source}, fmt))
    else:
        print(render_all(diagnostics, {source.name: source}, fmt, stderr_palette()),
              file=sys.stderr)


def compile_file(path: str, fmt: str = "full") -> PriceBook | None:
    """Compile a rules file, printing its diagnostics; None if it has errors."""
    source = read_source(path)
    rules, diagnostics = analyze(source)
    errors = [d for d in diagnostics if d.is_error]
    if rules is None or errors:
        report(diagnostics, source, fmt)
        return None
    from ratecard.versions import is_contract

    if is_contract(rules):
        raise CommandError(
            f"{path}: is a contract, not a rules file; give the rules file it extends and this "
            f"file as --contract {path}")
    from ratecard.compile import compile_rules

    return compile_rules(rules, tuple(diagnostics))


def version() -> str:
    """`ratecard.__version__`: the installed package's version (its metadata), else the
    release the sources carry."""
    import ratecard

    return ratecard.__version__
