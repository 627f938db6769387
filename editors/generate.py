#!/usr/bin/env python3
"""Write the keyword lists of the editor grammars from the language's own grammar.

    python editors/generate.py           # rewrite them
    python editors/generate.py --check   # exit 1 if a file is out of date (tests/test_editors.py)

The keywords are grammar/ratecard.lark's keyword terminals (`METER: "meter"`), in two lists:
those a statement or a setting starts with (what the parser accepts at the start of a file),
and the others. The choice words are the names the checker gives a meaning to (ladder modes and
bases, rounding modes, periods, deduction sources, ...): plain names to the grammar, highlighted
apart. Only these lists are rewritten: the rest of each file is edited by hand.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))  # the grammar and the checker of this checkout

TMLANGUAGE = ROOT / "editors" / "vscode" / "syntaxes" / "ratecard.tmLanguage.json"
VIM = ROOT / "editors" / "vim" / "syntax" / "ratecard.vim"

# The tmLanguage repository entries whose `match` lists words, and the words of each.
TM_ENTRIES = ("statement-keyword", "clause-keyword", "choice-word")
# The Vim syntax groups of the same lists.
VIM_GROUPS = ("ratecardStatement", "ratecardKeyword", "ratecardChoice")
_VIM_BEGIN = '" BEGIN KEYWORDS (editors/generate.py)\n'
_VIM_END = '" END KEYWORDS\n'
# Words `:syn keyword` takes as its own arguments: such a keyword is written as a match.
_VIM_ARGUMENTS = frozenset({
    "cchar", "conceal", "concealends", "contained", "containedin", "contains", "display",
    "extend", "fold", "nextgroup", "oneline", "skipempty", "skipnl", "skipwhite", "transparent",
})


def keywords() -> tuple[list[str], list[str]]:
    """The grammar's keywords: (those that start a statement, the others), each sorted."""
    from lark.lexer import PatternStr

    from ratecard.parser import lark_parser

    parser = lark_parser()
    words = {t.name: t.pattern.value for t in parser.terminals
             if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()}
    starts = set(parser.parse_interactive("").accepts())
    statement = sorted(word for name, word in words.items() if name in starts)
    clause = sorted(word for name, word in words.items() if name not in starts)
    return statement, clause


def choice_words() -> list[str]:
    """The names the checker knows, in the checker's order, less the grammar's keywords."""
    from ratecard import check
    from ratecard.engine.ladders import BASES, MODES
    from ratecard.engine.money import ROUNDING_MODES

    alert_words = [w for form in check.ALERT_FORMS for w in form.split() if w.isalpha()]
    names = [*MODES, *BASES, *check.LADDER_PERIODS, *check.PERIODS, *check.VALIDITY_UNITS,
             *ROUNDING_MODES, "exact", *check.ROUNDING_SCOPES, *check.BLOCK_ROUNDINGS,
             *check.PACK_RESTRICTIONS,
             *check.PACK_ORDERS, *check.DEDUCT_SOURCES, *check.SUSPEND_REASONS,
             *check.LANGUAGES, *alert_words]
    statement, clause = keywords()
    taken = set(statement) | set(clause)
    return [word for word in dict.fromkeys(names) if word not in taken]


def word_lists() -> tuple[list[str], list[str], list[str]]:
    statement, clause = keywords()
    return statement, clause, choice_words()


def words_pattern(words: list[str]) -> str:
    """A regex (Oniguruma and Python alike) matching any of the words, whole."""
    return r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b"


def tmlanguage(text: str) -> str:
    """The tmLanguage JSON with its word lists written from the grammar."""
    grammar: dict[str, Any] = json.loads(text)
    for entry, words in zip(TM_ENTRIES, word_lists(), strict=True):
        grammar["repository"][entry]["match"] = words_pattern(words)
    return json.dumps(grammar, indent=2, ensure_ascii=False) + "\n"


def vim(text: str) -> str:
    """The Vim syntax file with the lines between its markers written from the grammar."""
    start = text.index(_VIM_BEGIN) + len(_VIM_BEGIN)
    end = text.index(_VIM_END)
    lines: list[str] = []
    for group, words in zip(VIM_GROUPS, word_lists(), strict=True):
        plain = [w for w in words if w not in _VIM_ARGUMENTS]
        line = f"syn keyword {group}"
        for word in plain:
            if len(line) + 1 + len(word) > 90:
                lines.append(line)
                line = f"syn keyword {group}"
            line += f" {word}"
        lines.append(line)
        lines.extend(f"syn match {group} /\\<{w}\\>/" for w in words if w in _VIM_ARGUMENTS)
    return text[:start] + "\n".join(lines) + "\n" + text[end:]


FILES = ((TMLANGUAGE, tmlanguage), (VIM, vim))


def main(argv: list[str]) -> int:
    check = argv == ["--check"]
    if argv and not check:
        print("usage: python editors/generate.py [--check]", file=sys.stderr)
        return 2
    stale = 0
    for path, write in FILES:
        text = path.read_text(encoding="utf-8")
        fresh = write(text)
        if fresh == text:
            continue
        stale += 1
        if check:
            print(f"out of date: {path.relative_to(ROOT)} (run python editors/generate.py)")
        else:
            path.write_text(fresh, encoding="utf-8")
            print(f"rewrote {path.relative_to(ROOT)}")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
