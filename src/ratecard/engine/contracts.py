"""The one thing the engine asks of the layers above it: a contract file compiled for a book.

`PriceBook.with_contract(path)` compiles a contract file, and compiling builds price books: the
compiler (`ratecard.api.load_contract`, which runs `ratecard.compile`) sits above
`engine.pricebook` and cannot be imported by it without a cycle. So the engine calls the loader
installed here, and `ratecard.api` installs `load_contract` when it is imported: importing any
part of ratecard, `ratecard.engine.pricebook` included, first runs the package's `__init__`,
which imports `ratecard.api`. The imports keep reading one way (tests/test_architecture.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ratecard.engine.pricebook import PriceBook

#: A contract file's path and the book it must extend → that book billed under the contract.
ContractLoader = Callable[[str | Path, "PriceBook"], "PriceBook"]

_loader: ContractLoader | None = None


def install(loader: ContractLoader) -> None:
    """Make `loader` the way `load_contract` compiles contracts (`ratecard.api` calls this)."""
    global _loader
    _loader = loader


def load_contract(path: str | Path, book: PriceBook) -> PriceBook:
    """The sheet `book` billed under the contract file at `path`, by the installed loader."""
    if _loader is None:  # only if `ratecard.api` was never imported, which importing ratecard does
        raise RuntimeError("no contract loader is installed: import ratecard first")
    return _loader(path, book)
