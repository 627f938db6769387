"""The sheets a warehouse run bills by: the rules' dated versions, and each account's contract.

A month is billed by the sheet in effect on its first day (`PriceBook.at`), a pack keeps the
terms of the sheet in effect at the instant it was bought, and an account under a contract is
billed by its contract's timeline (`PriceBook.with_contract`: the contract's sheets inside its
term, the plain versions outside it), exactly as the engine bills each journal.

The run numbers every sheet it may bill by (`Terms.books`): first the rules' own versions (the
index the SQL prices by, `ver`), then the other sheets of the contracts' timelines (billed in
Python). The contracts table (`--contracts`) maps accounts to contract files.

Grandfathering (`keep accounts opened before D until D`): an account's timeline depends on the
day it opened, the day of its earliest entry in the rules' timezone (`PriceBook.for_account`);
the run tells each account's opening day (`Terms.open`) before anything of it is billed.
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

from ratecard.diagnostics import Diagnostic
from ratecard.engine.clock import day_start
from ratecard.engine.pricebook import PriceBook
from ratecard.errors import RulesError, UsageError
from ratecard.warehouse.months import month_of_ord

#: What a caller may give as contracts: a contracts table (CSV or Parquet), or a mapping of
#: accounts to contract files or to books with their contracts applied.
ContractSpec = (
    str | os.PathLike[str] | Mapping[str, "str | os.PathLike[str] | PriceBook"]
)

class ContractError(UsageError):
    """A contract the warehouse cannot bill by: a file with errors (`diagnostics` lists them),
    a contract on other rules, an account listed twice or not named by its contract."""

    def __init__(self, message: str, diagnostics: tuple[Diagnostic, ...] = ()) -> None:
        self.diagnostics = diagnostics
        super().__init__(message)


class Terms:
    """Every sheet of a run, numbered, and which one bills an account's month or purchase."""

    def __init__(self, book: PriceBook, contracts: Mapping[str, PriceBook] | None = None) -> None:
        self.top = book
        self.contracts: dict[str, PriceBook] = dict(contracts or {})
        self.books: list[PriceBook] = sheets(book)
        #: The rules' own versions: books 0 .. versions - 1, the `ver` the SQL prices by.
        self.versions = len(self.books)
        self._index = {id(b): i for i, b in enumerate(self.books)}
        for timeline in self.contracts.values():
            for sheet in sheets(timeline):
                if id(sheet) not in self._index:
                    self._index[id(sheet)] = len(self.books)
                    self.books.append(sheet)
        self.zone = book.zone
        self._months: dict[tuple[int, int], int] = {}
        self._starts: dict[int, tuple[list[int], list[int]]] = {}
        #: Whether a timeline keeps accounts opened before a day on earlier prices.
        self.grandfathering = any(
            segment.keep_before is not None
            for timeline in (book, *self.contracts.values())
            for segment in timeline.timeline
        )
        # Grandfathering: each opened account's timeline, and the timelines by the base they
        # come from and which `keep_before` days the opening is before (kept alive: the sheets
        # are told apart by identity).
        self._opened: dict[str, PriceBook] = {}
        self._kept: dict[tuple[int, tuple[bool, ...]], PriceBook] = {}

    @property
    def versioned(self) -> bool:
        """Whether the rules have dated versions (the SQL then prices by version)."""
        return self.versions > 1

    def labels(self) -> dict[str, list[str | None]]:
        """The columns bills get to name their sheet, and what each sheet (by its number) puts
        in them: `version` when a sheet is a dated version (the first version's bills say
        nothing, as the engine's JSON), `contract` when accounts have contracts."""
        columns: dict[str, list[str | None]] = {}
        if any(sheet.version is not None for sheet in self.books):
            columns["version"] = [self.version_label(i) for i in range(len(self.books))]
        if self.contracts:
            columns["contract"] = [self.contract_label(i) for i in range(len(self.books))]
        return columns

    @property
    def labelled(self) -> bool:
        """Whether bills name a version or a contract (outputs then have those columns)."""
        return bool(self.labels())

    def timeline(self, account: str) -> PriceBook:
        """The timeline an account is billed by: its contract's, or the rules', for the day
        it opened (`open`)."""
        opened = self._opened.get(account)
        if opened is not None:
            return opened
        return self.contracts.get(account, self.top)

    def open(self, account: str, day: date) -> None:
        """An account opened on `day`: under grandfathering, its timeline is the one
        `for_account(day)` gives its base (its contract's, or the rules')."""
        base = self.contracts.get(account, self.top)
        self._opened[account] = self._for_account(base, day)

    def sellers(self, account: str, moment: int) -> list[int]:
        """The sheets that may be in effect at an instant for an account, whatever day it
        opened (the engine takes a purchase whose size one of them sells; the replay then
        refuses it if the account's own sheet does not)."""
        base = self.contracts.get(account, self.top)
        openings = [date.min, *(s.keep_before for s in base.timeline if s.keep_before)]
        found: list[int] = []
        for day in openings:
            sheet = self.at(self._for_account(base, day), moment)
            if sheet not in found:
                found.append(sheet)
        return found

    def _for_account(self, base: PriceBook, day: date) -> PriceBook:
        key = (id(base), tuple(day < s.keep_before for s in base.timeline if s.keep_before))
        timeline = self._kept.get(key)
        if timeline is None:
            timeline = self._kept[key] = base.for_account(day)
            if timeline is not base:
                # its first days' sheet is a copy of the base's; its later ones are the base's
                self._index[id(sheets(timeline)[0])] = self._index[id(sheets(base)[0])]
        return timeline

    def month(self, timeline: PriceBook, ordinal: int) -> int:
        """The sheet (its number) that bills a month: the one in effect on its first day."""
        key = (id(timeline), ordinal)
        found = self._months.get(key)
        if found is None:
            year, number = month_of_ord(ordinal)
            found = self._months[key] = self._index[id(timeline.at(date(year, number, 1)))]
        return found

    def at(self, timeline: PriceBook, moment: int) -> int:
        """The sheet (its number) in effect at an instant: the one whose first day started
        at or before it, in the rules' timezone."""
        starts = self._starts.get(id(timeline))
        if starts is None:
            instants = [day_start(s.start, self.zone) for s in timeline.timeline]
            indexes = [self._index[id(sheet)] for sheet in sheets(timeline)]
            starts = self._starts[id(timeline)] = (instants, indexes)
        instants, indexes = starts
        return indexes[bisect_right(instants, moment)]

    def version_label(self, index: int) -> str | None:
        """What a bill of this sheet says in `version` (None for the first version)."""
        day = self.books[index].version
        return None if day is None else day.isoformat()

    def contract_label(self, index: int) -> str | None:
        """What a bill of this sheet says in `contract`."""
        terms = self.books[index].contract
        return None if terms is None else terms.name


