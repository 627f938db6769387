"""Writes the snapshot fixtures of this directory: run once with the sources of the commit
they are taken from (`PYTHONPATH=src python tests/snapshots_main/make.py`), never again.

Each fixture is an account fed the first `cut` entries of its journal and saved (`snapshot`),
with the bills it issues when the rest is fed and its months closed (`bills`, as `to_dict`
gives them): tests/test_snapshot_compat.py restores the snapshot under today's code and
holds it to those bills. The fixtures were written by the code before the allowance became a
monthly grant's lot (the format of `snapshot.VERSION` 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ratecard
from ratecard.engine.account import Account

HERE = Path(__file__).parent
RULES = HERE.parents[1] / "rules"
Entry = dict[str, Any]

BDA = (RULES / "tencent-bda.rules").read_text(encoding="utf-8")
# BDA with one allowance pool shared by detection and search (drawn entry by entry).
SHARED = BDA.replace("allowance 1000 per month on every meter while active",
                     "allowance 1000 per month on detection, search shared\n"
                     "allowance 1000 per month on segmentation, library")
ASR = (RULES / "tencent-asr.rules").read_text(encoding="utf-8")
ASR_SOURCES = ASR.replace("deduct allowance, packs by expiry, postpaid\n", """
subscription seats "席位" / "Seats", per month, prorated by day, unit "个" / "seat", \
maximum 10, covers realtime up to 3600 {
  (0, ∞)  100
}
fee platform "平台费" / "Platform fee" 50 per month
grant welcome "开通赠送" / "Welcome" 10000 once on realtime valid 1 year
credit trial "试用金" / "Trial credit" 50 once on realtime, file valid 3 months
deduct subscriptions, welcome, allowance, packs by expiry, postpaid
""")


def use(time: str, action: str, count: int, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "usage", "action": action, "count": count}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


def buy(time: str, meter: str, size: str, entry_id: str) -> Entry:
    return {"time": time, "type": "purchase", "meter": meter, "size": size, "id": entry_id}


def read(name: str) -> list[Entry]:
    path = HERE.parent / "journals" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


CASES: dict[str, tuple[str | None, str, list[Entry], int]] = {
    # name: (rules file, or None for the text given; the text; the journal; the cut)
    "bda-worked-1": ("tencent-bda.rules", BDA, read("worked-1.jsonl"), 2),
    "bda-account": ("tencent-bda.rules", BDA, read("account.jsonl"), 4),
    "bda-pending": ("tencent-bda.rules", BDA, [
        buy("2026-11-01T00:00:00+08:00", "detection", "1万", "a"),
        use("2026-11-02T10:00:00+08:00", "DetectBody", 700, "u1"),
        use("2026-11-02T11:00:00+08:00", "SearchTrace", 400, "u2"),
        use("2026-11-30T11:00:00+08:00", "DetectBody", 9000, "u3"),
        use("2026-12-01T11:00:00+08:00", "DetectBody", 2500, "u4"),
        use("2026-12-03T11:00:00+08:00", "SearchTrace", 1500, "u5")], 3),
    "shared-pool": (None, SHARED, [
        use("2026-11-02T10:00:00+08:00", "DetectBody", 600, "u1"),
        use("2026-11-02T11:00:00+08:00", "SearchTrace", 300, "u2"),
        use("2026-11-03T11:00:00+08:00", "SearchTrace", 300, "u3"),
        use("2026-11-04T11:00:00+08:00", "DetectBody", 200, "u4"),
        use("2026-12-01T11:00:00+08:00", "DetectBody", 900, "u5"),
        use("2026-12-02T11:00:00+08:00", "SearchTrace", 300, "u6")], 2),
    "asr-sources": (None, ASR_SOURCES, [
        {"time": "2026-11-01T09:00:00+08:00", "type": "open"},
        {"time": "2026-11-02T10:00:00+08:00", "type": "subscribe", "plan": "seats",
         "quantity": 2, "id": "s1"},
        use("2026-11-02T11:00:00+08:00", "RealtimeRecognition", 40000, "u1"),
        use("2026-11-03T11:00:00+08:00", "RealtimeRecognition", 30000, "u2"),
        use("2026-11-04T11:00:00+08:00", "CreateRecTask", 30000, "u3"),
        use("2026-12-02T11:00:00+08:00", "RealtimeRecognition", 30000, "u4")], 3),
    "ocr-opening": ("tencent-ocr.rules", (RULES / "tencent-ocr.rules").read_text(
        encoding="utf-8"), [
        {"time": "2026-11-01T09:00:00+08:00", "type": "open"},
        use("2026-11-02T10:00:00+08:00", "VerifyBasicBizLicense", 30, "u1"),
        use("2026-11-03T10:00:00+08:00", "GeneralBasicOCR", 1500, "u2"),
        use("2026-12-02T10:00:00+08:00", "VerifyBasicBizLicense", 30, "u3"),
        use("2026-12-03T10:00:00+08:00", "GeneralBasicOCR", 800, "u4")], 2),
    "face-qps": ("tencent-face-recognition.rules", (
        RULES / "tencent-face-recognition.rules").read_text(encoding="utf-8"), [
        {"time": "2026-11-05T09:00:00+08:00", "type": "subscribe", "plan": "qps_month",
         "quantity": 5, "meter": "detection", "id": "q1"},
        use("2026-11-06T10:00:00+08:00", "DetectFace", 50000, "u1"),
        use("2026-11-06T11:00:00+08:00", "CompareFace", 20000, "u2"),
        {"time": "2026-11-20T00:00:00+08:00", "type": "cancel", "subscription": "q1"},
        use("2026-11-21T10:00:00+08:00", "DetectFace", 30000, "u3")], 2),
}


def main() -> None:
    for name, (file, text, journal, cut) in CASES.items():
        book = ratecard.loads(text, file or f"{name}.rules")
        account = Account(book)
        account.feed(journal[:cut])
        snapshot = account.snapshot()
        restored = Account.restore(book, json.dumps(snapshot))
        bills = restored.feed(journal[cut:])
        last = journal[-1]["time"][:7]
        bills += restored.close_through(last)
        document = {"rules": file, "text": None if file else text, "journal": journal,
                    "cut": cut, "close_through": last, "snapshot": snapshot,
                    "bills": [bill.to_dict() for bill in bills]}
        (HERE / f"{name}.json").write_text(
            json.dumps(document, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
