"""Meeting reminders against the twin at Discord's limits (figures, not a timed test).

Run: ``.venv/bin/python benchmarks/bench_meetings.py [members] [ledger_rows] [rate]`` (default
1000, 100000 and the worker's configured pace, 40 requests/s). Prints:

* a reminder fan-out to ``members`` chapter members with known DM channels, through the real path
  (reminder timer → ledger rows + outbox effects in one transaction → the effects worker): wall
  time from the timer firing to the last DM, against the floor Discord's global limit allows
  (members / 50 per s), the 429s the twin answered, and whether each member got exactly one DM;
* a restart with ``ledger_rows`` reminder ledger rows pending: time from start to READY and the
  process's peak resident memory.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the e2e harness lives in tests/

from sqlalchemy import insert

from bot.clock import FakeClock
from bot.services.meetings import REMINDER_EVENT, reminder_key
from bot.services.places import Gazetteer
from db.models import Chapter, ChapterMember, ChapterStatus, ReminderDelivery, ReminderStatus
from tests.e2e.conftest import running_bot
from twin import Twin

DISCORD_GLOBAL_LIMIT = 50.0


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def main(members: int, ledger_rows: int, rate: float | None) -> None:
    places = Gazetteer()
    twin = Twin()
    await twin.start()
    guild = twin.create_guild("Bench Guild")
    users = [twin.create_user(f"member-{i}") for i in range(members)]
    for user in users:
        twin.world.add_member(guild, user)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        clock = FakeClock(datetime.now(UTC))
        settings = {"effect_rate_per_second": rate} if rate else {}
        async with running_bot(twin, url, clock, places, **settings) as (bot, services, _engine):
            now = clock.now()
            async with services.sessions.write() as session:
                chapter = Chapter(
                    guild_id=guild.id, name="Bench Chapter", name_key="bench chapter",
                    geoname_id=1, city_label="Chicago", region_code="IL", country_code="US",
                    continent_code="NA", timezone="America/Chicago",
                    status=ChapterStatus.FORMING, created_by=users[0], created_at=now,
                    status_changed_at=now,
                )  # fmt: skip
                session.add(chapter)
                await session.flush()
                chapter_id = chapter.id
                await session.execute(
                    insert(ChapterMember),
                    [
                        {"chapter_id": chapter_id, "user_id": u, "is_founder": False,
                         "joined_at": now}
                        for u in users
                    ],
                )  # fmt: skip
            for user in users:  # warm: DM channels known, one request per member
                await services.effects.remember_dm_channel(user, twin.world.dm_channel(user).id)
            meetings = services.meetings
            await meetings.set_policy(
                guild.id, chapter_id, "2h", actor_id=users[0], actor_is_organizer=True
            )
            start = (now + timedelta(days=1)).astimezone()
            preview = await meetings.preview(
                guild.id, chapter_id, actor_id=users[0], actor_is_organizer=True, title="Bench",
                start=start.isoformat(timespec="minutes"), duration="1h", location="Hall",
                repeat="once",
            )  # fmt: skip
            occurrence = (
                await meetings.schedule(
                    guild.id, preview, actor_id=users[0], actor_is_organizer=True
                )
            ).upcoming[0]
            timer = await services.timers.get_by_key(reminder_key(occurrence.id, 120))
            assert timer is not None and timer.event == REMINDER_EVENT
            clock.set(timer.run_at)
            before = len(twin.requests)
            started = time.monotonic()
            await services.dispatcher.fire(timer.id)
            await bot.effects_worker.wait_idle(timeout=600)
            elapsed = time.monotonic() - started
            requests = twin.requests[before:]
            sent = [r for r in requests if r.method == "POST"]
            limited = [r for r in requests if r.status == 429]
            once = all(len(twin.dms(u)) == 1 for u in users)
            floor = members / DISCORD_GLOBAL_LIMIT
            pace = bot.effects_worker.bucket.rate
            print(
                f"reminder fan-out to {members} members (DM channels known): {len(sent)} "
                f"requests in {elapsed:.2f} s; floor at 50/s {floor:.2f} s, ratio "
                f"{elapsed / floor:.2f}; at the worker's {pace:g}/s ratio "
                f"{elapsed / (members / pace):.2f}; 429s: {len(limited)}; "
                f"exactly one DM each: {once}"
            )

            rows = [
                {
                    "occurrence_id": occurrence.id,
                    "lead_minutes": 10_000 + n // members,
                    "user_id": users[n % members],
                    "due_at": now + timedelta(days=1),
                    "status": ReminderStatus.PENDING,
                    "late": False,
                    "created_at": now,
                }
                for n in range(ledger_rows)
            ]
            async with services.sessions.write() as session:
                for chunk in range(0, len(rows), 5000):
                    await session.execute(insert(ReminderDelivery), rows[chunk : chunk + 5000])
        rss_before = peak_rss_mib()
        started = time.monotonic()
        async with running_bot(twin, url, clock, places):
            ready = time.monotonic() - started
        print(
            f"restart with {ledger_rows} pending ledger rows: ready in {ready:.2f} s; "
            f"peak RSS {peak_rss_mib():.0f} MiB (bench process incl. twin; "
            f"{rss_before:.0f} MiB before the restart)"
        )
    print(f"spec violations: {len(twin.spec_violations)}")
    await twin.stop()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    ledger = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    pace = float(sys.argv[3]) if len(sys.argv) > 3 else None
    asyncio.run(main(count, ledger, pace))
