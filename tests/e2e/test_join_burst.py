"""A burst of joins while answers are cached: every join is recorded once, and the cached member
count of /about follows the writes exactly."""

from __future__ import annotations

from sqlalchemy import func, select

from db.models import MemberProfile
from tests.e2e.conftest import World

JOINS = 2000


async def test_two_thousand_joins_are_recorded_once_each_and_about_counts_them(
    world: World,
) -> None:
    stats = world.services.stats
    before = (await stats.snapshot(world.guild_id)).members  # cached from here on
    guild = world.twin.guild(world.guild_id)
    users = [world.twin.create_user(f"burst-{i}") for i in range(JOINS)]
    for user in users:
        world.twin.world.add_member(guild, user)  # GUILD_MEMBER_ADD, no wait in between
    await world.twin.gateway.flush(10)

    async def all_counted() -> bool:
        return (await stats.snapshot(world.guild_id)).members == before + JOINS

    await world.twin.wait_for(all_counted, timeout=60, message="the joins were not all counted")
    async with world.services.sessions.read() as session:
        rows = (
            await session.execute(
                select(MemberProfile.user_id, func.count())
                .where(MemberProfile.guild_id == world.guild_id)
                .group_by(MemberProfile.user_id)
            )
        ).all()
    counts = dict(rows)
    assert all(counts.get(user) == 1 for user in users)
    assert sum(counts.values()) == before + JOINS
    slash = await world.slash(world.organizer_id, "about")
    fields = {
        f["name"]: f["value"] for f in (await slash.response())["data"]["embeds"][0]["fields"]
    }
    assert fields["Members known"] == str(before + JOINS)