def sheets(timeline: PriceBook) -> list[PriceBook]:
    """The sheets of a timeline as `PriceBook.at` returns them: the first days' (without the
    timeline), then each later segment's."""
    return [timeline.at(date.min), *(segment.book for segment in timeline.timeline)]


def check_pools(terms: Terms) -> None:
    """UsageError if the sheets share allowances differently (a pool of other meters): the
    warehouse draws a pool's units by one grouping of meters for every month."""
    first = terms.books[0]
    pools = [plan.pool for plan in first.meters]
    named = set(first.allowance_pools)
    for sheet in terms.books[1:]:
        if [plan.pool for plan in sheet.meters] != pools or set(sheet.allowance_pools) != named:
            raise UsageError(
                f"{_sheet_name(sheet)} shares allowances between other meters than the rules' "
                "first version: the warehouse draws a shared allowance by one grouping of "
                "meters in every month (`ratecard bill` bills such an account)"
            )


def check_requests(terms: Terms) -> None:
    """UsageError if a version or a contract's sheet makes other parts of a request than the
    rules' first version: the warehouse makes a request row's parts one way, whatever month and
    account it bills them in (each month is then priced by its version, as usage rows are). A
    version or a contract restates prices only (E704, E713), so this holds of every sheet that
    loads; the check keeps the warehouse from billing one that would not."""
    first = terms.books[0]

    def minimums(book: PriceBook) -> dict[str, Decimal]:
        return {m.name: m.entry_minimum for m in book.meters if m.entry_minimum is not None}

    for sheet in terms.books[1:]:
        if dict(sheet.requests) != dict(first.requests) or minimums(sheet) != minimums(first):
            raise UsageError(
                f"{_sheet_name(sheet)} declares its requests otherwise than the rules' first "
                "version: the warehouse makes a request row's parts one way for every month; "
                "bill these accounts with `ratecard bill`"
            )


def _sheet_name(sheet: PriceBook) -> str:
    if sheet.contract is not None:
        return f"contract `{sheet.contract.name}`"
    if sheet.version is not None:
        return f"the version from {sheet.version.isoformat()}"
    return "a sheet"


# --- the contracts table ---------------------------------------------------------------------


