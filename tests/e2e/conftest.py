"""End-to-end harness: the real bot, through discord.py, against the twin on loopback.

The ``world`` fixture starts a twin with one guild, builds the bot exactly as ``python -m bot``
does (migrated SQLite database, services, cogs by discovery, command sync) but on a FakeClock the
test controls, connects it, and checks after the test that every request the bot sent was valid
against Discord's OpenAPI description.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.client import ChapterBot
from bot.clock import FakeClock
from bot.endpoints import reset_endpoints, use_endpoints
from bot.services.places import Gazetteer
from bot.settings import Settings
from bot.wiring import Services, build_services
from db.migrate import upgrade_to_head
from db.session import create_engine
from twin import Perm, Twin, TwinGuild, TwinInteraction


def is_welcome(message: dict[str, Any]) -> bool:
    """The welcome DM every joining member gets (it carries the Start button)."""
    return any(
        str(component.get("custom_id", "")).startswith("welcome:start:")
        for row in message.get("components") or []
        for component in row.get("components") or []
    )


def other_dms(twin: Twin, user_id: int) -> list[dict[str, Any]]:
    """A member's DMs besides the welcome, for tests about other features."""
    return [m for m in twin.dms(user_id) if not is_welcome(m)]


@dataclass
class World:
    twin: Twin
    bot: ChapterBot
    services: Services
    clock: FakeClock
    engine: AsyncEngine
    guild: TwinGuild
    organizer_id: int
    organizer_role_id: int
    database_url: str
    users: dict[str, int] = field(default_factory=dict)

    @property
    def guild_id(self) -> int:
        return self.guild.id

    @property
    def channel_id(self) -> int:
        return self.guild.system_channel_id

    def dms(self, user_id: int) -> list[dict[str, Any]]:
        """The DMs ``user_id`` got, besides the welcome every joining member gets."""
        return other_dms(self.twin, user_id)

    async def join(self, name: str) -> int:
        """A new user joins the guild and the bot has handled it (GUILD_MEMBER_ADD's listeners
        run as tasks of their own, so wait until the member is recorded)."""
        user_id = self.twin.create_user(name)
        self.users[name] = user_id
        await self.twin.member_join(self.guild_id, user_id)

        async def recorded() -> bool:
            profile = await self.services.members.get(self.guild_id, user_id)
            return profile is not None and profile.active

        await self.twin.wait_for(recorded, timeout=5, message=f"{name}'s join was not recorded")
        # the join's later steps (the welcome) run under the guild's member-event lock: wait for
        # them too, or a command right after the join races them (seen under CPU load)
        member_events = self.bot.get_cog("MemberEvents")
        assert member_events is not None
        async with member_events.guild_lock(self.guild_id):  # type: ignore[attr-defined]
            pass
        return user_id

    async def slash(
        self,
        user_id: int,
        name: str,
        subcommand: str | None = None,
        group: str | None = None,
        *,
        channel_id: int | None = None,
        check_permissions: bool = True,
        **options: Any,
    ) -> TwinInteraction:
        return await self.twin.slash(
            self.guild_id,
            channel_id or self.channel_id,
            user_id,
            name,
            subcommand=subcommand,
            group=group,
            options={k: v for k, v in options.items() if v is not None},
            check_permissions=check_permissions,
        )

    async def advance(self, delta: timedelta) -> list[int]:
        """Move the clock and run every timer now due, awaiting their handlers."""
        self.clock.advance(delta)
        return await self.run_due_timers()

    async def run_due_timers(self) -> list[int]:
        timers = self.services.timers
        due = await timers.pending(due_before=self.clock.now())
        for record in due:
            await self.services.dispatcher.fire(record.id)

        async def settled() -> bool:
            for record in due:
                current = await timers.get(record.id)
                if (
                    current is not None
                    and current.status == "pending"
                    and current.run_at <= self.clock.now()
                ):
                    return False
            return True

        await self.twin.wait_for(settled, timeout=5, message="due timers did not finish")
        return [record.id for record in due]


async def settle_member_events(bot: ChapterBot, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    """Let member events already queued (a join's record and welcome steps) finish before the
    bot and its database close under them (each guild's lock is taken after every waiter),
    then the effects they wrote."""
    events: Any = bot.get_cog("MemberEvents")
    if events is None:
        return
    for guild in list(bot.guilds):
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), events.guild_lock(guild.id):
                pass
    # and the effects they wrote (welcome DMs): stopping the worker in the middle of a
    # database call leaves a connection behind that the event loop can't close
    with contextlib.suppress(TimeoutError):
        await bot.effects_worker.wait_idle(timeout=timeout)


@contextlib.asynccontextmanager
async def running_bot(
    twin: Twin, database_url: str, clock: FakeClock, places: Gazetteer, **settings: Any
) -> AsyncIterator[tuple[ChapterBot, Services, AsyncEngine]]:
    """The bot as the entry point builds it, connected to ``twin`` until the block ends."""
    config = Settings(
        _env_file=None,  # type: ignore[call-arg]
        discord_token=twin.token,
        database_url=database_url,
        discord_api_base=twin.api_base,
        discord_gateway_url=twin.gateway_url,
        **settings,
    )
    use_endpoints(config.discord_api_base, config.discord_gateway_url)
    await upgrade_to_head(database_url)
    engine = create_engine(database_url)
    services = build_services(config, engine, clock=clock, places=places)
    bot = ChapterBot(config, services, guild_ready_timeout=0.05)
    runner: asyncio.Task[None] | None = None
    try:
        await bot.login(twin.token)
        runner = asyncio.create_task(bot.connect(reconnect=True), name="bot-connect")
        ready = asyncio.ensure_future(bot.wait_until_ready())
        done, _ = await asyncio.wait({ready, runner}, timeout=10, return_when="FIRST_COMPLETED")
        if runner in done:
            runner.result()
        if ready not in done:
            ready.cancel()
            raise TimeoutError("the bot did not become ready within 10 s")
        yield bot, services, engine
    finally:
        await settle_member_events(bot)
        await bot.close()
        if runner is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(runner, 5)
        await services.dispatcher.shutdown()
        await engine.dispose()
        reset_endpoints()


@pytest.fixture
async def twin() -> AsyncIterator[Twin]:
    twin = Twin()
    await twin.start()
    try:
        yield twin
    finally:
        await twin.stop()


@pytest.fixture
async def world(tmp_path: Path, twin: Twin, gazetteer: Gazetteer) -> AsyncIterator[World]:
    guild = twin.create_guild("Test Guild")
    organizer_role_id = guild.add_role("Organizers", permissions=int(Perm.MANAGE_GUILD))
    organizer_id = twin.create_user("olivia-organizer")
    await twin.member_join(guild.id, organizer_id, roles=[organizer_role_id])
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'e2e.db'}"
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    async with running_bot(twin, database_url, clock, gazetteer) as (bot, services, engine):
        await services.guilds.setup(guild.id, organizer_role_id=organizer_role_id)

        async def reconciled() -> bool:  # members present at connect are recorded by a listener
            return await services.members.get(guild.id, organizer_id) is not None

        await twin.wait_for(
            reconciled, timeout=5, message="the guild's members were not reconciled"
        )
        yield World(
            twin=twin,
            bot=bot,
            services=services,
            clock=clock,
            engine=engine,
            guild=guild,
            organizer_id=organizer_id,
            organizer_role_id=organizer_role_id,
            database_url=database_url,
        )
    twin.assert_no_spec_violations()
    twin.assert_no_unimplemented_calls()
