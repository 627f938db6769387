"""Diagnostics for continuous integration: GitHub Actions annotations and SARIF 2.1.0.

`ratecard check --format github` prints one workflow command per diagnostic,
`::error file=x.rules,line=3,col=10,endLine=3,endColumn=19,title=E103::message`, which GitHub
Actions shows on the pull request's lines. `--format sarif` prints a SARIF 2.1.0 log (one run of
the tool `ratecard`, each diagnostic a result with its region), the format code-scanning
services read (`github/codeql-action/upload-sarif`). Columns count code points, as everywhere in
ratecard (the SARIF run says so with `columnKind`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath, PurePosixPath
from urllib.parse import quote

from ratecard.diagnostics import Diagnostic
from ratecard.source import SourceFile

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _end(diagnostic: Diagnostic, source: SourceFile | None) -> tuple[int, int]:
    """The (line, column) just past a diagnostic's last character (its start if unknown)."""
    span = diagnostic.span
    if source is None or span.end <= span.start:
        return span.line, span.column + 1
    return source.position(span.end)


def _escape_data(text: str) -> str:
    """A workflow command's message: `%`, CR and LF escaped as GitHub Actions reads them."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    """A workflow command's property value: also `:` and `,` escaped."""
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _message(diagnostic: Diagnostic) -> str:
    """The message with its label and help, as one text."""
    parts = [diagnostic.message]
    if diagnostic.label:
        parts.append(diagnostic.label)
    text = ": ".join(parts)
    return f"{text}\nhelp: {diagnostic.help}" if diagnostic.help else text


def _uri(path: str) -> str:
    """A file's SARIF URI: relative as given (to the directory ratecard ran in), or `file:`."""
    if PurePath(path).is_absolute():
        return Path(path).as_uri()
    return quote(PurePosixPath(*PurePath(path).parts).as_posix())


def to_github(diagnostics: Sequence[Diagnostic], sources: Mapping[str, SourceFile]) -> str:
    """One `::error` or `::warning` workflow command per diagnostic, in position order."""
    lines = []
    for d in sorted(diagnostics, key=Diagnostic.sort_key):
        end_line, end_column = _end(d, sources.get(d.span.file))
        properties = {
            "file": d.span.file, "line": str(d.span.line), "col": str(d.span.column),
            "endLine": str(end_line), "endColumn": str(end_column), "title": d.code,
        }
        shown = ",".join(f"{key}={_escape_property(value)}" for key, value in properties.items())
        lines.append(f"::{d.severity.value} {shown}::{_escape_data(_message(d))}")
    return "\n".join(lines)


def to_sarif(diagnostics: Sequence[Diagnostic], sources: Mapping[str, SourceFile],
             version: str) -> str:
    """A SARIF 2.1.0 log of the diagnostics: one run, a rule per code, a result each."""
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    codes = sorted({d.code for d in ordered})
    results = []
    for d in ordered:
        end_line, end_column = _end(d, sources.get(d.span.file))
        result: dict[str, object] = {
            "ruleId": d.code,
            "ruleIndex": codes.index(d.code),
            "level": "error" if d.is_error else "warning",
            "message": {"text": _message(d)},
            "locations": [{"physicalLocation": {
                "artifactLocation": {"uri": _uri(d.span.file)},
                "region": {"startLine": d.span.line, "startColumn": d.span.column,
                           "endLine": end_line, "endColumn": end_column,
                           "charOffset": d.span.start,
                           "charLength": max(0, d.span.end - d.span.start)},
            }}],
        }
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "ratecard",
                "version": version,
                "rules": [{"id": code, "help": {
                    "text": f"ratecard's docs/errors.md, section {code}, explains it with a "
                            "failing example and the fix"}} for code in codes],
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, ensure_ascii=False, indent=2)
