"""Reaction votes under load: the real bot, through discord.py, against the twin.

Run: ``.venv/bin/python benchmarks/bench_votes.py [members]`` (default 10,000). One public
single-choice vote; every member reacts once, all reactions sent as fast as the twin delivers
them, while a member runs ``/vote show`` every 50 ms. Prints the reactions processed per second
(first reaction sent → last ballot stored), whether every vote was counted exactly once, and the
slash-command acknowledgement p50/p99 during the burst. Figures, not a timed test.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the e2e harness lives in tests/

from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.services.places import Gazetteer
from db.models import VoteBallot
from tests.e2e.conftest import running_bot
from twin import Twin
from twin.state import parse_emoji

EMOJI = ("1\ufe0f\u20e3", "2\ufe0f\u20e3", "3\ufe0f\u20e3")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def main(members: int) -> None:
    places = Gazetteer()
    places.load()
    twin = Twin()
    await twin.start()
    twin.set_rate_limits(enabled=False)
    guild = twin.create_guild("Bench Guild")
    owner = guild.owner_id
    voters = twin.add_members_bulk(guild.id, members)
    channel = guild.system_channel_id
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        async with running_bot(twin, url, FakeClock(datetime.now(UTC)), places) as (
            bot,
            services,
            _,
        ):
            await twin.wait_for(
                lambda: (g := bot.get_guild(guild.id)) is not None and len(g.members) > members,
                timeout=120,
                message="members not chunked",
            )
            ix = await twin.slash(
                guild.id,
                channel,
                owner,
                "vote",
                subcommand="create",
                options={"title": "Bench", "options": "A; B; C", "closes": "2d"},
            )
            await ix.response(timeout=10)
            reply = await ix.wait_followup()
            created = await services.votes.list_votes(guild.id)
            if not created:
                raise SystemExit(f"the vote was not created: {reply}")
            vote = created[0]
            info = await services.votes.get(vote.id)
            assert info.message_id is not None
            message = twin.world.find_message(info.message_id)
            await twin.wait_for(
                lambda: len(twin.world.reactions.get(info.message_id or 0, {})) == 3, timeout=30
            )

            async def ballots() -> int:
                async with services.sessions() as session:
                    count = await session.scalar(
                        select(func.count()).where(VoteBallot.vote_id == vote.id)
                    )
                    return count or 0

            acks: list[float] = []
            done = asyncio.Event()

            async def probe() -> None:
                while not done.is_set():
                    probe_ix = await twin.slash(
                        guild.id,
                        channel,
                        owner,
                        "vote",
                        subcommand="show",
                        options={"vote": vote.id},
                    )
                    await probe_ix.response(timeout=10)
                    if probe_ix.responded_after is not None:
                        acks.append(probe_ix.responded_after)
                    await asyncio.sleep(0.05)

            prober = asyncio.create_task(probe())
            started = time.perf_counter()
            for index, user in enumerate(voters):
                twin.world.add_reaction(message, parse_emoji(EMOJI[index % 3]), user)
                if index % 200 == 199:
                    await twin.gateway.flush()
            await twin.gateway.flush()
            sent = time.perf_counter() - started
            while await ballots() < members:
                if time.perf_counter() - started > 600:
                    break
                await asyncio.sleep(0.05)
            elapsed = time.perf_counter() - started
            done.set()
            await prober
            await asyncio.sleep(1.0)  # anything counted twice would show up now
            stored = await ballots()
            results = await services.votes.results(vote.id)
            counted = int(sum(results.tally.counts))
            turnout = await services.votes.turnout(vote.id)
            ms = [a * 1000 for a in acks]
            print(f"members: {members}; reactions sent in {sent:.2f} s")
            print(
                f"ballots stored: {stored}; counted in results: {counted}; turnout {turnout}; "
                f"exactly once: {stored == counted == members == turnout[0]}"
            )
            print(f"processed: {members / elapsed:,.0f} reactions/s ({elapsed:.2f} s end to end)")
            if ms:
                print(
                    f"/vote show ack during the burst: n={len(ms)} "
                    f"p50={statistics.median(ms):.1f} ms p99={percentile(ms, 0.99):.1f} ms "
                    f"max={max(ms):.1f} ms"
                )
            print(f"spec violations: {len(twin.spec_violations)}")
    await twin.stop()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000))
