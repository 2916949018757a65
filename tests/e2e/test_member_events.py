"""Member events end to end: one owner (``cogs/members.py``) runs joins, leaves and reconciles
in a fixed order under one lock per guild."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from bot.services.members import MemberSnapshot, ReconcileResult
from tests.e2e.conftest import World


async def test_a_join_during_a_reconcile_waits_for_it_and_is_recorded_once(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the lock, the reconcile's member list (taken before the join) would mark the
    newcomer as gone right after the join recorded them."""
    members = world.services.members
    start = await members.count_active(world.guild_id)
    reconciling, release = asyncio.Event(), asyncio.Event()
    original = members.reconcile
    listed: list[int] = []

    async def held_reconcile(guild_id: int, snapshot: Iterable[MemberSnapshot]) -> ReconcileResult:
        taken = list(snapshot)
        listed.extend(m.user_id for m in taken)
        reconciling.set()
        await release.wait()
        return await original(guild_id, taken)

    monkeypatch.setattr(members, "reconcile", held_reconcile)
    # a fresh IDENTIFY (nothing replayed): the guild becomes available again and is reconciled
    await world.twin.invalidate_session(resumable=False)
    await asyncio.wait_for(reconciling.wait(), timeout=10)

    newcomer = world.twin.create_user("late-lena")
    await world.twin.member_join(world.guild_id, newcomer)
    guild = world.bot.get_guild(world.guild_id)
    assert guild is not None
    await world.twin.wait_for(lambda: guild.get_member(newcomer) is not None, timeout=5)
    await asyncio.sleep(0.05)  # the join listener has had its chance to run: it must wait
    assert await members.get(world.guild_id, newcomer) is None
    assert newcomer not in listed

    release.set()

    async def settled() -> Any:
        profile = await members.get(world.guild_id, newcomer)
        return profile is not None and profile.active

    await world.twin.wait_for(settled, timeout=5, message="the join was never recorded")
    await asyncio.sleep(0.05)  # nothing marks them as gone afterwards
    profile = await members.get(world.guild_id, newcomer)
    assert profile is not None and profile.active and profile.left_at is None
    assert await members.count_active(world.guild_id) == start + 1
    world.twin.assert_no_spec_violations()


async def test_a_leave_records_it_and_takes_the_member_out_of_their_chapters(
    world: World,
) -> None:
    """In order: the leave is recorded, the member leaves every chapter, and a chapter that
    drops below the criteria is announced (by the chapters cog, after the lock)."""
    organizers = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=organizers)
    await world.services.chapter_settings.update(
        world.guild_id, min_members=2, meeting_months=0, require_agreements=False, key_roles=()
    )
    founder = await world.join("mara")
    goes = await world.join("nils")
    chapters = world.services.chapters
    chapter = await chapters.propose(world.guild_id, founder, "Chicago")
    await chapters.join(world.guild_id, chapter.id, goes)
    await chapters.evaluate_guild(world.guild_id)
    assert (await chapters.get(world.guild_id, chapter.id)).status == "formal"

    await world.twin.member_leave(world.guild_id, goes)

    async def left() -> bool:
        return (await chapters.get(world.guild_id, chapter.id)).member_count == 1

    await world.twin.wait_for(left, timeout=5, message="the leaver is still in the chapter")
    profile = await world.services.members.get(world.guild_id, goes)
    assert profile is not None and profile.left_at is not None
    assert await chapters.chapters_of(world.guild_id, goes) == []
    assert (await chapters.get(world.guild_id, chapter.id)).status == "at_risk"

    def announced() -> bool:
        return any("is at risk" in str(m.get("content")) for m in world.twin.messages(organizers))

    await world.twin.wait_for(announced, timeout=5, message="the status change was not announced")
    world.twin.assert_no_spec_violations()


async def test_member_events_have_one_owner(world: World) -> None:
    """Only the MemberEvents cog listens to joins and leaves (guild available/join listeners
    elsewhere only arm their daily timers)."""
    member_events = {"on_member_join", "on_member_remove", "on_raw_member_remove"}
    owners = {
        cog_name
        for cog_name, cog in world.bot.cogs.items()
        for event, _listener in cog.get_listeners()
        if event in member_events
    }
    assert owners == {"MemberEvents"}
