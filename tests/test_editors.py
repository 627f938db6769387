"""The editor packages in editors/: their keyword lists are the grammar's (read now, so a new
keyword fails here until `python editors/generate.py` is run), and their highlighting agrees
with the parser, token by token, on every shipped rules file.

The TextMate grammar is run by a small TextMate scanner below, on Python's `re`: its regexes
are written in the part of the syntax that Oniguruma (VS Code's engine) and Python read alike,
and a test keeps them compilable here. The Vim syntax file is run by Vim itself, when there is
one.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lark import Token
from lark.lexer import PatternStr

from ratecard.fmt import comments
from ratecard.parser import lark_parser, parse
from ratecard.source import SourceFile
from tests.conftest import ROOT

EDITORS = ROOT / "editors"
VSCODE = EDITORS / "vscode"
TMLANGUAGE = VSCODE / "syntaxes" / "ratecard.tmLanguage.json"
VIM_SYNTAX = EDITORS / "vim" / "syntax" / "ratecard.vim"

SHEETS = sorted([
    *(ROOT / "rules").glob("*.rules"),
    *(ROOT / "tests" / "cases" / "valid").glob("*.rules"),
    *(ROOT / "tests" / "conformance").glob("*.rules"),
])
# The grammar's keyword terminals, as the parser has them now.
KEYWORDS = {t.pattern.value for t in lark_parser().terminals
            if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()}


def _generate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("editors_generate", EDITORS / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generate()


def tm_grammar() -> dict[str, Any]:
    grammar: dict[str, Any] = json.loads(TMLANGUAGE.read_text(encoding="utf-8"))
    return grammar


def words_of(pattern: str) -> set[str]:
    """The words of a generated `\\b(?:a|b|c)\\b` pattern."""
    match = re.fullmatch(r"\\b\(\?:([\w|]+)\)\\b", pattern)
    assert match, pattern
    return set(match.group(1).split("|"))


# --- the lists -----------------------------------------------------------------------------------

def test_the_generated_lists_are_up_to_date() -> None:
    """What `python editors/generate.py` would write is what the files hold."""
    for path, write in generate.FILES:
        text = path.read_text(encoding="utf-8")
        assert write(text) == text, f"{path.name} is stale: run python editors/generate.py"


def test_every_keyword_of_the_grammar_is_in_the_tmlanguage_keyword_patterns() -> None:
    repository = tm_grammar()["repository"]
    statement = repository["statement-keyword"]["match"]
    clause = repository["clause-keyword"]["match"]
    assert len(KEYWORDS) > 40
    for word in sorted(KEYWORDS):
        assert re.fullmatch(statement, word) or re.fullmatch(clause, word), word
    assert words_of(statement) | words_of(clause) == KEYWORDS
    assert words_of(statement) >= {"rules", "meter", "ladder", "packs", "currency", "timezone"}
    assert not words_of(statement) & words_of(clause)
    # A keyword inside a longer name is not a keyword.
    assert not re.search(clause, "free_tier detection_to per2")


def vim_keywords(group: str) -> set[str]:
    words: set[str] = set()
    for line in VIM_SYNTAX.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if parts[:3] == ["syn", "keyword", group]:
            words.update(parts[3:])
        elif parts[:3] == ["syn", "match", group]:
            words.add(re.fullmatch(r"/\\<(\w+)\\>/", parts[3]).group(1))  # type: ignore[union-attr]
    return words


def test_every_keyword_of_the_grammar_is_a_vim_keyword() -> None:
    statement, clause = vim_keywords("ratecardStatement"), vim_keywords("ratecardKeyword")
    assert statement | clause == KEYWORDS
    assert statement == words_of(tm_grammar()["repository"]["statement-keyword"]["match"])
    assert vim_keywords("ratecardChoice") == words_of(
        tm_grammar()["repository"]["choice-word"]["match"])


def test_a_new_keyword_would_be_written_into_both_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generator's output follows the grammar: with one more keyword, both files change."""
    statement, clause = generate.keywords()
    monkeypatch.setattr(generate, "keywords", lambda: (statement, [*clause, "yearly"]))
    tm_text = TMLANGUAGE.read_text(encoding="utf-8")
    assert "yearly" in words_of(json.loads(generate.tmlanguage(tm_text))["repository"][
        "clause-keyword"]["match"])
    vim_text = generate.vim(VIM_SYNTAX.read_text(encoding="utf-8"))
    assert "ratecardKeyword" in next(line for line in vim_text.splitlines()
                                     if line.endswith(" yearly"))


