"""DM fan-out through the effects worker against the twin at Discord's limits (50 requests/s).

Run: ``.venv/bin/python benchmarks/bench_effects.py [members] [rate]`` (default 1000 members, the
configured pace of 40 requests/s). Prints, for a warm fan-out (DM channels known: one request per
member) and a cold one (open the DM channel, then send: two requests), the wall time against the
floor Discord's global limit allows (requests / 50 per s), the worker's own floor (requests /
its rate), the 429s the twin answered (target: none) and whether every member got exactly one DM.
A welcome enqueued behind the fan-out shows how long a newcomer waits.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the e2e harness lives in tests/

from bot.client import ChapterBot
from bot.clock import FakeClock
from bot.services.effects import direct_message
from bot.services.places import Gazetteer
from bot.wiring import Services
from tests.e2e.conftest import running_bot
from twin import Twin

DISCORD_GLOBAL_LIMIT = 50.0


async def fan_out(
    twin: Twin, bot_services: Services, bot: ChapterBot, members: int, warm: bool
) -> None:
    label = "warm" if warm else "cold"
    users = [twin.create_user(f"{label}-{i}") for i in range(members)]
    newcomer = twin.create_user(f"{label}-newcomer")
    if warm:
        for user in users:
            channel = twin.world.dm_channel(user)
            await bot_services.effects.remember_dm_channel(user, channel.id)
    before = len(twin.requests)
    started = time.monotonic()
    await bot_services.effects.enqueue_now(
        *(
            direct_message(
                u,
                purpose="reminder",
                lane="reminder:chapter:1",
                dedupe_key=f"{label}:{u}",
                content="Reminder: we meet on Tuesday at 19:00.",
            )
            for u in users
        )
    )
    await asyncio.sleep(0.5)
    welcome_at = time.monotonic()
    await bot_services.effects.enqueue_now(
        direct_message(newcomer, purpose="welcome", dedupe_key=f"{label}:welcome", content="Hi!")
    )
    welcomed = await twin.wait_for(lambda: twin.dms(newcomer), timeout=60)
    welcome_wait = time.monotonic() - welcome_at
    await bot.effects_worker.wait_idle(timeout=600)
    elapsed = time.monotonic() - started
    requests = twin.requests[before:]
    sent = [r for r in requests if r.method == "POST"]
    limited = [r for r in requests if r.status == 429]
    once = all(len(twin.dms(u)) == 1 for u in users) and len(welcomed) == 1
    rate = bot.effects_worker.bucket.rate
    floor = len(sent) / DISCORD_GLOBAL_LIMIT
    print(
        f"{label} fan-out to {members}: {len(sent)} requests in {elapsed:.2f} s "
        f"({len(sent) / elapsed:.1f} req/s); floor at 50/s {floor:.2f} s "
        f"(ratio {elapsed / floor:.2f}); floor at the worker's "
        f"{rate:g}/s {len(sent) / rate:.2f} s (ratio {elapsed / (len(sent) / rate):.2f}); "
        f"429s: {len(limited)}; exactly one DM each: {once}; "
        f"a welcome behind it waited {welcome_wait:.2f} s"
    )


async def main(members: int, rate: float | None) -> None:
    places = Gazetteer()
    twin = Twin()
    await twin.start()
    settings = {"effect_rate_per_second": rate} if rate else {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        clock = FakeClock(datetime.now(UTC))
        async with running_bot(twin, url, clock, places, **settings) as (bot, services, _engine):
            await fan_out(twin, services, bot, members, warm=True)
            await fan_out(twin, services, bot, members // 2, warm=False)
    print(f"spec violations: {len(twin.spec_violations)}")
    await twin.stop()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    pace = float(sys.argv[2]) if len(sys.argv) > 2 else None
    asyncio.run(main(count, pace))
