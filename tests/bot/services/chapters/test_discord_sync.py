"""Chapter roles follow the members: effects written with each change, and reconciliation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import NotAllowed, NotFound
from bot.services.chapters import ChapterService
from bot.services.effects import EffectKind, EffectService, EffectStatus
from bot.services.members import MemberService
from bot.services.places import Gazetteer

GUILD = 1000
ROLE = 7000
FOUNDER = 1


@pytest.fixture
def effects(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> EffectService:
    return EffectService(sessions, clock)


@pytest.fixture
def service(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    gazetteer: Gazetteer,
    effects: EffectService,
) -> ChapterService:
    return ChapterService(sessions, clock, gazetteer, effects=effects)


async def chapter_with_role(
    service: ChapterService, city: str = "Oakland", role: int = ROLE
) -> int:
    chapter = await service.propose(GUILD, FOUNDER, city)
    await service.record_provisioning(GUILD, chapter.id, role_id=role)
    return chapter.id


async def pending_roles(effects: EffectService) -> list[tuple[EffectKind, int, int]]:
    return [
        (e.kind, e.payload["user_id"], e.payload["role_id"])
        for e in await effects.find(status=EffectStatus.PENDING)
    ]


async def test_joining_and_leaving_write_the_role_change_with_the_membership(
    service: ChapterService, effects: EffectService
) -> None:
    chapter_id = await chapter_with_role(service)
    await service.join(GUILD, chapter_id, 2)
    assert await pending_roles(effects) == [(EffectKind.ROLE_GRANT, 2, ROLE)]
    [grant] = await effects.find()
    assert grant.lane == f"roles:chapter:{chapter_id}"
    assert "Oakland Chapter" in grant.payload["describe"]
    assert "/chapter provision" in grant.payload["hint"]

    await service.leave(GUILD, chapter_id, 2)
    # the grant not yet applied is superseded: only the removal is left to do
    assert await pending_roles(effects) == [(EffectKind.ROLE_REMOVE, 2, ROLE)]
    assert [e.status for e in await effects.find()] == [
        EffectStatus.SUPERSEDED,
        EffectStatus.PENDING,
    ]


async def test_a_chapter_without_a_role_writes_no_effect(
    service: ChapterService, effects: EffectService
) -> None:
    chapter = await service.propose(GUILD, FOUNDER, "Oakland")
    await service.join(GUILD, chapter.id, 2)
    assert await effects.find() == []


async def test_a_member_who_left_the_server_cannot_join(
    service: ChapterService,
    effects: EffectService,
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    gazetteer: Gazetteer,
) -> None:
    members = MemberService(sessions, clock, gazetteer)
    chapter_id = await chapter_with_role(service)
    await members.member_joined(GUILD, 2, datetime(2025, 1, 1, tzinfo=UTC), "ada")
    await members.member_left(GUILD, 2)
    with pytest.raises(NotAllowed, match="no longer a member of this server"):
        await service.join(GUILD, chapter_id, 2)
    assert (await service.get(GUILD, chapter_id)).member_count == 1
    assert await effects.find() == []


async def test_leaving_the_server_takes_no_role_back_discord_did_that(
    service: ChapterService, effects: EffectService
) -> None:
    chapter_id = await chapter_with_role(service)
    await service.join(GUILD, chapter_id, 2)
    await service.remove_member_everywhere(GUILD, 2)
    assert [e.kind for e in await effects.find()] == [EffectKind.ROLE_GRANT]


async def test_a_merge_gives_the_moved_members_the_targets_role(
    service: ChapterService, effects: EffectService
) -> None:
    source = await chapter_with_role(service, "Oakland", role=ROLE)
    target = await chapter_with_role(service, "San Francisco, CA, US", role=ROLE + 1)
    await service.join(GUILD, source, 2)
    result = await service.merge(GUILD, source, target, "one Bay Area chapter", 99)
    assert result.moved_user_ids == (2,)  # the founder of both was in the target already
    grants = {(k, u) for k, u, r in await pending_roles(effects) if r == ROLE + 1}
    assert grants == {(EffectKind.ROLE_GRANT, 2)}


async def test_reapplying_a_role_needs_a_membership(
    service: ChapterService, effects: EffectService
) -> None:
    chapter_id = await chapter_with_role(service)
    await service.reapply_role(GUILD, chapter_id, FOUNDER)
    assert await pending_roles(effects) == [(EffectKind.ROLE_GRANT, FOUNDER, ROLE)]
    with pytest.raises(NotFound):
        await service.reapply_role(GUILD, chapter_id, 55)


async def test_reconciliation_gives_missing_roles_and_takes_extra_ones_back(
    service: ChapterService, effects: EffectService
) -> None:
    oakland = await chapter_with_role(service, "Oakland", role=ROLE)
    boston = await chapter_with_role(service, "Boston, MA, US", role=ROLE + 1)
    for user in (2, 3):
        await service.join(GUILD, oakland, user)
    for claimed in await effects.claim_batch(10, effects.backoff(1)):  # as if applied
        await effects.mark_applied(claimed)
    present = {FOUNDER, 2, 3, 4}
    # on Discord: 3 lost the role behind the bot's back, 4 holds it without being a member,
    # 9 holds Boston's role and left the server
    holders = {ROLE: {FOUNDER, 2, 4}, ROLE + 1: {FOUNDER, 9}}
    syncs = await service.sync_roles(GUILD, present, holders)
    by_chapter = {s.chapter_id: s for s in syncs}
    assert (by_chapter[oakland].granted, by_chapter[oakland].removed) == ((3,), (4,))
    assert (by_chapter[boston].granted, by_chapter[boston].removed) == ((), (9,))
    assert sorted(await pending_roles(effects)) == [
        (EffectKind.ROLE_GRANT, 3, ROLE),
        (EffectKind.ROLE_REMOVE, 4, ROLE),
        (EffectKind.ROLE_REMOVE, 9, ROLE + 1),
    ]
    # once Discord matches, nothing more is written
    after = {ROLE: {FOUNDER, 2, 3}, ROLE + 1: {FOUNDER}}
    again = await service.sync_roles(GUILD, present, after, chapter_id=oakland)
    assert [(s.granted, s.removed) for s in again] == [((), ())]
    assert await service.chapter_role_ids(GUILD) == {ROLE: oakland, ROLE + 1: boston}
