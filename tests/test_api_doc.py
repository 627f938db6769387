"""docs/api.md says what the code does: its runnable blocks run and print what the page shows,
and examples/service.py's demo answers what the page says it answers."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

DOC = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
# A block marked runnable, and the text block right after it: what it prints.
RUNNABLE = re.compile(r"<!-- runnable -->\n```python\n(.*?)```\n(?:\n```text\n(.*?)```\n)?", re.S)
DEMO = re.compile(r"```sh\npython examples/service\.py --demo\n```\n\n```text\n(.*?)```\n", re.S)


def test_the_page_has_runnable_blocks_and_each_shows_its_output() -> None:
    blocks = RUNNABLE.findall(DOC)
    assert len(blocks) >= 8
    assert all(output for _, output in blocks)


def test_runnable_blocks_print_what_the_page_shows(monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocks run one after the other in one namespace, from the repository's root, as a
    reader pasting them into one session would."""
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "api_doc"}
    for number, (code, expected) in enumerate(RUNNABLE.findall(DOC), start=1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"docs/api.md block {number}", "exec"), namespace)
        assert out.getvalue() == expected, f"block {number}"


def test_the_example_service_demo_answers_what_the_page_shows() -> None:
    match = DEMO.search(DOC)
    assert match is not None
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "service.py"), "--demo"],
        capture_output=True, text=True, timeout=120, cwd=Path(ROOT), check=False,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == match.group(1)
