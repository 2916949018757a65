"""The outbox on real SQLite: written with the caller's change, claimed once, fair, retried."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.services.effects import (
    MAX_ATTACHMENT_BYTES,
    Attachment,
    EffectKind,
    EffectRecord,
    EffectRequest,
    EffectService,
    EffectStatus,
    attachments_of,
    channel_post,
    direct_message,
    role_grant,
    role_removal,
)
from db.models import GuildConfig

GUILD = 10
LEASE = timedelta(minutes=1)


@pytest.fixture
def effects(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> EffectService:
    return EffectService(sessions, clock, max_attempts=3, retry_base_seconds=10)


def grant(user_id: int, role_id: int = 500) -> object:
    return role_grant(GUILD, user_id, role_id, describe=f"give {user_id} the role")


async def test_an_effect_is_written_only_if_the_callers_transaction_commits(
    effects: EffectService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    woken: list[int] = []
    effects.add_listener(lambda: woken.append(1))
    with pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await effects.enqueue(session, role_grant(GUILD, 1, 500, describe="x"))
            raise RuntimeError("the caller's change failed")
    assert await effects.find() == []
    assert woken == []

    async with sessions.begin() as session:
        session.add(GuildConfig(guild_id=GUILD, created_at=clock.now(), updated_at=clock.now()))
        await effects.enqueue(session, role_grant(GUILD, 1, 500, describe="x"))
        assert woken == []  # not before the commit
    assert woken == [1]
    [row] = await effects.find()
    assert (row.kind, row.status, row.payload["user_id"]) == (
        EffectKind.ROLE_GRANT,
        EffectStatus.PENDING,
        1,
    )
    async with sessions() as session:
        assert await session.scalar(select(GuildConfig.guild_id)) == GUILD


async def test_a_dedupe_key_makes_the_same_effect_impossible_twice(
    effects: EffectService,
) -> None:
    dm = direct_message(7, purpose="welcome", dedupe_key="welcome:10:7", content="Hi")
    first = await effects.enqueue_now(dm)
    second = await effects.enqueue_now(dm)
    assert first == second
    assert len(await effects.find(kind=EffectKind.DM)) == 1


async def test_concurrent_enqueues_of_one_key_write_one_row(effects: EffectService) -> None:
    dm = direct_message(7, purpose="welcome", dedupe_key="welcome:10:7", content="Hi")
    results = await asyncio.gather(*(effects.enqueue_now(dm) for _ in range(10)))
    assert len({tuple(r) for r in results}) == 1
    assert len(await effects.find()) == 1


async def test_a_newer_role_change_supersedes_a_pending_one(effects: EffectService) -> None:
    await effects.enqueue_now(grant(1))
    await effects.enqueue_now(role_removal(GUILD, 1, 500, describe="take it back"))
    rows = await effects.find()
    assert [(r.kind, r.status) for r in rows] == [
        (EffectKind.ROLE_GRANT, EffectStatus.SUPERSEDED),
        (EffectKind.ROLE_REMOVE, EffectStatus.PENDING),
    ]


async def test_an_in_flight_change_is_not_superseded_and_the_next_waits_for_it(
    effects: EffectService, clock: FakeClock
) -> None:
    await effects.enqueue_now(grant(1))
    [held] = await effects.claim_batch(10, LEASE)
    await effects.enqueue_now(role_removal(GUILD, 1, 500, describe="take it back"))
    assert await effects.claim_batch(10, LEASE) == []  # same subject is in flight
    assert await effects.mark_applied(held)
    [removal] = await effects.claim_batch(10, LEASE)
    assert removal.kind == EffectKind.ROLE_REMOVE


async def test_a_claim_is_exclusive_until_its_lease_ends(
    effects: EffectService, clock: FakeClock
) -> None:
    await effects.enqueue_now(*(grant(u) for u in range(5)))
    first, second = await asyncio.gather(
        effects.claim_batch(5, LEASE), effects.claim_batch(5, LEASE)
    )
    assert len(first) + len(second) == 5
    assert {r.id for r in first}.isdisjoint({r.id for r in second})
    clock.advance(LEASE + timedelta(seconds=1))  # a hard-killed worker's claims come back
    again = await effects.claim_batch(10, LEASE)
    assert len(again) == 5
    assert all(r.attempts == 2 for r in again)
    stale = first[0] if first else second[0]
    assert not await effects.mark_applied(stale)  # the old claim can no longer settle it


async def test_claims_take_lanes_in_turn_so_a_fan_out_never_starves_a_welcome(
    effects: EffectService, clock: FakeClock
) -> None:
    await effects.enqueue_now(
        *(
            direct_message(
                u, purpose="reminder", lane="reminder:chapter:1", dedupe_key=f"r{u}", content="x"
            )
            for u in range(1, 301)
        )
    )
    clock.advance(1)
    await effects.enqueue_now(
        direct_message(999, purpose="welcome", dedupe_key="w999", content="Welcome")
    )
    await effects.enqueue_now(
        *(
            direct_message(
                u, purpose="reminder", lane="reminder:chapter:2", dedupe_key=f"s{u}", content="y"
            )
            for u in range(1001, 1004)
        )
    )
    batch = await effects.claim_batch(5, LEASE)
    lanes = [r.lane for r in batch]
    assert set(lanes[:3]) == {"reminder:chapter:1", "reminder:chapter:2", "welcome"}
    assert lanes.count("reminder:chapter:1") == 2


async def test_retries_back_off_then_fail_with_the_reason(
    effects: EffectService, clock: FakeClock
) -> None:
    await effects.enqueue_now(grant(1))
    delays = []
    for _ in range(2):
        [record] = await effects.claim_batch(1, LEASE)
        outcome = await effects.mark_retry(record, "503 Service Unavailable")
        assert outcome.status == EffectStatus.PENDING
        current = await effects.get(record.id)
        assert current is not None
        delays.append(current.next_attempt_at - clock.now())
        assert await effects.claim_batch(1, LEASE) == []  # not due yet
        assert await effects.next_wake() == current.next_attempt_at
        clock.set(current.next_attempt_at)
    assert delays == [timedelta(seconds=10), timedelta(seconds=20)]
    [record] = await effects.claim_batch(1, LEASE)
    outcome = await effects.mark_retry(record, "503 Service Unavailable")
    assert outcome.status == EffectStatus.FAILED
    assert outcome.report
    current = await effects.get(record.id)
    assert current is not None
    assert current.status == EffectStatus.FAILED
    assert current.last_error == "503 Service Unavailable (after 3 tries)"


async def test_rate_limits_wait_without_using_up_attempts(
    effects: EffectService, clock: FakeClock
) -> None:
    await effects.enqueue_now(grant(1))
    for _ in range(5):
        [record] = await effects.claim_batch(1, LEASE)
        await effects.mark_retry(record, "429", at_least=timedelta(seconds=30), count_attempt=False)
        current = await effects.get(record.id)
        assert current is not None
        assert current.next_attempt_at - clock.now() >= timedelta(seconds=30)
        assert current.status == EffectStatus.PENDING
        clock.set(current.next_attempt_at)
    assert current.attempts == 0


async def test_closed_dms_are_recorded_not_retried_and_the_fallback_is_enqueued(
    effects: EffectService, clock: FakeClock
) -> None:
    fallback = channel_post(
        55, guild_id=GUILD, content="<@7>, welcome!", mention_user_ids=[7], purpose="welcome"
    )
    await effects.enqueue_now(
        direct_message(7, purpose="welcome", dedupe_key="w7", content="Hi", fallback=fallback)
    )
    [record] = await effects.claim_batch(1, LEASE)
    outcome = await effects.dms_closed(record, "403 Forbidden (error code: 50007)")
    assert outcome.status == EffectStatus.FAILED
    assert not outcome.report
    state = await effects.dm_state(7)
    assert state.closed
    assert await effects.closed_dm_user_ids([7, 8]) == {7}
    [post] = await effects.claim_batch(5, LEASE)
    assert post.kind == EffectKind.CHANNEL_POST
    assert post.payload["message"]["allowed_mentions"] == {"parse": [], "users": ["7"]}
    clock.advance(timedelta(days=8))
    assert not (await effects.dm_state(7)).closed  # asked again after a week


async def test_the_dm_channel_is_remembered(effects: EffectService) -> None:
    assert (await effects.dm_state(7)).channel_id is None
    await effects.remember_dm_channel(7, 1234)
    assert (await effects.dm_state(7)).channel_id == 1234
    await effects.remember_dm_channel(7, None)
    assert (await effects.dm_state(7)).channel_id is None


async def test_an_applied_effect_keeps_discords_id_and_a_failure_is_only_reported_once(
    effects: EffectService,
) -> None:
    [effect_id] = await effects.enqueue_now(
        channel_post(55, guild_id=GUILD, content="hello", purpose="announce")
    )
    [record] = await effects.claim_batch(1, LEASE)
    assert record.nonce == f"fx{effect_id}"
    assert await effects.mark_applied(record, result_id=987654321)
    stored = await effects.get(effect_id)
    assert stored is not None
    assert (stored.status, stored.result_id) == (EffectStatus.APPLIED, 987654321)
    assert not (await effects.mark_failed(record, "late")).report  # claim already settled
    assert await effects.counts() == {"applied": 1}


async def test_a_message_needs_something_to_say() -> None:
    with pytest.raises(ValueError, match="needs content"):
        channel_post(1, guild_id=None, purpose="x")


async def test_failures_are_reported_in_one_summary_each_exactly_once(
    effects: EffectService,
) -> None:
    await effects.enqueue_now(*(grant(user) for user in range(1, 6)))
    await effects.enqueue_now(direct_message(9, purpose="report", dedupe_key="r", content="x"))
    for record in await effects.claim_batch(10, LEASE):
        outcome = await effects.mark_failed(record, "403 Missing Permissions")
        assert outcome.report == (record.purpose != "report")  # a report's failure isn't told
    assert await effects.unreported_failures(GUILD) == 5
    told: list[list[int]] = []

    def build(records: list[EffectRecord]) -> EffectRequest:
        told.append([r.payload["user_id"] for r in records])
        return channel_post(77, guild_id=GUILD, content="summary", purpose="report")

    assert await effects.report_failures(GUILD, build) == 5
    assert told == [[1, 2, 3, 4, 5]]
    [summary] = await effects.find(status=EffectStatus.PENDING)
    assert summary.payload["message"]["content"] == "summary"
    assert await effects.unreported_failures(GUILD) == 0
    assert await effects.report_failures(GUILD, build) == 0  # nothing is told twice
    await effects.enqueue_now(grant(6))
    [record] = [r for r in await effects.claim_batch(10, LEASE) if r.kind == EffectKind.ROLE_GRANT]
    await effects.mark_failed(record, "503")
    assert await effects.report_failures(GUILD, build) == 1
    assert told[-1] == [6]


async def test_a_report_that_cannot_be_written_leaves_the_failures_unreported(
    effects: EffectService,
) -> None:
    await effects.enqueue_now(grant(1))
    [record] = await effects.claim_batch(1, LEASE)
    await effects.mark_failed(record, "403")

    def broken(records: list[EffectRecord]) -> EffectRequest:
        raise RuntimeError("settings unavailable")

    with pytest.raises(RuntimeError):
        await effects.report_failures(GUILD, broken)
    assert await effects.unreported_failures(GUILD) == 1  # the timer's retry tells them


def test_message_attachments_ride_in_the_payload_and_are_capped() -> None:
    ics = Attachment("meeting-1.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "text/calendar")
    request = direct_message(1, purpose="reminder", dedupe_key="r:1", content="hi", files=[ics])
    assert attachments_of(request.payload) == [ics]
    assert attachments_of(channel_post(5, guild_id=GUILD, content="x", purpose="p").payload) == []
    with pytest.raises(ValueError, match="attachments"):
        channel_post(
            5,
            guild_id=GUILD,
            content="x",
            purpose="p",
            files=[Attachment("big.bin", b"0" * (MAX_ATTACHMENT_BYTES + 1))],
        )
