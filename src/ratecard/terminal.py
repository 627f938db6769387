"""What the command line shows on a terminal and nowhere else: colours, and whether to use them.

Colour is a handful of SGR escape codes (bold, red, yellow, blue, cyan), written out here rather
than taken from a library: the diagnostics are laid out by hand to the column (carets under the
exact token), so a library's markup would have to be escaped and measured around, and `ratecard
check` must start fast (importing rich's console costs about as much as checking the shipped
BDA sheet once ratecard is imported, some 30 ms each). A `Palette` holds the codes; `PLAIN`'s
are empty strings, so text rendered with it is byte for byte the text rendered without colour.

Whether a stream gets colour (`use_color`), in this order:
- `--color always` or `--color never` decide;
- otherwise (`auto`, the default) `NO_COLOR` set to anything but the empty string turns colour
  off (https://no-color.org), then `FORCE_COLOR` set likewise turns it on (so colour survives a
  pager or CI log that is not a terminal), then `TERM=dumb` turns it off; otherwise the stream
  gets colour when it is a terminal. This is the order CPython's own traceback colours follow.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator, Mapping
from typing import IO, TextIO

import attrs

COLOR_MODES = ("auto", "always", "never")


@attrs.frozen
class Palette:
    """The escape codes of each role in the output; `reset` ends any of them."""

    error: str = ""  # `error[E203]`, carets under an error, `2 errors`
    warning: str = ""  # `warning[W003]`, carets under a warning, `1 warning`
    gutter: str = ""  # ` --> `, line numbers, `|`, `=`
    help: str = ""  # `help` in `= help: ...`
    bold: str = ""  # a diagnostic's message, a bill's total
    reset: str = ""

    def paint(self, role: str, text: str) -> str:
        """`text` in one role's colour (as it is with PLAIN)."""
        code: str = getattr(self, role)
        return f"{code}{text}{self.reset}" if code else text


_ESC = "\x1b["
#: No colour: every code empty.
PLAIN = Palette()
#: rustc's colours: errors bold red, warnings bold yellow, the gutter bold blue, help bold cyan.
COLOR = Palette(
    error=f"{_ESC}1;31m",
    warning=f"{_ESC}1;33m",
    gutter=f"{_ESC}1;34m",
    help=f"{_ESC}1;36m",
    bold=f"{_ESC}1m",
    reset=f"{_ESC}0m",
)


def use_color(stream: TextIO, mode: str = "auto", env: Mapping[str, str] | None = None) -> bool:
    """Whether `stream` gets colour under `--color mode` and the environment (module doc)."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    env = os.environ if env is None else env
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    if env.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError, OSError):  # no isatty, or the stream is closed
        return False


def palette(stream: TextIO, mode: str = "auto") -> Palette:
    """COLOR for a stream that gets colour, PLAIN otherwise."""
    return COLOR if use_color(stream, mode) else PLAIN


# --- progress -------------------------------------------------------------------------------

#: A journal bigger than this (about 13,000 entries of JSON Lines) gets a progress bar when it
#: is billed with a terminal on stderr; a smaller one is read before a bar would be seen.
PROGRESS_BYTES = 1 << 20


class Counted(io.RawIOBase):
    """A binary stream whose reads report how many bytes they read: what the progress bar of
    `bill` counts. Reads go straight to the stream; the journal reader reads 64 KiB at a time,
    so the count costs one call per 64 KiB, nothing per entry."""

    def __init__(self, stream: IO[bytes], name: str, advance: Callable[[int], object]) -> None:
        super().__init__()
        self._stream = stream
        self._advance = advance
        self.name = name  # the journal's name in messages, and `.csv` decides its format

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._advance(len(data))
        return data


class Progress:
    """A progress bar on a terminal (tqdm), counting the bytes of a journal as they are read."""

    def __init__(self, total: int, label: str, out: TextIO) -> None:
        from tqdm import tqdm  # only when a bar is shown

        self._tqdm = tqdm
        self._out = out
        # Redrawn at most 5 times a second; cleared when done, so the bills print on a clean
        # line; counted in bytes, shown as KiB/MiB; as wide as the terminal, or 80 by 24
        # where the terminal says it is 0 by 0 (a pseudo-terminal nobody sized: tqdm would
        # hide the bar as off the screen).
        sized = _columns(out) > 0
        self.bar = tqdm(total=total, desc=label, file=out, unit="B", unit_scale=True,
                        unit_divisor=1024, leave=False, mininterval=0.2, dynamic_ncols=sized,
                        ncols=None if sized else 80, nrows=None if sized else 24)

    def reading(self, stream: IO[bytes], name: str) -> Counted:
        """`stream`, its reads advancing the bar."""
        return Counted(stream, name, self.bar.update)

    def write(self, message: str) -> None:
        """A line for the terminal above the bar (the bar is redrawn below it)."""
        self._tqdm.write(message, file=self._out)

    def close(self) -> None:
        self.bar.close()


def _columns(out: TextIO) -> int:
    try:
        return os.get_terminal_size(out.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 0


def journal_progress(size: int | None, out: TextIO) -> bool:
    """Whether billing a journal of `size` bytes (None: not known) shows a progress bar on `out`:
    only on a terminal, and only for a journal over PROGRESS_BYTES."""
    if size is None or size <= PROGRESS_BYTES:
        return False
    try:
        return out.isatty()
    except (AttributeError, ValueError, OSError):
        return False


@contextlib.contextmanager
def progress(total: int, label: str, out: TextIO) -> Iterator[Progress]:
    """A `Progress` for the length of a `with`, closed (and cleared) at its end."""
    bar = Progress(total, label, out)
    try:
        yield bar
    finally:
        bar.close()
