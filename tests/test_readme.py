"""README.md is true: its tour shows the shipped file, and its test commands are the ones CI runs."""

from __future__ import annotations

import re

from tests.conftest import BDA_RULES, ROOT

README = ROOT / "README.md"


def blocks(text: str) -> list[str]:
    """The contents of every fenced code block."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)


def test_the_tour_shows_the_real_file() -> None:
    """The tour is headed by `rules/tencent-bda.rules` and shows that file, whole and unchanged."""
    text = README.read_text(encoding="utf-8")
    tour = text[text.index("## A tour of the language"):]
    assert tour.split("\n", 3)[2].startswith("`rules/tencent-bda.rules` is")
    assert blocks(tour)[0] == BDA_RULES.read_text(encoding="utf-8")
