"""A durable timer survives a hard kill of the bot process and fires exactly once after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.clock import FakeClock, SystemClock
from bot.services.places import Gazetteer
from bot.services.timers import TimerService
from db.session import create_engine, create_session_factory
from tests.e2e.conftest import running_bot
from twin import Twin

REPO = Path(__file__).resolve().parents[2]


async def start_bot(
    twin: Twin, database_url: str, log: Path, gazetteer: Gazetteer, **settings: str
) -> asyncio.subprocess.Process:
    """``python -m bot`` against ``twin``, plus this test module's own ``announce`` timer
    listener (tests/e2e/announcing_bot.py); ``settings`` are more environment variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "DATABASE_"))}
    env.update(
        DISCORD_TOKEN=twin.token,
        DATABASE_URL=database_url,
        DISCORD_API_BASE=twin.api_base,
        DISCORD_GATEWAY_URL=twin.gateway_url,
        TIMER_REFRESH_SECONDS="0.5",  # pick up timers other processes write, quickly
        LOG_LEVEL="DEBUG",  # the token must not appear at any level
        GAZETTEER_DIR=str(gazetteer.index_dir),  # built once for the run
    )
    env.update(settings)
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.announcing_bot",
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=sink,
        )


async def test_timer_created_before_hard_kill_fires_once_after_restart(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    guild = twin.create_guild("Restart Guild")
    channel = guild.system_channel_id
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    log = tmp_path / "bot.log"
    text = "Chapter meeting tonight at 7 in the library"

    first = await start_bot(twin, database_url, log, gazetteer)
    try:
        await twin.wait_until_connected(timeout=45)
        engine = create_engine(database_url)
        timers = TimerService(create_session_factory(engine), SystemClock())
        due = SystemClock().now() + timedelta(seconds=2.5)
        record = await timers.create_timer(
            due, "announce", {"channel_id": channel, "content": text}
        )
        await asyncio.sleep(1.0)  # the running bot has scheduled it by now (refresh 0.5 s)
    finally:
        first.kill()  # SIGKILL: no clean shutdown, no chance to fire
        await first.wait()
    await twin.wait_for(lambda: not twin.gateway.connected(), timeout=5)
    assert [m for m in twin.messages(channel) if m["content"] == text] == []
    await asyncio.sleep(max(0.0, (due - SystemClock().now()).total_seconds()) + 0.2)

    second = await start_bot(twin, database_url, log, gazetteer)
    try:
        await twin.wait_until_connected(timeout=45)
        await twin.wait_for(
            lambda: [m for m in twin.messages(channel) if m["content"] == text],
            timeout=15,
            message=f"the timer did not fire after the restart; bot log:\n{log.read_text()}",
        )

        async def done() -> bool:
            stored = await timers.get(record.id)
            return stored is not None and stored.status == "done"

        await twin.wait_for(done, timeout=5)
        await asyncio.sleep(1.0)  # a second firing would show up within this
    finally:
        second.send_signal(signal.SIGTERM)
        exit_code = await asyncio.wait_for(second.wait(), 20)
        await engine.dispose()
    sent = [m for m in twin.messages(channel) if m["content"] == text]
    assert len(sent) == 1
    assert sent[0]["author"]["id"] == str(twin.bot_user_id)
    assert exit_code == 0, log.read_text()  # SIGTERM is a clean shutdown
    assert "Traceback" not in log.read_text()
    assert twin.token not in log.read_text()
    twin.assert_no_spec_violations()


async def test_join_button_keeps_working_after_a_restart(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    """Buttons carry their state in the custom_id (a DynamicItem), so old messages still work."""
    guild = twin.create_guild("Button Guild")
    founder, joiner = twin.create_user("mara"), twin.create_user("nils")
    for user in (founder, joiner):
        await twin.member_join(guild.id, user)
    url = f"sqlite+aiosqlite:///{tmp_path / 'buttons.db'}"
    clock = FakeClock(datetime.now(UTC))
    async with running_bot(twin, url, clock, gazetteer):
        ix = await twin.slash(
            guild.id,
            guild.system_channel_id,
            founder,
            "chapter",
            "propose",
            options={"city": "Oakland"},
        )
        await ix.response()
        proposal = await ix.wait_followup()
    button = proposal["components"][0]["components"][0]["custom_id"]
    assert button.startswith("chapter:join:")

    async with running_bot(twin, url, clock, gazetteer) as (_bot, services, _engine):
        click = await twin.click(proposal["id"], button, joiner)
        body = await click.response()
        reply = body["data"] if body["type"] == 4 else await click.wait_followup()
        assert "Welcome to **Oakland Chapter**" in reply["content"]
        chapter = await services.chapters.get(guild.id, int(button.rsplit(":", 1)[1]))
        assert chapter.member_count == 2
    twin.assert_no_spec_violations()
