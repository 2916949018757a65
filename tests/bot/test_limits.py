"""The output limits helper: whatever goes in, what comes out fits Discord's limits."""

from __future__ import annotations

import discord
from discord import app_commands
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import limits

texts = st.text(max_size=9000)
short_lists = st.lists(st.text(max_size=300), max_size=300)


@given(texts, st.integers(min_value=0, max_value=5000))
def test_clip_fits_and_keeps_short_text(text: str, limit: int) -> None:
    clipped = limits.clip(text, limit)
    assert len(clipped) <= limit
    if len(text) <= limit:
        assert clipped == text
    elif limit > 1:
        assert clipped.endswith("…")


@given(short_lists, st.integers(min_value=0, max_value=4096), st.sampled_from(["\n", ", "]))
def test_join_lines_fits_and_says_how_many_were_left_out(
    lines: list[str], limit: int, sep: str
) -> None:
    joined = limits.join_lines(lines, limit, sep=sep)
    assert len(joined) <= limit
    if len(sep.join(lines)) <= limit:
        assert joined == sep.join(lines)


def test_join_lines_counts_what_it_left_out() -> None:
    lines = [f"line {i}" for i in range(100)]
    joined = limits.join_lines(lines, 60)
    shown = joined.split("\n")
    assert shown[-1] == f"…and {100 - (len(shown) - 1)} more"
    assert shown[:-1] == lines[: len(shown) - 1]
    assert limits.join_inline(["US-CA"] * 3, 100) == "US-CA, US-CA, US-CA"
    assert limits.join_lines(["x" * 50], 10) == "x" * 9 + "…"


embed_texts = st.text(max_size=7000)


@settings(max_examples=60)
@given(
    title=embed_texts,
    description=embed_texts,
    footer=embed_texts,
    author=st.text(max_size=400),
    fields=st.lists(st.tuples(st.text(max_size=400), st.text(max_size=2000)), max_size=40),
)
def test_fit_embed_keeps_every_part_and_the_total_within_limits(
    title: str, description: str, footer: str, author: str, fields: list[tuple[str, str]]
) -> None:
    embed = discord.Embed(title=title or None, description=description or None)
    if footer:
        embed.set_footer(text=footer)
    if author:
        embed.set_author(name=author)
    for name, value in fields:
        embed.add_field(name=name, value=value)
    limits.fit_embed(embed)
    assert len(embed.title or "") <= limits.EMBED_TITLE_MAX
    assert len(embed.description or "") <= limits.EMBED_DESCRIPTION_MAX
    assert len(embed.footer.text or "") <= limits.EMBED_FOOTER_MAX
    assert len(embed.author.name or "") <= limits.EMBED_AUTHOR_MAX
    assert len(embed.fields) <= limits.EMBED_FIELDS_MAX
    for field in embed.fields:
        assert 0 < len(field.name or "") <= limits.EMBED_FIELD_NAME_MAX
        assert 0 < len(field.value or "") <= limits.EMBED_FIELD_VALUE_MAX
    assert limits.embed_size(embed) <= limits.EMBED_TOTAL_MAX
    if len(fields) > limits.EMBED_FIELDS_MAX:
        assert embed.fields[-1].value == f"…and {len(fields) - 24} more"


@given(st.lists(st.tuples(st.text(max_size=300), st.text(max_size=150)), max_size=60))
def test_fit_choices_and_options(pairs: list[tuple[str, str]]) -> None:
    choices = limits.fit_choices([app_commands.Choice(name=n, value=v) for n, v in pairs])
    assert len(choices) <= limits.CHOICES_MAX
    assert all(0 < len(c.name) <= 100 and len(c.value) <= 100 for c in choices)
    options = limits.fit_options(
        [discord.SelectOption(label=n or "x", value=v or "v", description=n) for n, v in pairs]
    )
    assert len(options) <= limits.SELECT_OPTIONS_MAX
    assert all(0 < len(o.label) <= 100 and len(o.value) <= 100 for o in options)
    assert all(len(o.description or "") <= 100 for o in options)
