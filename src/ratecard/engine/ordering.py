"""Time order for journals that are not in it: an external merge sort through temporary files.

The replay reads a journal once, in the order given. A journal already in time order, the common
case, is billed in that single pass, holding only the account's state. At the first entry earlier
than the one before it the replay stops, and the journal is read again through `sorted_records`:
runs of RUN_SIZE records are sorted by (instant, line) in memory and, when there is more than one,
written to temporary files and merged, so memory stays bounded by a run whatever the journal's
length. Ties in time keep the journal's order because the line breaks them.

"Read again" never means reading the input twice: a file or a stream keeps a copy of the bytes
it has read (`journal.ReadOnce`), and a one-shot iterable, which cannot be read twice either, is
`journal.Spooled`: the records it hands out are written to an anonymous temporary file,
`journal.SPOOL_SIZE` at a time, and read back if a second pass is needed. This module knows
records only as tuples: it imports nothing from the journal, which sits above it.

Every temporary file here is anonymous (`tempfile.TemporaryFile`: unlinked as it is made, or
deleted by the system when closed), so none is left in the temporary directory, however the
process ends.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Generator, Iterable, Iterator
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from ratecard.engine.journal import Record

RUN_SIZE = 100_000
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
