"""Interaction latency end to end: the real bot, through discord.py, against the twin.

Run: ``.venv/bin/python benchmarks/bench_interactions.py [rounds]`` (default 200). Prints the
time from the twin sending INTERACTION_CREATE to the bot's callback arriving (what Discord's
3-second window measures), per command, as p50/p95/max.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the e2e harness lives in tests/

from bot.clock import FakeClock
from bot.services.places import Gazetteer
from tests.e2e.conftest import running_bot
from twin import Twin


def summary(name: str, samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return (
        f"{name:<34} n={len(ms):<4} p50={statistics.median(ms):6.1f} ms  "
        f"p95={p95:6.1f} ms  max={ms[-1]:6.1f} ms"
    )


async def main(rounds: int) -> None:
    places = Gazetteer()
    places.load()
    twin = Twin()
    await twin.start()
    twin.set_rate_limits(enabled=False)
    guild = twin.create_guild("Bench Guild")
    users = [twin.create_user(f"member-{i}") for i in range(rounds)]
    twin.add_members_bulk(guild.id, users)
    channel = guild.system_channel_id
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        async with running_bot(twin, url, FakeClock(datetime.now(UTC)), places):
            timings: dict[str, list[float]] = {}

            async def run(label: str, user: int, *args: Any, **options: Any) -> None:
                ix = await twin.slash(guild.id, channel, user, *args, options=options)
                await ix.response(timeout=3)
                assert ix.responded_after is not None
                timings.setdefault(label, []).append(ix.responded_after)

            cities = ["Chicago, IL, US", "Oakland, CA, US", "Boston, MA, US", "Austin, TX, US"]
            for i, user in enumerate(users):
                await run("/about", user, "about")
                await run("/profile city", user, "profile", "city", city=cities[i % 4])
                if i < len(cities):
                    await run("/chapter propose", user, "chapter", "propose", city=cities[i])
                else:
                    await run("/chapter join", user, "chapter", "join", chapter=cities[i % 4][:-7])
                await run("/chapter info", user, "chapter", "info", chapter=cities[i % 4][:-7])
            started = asyncio.get_running_loop().time()
            for i in range(rounds):
                await twin.autocomplete(
                    guild.id,
                    channel,
                    users[i],
                    "chapter",
                    "propose",
                    options={"city": "San"[: 1 + i % 3]},
                    focused="city",
                )
            per_call = (asyncio.get_running_loop().time() - started) / rounds
            for label, samples in timings.items():
                print(summary(label, samples))
            print(f"{'city autocomplete round trip':<34} mean={per_call * 1000:6.1f} ms")
            print(f"spec violations: {len(twin.spec_violations)}")
    await twin.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
