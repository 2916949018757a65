"""The Bot subclass: receives its services from the entry point and loads cogs by discovery."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.effects import EffectWorker
from bot.interactions import handle_interaction_error
from bot.services.command_sync import payload_hash
from bot.services.sanitize import clean_text
from bot.services.timers import TimerRecord
from bot.settings import Settings
from bot.wiring import Services

log = logging.getLogger(__name__)

COGS_PACKAGE = "cogs"


def discover_extensions(package: str = COGS_PACKAGE) -> Iterator[str]:
    """Every module or package directly under ``package`` not starting with ``_``."""
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__, prefix=f"{package}."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            yield info.name


def default_intents() -> discord.Intents:
    """Only what a feature uses today (a feature that needs another adds it with its use)."""
    intents = discord.Intents.none()
    intents.guilds = True  # guilds, channels and roles in the cache
    intents.members = True  # privileged ("Server Members Intent"): joins, leaves, member list
    intents.guild_reactions = True  # reaction ballots of votes (raw reaction add/remove)
    return intents


STRING_OPTION = 3


def clean_string_options(options: list[dict[str, Any]]) -> None:
    """Every string option (in subcommands and groups too) through ``clean_text``, in place."""
    for option in options:
        if option.get("type") == STRING_OPTION and isinstance(option.get("value"), str):
            option["value"] = clean_text(option["value"])
        clean_string_options(option.get("options", []))


class CommandTree(app_commands.CommandTree["ChapterBot"]):
    async def interaction_check(self, interaction: discord.Interaction[ChapterBot], /) -> bool:
        """Runs before options are parsed, for commands and autocomplete alike: the one place
        where typed text loses NUL bytes, control characters and bidirectional controls."""
        data: Any = interaction.data or {}
        clean_string_options(data.get("options", []))
        return True

    async def on_error(
        self, interaction: discord.Interaction[ChapterBot], error: app_commands.AppCommandError
    ) -> None:
        await handle_interaction_error(interaction, error)


class ChapterBot(commands.AutoShardedBot):
    def __init__(
        self, settings: Settings, services: Services, *, guild_ready_timeout: float = 2.0
    ) -> None:
        # no voice features: the missing-voice-library warnings are noise
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            guild_ready_timeout=guild_ready_timeout,
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=default_intents(),
            # Nobody is pinged unless a message opts in to exactly the users it must ping:
            # ``allowed_mentions=discord.AllowedMentions(users=[member])`` on that one send.
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=CommandTree,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,  # type: ignore[arg-type]  # None means "all"
            chunk_guilds_at_startup=True,
        )
        self.settings = settings
        self.services = services
        self.started_monotonic = time.monotonic()
        self.extensions_loaded: list[str] = []
        self.effects_worker = EffectWorker(
            self,
            services.effects,
            services.timers,
            services.clock,
            rate_per_second=settings.effect_rate_per_second,
            burst=settings.effect_burst,
            concurrency=settings.effect_concurrency,
            lease=timedelta(seconds=settings.effect_lease_seconds),
            report_delay=timedelta(seconds=settings.effect_report_delay_seconds),
        )

    async def setup_hook(self) -> None:
        # the gazetteer takes a moment to index; do it off the loop before autocomplete needs it
        await asyncio.to_thread(self.services.places.load)
        for name in discover_extensions():
            await self.load_extension(name)
            self.extensions_loaded.append(name)
        log.info("loaded extensions: %s", ", ".join(self.extensions_loaded))
        self.services.dispatcher.set_handler(self.run_timer_listeners)
        await self.services.dispatcher.start()
        self.effects_worker.start()
        await self.sync_commands()

    async def run_timer_listeners(self, timer: TimerRecord) -> None:
        """Like ``dispatch(f"{event}_timer_complete")`` but awaited, so failures are seen."""
        await self.wait_until_ready()
        listeners = self.extra_events.get(f"on_{timer.event}_timer_complete", [])
        if not listeners:
            raise LookupError(f"no listener handles timer event {timer.event!r}")
        for listener in listeners:
            await listener(timer)

    async def sync_commands(self) -> bool:
        """Sync to DEV_GUILD_ID always, globally only when the payload changed. True if synced."""
        assert self.application_id is not None
        if self.settings.dev_guild_id is not None:
            guild = discord.Object(self.settings.dev_guild_id)
            self.tree.copy_global_to(guild=guild)
            await self.tree.sync(guild=guild)
            log.info("synced commands to dev guild %s", guild.id)
            return True
        payload = [command.to_dict(self.tree) for command in self.tree.get_commands()]
        digest = payload_hash(payload)
        scope = f"global:{self.application_id}"
        if await self.services.command_sync.is_current(scope, digest):
            log.info("application commands unchanged; not syncing")
            return False
        await self.tree.sync()
        await self.services.command_sync.record(scope, digest)
        log.info("synced %d global application command(s)", len(payload))
        return True

    @property
    def uptime_seconds(self) -> float:
        return time.monotonic() - self.started_monotonic

    async def on_ready(self) -> None:
        # a new gateway session (or the first): effects held back while disconnected can go
        self.effects_worker.kick()

    async def close(self) -> None:
        await self.effects_worker.stop()
        await self.services.dispatcher.shutdown()
        await super().close()
