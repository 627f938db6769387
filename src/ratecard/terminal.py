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

import os
from collections.abc import Mapping
from typing import TextIO

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
