"""The exceptions of the public API."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from ratecard.diagnostics import Diagnostic


class Error(Exception):
    """The base of every error ratecard raises for bad input: rules that do not compile
    (`RulesError`), usage, journals or arguments it cannot bill (`UsageError`, `JournalError`),
    a snapshot it cannot restore (`SnapshotError`). `except ratecard.Error` catches them all;
    anything else is a bug of ratecard's."""


class RulesError(Error):
    """A rules file that does not compile; `.diagnostics` lists every problem found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics: tuple[Diagnostic, ...] = tuple(diagnostics)
        errors = [d for d in self.diagnostics if d.is_error]
        first = errors[0] if errors else None
        head = f"{first.span}: error[{first.code}] {first.message}" if first else "invalid rules"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(head + more)


class UsageError(Error, ValueError):
    """Usage that the rules cannot price: an unknown or unpriced action, a bad count or pack."""


class ContactSalesError(UsageError):
    """A quantity that reaches a bracket with no published price (`contact sales`).

    `meter`, `quantity` and `bracket` (its label, `(5000000, ∞)`) say which; the message names
    them too.
    """

    def __init__(
        self,
        message: str,
        meter: str | None = None,
        quantity: Decimal | None = None,
        bracket: str | None = None,
    ) -> None:
        super().__init__(message)
        self.meter = meter
        self.quantity = quantity
        self.bracket = bracket
