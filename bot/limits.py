"""Discord's size limits in one place, and helpers that make any reply fit them.

Discord rejects a whole message (50035) when one part is too long, even after the work behind it
was saved; so every reply is cut here, with "…" for text and "…and N more" for lists, instead
of failing.
"""

from __future__ import annotations

from collections.abc import Sequence

import discord
from discord import app_commands

CONTENT_MAX = 2000
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_FIELD_NAME_MAX = 256
EMBED_FIELD_VALUE_MAX = 1024
EMBED_FOOTER_MAX = 2048
EMBED_AUTHOR_MAX = 256
EMBED_TOTAL_MAX = 6000
EMBED_FIELDS_MAX = 25
EMBEDS_TOTAL_MAX = 6000  # all embeds of one message together
SELECT_OPTIONS_MAX = 25
SELECT_LABEL_MAX = 100
SELECT_VALUE_MAX = 100
SELECT_DESCRIPTION_MAX = 100
CHOICES_MAX = 25
CHOICE_NAME_MAX = 100
CHOICE_VALUE_MAX = 100
CUSTOM_ID_MAX = 100

ELLIPSIS = "…"
MORE = "…and {n} more"


def clip(text: str, limit: int = CONTENT_MAX) -> str:
    """``text`` cut to at most ``limit`` characters, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    return text[: limit - len(ELLIPSIS)].rstrip() + ELLIPSIS


def join_lines(
    lines: Sequence[str], limit: int = CONTENT_MAX, more: str = MORE, sep: str = "\n"
) -> str:
    """``lines`` joined by ``sep``, at most ``limit`` characters: the lines that don't fit are
    replaced by ``more`` (formatted with ``n``, how many were left out)."""
    whole = sep.join(lines)
    if len(whole) <= limit:
        return whole
    out: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        left_after = len(lines) - index - 1
        reserve = len(sep) + len(more.format(n=left_after)) if left_after else 0
        cost = (len(sep) if out else 0) + len(line)
        if used + cost + reserve > limit:
            break
        out.append(line)
        used += cost
    else:
        return sep.join(out)
    if not out:  # not even the first line fits: show the start of it
        note = more.format(n=len(lines) - 1)
        room = limit - (len(sep) + len(note) if len(lines) > 1 else 0)
        if room > len(ELLIPSIS):
            out.append(clip(lines[0], room))
    dropped = len(lines) - len(out)
    if dropped:
        out.append(more.format(n=dropped))
    return clip(sep.join(out), limit)


def join_inline(items: Sequence[str], limit: int, sep: str = ", ") -> str:
    """A comma-separated list within ``limit`` characters, ending "…and N more" when cut."""
    return join_lines(items, limit, more=MORE, sep=sep)


def embed_size(embed: discord.Embed) -> int:
    """The characters Discord counts towards an embed's 6,000 total."""
    size = len(embed.title or "") + len(embed.description or "")
    size += len(embed.footer.text or "") + len(embed.author.name or "")
    for field in embed.fields:
        size += len(field.name or "") + len(field.value or "")
    return size


def fit_embed(embed: discord.Embed, budget: int = EMBED_TOTAL_MAX) -> discord.Embed:
    """Cut every part of ``embed`` (in place) to its own limit and the whole to ``budget``:
    fields beyond 25 are dropped (the last one says how many), then the description and the
    last fields shrink until the total fits."""
    if embed.title:
        embed.title = clip(embed.title, EMBED_TITLE_MAX)
    if embed.description:
        embed.description = clip(embed.description, EMBED_DESCRIPTION_MAX)
    if embed.footer.text:
        embed.set_footer(
            text=clip(embed.footer.text, EMBED_FOOTER_MAX), icon_url=embed.footer.icon_url
        )
    if embed.author.name:
        embed.set_author(
            name=clip(embed.author.name, EMBED_AUTHOR_MAX),
            url=embed.author.url,
            icon_url=embed.author.icon_url,
        )
    fields = [(f.name or "\u200b", f.value or "\u200b", bool(f.inline)) for f in embed.fields]
    if len(fields) > EMBED_FIELDS_MAX:
        dropped = len(fields) - EMBED_FIELDS_MAX + 1
        fields = [*fields[: EMBED_FIELDS_MAX - 1], ("More", MORE.format(n=dropped), False)]
    embed.clear_fields()
    for name, value, inline in fields:
        embed.add_field(
            name=clip(name, EMBED_FIELD_NAME_MAX),
            value=clip(value, EMBED_FIELD_VALUE_MAX),
            inline=inline,
        )
    excess = embed_size(embed) - budget
    if excess > 0 and embed.description:
        keep = max(len(embed.description) - excess, 0)
        embed.description = clip(embed.description, keep) or None
        excess = embed_size(embed) - budget
    index = len(embed.fields) - 1
    while excess > 0 and index >= 0:
        field = embed.fields[index]
        value = field.value or ""
        keep = max(len(value) - excess, 1)
        embed.set_field_at(
            index, name=field.name, value=clip(value, keep) or ELLIPSIS, inline=field.inline
        )
        excess = embed_size(embed) - budget
        index -= 1
    if excess > 0 and embed.footer.text:
        embed.set_footer(text=clip(embed.footer.text, max(len(embed.footer.text) - excess, 0)))
        excess = embed_size(embed) - budget
    if excess > 0 and embed.title:
        embed.title = clip(embed.title, max(len(embed.title) - excess, 1))
    return embed


def fit_choices(choices: Sequence[app_commands.Choice[str]]) -> list[app_commands.Choice[str]]:
    """At most 25 autocomplete choices, names and values within 100 characters (a value cut
    would name something else, so such a choice is left out)."""
    fitted = [
        app_commands.Choice(name=clip(c.name, CHOICE_NAME_MAX) or ELLIPSIS, value=c.value)
        for c in choices
        if len(str(c.value)) <= CHOICE_VALUE_MAX
    ]
    return fitted[:CHOICES_MAX]


def fit_options(options: Sequence[discord.SelectOption]) -> list[discord.SelectOption]:
    """At most 25 select options with labels and descriptions cut to Discord's limits."""
    fitted = []
    for option in options[:SELECT_OPTIONS_MAX]:
        if len(option.value) > SELECT_VALUE_MAX:
            continue
        option.label = clip(option.label, SELECT_LABEL_MAX) or ELLIPSIS
        if option.description:
            option.description = clip(option.description, SELECT_DESCRIPTION_MAX)
        fitted.append(option)
    return fitted
