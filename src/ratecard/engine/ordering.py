"""Time order for journals that are not in it: an external merge sort through temporary files.

The replay reads a journal once, in the order given. A journal already in time order, the common
case, is billed in that single pass, holding only the account's state. At the first entry earlier
than the one before it the replay stops, and the journal is read again through `sorted_records`:
runs of RUN_SIZE records are sorted by (instant, line) in memory and, when there is more than one,
written to temporary files and merged, so memory stays bounded by a run whatever the journal's
length. Ties in time keep the journal's order because the line breaks them.

A one-shot iterable cannot be read twice, so `Spooled` writes what it hands out to temporary files
as it goes, SPOOL_SIZE records at a time, and reads them back if a second pass is needed.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path

from ratecard.engine.journal import FieldError, Record, Source

RUN_SIZE = 100_000
SPOOL_SIZE = 4096  # spooled records are only read back in order: small runs cost nothing
_BATCH = 4096


def sorted_records(
    records: Iterable[Record], run_size: int | None = None
) -> Generator[Record, None, None]:
    """The records in time order (instant, then line), with at most one run held in memory."""
    size = run_size or RUN_SIZE
    with tempfile.TemporaryDirectory(prefix="ratecard-sort-") as directory:
        runs: list[Path] = []
        run: list[Record] = []
        for record in records:
            run.append(record)
            if len(run) >= size:
                run.sort()
                runs.append(_write_run(Path(directory), len(runs), run))
                run = []
        run.sort()
        if not runs:
            yield from run
            return
        # Records compare by (instant, line) first, and no two records share a line.
        yield from heapq.merge(*(_read_run(path) for path in runs), run)


def _write_run(directory: Path, number: int, run: list[Record]) -> Path:
    path = directory / f"run-{number:06d}"
    with open(path, "wb") as stream:
        for start in range(0, len(run), _BATCH):
            pickle.dump(run[start:start + _BATCH], stream, protocol=pickle.HIGHEST_PROTOCOL)
    return path


def _read_run(path: Path) -> Iterator[Record]:
    # Only files this module wrote, in this process's private temporary directory, are read.
    with open(path, "rb") as stream:
        while True:
            try:
                batch: list[Record] = pickle.load(stream)
            except EOFError:
                return
            yield from batch


class Spooled(Source):
    """A one-shot journal whose records are kept in temporary files so it can be read twice."""

    def __init__(self, inner: Source, run_size: int | None = None) -> None:
        super().__init__(inner.reader, inner.on_invalid)
        self.inner = inner
        self.path = inner.path
        self._size = run_size or SPOOL_SIZE
        self._live: Iterator[Record] | None = None
        self._directory: tempfile.TemporaryDirectory[str] | None = None
        self._runs: list[Path] = []
        self._run: list[Record] = []

    def records(self) -> Generator[Record, None, None]:
        if self._live is None:
            self._live = self.inner.records()
            return self._first(self._live)
        return self._again(self._live)

    def _first(self, live: Iterator[Record]) -> Generator[Record, None, None]:
        for record in live:
            self._run.append(record)
            if len(self._run) >= self._size:
                self._spill()
            yield record

    def _again(self, live: Iterator[Record]) -> Generator[Record, None, None]:
        for path in self._runs:
            yield from _read_run(path)
        yield from self._run
        yield from live  # the rest, not yet read; no need to keep it now

    def _spill(self) -> None:
        if self._directory is None:
            self._directory = tempfile.TemporaryDirectory(prefix="ratecard-spool-")
        directory = Path(self._directory.name)
        self._runs.append(_write_run(directory, len(self._runs), self._run))
        self._run = []

    def invalid(self, line: int, exc: FieldError) -> None:
        self.inner.invalid(line, exc)

    def close(self) -> None:
        if self._directory is not None:
            self._directory.cleanup()
            self._directory = None
        self._runs = []
        self._run = []
