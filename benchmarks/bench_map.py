"""Measure the member map, the marker report/chart and reconcile on a big guild (SQLite).

Run: ``.venv/bin/python benchmarks/bench_map.py [members] [cities]`` (default 50000 members over
3000 cities, with a year of join history). Prints figures; not a test.
"""

from __future__ import annotations

import asyncio
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.clock import FakeClock
from bot.services.charts import render_markers_chart
from bot.services.markers import MarkerService
from bot.services.member_map import MemberMapService
from bot.services.members import MemberService, MemberSnapshot
from bot.services.places import Gazetteer
from db.migrate import upgrade_to_head
from db.session import create_engine, create_session_factory

GUILD = 1


def timed(label: str, started: float) -> None:
    print(f"{label:<42} {1000 * (time.perf_counter() - started):9.1f} ms")


async def main(members: int, cities: int) -> None:
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        await upgrade_to_head(url)
        engine = create_engine(url)
        sessions = create_session_factory(engine)
        clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
        started = time.perf_counter()
        places = Gazetteer()
        places.load()
        timed("gazetteer load", started)
        member_service = MemberService(sessions, clock, places)
        map_service = MemberMapService(sessions, clock, places)
        marker_service = MarkerService(sessions, clock)

        snapshots = [
            MemberSnapshot(u, clock.now() - timedelta(days=rng.uniform(0, 365)), f"member {u}")
            for u in range(1, members + 1)
        ]
        started = time.perf_counter()
        result = await member_service.reconcile(GUILD, snapshots)
        timed(f"reconcile, {result.added} new members", started)
        started = time.perf_counter()
        result = await member_service.reconcile(GUILD, snapshots[: members - members // 100])
        timed(f"reconcile, {result.left} gone, {result.unchanged} same", started)

        letters = "abcdefghijklmnopqrstuvwxyz"
        pool = [places.suggest(a + b, 25) for a in letters for b in letters]
        chosen = list(dict.fromkeys(p for group in pool for p in group))[:cities]
        weights = [1 / (rank + 1) for rank in range(len(chosen))]  # a few big cities
        assignments = dict(
            zip(
                range(1, members + 1),
                rng.choices(chosen, weights=weights, k=members),
                strict=True,
            )
        )
        started = time.perf_counter()
        await member_service.set_cities(GUILD, assignments)
        timed(f"set_cities for {members} members", started)
        await map_service.set_region(GUILD, "West Coast", "US-CA, US-OR, US-WA")
        await map_service.set_region(GUILD, "Europe", "DE, FR, GB, IT, ES, NL")

        for attempt in (1, 2):
            started = time.perf_counter()
            member_map = await map_service.member_map(GUILD)
            timed(f"member_map ({len(member_map.groups)} groups) #{attempt}", started)
        started = time.perf_counter()
        text = member_map.render()
        timed(f"render ({len(text)} chars)", started)
        started = time.perf_counter()
        exported = member_map.to_csv()
        timed(f"to_csv ({exported.count(chr(10))} lines)", started)

        await marker_service.set_marker(GUILD, "members", members * 2, "2027-01-01", 1)
        started = time.perf_counter()
        report = await marker_service.report(GUILD)
        timed("markers report", started)
        started = time.perf_counter()
        png = render_markers_chart(report)
        timed(f"markers chart ({len(png) // 1024} KiB)", started)
        started = time.perf_counter()
        alerts = await marker_service.check_alerts(GUILD)
        timed(f"check_alerts ({len(alerts)} alert)", started)
        await engine.dispose()


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    city_count = int(sys.argv[2]) if len(sys.argv) > 2 else 3_000
    asyncio.run(main(count, city_count))