def load_contracts(book: PriceBook, spec: ContractSpec | None) -> dict[str, PriceBook]:
    """Each account's book under its contract, from a contracts table (a CSV or Parquet file
    with the columns `account` and `contract`, a contract file's path relative to the table's
    directory) or a mapping (account → contract file or book). ContractError for a contract
    file with errors, a contract on other rules, an account listed twice or one its contract
    does not name."""
    if spec is None:
        return {}
    if isinstance(spec, str | os.PathLike):
        rows = read_contracts_table(os.fspath(spec))
        base = Path(os.fspath(spec)).parent
        where = os.fspath(spec)
        entries: list[tuple[str, str | os.PathLike[str] | PriceBook, str]] = [
            (account, base / contract, f"{where}:{line}") for line, account, contract in rows
        ]
    elif isinstance(spec, Mapping):
        entries = []
        for account, contract in spec.items():
            if not isinstance(account, str) or not account:
                raise UsageError(f"contracts: an account is a non-empty string, not {account!r}")
            if not isinstance(contract, str | os.PathLike | PriceBook):
                raise UsageError(
                    f"contracts: account {account}: a contract is a contract file's path or a "
                    f"PriceBook, not {type(contract).__name__}"
                )
            entries.append((account, contract, "contracts"))
    else:
        raise UsageError(
            "contracts is a contracts table's path or a mapping of accounts to contract files, "
            f"not {type(spec).__name__}"
        )
    loaded: dict[str, PriceBook] = {}
    by_account: dict[str, PriceBook] = {}
    listed: dict[str, str] = {}
    for account, contract, where in entries:
        if account in listed:
            raise ContractError(
                f"{where}: account `{account}` is listed twice (first at {listed[account]}); "
                "an account is billed under one contract"
            )
        listed[account] = where
        if isinstance(contract, PriceBook):
            timeline = contract
        else:
            path = os.path.realpath(os.fspath(contract))
            if path not in loaded:
                loaded[path] = _contract_book(book, os.fspath(contract), where)
            timeline = loaded[path]
        check_contract(book, timeline, account, where)
        by_account[account] = timeline
    return by_account


def _contract_book(book: PriceBook, path: str, where: str) -> PriceBook:
    """The rules' book with the contract file applied; ContractError with its diagnostics."""
    if not os.path.isfile(path):
        raise ContractError(f"{where}: contract file {path}: no such file")
    try:
        return book.with_contract(path)
    except RulesError as exc:
        errors = [d for d in exc.diagnostics if d.is_error]
        first = f": {errors[0].span}: error[{errors[0].code}] {errors[0].message}" if errors else ""
        raise ContractError(
            f"{where}: contract file {path} has errors{first}", exc.diagnostics
        ) from None
    except OSError as exc:
        raise ContractError(f"{where}: contract file {path}: {exc.strerror or exc}") from None


def check_contract(book: PriceBook, timeline: PriceBook, account: str, where: str) -> None:
    """ContractError if a contract's timeline is not on the warehouse's rules (another sheet:
    other meters, currency, timezone or billing, or other versions outside the contract's
    term), or if the contract names its accounts and not this one."""
    named = _contract_of(timeline)
    label = f"contract `{named.name}`" if named is not None else "the contract"
    same = (
        timeline.name == book.name
        and timeline.currency == book.currency
        and timeline.rounding == book.rounding
        and timeline.timezone == book.timezone
        and [p.name for p in timeline.meters] == [p.name for p in book.meters]
        and dict(timeline.routes) == dict(book.routes)
        and timeline.deduct_order == book.deduct_order
        and timeline.billing == book.billing
    )
    if same:
        # Outside the contract's term, its timeline is the rules' own versions.
        days = [s.start for s in book.timeline] + [s.start for s in timeline.timeline]
        first = min(days) if days else None
        probes = sorted({*days, *([date(first.year - 1, 1, 1)] if first else [])})
        for day in probes:
            theirs = timeline.at(day)
            if theirs.contract is None and _plain(theirs) != _plain(book.at(day)):
                same = False
                break
    if not same:
        raise ContractError(
            f"{where}: {label} is on other rules than `{book.name}` billed here (it extends "
            "another sheet, or another version of it); give the contract on these rules"
        )
    if named is not None and named.accounts and account not in named.accounts:
        raise ContractError(
            f"{where}: {label} is for the account"
            f"{'s' if len(named.accounts) > 1 else ''} {', '.join(named.accounts)}, not `{account}`"
        )


def _contract_of(timeline: PriceBook) -> Any:
    for sheet in timeline.books:
        if sheet.contract is not None:
            return sheet.contract
    return None


def _plain(sheet: PriceBook) -> PriceBook:
    import attrs

    return attrs.evolve(sheet, timeline=())


