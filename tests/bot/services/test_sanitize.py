"""The one place typed text and numbers are made safe: no NUL, no bidi controls in anything,
no zero-width characters in names, ids within the database's integers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import InvalidInput
from bot.services.sanitize import (
    BIDI_CONTROLS,
    ROW_ID_MAX,
    ZERO_WIDTH,
    as_row_id,
    clean_name,
    clean_text,
    is_snowflake,
    parse_row_id,
)

NASTY = st.text(
    alphabet=st.one_of(
        st.characters(),
        st.sampled_from(list(BIDI_CONTROLS + ZERO_WIDTH + "\x00\r\n\t\x85\u2028")),
    ),
    max_size=200,
)


@given(NASTY)
def test_clean_text_drops_nul_controls_and_bidi_and_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert "\x00" not in cleaned and "\r" not in cleaned
    assert not set(cleaned) & set(BIDI_CONTROLS)
    assert all(c in "\n\t" or not (ord(c) < 32 or 0x7F <= ord(c) <= 0x9F) for c in cleaned)
    assert clean_text(cleaned) == cleaned


@given(NASTY)
def test_clean_name_is_one_visible_line(text: str) -> None:
    cleaned = clean_name(text)
    assert not set(cleaned) & set(BIDI_CONTROLS + ZERO_WIDTH + "\x00\n\t")
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert clean_name(cleaned) == cleaned


def test_the_reported_spoof_and_emoji_joiners() -> None:
    assert clean_name("Chapter \u2067retsinimda\u2069 official") == "Chapter retsinimda official"
    assert clean_name("a\u200bb\u200e\u200f\u202ac\u202ed") == "abcd"
    assert clean_text("family 👨\u200d👩\u200d👧\r\nnext") == "family 👨\u200d👩\u200d👧\nnext"


def test_row_ids_are_range_checked_before_the_database() -> None:
    assert parse_row_id(" #3 ", what="agreement") == 3
    assert parse_row_id(str(ROW_ID_MAX), what="agreement") == ROW_ID_MAX
    for bad in ("99999999999999999999", str(ROW_ID_MAX + 1), "0", "x", "３", "-1", ""):
        with pytest.raises(InvalidInput):
            parse_row_id(bad, what="agreement")
    assert as_row_id("42") == 42 and as_row_id(" 7 ") == 7
    assert as_row_id("7" * 6000) is None  # int() of it would raise ValueError
    assert as_row_id("0") is None and as_row_id("x") is None and as_row_id("٣") is None
    assert is_snowflake(2**63 - 1) and not is_snowflake(2**63) and not is_snowflake(0)