# --- TextMate ------------------------------------------------------------------------------------

def _regexes(node: object) -> list[str]:
    if isinstance(node, dict):
        found = [node[k] for k in ("match", "begin", "end") if isinstance(node.get(k), str)]
        return found + [r for value in node.values() for r in _regexes(value)]
    if isinstance(node, list):
        return [r for item in node for r in _regexes(item)]
    return []


def test_tmlanguage_regexes_are_read_alike_by_python() -> None:
    """Every regex compiles with `re`, and uses no Oniguruma-only syntax (`\\h`, `\\G`, `\\z`,
    `\\p{..}`, `(?<name>`, possessive quantifiers), so the scanner below runs it as VS Code
    does."""
    found = _regexes(tm_grammar())
    assert len(found) > 15
    for regex in found:
        re.compile(regex)
        assert not re.search(r"\\[hGzpK]|\(\?<\w|[*+?}]\+", regex), regex


class TextMate:
    """A TextMate scanner for single-line grammars: at each position the rule whose match
    starts first wins (the first listed on a tie); a begin/end region ends at its `end`, which
    wins a tie with the rules inside it."""

    def __init__(self, grammar: dict[str, Any]) -> None:
        self.repository: dict[str, Any] = grammar["repository"]
        self.top = self._flatten(grammar["patterns"])

    def _flatten(self, patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rules: list[dict[str, Any]] = []
        for rule in patterns:
            if "include" in rule:
                rules.extend(self._flatten([self.repository[rule["include"].lstrip("#")]]))
            elif "match" not in rule and "begin" not in rule:
                rules.extend(self._flatten(rule["patterns"]))
            else:
                rules.append(rule)
        return rules

    def tokens(self, text: str) -> list[tuple[int, int, str]]:
        """The top-level tokens: (start, end, scope) of each match without captures, of each
        capture of a match with captures, and of each begin…end region as a whole."""
        found: list[tuple[int, int, str]] = []
        base = 0
        for line in text.split("\n"):
            self._scan(line, base, found)
            base += len(line) + 1
        return found

    def _scan(self, line: str, base: int, found: list[tuple[int, int, str]]) -> None:
        pos = 0
        while pos < len(line):
            best: tuple[re.Match[str], dict[str, Any]] | None = None
            for rule in self.top:
                match = re.compile(rule.get("match") or rule["begin"]).search(line, pos)
                if match and (best is None or match.start() < best[0].start()):
                    best = (match, rule)
            if best is None:
                return
            match, rule = best
            if "begin" in rule:
                end = self._region_end(line, match.end(), rule)
                found.append((base + match.start(), base + end, rule["name"]))
                pos = end
                continue
            if "captures" in rule:
                for group, capture in rule["captures"].items():
                    if match.group(int(group)):
                        found.append((base + match.start(int(group)),
                                      base + match.end(int(group)), capture["name"]))
            else:
                found.append((base + match.start(), base + match.end(), rule["name"]))
            pos = max(match.end(), pos + 1)

    def _region_end(self, line: str, pos: int, rule: dict[str, Any]) -> int:
        inner = self._flatten(rule.get("patterns", []))
        assert all("match" in r for r in inner), "nested regions are not scanned here"
        while True:
            end = re.compile(rule["end"]).search(line, pos)
            assert end is not None, "every region here ends on its line (`$`)"
            starts = [m for m in (re.compile(r["match"]).search(line, pos) for r in inner) if m]
            first = min(starts, key=lambda m: m.start(), default=None)
            if first is None or end.start() <= first.start():
                return end.end()
            pos = max(first.end(), pos + 1)


STATEMENT_SCOPE = "keyword.control.statement.ratecard"
CLAUSE_SCOPE = "keyword.other.clause.ratecard"
SCOPES = {
    "NUMBER": "constant.numeric.ratecard",
    "PERCENT": "constant.numeric.percent.ratecard",
    "DATE": "constant.other.date.ratecard",
    "STRING": "string.quoted.double.ratecard",
    "ZONE": "constant.other.timezone.ratecard",
    "INFINITY": "constant.language.infinity.ratecard",
    "COMMA": "punctuation.separator.comma.ratecard",
    "LBRACE": "punctuation.section.block.ratecard",
    "RBRACE": "punctuation.section.block.ratecard",
    "OPEN": "punctuation.section.bracket.ratecard",
    "CLOSE": "punctuation.section.bracket.ratecard",
    "SLASH": "keyword.operator.ratecard",
    "PLUS": "keyword.operator.ratecard",
    "EQUALS": "keyword.operator.ratecard",
    "DASH": "keyword.operator.ratecard",
    "TIMES": "keyword.operator.ratecard",
    "COMPARE": "keyword.operator.ratecard",
}


def parser_tokens(text: str) -> tuple[list[Token], list[tuple[int, int]]]:
    """The tokens of a rules file as the parser reads them, and its comments (start, end)."""
    tree = parse(SourceFile("sheet.rules", text))
    assert not isinstance(tree, Exception) and hasattr(tree, "scan_values"), tree
    tokens = sorted(tree.scan_values(lambda v: isinstance(v, Token)),
                    key=lambda t: t.start_pos or 0)
    notes = []
    for comment in comments(text, tokens):
        end = text.find("\n", comment.start)
        notes.append((comment.start, len(text) if end < 0 else end))
    return tokens, notes


def word_scope(word: str, statement: set[str], choices: set[str]) -> str:
    """A word's scope: the keyword lists hold it, or it is a choice word, or a plain name. A
    name spelt like a keyword (`deduct allowance, packs`) is highlighted as the keyword: a
    regular-expression grammar cannot know that the parser reads it as a name there."""
    if word in statement:
        return STATEMENT_SCOPE
    if word in KEYWORDS:
        return CLAUSE_SCOPE
    return "support.constant.choice.ratecard" if word in choices else "variable.other.ratecard"


@pytest.mark.parametrize("path", SHEETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_tmlanguage_highlights_every_token_as_the_parser_reads_it(path: Path) -> None:
    """Keywords, numbers, strings, timezones, comments, names and punctuation: each parser token
    is one TextMate token with the scope its kind has, and nothing else is a token."""
    text = path.read_text(encoding="utf-8")
    grammar = tm_grammar()
    statement = words_of(grammar["repository"]["statement-keyword"]["match"])
    choices = words_of(grammar["repository"]["choice-word"]["match"])
    tokens, notes = parser_tokens(text)
    expected = [(t.start_pos, t.end_pos,
                 SCOPES.get(t.type) or word_scope(str(t), statement, choices)) for t in tokens]
    expected += [(start, end, "comment.line.number-sign.ratecard") for start, end in notes]
    assert sorted(TextMate(grammar).tokens(text)) == sorted(expected)  # type: ignore[arg-type]
    kinds = {t.type for t in tokens}
    if path.parent.name == "rules":
        # (a sheet of flat prices and price tables, anthropic-claude, has no ladder and no ∞)
        assert {"NUMBER", "STRING", "ZONE"} <= kinds and notes
        assert ("INFINITY" in kinds) == ("LADDER" in kinds)


def test_tmlanguage_marks_days_and_malformed_days() -> None:
    """A day is one token, before the number rules could split it at its dashes; four digits
    and a dash that do not make a day are one malformed token."""
    scanner = TextMate(tm_grammar())
    date = "constant.other.date.ratecard"
    assert scanner.tokens("from 2027-07-01 keep accounts opened before 2027-07-01 until "
                          "2028-01-01 {") == [
        (0, 4, STATEMENT_SCOPE), (5, 15, date), (16, 20, CLAUSE_SCOPE),
        (21, 29, STATEMENT_SCOPE), (30, 36, CLAUSE_SCOPE), (37, 43, CLAUSE_SCOPE),
        (44, 54, date), (55, 60, CLAUSE_SCOPE), (61, 71, date),
        (72, 73, "punctuation.section.block.ratecard")]
    assert scanner.tokens("from 2027-1-01 until 2027-01-01-02") == [
        (0, 4, STATEMENT_SCOPE), (5, 14, "invalid.illegal.date.ratecard"),
        (15, 20, CLAUSE_SCOPE), (21, 34, "invalid.illegal.date.ratecard")]


def test_tmlanguage_marks_a_malformed_number_and_an_unclosed_string() -> None:
    scanner = TextMate(tm_grammar())
    assert scanner.tokens('size 1万次 "open') == [
        (0, 4, CLAUSE_SCOPE), (5, 8, "invalid.illegal.number.ratecard"),
        (9, 14, "string.quoted.double.ratecard")]
    assert scanner.tokens("(0, 15%] 2.5万") == [
        (0, 1, "punctuation.section.bracket.ratecard"), (1, 2, "constant.numeric.ratecard"),
        (2, 3, "punctuation.separator.comma.ratecard"),
        (4, 7, "constant.numeric.percent.ratecard"),
        (7, 8, "punctuation.section.bracket.ratecard"), (9, 13, "constant.numeric.ratecard")]


# --- Vim -----------------------------------------------------------------------------------------

VIM = shutil.which("vim")
VIM_GROUPS = {
    "NUMBER": "ratecardNumber", "PERCENT": "ratecardNumber", "DATE": "ratecardDate",
    "STRING": "ratecardString",
    "ZONE": "ratecardZone", "INFINITY": "ratecardInfinity", "SLASH": "ratecardOperator",
    "PLUS": "ratecardOperator", "DASH": "ratecardOperator", "EQUALS": "ratecardOperator",
    "TIMES": "ratecardOperator", "COMPARE": "ratecardOperator",
}


def _byte_column(text: str, offset: int) -> tuple[int, int]:
    """Vim's (line, byte column), both 1-based, of a character offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, len(text[line_start:offset].encode("utf-8")) + 1


def vim_groups(path: Path, probes: list[tuple[int, int]], tmp_path: Path) -> list[str]:
    """Vim itself, headless, with editors/vim on its runtime path, editing `path`: the file
    type it detects, then the syntax group at each (line, byte column) probe."""
    assert VIM is not None
    script = tmp_path / "probe.vim"
    out = tmp_path / "probe.out"
    script.write_text(
        f"let s:out = [&filetype]\nfor [s:l, s:c] in {json.dumps(probes)}\n"
        "  call add(s:out, synIDattr(synID(s:l, s:c, 1), 'name'))\nendfor\n"
        f"call writefile(s:out, '{out}')\nqa!\n", encoding="utf-8")
    subprocess.run(
        [VIM, "-N", "-u", "NONE", "-i", "NONE", "-n", "-es", "--cmd",
         f"set rtp^={EDITORS / 'vim'}", "-c", "filetype on", "-c", "syntax on",
         "-c", f"edit {path}", "-c", f"source {script}"],
        check=True, timeout=30, stdin=subprocess.DEVNULL, capture_output=True)
    return out.read_text(encoding="utf-8").splitlines()


@pytest.mark.skipif(VIM is None, reason="no vim on this machine")
@pytest.mark.parametrize("path", [p for p in SHEETS if p.parent.name != "conformance"],
                         ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_vim_highlights_every_token_as_the_parser_reads_it(path: Path, tmp_path: Path) -> None:
    """The file type is detected (over Vim's own `*.rules` types; a contract by its `contract`
    header) and each token's first and last character have the syntax group its kind has (none
    for plain names and punctuation)."""
    text = path.read_text(encoding="utf-8")
    statement, clause = vim_keywords("ratecardStatement"), vim_keywords("ratecardKeyword")
    choices = vim_keywords("ratecardChoice")
    tokens, notes = parser_tokens(text)
    wanted: list[tuple[int, str]] = []
    for token in tokens:
        word = str(token)
        group = VIM_GROUPS.get(token.type) or (
            "ratecardStatement" if word in statement else "ratecardKeyword" if word in clause
            else "ratecardChoice" if word in choices else "")
        assert token.start_pos is not None and token.end_pos is not None
        wanted += [(token.start_pos, group), (token.end_pos - 1, group)]
    wanted += [(start, "ratecardComment") for start, _ in notes]
    probes = [_byte_column(text, offset) for offset, _ in wanted]
    filetype, *groups = vim_groups(path, probes, tmp_path)
    assert filetype == "ratecard"
    mismatches = [(text[offset:offset + 12], group, got)
                  for (offset, group), got in zip(wanted, groups, strict=True) if group != got]
    assert mismatches == []


@pytest.mark.skipif(VIM is None, reason="no vim on this machine")
def test_vim_detects_a_contract_and_marks_days(tmp_path: Path) -> None:
    """A contract after its comments is `ratecard`; its days are ratecardDate (Constant), a
    malformed day an error, through its last character."""
    path = tmp_path / "acme.rules"
    path.write_text('# Acme\n\ncontract acme extends "bda.rules"\n'
                    "from 2027-01-01 until 2027-1-01\n", encoding="utf-8")
    assert vim_groups(path, [(4, 6), (4, 15), (4, 23), (4, 31)], tmp_path) == [
        "ratecard", "ratecardDate", "ratecardDate", "ratecardError", "ratecardError"]
    udev = tmp_path / "99-usb.rules"
    udev.write_text('SUBSYSTEM=="usb", ATTR{idVendor}=="0bda", MODE="0666"\n', encoding="utf-8")
    assert vim_groups(udev, [], tmp_path)[0] != "ratecard"


# --- the VS Code extension ---------------------------------------------------------------------

def test_vscode_extension_is_wired_to_the_language_server() -> None:
    manifest = json.loads((VSCODE / "package.json").read_text(encoding="utf-8"))
    [language] = manifest["contributes"]["languages"]
    assert (language["id"], language["extensions"]) == ("ratecard", [".rules"])
    assert (VSCODE / language["configuration"]).is_file()
    [grammar] = manifest["contributes"]["grammars"]
    assert grammar["language"] == "ratecard"
    assert grammar["scopeName"] == tm_grammar()["scopeName"] == "source.ratecard"
    assert (VSCODE / grammar["path"]).resolve() == TMLANGUAGE
    assert "onLanguage:ratecard" in manifest["activationEvents"]
    assert (VSCODE / manifest["main"]).is_file()
    assert "vscode-languageclient" in manifest["dependencies"]
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["ratecard.server.path"]["default"] == "ratecard"
    assert settings["ratecard.server.args"]["default"] == ["lsp"]
    source = (VSCODE / manifest["main"]).read_text(encoding="utf-8")
    for key in ("server.path", "server.args", "vscode-languageclient/node", "'ratecard'"):
        assert key in source, key


def test_vscode_language_configuration() -> None:
    """`#` comments; ( ) [ ] { } are brackets (`(0, 100]` mixes them, so only braces are
    colourised as pairs, and only braces and quotes close themselves)."""
    config = json.loads((VSCODE / "language-configuration.json").read_text(encoding="utf-8"))
    assert config["comments"] == {"lineComment": "#"}
    assert config["brackets"] == [["{", "}"], ["[", "]"], ["(", ")"]]
    assert config["colorizedBracketPairs"] == [["{", "}"]]
    closing = {(p["open"], p["close"]) for p in config["autoClosingPairs"]}
    assert closing == {("{", "}"), ('"', '"')}
    word = re.compile(config["wordPattern"])
    assert [m.group() for m in word.finditer("timezone Asia/Shanghai (0, 300万] 15% x_2")] == [
        "timezone", "Asia/Shanghai", "0", "300万", "15%", "x_2"]


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on this machine")
def test_vscode_extension_script_parses() -> None:
    subprocess.run(["node", "--check", str(VSCODE / "extension.js")], check=True, timeout=30)
