"""`ratecard completion bash|zsh|fish`: a script for each shell, generated from the parser by
shtab, that completes every command, its options, their choices, rules files and paths.

Each script is produced and names every command and option; where the shell is installed, the
script parses, and bash and fish complete with it for real (zsh is only parsed and registered:
its completion needs an interactive terminal)."""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest

from ratecard.cli import SHELLS, build_parser, main

pytest.importorskip("shtab")


def script(capsys: pytest.CaptureFixture[str], shell: str) -> str:
    assert main(["completion", shell]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subparsers.choices)


def test_every_command_is_in_the_parser_the_scripts_are_made_from() -> None:
    assert sorted(commands()) == sorted(
        ["check", "fmt", "quote", "bill", "render", "warehouse", "simulate", "completion", "lsp",
         "diff"])


@pytest.mark.parametrize("shell", SHELLS)
def test_each_script_names_every_command_and_option(capsys: pytest.CaptureFixture[str],
                                                    shell: str) -> None:
    text = script(capsys, shell)
    for name, command in commands().items():
        assert name in text, (shell, name)
        for action in command._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option.lstrip("-") in text, (shell, name, option)
    for choice in ("auto", "always", "never", "warnings", "bash", "zsh", "fish"):
        assert choice in text, (shell, choice)
    assert "*.rules" in text  # rules files: FILE arguments complete to them


def test_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["completion", "tcsh"])
    assert exited.value.code == 2
    assert "invalid choice: 'tcsh'" in capsys.readouterr().err


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with a rules file, another file and a directory, to complete paths in."""
    (tmp_path / "a.rules").write_text("", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("", encoding="utf-8")
    (tmp_path / "journals").mkdir()
    return tmp_path


def _needs(shell: str) -> str:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed")
    return path


@pytest.mark.parametrize("shell", SHELLS)
def test_each_script_parses_in_its_shell(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         shell: str) -> None:
    program = _needs(shell)
    path = tmp_path / f"ratecard.{shell}"
    path.write_text(script(capsys, shell), encoding="utf-8")
    check = {"bash": [program, "-n", str(path)], "zsh": [program, "-n", str(path)],
             "fish": [program, "--no-execute", str(path)]}[shell]
    result = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stderr) == (0, "")


BASH_COMPLETE = """
source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
COMPREPLY=()
_shtab_ratecard ratecard "${COMP_WORDS[-1]}" "${COMP_WORDS[-2]}"
printf '%s\\n' "${COMPREPLY[@]}"
"""


def test_bash_completes_with_the_script(capsys: pytest.CaptureFixture[str],
                                        folder: Path) -> None:
    program = _needs("bash")
    path = folder / "ratecard.bash"
    path.write_text(script(capsys, "bash"), encoding="utf-8")

    def complete(*words: str) -> list[str]:
        result = subprocess.run([program, "-c", BASH_COMPLETE, "bash", str(path), "ratecard",
                                 *words], capture_output=True, text=True, cwd=folder,
                                timeout=60, check=False)
        assert (result.returncode, result.stderr) == (0, "")
        return sorted(result.stdout.split())

    assert complete("c") == ["check", "completion"]
    assert complete("bill", "--jo") == ["--journal"]
    assert complete("--color", "") == ["always", "auto", "never"]
    assert complete("check", "--deny", "") == ["warnings"]
    assert complete("completion", "") == ["bash", "fish", "zsh"]
    assert complete("check", "") == ["a.rules", "journals"]  # rules files, and folders
    assert complete("render", "a.rules", "--out-dir", "") == ["journals"]
    assert "notes.txt" in complete("bill", "a.rules", "--journal", "")


def test_fish_completes_with_the_script(capsys: pytest.CaptureFixture[str],
                                        folder: Path) -> None:
    program = _needs("fish")
    path = folder / "ratecard.fish"
    path.write_text(script(capsys, "fish"), encoding="utf-8")

    def complete(line: str) -> list[str]:
        result = subprocess.run([program, "--no-config", "-c",
                                 f"source {path}; complete -C '{line}'"],
                                capture_output=True, text=True, cwd=folder, timeout=60,
                                check=False)
        assert (result.returncode, result.stderr) == (0, "")
        return sorted(row.split("\t")[0] for row in result.stdout.splitlines())

    assert complete("ratecard c") == ["check", "completion"]
    assert complete("ratecard bill --jo") == ["--journal"]
    assert complete("ratecard completion ") == ["bash", "fish", "zsh"]
    assert complete("ratecard check ") == ["a.rules", "journals/"]


def test_zsh_registers_the_completion(capsys: pytest.CaptureFixture[str],
                                      tmp_path: Path) -> None:
    program = _needs("zsh")
    path = tmp_path / "_ratecard"
    text = script(capsys, "zsh")
    assert text.startswith("#compdef ratecard\n")  # found in $fpath as _ratecard
    path.write_text(text, encoding="utf-8")
    # Installed as the README says: `_ratecard` in a folder of $fpath, before compinit.
    result = subprocess.run(
        [program, "-f", "-c", f"fpath=({tmp_path} $fpath); autoload -Uz compinit; "
         'compinit -u -D; print -r -- "${_comps[ratecard]}"; autoload +X _ratecard; '
         "whence -w _ratecard"],
        capture_output=True, text=True, timeout=60, check=False)
    assert (result.returncode, result.stdout) == (0, "_ratecard\n_ratecard: function\n")
