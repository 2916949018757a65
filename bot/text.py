"""Small text helpers every cog uses to render replies, so they read the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import discord


def esc(text: str) -> str:
    """User-supplied text shown as-is: markdown characters escaped."""
    return discord.utils.escape_markdown(text)


def bullets(items: Iterable[str]) -> str:
    """One ``• item`` per line."""
    return "\n".join(f"• {item}" for item in items)


def timestamp(moment: datetime, style: str = "R") -> str:
    """A Discord timestamp: each reader sees it in their own time zone (R = relative)."""
    return f"<t:{int(moment.timestamp())}:{style}>"
