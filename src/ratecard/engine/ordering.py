"""Time order for journals that are not in it: an external merge sort through temporary files.

The replay reads a journal once, in the order given. A journal already in time order, the common
case, is billed in that single pass, holding only the account's state. At the first entry earlier
than the one before it the replay stops, and the journal is read again through `sorted_records`:
runs of RUN_SIZE records are sorted by (instant, line) in memory and, when there is more than one,
written to temporary files and merged, so memory stays bounded by a run whatever the journal's
length. Ties in time keep the journal's order because the line breaks them.

"Read again" never means reading the input twice: a file or a stream keeps a copy of the bytes
it has read (`journal.ReadOnce`), and a one-shot iterable, which cannot be read twice either, is
`Spooled`: the records it hands out are written to a temporary file, SPOOL_SIZE at a time, and
read back if a second pass is needed.

Every temporary file here is anonymous (`tempfile.TemporaryFile`: unlinked as it is made, or
deleted by the system when closed), so none is left in the temporary directory, however the
process ends.
"""

from __future__ import annotations

import heapq
import os
import pickle
import tempfile
from collections.abc import Generator, Iterable, Iterator
from itertools import islice
from typing import IO

from ratecard.engine.journal import FieldError, Record, Source

RUN_SIZE = 100_000
SPOOL_SIZE = 4096  # spooled records are only read back in order: small runs cost nothing
_BATCH = 4096


def sorted_records(
    records: Iterable[Record], run_size: int | None = None
) -> Generator[Record, None, None]:
    """The records in time order (instant, then line), with at most one run held in memory."""
    size = run_size or RUN_SIZE
    runs: list[IO[bytes]] = []
    try:
        run: list[Record] = []
        for record in records:
            run.append(record)
            if len(run) >= size:
                run.sort()
                runs.append(_write_run(run))
                run = []
        run.sort()
        if not runs:
            yield from run
            return
        # Records compare by (instant, line) first, and no two records share a line.
        yield from heapq.merge(*(_read_run(stream) for stream in runs), run)
    finally:
        for stream in runs:
            stream.close()


def _write_run(run: list[Record]) -> IO[bytes]:
    stream = tempfile.TemporaryFile(prefix="ratecard-sort-")  # noqa: SIM115 - closed by the caller
    _dump(run, stream)
    return stream


def _dump(records: list[Record], stream: IO[bytes]) -> None:
    for start in range(0, len(records), _BATCH):
        pickle.dump(records[start:start + _BATCH], stream, protocol=pickle.HIGHEST_PROTOCOL)


def _read_run(stream: IO[bytes]) -> Iterator[Record]:
    # Only files this module wrote, anonymous and private to this process, are read.
    stream.seek(0)
    while True:
        try:
            batch: list[Record] = pickle.load(stream)
        except EOFError:
            return
        yield from batch


class Spooled(Source):
    """A one-shot journal whose records are kept in a temporary file so it can be read twice."""

    def __init__(self, inner: Source, run_size: int | None = None) -> None:
        super().__init__(inner.reader, inner.on_invalid)
        self.inner = inner
        self.path = inner.path
        self._size = run_size or SPOOL_SIZE
        self._live: Iterator[Record] | None = None
        self._copy: IO[bytes] | None = None
        self._batches = 0

    def records(self) -> Generator[Record, None, None]:
        if self._live is None:
            self._live = self.inner.records()
        return self._read(self._live)

    def _read(self, live: Iterator[Record]) -> Generator[Record, None, None]:
        """What earlier passes read, from the copy; then the rest, copied as it is read (a batch
        is written before any of it is handed out, so the copy holds whatever a pass saw)."""
        copy = self._copy
        if copy is not None:
            copy.seek(0)
            for _ in range(self._batches):
                yield from pickle.load(copy)
            copy.seek(0, os.SEEK_END)
        while True:
            batch = list(islice(live, self._size))
            if not batch:
                break
            if copy is None:
                copy = self._copy = tempfile.TemporaryFile(  # noqa: SIM115 - see `close`
                    prefix="ratecard-spool-")
            pickle.dump(batch, copy, protocol=pickle.HIGHEST_PROTOCOL)
            self._batches += 1
            yield from batch
            del batch  # not held while the next batch is read
        self.positions = self.inner.positions

    def invalid(self, line: int, exc: FieldError) -> None:
        self.inner.invalid(line, exc)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        self._batches = 0
        self.inner.close()
