"""README.md is true: its tour shows the shipped file; its test commands are the ones CI runs."""

from __future__ import annotations

import re
import tomllib

import pytest

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


def test_the_test_commands_are_the_ones_ci_runs() -> None:
    """The README's test commands are `.ci/run`'s, in its order, and the default run leaves out
    exactly the markers the slow commands select."""
    text = README.read_text(encoding="utf-8")
    commands = [line for block in blocks(text) for line in block.splitlines()
                if "-m pytest" in line]
    assert commands == [
        ".venv/bin/python -m pytest -n 2",
        'RATECARD_PROFILE=long .venv/bin/python -m pytest -n 2 -m "(slow or hypothesis) and not '
        'spark"',
        "RATECARD_PROFILE=long .venv/bin/python -m pytest -m spark",
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    runs = [line.strip() for line in ci.splitlines()
            if re.fullmatch(r"\s*(RATECARD_PROFILE=\w+ )?tests( .*)?", line)]
    assert runs == ["tests -n 2",
                    'RATECARD_PROFILE=long tests -n 2 -m "(slow or hypothesis) and not spark"',
                    "RATECARD_PROFILE=long tests -m spark"]
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'addopts = ["-ra", "--strict-markers", "-m", "not spark and not slow"]' in pyproject


def test_no_file_keeps_a_merge_conflict() -> None:
    """No tracked text file holds a line of a merge conflict's markers."""
    import subprocess

    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if listed.returncode != 0:  # not a git checkout (an sdist): nothing to check
        return
    marker = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)
    found = []
    for name in listed.stdout.splitlines():
        path = ROOT / name
        if path.suffix in {".ambr", ".png", ".parquet"} or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found += [f"{name}:{text.count(chr(10), 0, m.start()) + 1}"
                  for m in marker.finditer(text)]
    assert found == []


def test_the_price_change_example_runs_as_shown(capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's price-change commands run from the root; January 2027 under acme's contract
    is 392.00 − 78.40 + 1.62 − 0.33 = 314.89 of lines, trued up by 185.11 to the minimum 500."""
    import shlex

    from ratecard.cli import main

    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Price changes and contracts"):]
    commands = blocks(section)[0].replace("\\\n", " ").splitlines()
    monkeypatch.chdir(ROOT)
    outputs = []
    for command in commands:
        argv = shlex.split(command)
        assert argv[0] == "ratecard"
        assert main(argv[1:]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0].endswith("total CNY 396.80\n")
    assert "*          true-up                                           185.11\n" in outputs[1]
    assert "total CNY 500.00\n" in outputs[1]


def test_spark_is_its_own_extra_installed_before_the_spark_run() -> None:
    """pyspark is the `spark` extra, not in `dev`; `.ci/run` and the README install it (with
    `dev`) right before the Spark run and not before."""
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
        "project"]["optional-dependencies"]
    assert extras["spark"] == ["pyspark>=4.0"]
    assert not [req for req in extras["dev"] if req.startswith("pyspark")]
    install = "pip install --quiet -e '.[dev,spark]'"
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    spark_run = ci.index("RATECARD_PROFILE=long tests -m spark")
    assert ci[spark_run - 1] == f".venv/bin/python -m {install}"
    assert sum(install in line for line in ci) == 1
    readme = [line for block in blocks(README.read_text(encoding="utf-8"))
              for line in block.splitlines()]
    spark_run = readme.index("RATECARD_PROFILE=long .venv/bin/python -m pytest -m spark")
    assert readme[spark_run - 1] == ".venv/bin/pip install -q -e '.[dev,spark]'"
