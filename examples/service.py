"""A small billing service on the standard library: quotes, account journals, bills.

    python examples/service.py --rules rules/tencent-bda.rules --data /tmp/accounts --port 8080
    python examples/service.py --demo      # a scripted session against a throwaway server

The rules are loaded once and the immutable PriceBook is shared by every request thread. Each
account is a `ratecard.Account`, saved after every change as one JSON file holding its snapshot
and the bills it has issued, written in one step (`os.replace`), so a crash never leaves bills
without the state that issued them or the other way round. An account is used by one request
at a time (a lock per account); different accounts run in parallel.

    POST /quote                     {"usage": {"DetectBody": 600000}, "packs": [...]}  → a bill
    POST /accounts/ID/entries       [entry, ...]            → the bills that became due
    POST /accounts/ID/advance       {"time": "2026-12-01"}  → the bills that became due
    GET  /accounts/ID/preview                               → the month so far
    GET  /accounts/ID/bills                                 → every bill issued

Money is a string in every response and request numbers are read as exact decimals. Errors are
JSON too, and every request gets an answer: 400 for a bad request or entry (a body that is not
JSON, a field missing or of the wrong kind, a count ratecard refuses; with the entry's `line`
and `field`), 409 for an entry earlier than the account has reached, 422 for usage that reaches
a `contact sales` bracket, 500 for an account whose saved state cannot be restored (or a fault
of the service itself).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from decimal import Decimal
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import ratecard
from ratecard import (
    Account,
    ContactSalesError,
    HeldPack,
    JournalError,
    LateEntryError,
    PriceBook,
    RulesError,
    SnapshotError,
    UsageError,
)

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_BODY = 16 << 20  # bytes: a request larger than this is refused


class RequestError(Exception):
    """A request the service cannot read: answered 400 with the message."""


class StoreError(Exception):
    """An account file the service cannot read back: answered 500."""


class Store:
    """Accounts saved as JSON files in a directory: `{"snapshot": ..., "bills": [...]}`."""

    def __init__(self, book: PriceBook, directory: Path) -> None:
        self.book = book
        self.directory = directory
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def lock(self, account_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(account_id, threading.Lock())

    def load(self, account_id: str) -> tuple[Account, list[dict[str, Any]]]:
        """The account and its bills so far (a new account if it has never been seen)."""
        path = self.directory / f"{account_id}.json"
        if not path.exists():
            return Account(self.book), []
        try:
            saved = json.loads(path.read_text(encoding="utf-8"))
            snapshot, bills = saved["snapshot"], saved["bills"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"account {account_id}: its file cannot be read: {exc}") from None
        return Account.restore(self.book, snapshot), bills

    def save(self, account_id: str, account: Account, bills: list[dict[str, Any]]) -> None:
        """The account's snapshot and bills, replaced in one step."""
        path = self.directory / f"{account_id}.json"
        text = json.dumps({"snapshot": account.snapshot(), "bills": bills}, ensure_ascii=False)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)