def read_contracts_table(path: str) -> list[tuple[int, str, str]]:
    """The rows of a contracts table: (line or row number, account, contract path). A CSV file
    has a header line; its rows are numbered as lines (the header is line 1), a Parquet file's
    from 1."""
    from ratecard.warehouse.schema import SchemaError, input_format

    try:
        fmt = input_format(path)
    except UsageError:
        raise UsageError(f"{path}: a contracts table is a .csv or .parquet file") from None
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file (contracts)")
    import pyarrow as pa

    try:
        if fmt == "csv":
            import pyarrow.csv as pacsv

            with open(path, "rb") as stream:
                header = stream.readline().decode("utf-8-sig", "replace")
            names = [n.strip() for n in header.rstrip("\r\n").split(",")]
            table = pacsv.read_csv(
                path,
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()), strings_can_be_null=False
                ),
            )
            first_row = 2
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            first_row = 1
    except (pa.ArrowInvalid, OSError) as exc:
        raise UsageError(f"{path}: cannot read the contracts table: {exc}") from None
    columns = {name.strip(): name for name in table.column_names}
    for column in ("account", "contract"):
        if column not in columns:
            raise SchemaError(
                path, column, "is missing; contracts need the columns account, contract"
            )
    for column, kinds in (("account", ("string", "integer")), ("contract", ("string",))):
        kind = _kind(table.schema.field(columns[column]).type)
        if kind not in kinds:
            raise SchemaError(
                path,
                column,
                f"has type {table.schema.field(columns[column]).type}; it must be "
                + (" or ".join(("a string", "a whole number")[: len(kinds)])),
            )
    accounts = table.column(columns["account"]).to_pylist()
    contracts = table.column(columns["contract"]).to_pylist()
    rows: list[tuple[int, str, str]] = []
    for number, (account, contract) in enumerate(zip(accounts, contracts, strict=True)):
        line = number + first_row
        account_text = "" if account is None else str(account).strip()
        contract_text = "" if contract is None else str(contract).strip()
        if not account_text:
            raise UsageError(f"{path}:{line}: the row has no account")
        if not contract_text:
            raise UsageError(f"{path}:{line}: account `{account_text}` has no contract file")
        rows.append((line, account_text, contract_text))
    return rows


def _kind(arrow_type: Any) -> str:
    import pyarrow as pa

    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    if pa.types.is_integer(arrow_type):
        return "integer"
    return "other"


__all__ = [
    "ContractError",
    "ContractSpec",
    "Terms",
    "check_contract",
    "check_pools",
    "load_contracts",
    "read_contracts_table",
    "sheets",
]


def charge_names(books: Sequence[PriceBook]) -> list[str]:
    """The subscription plans and fees of the sheets, in order of declaration (each once): the
    names a bill's charge lines give as their meter (the warehouse numbers them after the
    meters and a contract's true-up)."""
    names: dict[str, None] = {}
    for sheet in books:
        for plan in sheet.subscriptions:
            names.setdefault(plan.name, None)
    return list(names)


def metered(book: PriceBook) -> PriceBook:
    """`book` (and the sheets of its timeline) without counts in a display unit and minimums
    per entry: the sheet the engine's replay bills quantities the SQL has already made metered
    units and raised to their minimum by."""
    if not any(plan.count_scales or plan.entry_minimum is not None
               for sheet in (book, *(s.book for s in book.timeline)) for plan in sheet.meters):
        return book

    def strip(sheet: PriceBook) -> PriceBook:
        return attrs.evolve(
            sheet,
            meters=tuple(attrs.evolve(plan, count_scales=(), entry_minimum=None)
                         for plan in sheet.meters),
            timeline=tuple(attrs.evolve(s, book=strip(s.book)) for s in sheet.timeline))

    return strip(book)


def replays_everyone(books: Sequence[PriceBook]) -> bool:
    """Whether the engine's replay bills every account, from its opening: the sheets have
    grants or credits (granted at the opening), fees (held from the opening), or mechanics the
    warehouse's own drawdown does not implement and the engine does, given each account's
    entries (`entry_meters`): `skip empty`, packs that stop service when exhausted, a
    minimum per entry, a daily ladder, daily bills."""
    return any(sheet.grants or sheet.credits or any(p.automatic for p in sheet.subscriptions)
               or sheet.billing.skip_empty or entry_meters(sheet)
               for sheet in books)


def entry_meters(sheet: PriceBook) -> list[str]:
    """The meters whose usage the engine's replay must be given entry by entry, for every
    account: a minimum per entry raises each entry; packs that stop service when exhausted
    reject what is past them, entry by entry; a fee that covers a meter limits what it covers
    per day or month; a daily ladder prices each day's entries, a daily bill bills them."""
    # (A minimum per entry is applied in SQL, to each usage row and request part.)
    return [plan.name for plan in sheet.meters
            if plan.pack_terms.stop_when_exhausted] + [
        meter for plan in sheet.subscriptions if plan.automatic for meter in plan.covers] + [
        meter for group in sheet.ladder_groups if group.ladder.period != "month"
        for meter in group.meters] + list(sheet.billing.daily)
