"""The stack end to end: login, command registration, /about, /setup and its checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import FakeClock
from bot.services.places import Gazetteer
from tests.e2e.conftest import World, running_bot
from twin import Twin

EPHEMERAL = 1 << 6


def content(response: dict) -> str:  # type: ignore[type-arg]
    return str(response.get("data", {}).get("content", ""))


async def test_bot_logs_in_and_registers_valid_commands(world: World) -> None:
    names = {c["name"] for c in world.twin.commands()}
    assert {"setup", "about"} <= names
    setup = next(c for c in world.twin.commands() if c["name"] == "setup")
    assert setup["default_member_permissions"] == str(1 << 5)  # Manage Server, a UI default only
    assert world.bot.user is not None and world.bot.user.id == world.twin.bot_user_id
    assert world.bot.get_guild(world.guild_id) is not None
    world.twin.assert_no_spec_violations()
    world.twin.assert_no_unimplemented_calls()


async def test_about_is_answered_within_three_seconds(world: World) -> None:
    member = await world.join("mara")
    ix = await world.slash(member, "about")
    response = await ix.response(timeout=3.0)
    assert ix.responded_after is not None and ix.responded_after < 3.0
    assert response["data"]["flags"] & EPHEMERAL
    fields = {f["name"]: f["value"] for f in response["data"]["embeds"][0]["fields"]}
    assert fields["Database"] == "sqlite"
    assert fields["Version"] == "0.1.0"
    assert fields["Servers"] == "1"
    assert fields["Failed timers"] == "0"


async def test_about_counts_failed_timers(world: World) -> None:
    """A timer that failed after every retry (here: no listener handles its event) shows."""

    async def armed() -> bool:  # the chapters cog arms its daily run on ready, as a task
        return any(t.event == "chapter_evaluation" for t in await world.services.timers.pending())

    await world.twin.wait_for(armed, timeout=10, message="the daily evaluation was not armed")
    record = await world.services.timers.create_timer(world.clock.now(), "nobody_listens")
    for _ in range(world.bot.settings.timer_max_attempts):
        await world.advance(timedelta(hours=1))
    failed = await world.services.timers.get(record.id)
    assert failed is not None and failed.status == "failed"
    ix = await world.slash(world.organizer_id, "about")
    response = await ix.response(timeout=3.0)
    fields = {f["name"]: f["value"] for f in response["data"]["embeds"][0]["fields"]}
    assert fields["Failed timers"] == "1"
    assert fields["Pending timers"] == str(len(await world.services.timers.pending()))


async def test_setup_refused_for_non_organizer_even_if_admins_opened_the_command(
    world: World,
) -> None:
    member = await world.join("nils")
    # Server admins can override default_member_permissions; the bot still checks itself.
    ix = await world.slash(member, "setup", timezone="Europe/Berlin", check_permissions=False)
    response = await ix.response()
    assert response["data"]["flags"] & EPHEMERAL
    assert "Only organizers" in content(response)
    assert (await world.services.guilds.get(world.guild_id)).timezone == "UTC"


async def test_setup_by_organizer_saves_and_validates_timezone(world: World) -> None:
    welcome = world.guild.add_text_channel("welcome")
    ix = await world.slash(
        world.organizer_id, "setup", timezone="europe/berlin", welcome_channel=welcome
    )
    response = await ix.response()
    assert "Settings saved" in content(response) and "Europe/Berlin" in content(response)
    saved = await world.services.guilds.get(world.guild_id)
    assert saved.timezone == "Europe/Berlin" and saved.welcome_channel_id == welcome

    bad = await world.slash(world.organizer_id, "setup", timezone="Mars/Olympus")
    answer = await bad.response()
    assert answer["data"]["flags"] & EPHEMERAL
    assert "not an IANA timezone" in content(answer)
    assert "List_of_tz_database_time_zones" in content(answer)
    assert (await world.services.guilds.get(world.guild_id)).timezone == "Europe/Berlin"


async def test_timezone_autocomplete(world: World) -> None:
    choices = await world.twin.autocomplete(
        world.guild_id,
        world.channel_id,
        world.organizer_id,
        "setup",
        options={"timezone": "America/Chi"},
        focused="timezone",
    )
    assert 1 <= len(choices) <= 25
    assert choices[0]["value"] == "America/Chicago"


async def test_commands_are_synced_only_when_they_change(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    twin.create_guild("Sync Guild")
    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"
    clock = FakeClock(datetime.now(UTC))
    async with running_bot(twin, url, clock, gazetteer):
        pass
    first = len(twin.requests_to("PUT", "/applications/{application_id}/commands"))
    async with running_bot(twin, url, clock, gazetteer):
        pass
    second = len(twin.requests_to("PUT", "/applications/{application_id}/commands"))
    assert first == 1
    assert second == 1  # the restart found the same hash and did not sync again
    twin.assert_no_spec_violations()


async def test_dev_guild_gets_the_commands_at_every_start_and_global_never(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    guild = twin.create_guild("Dev Guild")
    url = f"sqlite+aiosqlite:///{tmp_path / 'dev.db'}"
    clock = FakeClock(datetime.now(UTC))
    for _ in range(2):
        async with running_bot(twin, url, clock, gazetteer, dev_guild_id=guild.id):
            pass
    guild_puts = twin.requests_to(
        "PUT", "/applications/{application_id}/guilds/{guild_id}/commands"
    )
    assert len(guild_puts) == 2 and all(str(guild.id) in r.path for r in guild_puts)
    assert twin.requests_to("PUT", "/applications/{application_id}/commands") == []
    assert "about" in {c["name"] for c in twin.commands(guild.id)}
    assert twin.commands(None) == []
    twin.assert_no_spec_violations()
