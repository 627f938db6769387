"""Publishing settings: what a vendor adds to a generated sheet without touching the rules.

A small TOML file (`ratecard render --publish FILE.toml`) names the vendor, its logo, a tax
note and, for rules without dated versions, the day the prices take effect:

    vendor = "Example Cloud"                    # or { zh = "示例云", en = "Example Cloud" }
    logo = "logo.svg"                           # beside the TOML file; inlined in the HTML
    tax = { zh = "以上价格不含税。", en = "Prices exclude tax." }   # or one string
    effective = 2026-01-01                      # a TOML date

Every key is optional; an unknown key, a value of the wrong type, or a logo that cannot be read
is a `PublishError` naming the file and the key.
"""

from __future__ import annotations

import base64
import tomllib
from collections.abc import Mapping
from datetime import date
from pathlib import Path

import attrs

# The logo is inlined as a data: URI, so the page stays one file: small images only (the page
# has a size budget), of the types every browser draws in an <img>.
LOGO_TYPES: Mapping[str, str] = {".svg": "image/svg+xml", ".png": "image/png",
                                 ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                                 ".webp": "image/webp"}
LOGO_MAX_BYTES = 32 * 1024
KEYS = ("vendor", "logo", "tax", "effective")


class PublishError(ValueError):
    """A publishing file that cannot be used, in one line naming the file (and key)."""


@attrs.frozen
class Publishing:
    """What a vendor adds to its sheets: names and notes per language, the logo as a data URI,
    the day the prices take effect (rules without dated versions)."""

    vendor: Mapping[str, str] = attrs.field(factory=dict)
    tax: Mapping[str, str] = attrs.field(factory=dict)
    logo: str = ""
    effective: date | None = None

    def vendor_in(self, lang: str) -> str:
        return _in(self.vendor, lang)

    def tax_in(self, lang: str) -> str:
        return _in(self.tax, lang)


def _in(texts: Mapping[str, str], lang: str) -> str:
    """The text in `lang`, else the one given for every language (key ""), else any."""
    return texts.get(lang) or texts.get("") or next(iter(texts.values()), "")


def load_publishing(path: str | Path) -> Publishing:
    """The publishing settings of a TOML file; PublishError says what is wrong with it."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PublishError(f"{path}: not a TOML file: {exc}") from None
    unknown = [key for key in data if key not in KEYS]
    if unknown:
        raise PublishError(f"{path}: unknown key `{unknown[0]}`; the keys are "
                           f"{', '.join(KEYS)}")
    effective = data.get("effective")
    if effective is not None and (not isinstance(effective, date)
                                  or hasattr(effective, "hour")):
        raise PublishError(f"{path}: `effective` is a day, written 2026-01-01 (no quotes)")
    logo = ""
    if "logo" in data and "vendor" not in data:
        raise PublishError(f"{path}: a `logo` needs a `vendor`, the name shown beside it (and "
                           "read out in place of the image)")
    if "logo" in data:
        if not isinstance(data["logo"], str) or not data["logo"].strip():
            raise PublishError(f"{path}: `logo` is the path of an image file")
        logo = _logo(path, path.parent / data["logo"])
    return Publishing(vendor=_texts(path, data, "vendor"), tax=_texts(path, data, "tax"),
                      logo=logo, effective=effective)


def _texts(path: Path, data: Mapping[str, object], key: str) -> dict[str, str]:
    """A text for every language (a string) or per language (a table of zh / en)."""
    value = data.get(key)
    if value is None:
        return {}
    if isinstance(value, str):
        texts = {"": value}
    elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        from ratecard.render.sheet import LANGS

        other = [lang for lang in value if lang not in LANGS]
        if other:
            raise PublishError(f"{path}: `{key}` has a text in `{other[0]}`; the languages are "
                               f"{', '.join(LANGS)}")
        texts = dict(value)
    else:
        raise PublishError(f"{path}: `{key}` is a string, or a table of strings by language "
                           f"({key} = {{ zh = \"...\", en = \"...\" }})")
    if any(not text.strip() or any(ch in text for ch in "\r\n") for text in texts.values()):
        raise PublishError(f"{path}: `{key}` is one line of text, not empty")
    return texts


def _logo(path: Path, image: Path) -> str:
    kind = LOGO_TYPES.get(image.suffix.lower())
    if kind is None:
        raise PublishError(f"{path}: logo {image}: use an image of type "
                           f"{', '.join(sorted(LOGO_TYPES))}")
    try:
        data = image.read_bytes()
    except OSError as exc:
        raise PublishError(f"{path}: cannot read logo {image}: {exc.strerror or exc}") from None
    if len(data) > LOGO_MAX_BYTES:
        raise PublishError(f"{path}: logo {image} is {len(data):,} bytes; at most "
                           f"{LOGO_MAX_BYTES // 1024} KiB, to keep the page one small file")
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
