"""A burst of joins against the twin at Discord's limits: is everyone welcomed, without a 429?

Run: ``.venv/bin/python benchmarks/bench_welcome.py [joins] [seconds]`` (default 500 joins within
60 s). The twin enforces Discord's global limit (50 requests/s) and the per-channel message
bucket (5 per 5 s). While the joins arrive, a member runs ``/profile show`` every 0.2 s.
Prints: when the last newcomer was welcomed (a DM and a mention in a welcome post each), how
many welcome posts the burst took, the requests and 429s the bot caused, and the slash
commands' acknowledgement p50/p99/max while it ran.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the e2e harness lives in tests/

from bot.clock import FakeClock
from bot.services.places import Gazetteer
from tests.e2e.conftest import running_bot
from twin import Twin


@dataclass
class Figures:
    joins: int
    join_seconds: float
    all_welcomed_after: float | None
    welcomed: int
    dms: int
    welcome_posts: int
    requests: int
    rate_limited: int
    ack_p50: float
    ack_p99: float
    ack_max: float
    acks: int
    unanswered: int

    def lines(self) -> list[str]:
        done = (
            f"{self.all_welcomed_after:.1f} s after the first join"
            if self.all_welcomed_after is not None
            else "NOT everyone"
        )
        return [
            f"{self.joins} joins in {self.join_seconds:.1f} s; everyone welcomed: {done}",
            f"welcomed (DM and channel mention): {self.welcomed}/{self.joins}; DMs: {self.dms}; "
            f"welcome posts: {self.welcome_posts}",
            f"bot requests: {self.requests}; 429s: {self.rate_limited}",
            f"/profile show acknowledgement while it ran ({self.acks} commands, "
            f"{self.unanswered} unanswered): p50 {self.ack_p50 * 1000:.0f} ms, "
            f"p99 {self.ack_p99 * 1000:.0f} ms, max {self.ack_max * 1000:.0f} ms",
        ]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    joins: int, seconds: float, places: Gazetteer, wait_seconds: float = 300.0
) -> Figures:
    twin = Twin()
    await twin.start()
    try:
        guild = twin.create_guild("Burst Guild")
        welcome = guild.add_text_channel("welcome")
        [asker] = twin.add_members_bulk(guild.id, 1)
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
            clock = FakeClock(datetime.now(UTC))
            async with running_bot(twin, url, clock, places) as (_bot, services, _engine):
                await services.guilds.setup(guild.id, welcome_channel_id=welcome)

                async def reconciled() -> bool:
                    return await services.members.get(guild.id, asker) is not None

                await twin.wait_for(reconciled, timeout=10)
                users = [twin.create_user(f"newcomer-{i}") for i in range(joins)]
                before = len(twin.requests)
                acks: list[float] = []
                unanswered = 0
                stop = asyncio.Event()

                async def ask() -> None:
                    nonlocal unanswered
                    while not stop.is_set():
                        started = time.monotonic()
                        ix = await twin.slash(guild.id, None, asker, "profile", subcommand="show")
                        try:
                            await ix.response(timeout=3)
                            acks.append(time.monotonic() - started)
                        except TimeoutError:
                            unanswered += 1
                        await asyncio.sleep(0.2)

                asker_task = asyncio.create_task(ask())
                started = time.monotonic()
                gap = seconds / max(joins, 1)
                for index, user in enumerate(users):
                    await twin.member_join(guild.id, user)
                    delay = started + (index + 1) * gap - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                join_seconds = time.monotonic() - started

                def welcomed() -> set[int]:
                    mentioned = " ".join(m["content"] for m in twin.messages(welcome))
                    return {u for u in users if twin.dms(u) and f"<@{u}>" in mentioned}

                all_after: float | None = None
                try:
                    await twin.wait_for(lambda: len(welcomed()) == joins, timeout=wait_seconds)
                    all_after = time.monotonic() - started
                except TimeoutError:
                    pass
                stop.set()
                await asker_task
                requests = twin.requests[before:]
                bot_requests = [r for r in requests if "/interactions/" not in r.path]
                return Figures(
                    joins=joins,
                    join_seconds=join_seconds,
                    all_welcomed_after=all_after,
                    welcomed=len(welcomed()),
                    dms=sum(len(twin.dms(u)) for u in users),
                    welcome_posts=len(twin.messages(welcome)),
                    requests=len(bot_requests),
                    rate_limited=len([r for r in requests if r.status == 429]),
                    ack_p50=statistics.median(acks) if acks else float("nan"),
                    ack_p99=percentile(acks, 0.99),
                    ack_max=max(acks, default=float("nan")),
                    acks=len(acks),
                    unanswered=unanswered,
                )
    finally:
        await twin.stop()


async def main(joins: int, seconds: float) -> None:
    places = Gazetteer()
    figures = await run(joins, seconds, places)
    print("\n".join(figures.lines()))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    window = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    asyncio.run(main(count, window))
