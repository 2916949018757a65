"""Fixtures: a started twin (checked for spec violations after each test) and a bot runner."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import discord
import pytest
from discord.ext import commands

from bot.endpoints import reset_endpoints, use_endpoints
from twin import Twin
from twin.testing import connected_client, fast_reidentify, twin_fixture

__all__ = ["StartBot", "bot_intents", "make_bot", "twin_fixture"]


def bot_intents() -> discord.Intents:
    intents = discord.Intents.none()
    intents.guilds = True
    intents.members = True
    intents.guild_reactions = True
    intents.dm_messages = True
    intents.guild_messages = True
    return intents


def make_bot(**kwargs: object) -> commands.Bot:
    options: dict[str, object] = {"intents": bot_intents(), "guild_ready_timeout": 0.05}
    options.update(kwargs)
    return fast_reidentify(commands.Bot(command_prefix="!", **options))  # type: ignore[arg-type]


StartBot = Callable[[discord.Client], Awaitable[discord.Client]]


@pytest.fixture
async def run_bot(twin: Twin) -> AsyncIterator[StartBot]:
    """``await run_bot(bot)`` logs in, connects and waits for on_ready; closed at teardown."""
    stack = contextlib.AsyncExitStack()
    use_endpoints(twin.api_base, twin.gateway_url)

    async def start(client: discord.Client) -> discord.Client:
        return await stack.enter_async_context(connected_client(twin, client))

    try:
        yield start
    finally:
        await stack.aclose()
        reset_endpoints()
