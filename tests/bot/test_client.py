"""The Bot's defaults: only the intents a feature uses."""

from __future__ import annotations

import discord

from bot.client import default_intents


def test_intents_are_only_those_a_feature_uses() -> None:
    """Guilds (the cache of guilds, channels, roles), Server Members (joins, leaves, the member
    list: cogs/members.py) and Guild Message Reactions (reaction ballots: cogs/votes). A feature
    that needs another adds it here, in default_intents() and in the README's setup steps."""
    assert default_intents() == discord.Intents(guilds=True, members=True, guild_reactions=True)
