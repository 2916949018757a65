"""What users type, made safe to store and show: one place for every text and number input.

PostgreSQL rejects NUL bytes in text; bidirectional controls let a name read backwards
("Chapter \u2067retsinimda\u2069 official" shows as "Chapter administer official"); zero-width
characters make two names look the same. Numbers beyond 64 bits overflow the database driver.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import InvalidInput

INT64_MAX = 2**63 - 1
#: Our own row ids (``Integer`` primary keys: 32 bits on PostgreSQL).
ROW_ID_MAX = 2**31 - 1

#: Bidirectional controls: marks, embeddings, overrides and isolates (and the Arabic letter mark).
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Invisible characters that change no letter: zero-width space/joiners, word joiner, invisible
#: operators, BOM, Mongolian vowel separator, soft hyphen.
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u00ad"

# C0 controls but tab and newline, DEL, C1 controls, and the bidi controls
_UNSAFE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_INVISIBLE = re.compile(f"[{ZERO_WIDTH}]")
_LINE_BREAKS = re.compile("\r\n?|[\u2028\u2029\x85]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Free text as it is stored: line breaks kept (as ``\\n``), tabs kept, every other control
    character, NUL and bidirectional control removed. Zero-width joiners are kept: emoji and
    some scripts need them."""
    return _UNSAFE.sub("", _LINE_BREAKS.sub("\n", text))


def clean_name(text: str) -> str:
    """A name (chapter, region, affiliate, display name): ``clean_text`` without zero-width
    characters, on one line with single spaces."""
    return _SPACES.sub(" ", _INVISIBLE.sub("", clean_text(text))).strip()


def normalized_name(text: str) -> str:
    """``clean_name`` after NFKC, so full-width and compatibility forms compare equal."""
    return clean_name(unicodedata.normalize("NFKC", text))


def as_row_id(text: str) -> int | None:
    """``text`` as one of our row ids if it can be one (ASCII digits, in range), else None.
    Never ``int()`` of unchecked digits: beyond 4,300 of them Python raises ValueError."""
    digits = text.strip()
    if not digits.isdecimal() or not digits.isascii() or len(digits) > len(str(ROW_ID_MAX)):
        return None
    value = int(digits)
    return value if 1 <= value <= ROW_ID_MAX else None


def parse_row_id(text: str, *, what: str) -> int:
    """The id of one of our rows, as a user typed it ("3", "#3"); InvalidInput if it is not a
    number or cannot be an id (0, or beyond the database's integer)."""
    digits = text.strip().lstrip("#").strip()
    if not digits.isdecimal() or not digits.isascii():
        raise InvalidInput(
            f"Pick the {what} from the list as you type, or give its number (like 3)."
        )
    value = as_row_id(digits)
    if value is None:
        raise InvalidInput(f"There is no {what} number {digits[:20]}. Pick one from the list.")
    return value


def require_row_id(value: int, *, what: str) -> int:
    if not 1 <= value <= ROW_ID_MAX:
        raise InvalidInput(f"There is no {what} number {str(value)[:20]}. Pick one from the list.")
    return value


def is_snowflake(value: int) -> bool:
    """A Discord id fits in 63 bits (a signed 64-bit column) and is positive."""
    return 0 < value <= INT64_MAX
