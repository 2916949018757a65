"""A hard kill during a reminder fan-out: after restart every member has exactly one DM."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path

from bot.clock import SystemClock
from bot.services.meetings import REMINDER_EVENT, reminder_key
from bot.services.places import Gazetteer
from bot.settings import Settings
from bot.wiring import build_services
from db.migrate import upgrade_to_head
from db.models import Chapter, ChapterMember, ChapterStatus
from db.session import create_engine
from tests.e2e.test_restart import start_bot
from twin import Twin

MEMBERS = 200


async def test_hard_kill_during_a_reminder_fan_out_then_restart_sends_each_dm_once(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    guild = twin.create_guild("Fan-out Guild")
    users = [twin.create_user(f"member{n}") for n in range(MEMBERS)]
    for user in users:
        await twin.member_join(guild.id, user)
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'fanout.db'}"
    await upgrade_to_head(database_url)
    engine = create_engine(database_url)
    clock = SystemClock()
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        discord_token=twin.token,
        database_url=database_url,
    )
    services = build_services(settings, engine, clock=clock, places=gazetteer)
    now = clock.now()
    async with services.sessions.write() as session:
        chapter = Chapter(
            guild_id=guild.id, name="Fan-out Chapter", name_key="fan-out chapter",
            geoname_id=1, city_label="Chicago", region_code="IL", country_code="US",
            continent_code="NA", timezone="America/Chicago", status=ChapterStatus.FORMING,
            created_by=users[0], created_at=now, status_changed_at=now,
        )  # fmt: skip
        session.add(chapter)
        await session.flush()
        session.add_all(
            ChapterMember(chapter_id=chapter.id, user_id=u, is_founder=u == users[0], joined_at=now)
            for u in users
        )
    log = tmp_path / "bot.log"
    env = {"TIMER_REFRESH_SECONDS": "0.5", "EFFECT_LEASE_SECONDS": "2", "LOG_LEVEL": "INFO"}
    first = await start_bot(twin, database_url, log, gazetteer, **env)
    try:
        await twin.wait_until_connected(timeout=45)
        await services.meetings.set_policy(
            guild.id, chapter.id, "2h", actor_id=users[0], actor_is_organizer=True
        )
        start = (clock.now() + timedelta(hours=2, minutes=5)).astimezone()
        preview = await services.meetings.preview(
            guild.id, chapter.id, actor_id=users[0], actor_is_organizer=True, title="Assembly",
            start=start.isoformat(timespec="seconds"), duration="1h", location="Union hall",
            repeat="once",
        )  # fmt: skip
        series = await services.meetings.schedule(
            guild.id, preview, actor_id=users[0], actor_is_organizer=True
        )
        meeting = series.upcoming[0].id
        # starts are whole minutes: move the 2 h reminder's timer to "now" instead of waiting
        await services.timers.replace_timer(
            clock.now() + timedelta(seconds=1),
            REMINDER_EVENT,
            {"occurrence_id": meeting, "lead_minutes": 120},
            key=reminder_key(meeting, 120),
        )

        def delivered() -> int:
            return sum(1 for user in users if twin.dms(user))

        await twin.wait_for(lambda: delivered() >= 40, timeout=30, message=log.read_text()[-3000:])
    finally:
        first.kill()  # SIGKILL in the middle of the fan-out
        await first.wait()
    halfway = delivered()
    assert 40 <= halfway < MEMBERS, "the kill did not land in the middle of the fan-out"
    await twin.wait_for(lambda: not twin.gateway.connected(), timeout=5)

    second = await start_bot(twin, database_url, log, gazetteer, **env)
    try:
        await twin.wait_until_connected(timeout=45)
        await twin.wait_for(
            lambda: delivered() == MEMBERS, timeout=60, message="the fan-out did not finish"
        )
        await asyncio.sleep(1.0)  # a second DM to anyone would show up within this
    finally:
        second.send_signal(signal.SIGTERM)
        await asyncio.wait_for(second.wait(), 20)
    counts = {user: len(twin.dms(user)) for user in users}
    assert set(counts.values()) == {1}, {u: c for u, c in counts.items() if c != 1}
    ledger = await services.meetings.ledger(meeting)
    assert len(ledger) == MEMBERS and {status for _, _, status, _ in ledger} == {"sent"}
    await engine.dispose()
    print(
        f"fan-out: {halfway} of {MEMBERS} DMs delivered before the kill, all {MEMBERS} once after"
    )