class Handler(BaseHTTPRequestHandler):
    """One request: parse, call ratecard, answer JSON."""

    store: Store  # set on the subclass the server is built with
    timeout = 60  # seconds a client may take to send its request

    def do_POST(self) -> None:  # the name http.server calls
        self._answer("POST")

    def do_GET(self) -> None:
        self._answer("GET")

    def _answer(self, method: str) -> None:
        try:
            status, body = self._route(method, self.path.strip("/").split("/"))
        except RequestError as exc:
            status, body = HTTPStatus.BAD_REQUEST, _error(exc)
        except LateEntryError as exc:
            status, body = HTTPStatus.CONFLICT, _error(exc, line=exc.line, time=exc.time,
                                                       reached=exc.reached)
        except JournalError as exc:
            status, body = HTTPStatus.BAD_REQUEST, _error(exc, line=exc.line, field=exc.field)
        except SnapshotError as exc:
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, _error(exc)
        except ContactSalesError as exc:
            status, body = HTTPStatus.UNPROCESSABLE_ENTITY, _error(exc)
        except UsageError as exc:
            status, body = HTTPStatus.BAD_REQUEST, _error(exc)
        except StoreError as exc:
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, _error(exc)
        except Exception as exc:  # a fault of the service: still an answer, never a dropped line
            status, body = HTTPStatus.INTERNAL_SERVER_ERROR, {
                "error": f"internal error: {type(exc).__name__}", "type": "InternalError"}
        # A lone surrogate (a `\\ud800` escape in a request, echoed in a message) has no UTF-8:
        # it is written as its JSON escape again.
        data = json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _route(self, method: str, parts: list[str]) -> tuple[HTTPStatus, Any]:
        book = self.store.book
        if method == "POST" and parts == ["quote"]:
            request = _object(self._json(), "the request")
            packs = request.get("packs", [])
            if not isinstance(packs, list):
                raise RequestError("`packs` is a list of {\"meter\", \"size\", \"remaining\"}")
            held = []
            for number, pack in enumerate(packs, start=1):
                pack = _object(pack, f"pack {number}")
                held.append(HeldPack(_field(pack, "meter", f"pack {number}"),
                                     _field(pack, "size", f"pack {number}"),
                                     pack.get("remaining")))
            usage = _field(request, "usage", "the request")
            return HTTPStatus.OK, book.quote(usage, held).to_dict()
        if len(parts) == 3 and parts[0] == "accounts" and ACCOUNT_ID.fullmatch(parts[1]):
            account_id, action = parts[1], (method, parts[2])
            with self.store.lock(account_id):
                account, bills = self.store.load(account_id)
                if action == ("GET", "preview"):
                    preview = account.preview()
                    return HTTPStatus.OK, None if preview is None else preview.to_dict()
                if action == ("GET", "bills"):
                    return HTTPStatus.OK, {"bills": bills}
                if action == ("POST", "entries"):
                    issued = account.feed(self._json())
                elif action == ("POST", "advance"):
                    issued = account.advance(_field(_object(self._json(), "the request"), "time",
                                                    "the request"))
                else:
                    return HTTPStatus.NOT_FOUND, {"error": f"no such request: {self.path}"}
                new = [bill.to_dict() for bill in issued]
                self.store.save(account_id, account, bills + new)
                return HTTPStatus.OK, {"issued": new, "month": account.month,
                                       "last_time": account.last_time}
        return HTTPStatus.NOT_FOUND, {"error": f"no such request: {self.path}"}

    def _json(self) -> Any:
        """The request's JSON body: numbers with a fraction as Decimal (never float), integers
        of any length, no NaN or Infinity; RequestError saying what is wrong otherwise."""
        text = self.headers.get("Content-Length") or "0"
        if not text.isascii() or not text.isdigit():
            raise RequestError(f"Content-Length {text[:40]!r} is not a number of bytes")
        length = int(text) if len(text) <= 12 else MAX_BODY + 1
        if length > MAX_BODY:
            raise RequestError(f"the request body is larger than {MAX_BODY} bytes")
        try:
            return json.loads(self.rfile.read(length) or b"null", parse_float=Decimal,
                              parse_int=_integer, parse_constant=_no_constant)
        except RecursionError:
            raise RequestError("the request body nests arrays or objects too deeply") from None
        except ValueError as exc:  # (json.JSONDecodeError and UnicodeDecodeError are ValueErrors)
            raise RequestError(f"the request body is not valid JSON: {exc}") from None

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a real service logs through its own logging."""


def _error(exc: Exception, **details: Any) -> dict[str, Any]:
    return {"error": str(exc), "type": type(exc).__name__, **details}


def _integer(text: str) -> int | Decimal:
    """A JSON integer; past Python's limit on digits a Decimal, which ratecard then refuses by
    its value (a count's limit) rather than Python by its length."""
    return int(text) if len(text) <= 4000 else Decimal(text)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RequestError(f"{what} must be a JSON object")
    return value


def _field(value: dict[str, Any], name: str, what: str) -> Any:
    if name not in value:
        raise RequestError(f"{what} needs `{name}`")
    return value[name]


def serve(book: PriceBook, directory: Path, port: int) -> ThreadingHTTPServer:
    """A server for `book` keeping its accounts in `directory` (port 0: any free port)."""
    handler = type("BoundHandler", (Handler,), {"store": Store(book, directory)})
    return ThreadingHTTPServer(("127.0.0.1", port), handler)


# --- the demo -----------------------------------------------------------------------------------

def call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """One JSON request to the service; (status, answer)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def demo(book: PriceBook) -> None:
    """Worked case 1 of the BDA page through the service, with a restart in the middle."""
    with tempfile.TemporaryDirectory() as directory:
        server = serve(book, Path(directory), 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"

        status, bill = call(base, "POST", "/quote",
                            {"usage": {"DetectBody": 600000, "DetectBodyJoints": 400000}})
        print(f"quote: {status} total {bill['total']} {bill['currency']}")
        status, error = call(base, "POST", "/quote", {"usage": {"DetectBod": 5}})
        print(f"quote with a typo: {status} {error['error']}")

        journal = [
            {"time": "2026-11-01T00:00:00+08:00", "type": "purchase", "meter": "detection",
             "size": "1万", "id": "p-1"},
            {"time": "2026-11-02T10:00:00+08:00", "type": "usage", "action": "DetectBody",
             "count": 9600, "id": "u-1"},
            {"time": "2026-11-03T10:00:00+08:00", "type": "usage", "action": "DetectBodyJoints",
             "count": 2000, "id": "u-2"},
        ]
        status, answer = call(base, "POST", "/accounts/acme/entries", journal[:2])
        print(f"entries 1-2: {status} issued {len(answer['issued'])}, "
              f"at {answer['last_time']}")
        server.shutdown()
        server.server_close()

        # A restart: a new server on the same directory resumes the account from its file.
        server = serve(book, Path(directory), 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        status, answer = call(base, "POST", "/accounts/acme/entries", journal[1:])
        print(f"entries 2-3 after a restart: {status} issued {len(answer['issued'])} "
              "(entry 2 is a resend)")
        status, preview = call(base, "GET", "/accounts/acme/preview")
        print(f"preview: {status} {preview['month']} total {preview['total']}, "
              f"alerts {[alert['kind'] for alert in preview['alerts']]}")
        status, error = call(base, "POST", "/accounts/acme/entries", [
            {"time": "2026-11-02T12:00:00+08:00", "type": "usage", "action": "DetectBody",
             "count": 1}])
        print(f"a late entry: {status} {error['type']} at {error['time']}")
        status, error = call(base, "POST", "/accounts/acme/entries", [
            {"time": "2026-11-04", "type": "usage", "action": "DetectBody", "count": -3}])
        print(f"a bad entry: {status} entry {error['line']}, field `{error['field']}`")
        status, answer = call(base, "POST", "/accounts/acme/advance",
                              {"time": "2026-12-01T00:00:00+08:00"})
        (november,) = answer["issued"]
        print(f"advance to 12-01: {status} issued {november['month']}, "
              f"total {november['total']}, prepaid {november['prepaid_total']}")
        for line in november["lines"]:
            print(f"  {line['meter']} {line['source']} {line['quantity']} "
                  f"× {line['unit_price']} = {line['amount']}")
        status, stored = call(base, "GET", "/accounts/acme/bills")
        print(f"bills stored: {status} {[bill['month'] for bill in stored['bills']]}")
        server.shutdown()
        server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A small ratecard billing service.")
    parser.add_argument("--rules", default=str(ROOT / "rules" / "tencent-bda.rules"))
    parser.add_argument("--data", default="accounts", help="directory of account files")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--demo", action="store_true", help="run a scripted session and exit")
    args = parser.parse_args(argv)
    try:
        book = ratecard.load(args.rules)  # once, at startup; shared by every request
    except RulesError as exc:
        print(f"{args.rules}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"{args.rules}: {exc.strerror}", file=sys.stderr)
        return 1
    if args.demo:
        demo(book)
        return 0
    Path(args.data).mkdir(parents=True, exist_ok=True)
    server = serve(book, Path(args.data), args.port)
    print(f"serving {book.name} on http://127.0.0.1:{server.server_address[1]}")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
