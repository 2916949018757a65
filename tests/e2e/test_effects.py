"""The effects worker end to end: rows applied to the twin through discord.py, once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.services.effects import (
    EffectKind,
    EffectStatus,
    channel_overwrite,
    channel_post,
    direct_message,
    role_grant,
)
from bot.services.welcome import NewcomerWelcome
from db.models import Effect
from tests.e2e.conftest import World
from twin import Perm

ROLE_ROUTE = "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"
MESSAGES = "/channels/{channel_id}/messages"
OPEN_DM = "/users/@me/channels"


async def settle(world: World) -> None:
    await world.bot.effects_worker.wait_idle()


@pytest.fixture(autouse=True)
def joins_are_not_welcomed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests count the outbox's requests one by one; the welcome a joining member gets
    (tested in test_welcome.py) would add its own."""

    async def no_welcome(*_args: object, **_kwargs: object) -> NewcomerWelcome:
        return NewcomerWelcome(welcomed=False)

    monkeypatch.setattr(world.services.welcome, "newcomer_joined", no_welcome)


async def test_a_role_grant_survives_server_errors_and_is_applied_once(world: World) -> None:
    ada = await world.join("ada")
    role_id = world.guild.add_role("Windy")
    world.twin.inject_error("PUT", r"/roles/", status=503, count=2)
    [effect_id] = await world.services.effects.enqueue_now(
        role_grant(world.guild_id, ada, role_id, describe="give ada the Windy role")
    )
    await settle(world)
    effect = await world.services.effects.get(effect_id)
    assert effect is not None
    assert effect.status == EffectStatus.PENDING  # waiting for its backoff
    assert effect.last_error is not None and effect.last_error.startswith("Discord answered 503")
    for _ in range(2):
        await world.advance(timedelta(minutes=5))  # the durable timer wakes the worker
        await settle(world)
    effect = await world.services.effects.get(effect_id)
    assert effect is not None
    assert (effect.status, effect.attempts) == (EffectStatus.APPLIED, 3)
    assert role_id in world.guild.members[ada].roles
    assert [r.status for r in world.twin.requests_to("PUT", ROLE_ROUTE)] == [503, 503, 204]


async def test_a_refused_change_fails_with_the_reason_and_organizers_are_told(
    world: World,
) -> None:
    organizers = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=organizers)
    ada = await world.join("ada")
    role_id = world.guild.add_role("Windy")
    world.twin.inject_error("PUT", r"/roles/", status=403, code=50013, count=1)
    [effect_id] = await world.services.effects.enqueue_now(
        role_grant(
            world.guild_id,
            ada,
            role_id,
            describe="give <@1> the **Windy** role",
            hint="Fix it and run /chapter provision.",
        )
    )
    await settle(world)
    effect = await world.services.effects.get(effect_id)
    assert effect is not None
    assert effect.status == EffectStatus.FAILED
    # the cache said the role was manageable, Discord said 50013: the role must be above ours
    assert effect.last_error is not None and "drag the **chapterbot** role" in effect.last_error
    assert world.twin.messages(organizers) == []  # gathered for a minute first
    await world.advance(timedelta(minutes=1))
    await settle(world)
    [report] = world.twin.messages(organizers)
    assert report["content"].startswith("I couldn't give <@1> the **Windy** role: My role is")
    assert "run /chapter provision" in report["content"]
    assert report["mentions"] == []  # a report pings nobody
    about = await (await world.slash(world.organizer_id, "about")).response()
    fields = {f["name"]: f["value"] for f in about["data"]["embeds"][0]["fields"]}
    assert fields["Discord changes"] == "0 pending, 1 failed"


async def test_many_failures_reach_organizers_as_one_summary_each_told_once(
    world: World,
) -> None:
    organizers = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=organizers)
    role_id = world.guild.add_role("Windy")
    members = [await world.join(f"m{n}") for n in range(50)]
    world.twin.inject_error("PUT", r"/roles/", status=403, code=50013, count=50)
    world.twin.inject_error("POST", r"/channels/\d+/messages", status=404, code=10003, count=3)
    await world.services.effects.enqueue_now(
        *(
            role_grant(world.guild_id, m, role_id, describe=f"give <@{m}> the **Windy** role")
            for m in members
        ),
        *(
            channel_post(424242 + n, guild_id=world.guild_id, content="hi", purpose="test")
            for n in range(3)
        ),
    )
    await settle(world)
    assert world.twin.messages(organizers) == []
    await world.advance(timedelta(minutes=1))
    await settle(world)
    [report] = world.twin.messages(organizers)
    text = report["content"]
    assert text.startswith("I couldn't make 53 Discord changes:")
    assert "**50 ×** My role is" in text and "**3 ×** Discord answered 404" in text
    assert "…and 47 more" in text and len(text) <= 2000 and report["mentions"] == []
    # a later failure is told in a later summary, and none of the 53 again
    world.twin.inject_error("PUT", r"/roles/", status=403, code=50013, count=1)
    ada = await world.join("ada")
    await world.services.effects.enqueue_now(
        role_grant(world.guild_id, ada, role_id, describe="give ada the **Windy** role")
    )
    await settle(world)
    await world.advance(timedelta(minutes=1))
    await settle(world)
    first, second = world.twin.messages(organizers)
    assert first == report and second["content"].startswith("I couldn't give ada the **Windy**")


async def test_a_dm_opens_the_channel_once_then_costs_one_request(world: World) -> None:
    ada = await world.join("ada")
    effects = world.services.effects
    ids = []
    for n in range(3):
        ids += await effects.enqueue_now(
            direct_message(ada, purpose="test", dedupe_key=f"hello:{n}", content=f"Hello {n}")
        )
    await settle(world)
    assert [m["content"] for m in world.twin.dms(ada)] == ["Hello 0", "Hello 1", "Hello 2"]
    assert len(world.twin.requests_to("POST", OPEN_DM)) == 1
    sends = world.twin.requests_to("POST", MESSAGES)
    assert [s.body["nonce"] for s in sends] == [f"fx{i}" for i in ids]
    assert all(s.body["enforce_nonce"] is True for s in sends)
    for effect_id, message in zip(ids, world.twin.dms(ada), strict=True):
        effect = await effects.get(effect_id)
        assert effect is not None
        assert (effect.status, effect.result_id) == (EffectStatus.APPLIED, int(message["id"]))


async def test_a_resend_after_a_crash_is_dropped_by_the_nonce(world: World) -> None:
    ada = await world.join("ada")
    [effect_id] = await world.services.effects.enqueue_now(
        direct_message(ada, purpose="test", dedupe_key="once", content="Only once")
    )
    await settle(world)
    [sent] = world.twin.dms(ada)
    # the process died after Discord created the message and before the row said so
    async with world.services.sessions.begin() as session:
        await session.execute(
            update(Effect)
            .where(Effect.id == effect_id)
            .values(status=EffectStatus.PENDING, result_id=None)
        )
    world.bot.effects_worker.kick()
    await settle(world)
    assert [m["id"] for m in world.twin.dms(ada)] == [sent["id"]]
    assert len(world.twin.requests_to("POST", MESSAGES)) == 2
    effect = await world.services.effects.get(effect_id)
    assert effect is not None
    assert (effect.status, effect.result_id) == (EffectStatus.APPLIED, int(sent["id"]))


async def test_closed_dms_are_recorded_not_retried_and_fall_back_to_the_channel(
    world: World,
) -> None:
    ada = await world.join("ada")
    world.twin.set_dms_closed(ada)
    effects = world.services.effects

    def welcome(n: int) -> object:
        return direct_message(
            ada,
            purpose="welcome",
            dedupe_key=f"welcome:{n}",
            content="Welcome!",
            fallback=channel_post(
                world.channel_id,
                guild_id=world.guild_id,
                content=f"<@{ada}>, welcome! (your DMs are closed)",
                mention_user_ids=[ada],
                purpose="welcome",
            ),
        )

    [first] = await effects.enqueue_now(welcome(1))  # type: ignore[arg-type]
    await settle(world)
    effect = await effects.get(first)
    assert effect is not None
    assert effect.status == EffectStatus.FAILED
    assert effect.last_error is not None and "50007" in effect.last_error
    assert (await effects.dm_state(ada)).closed
    [fallback] = [m for m in world.twin.messages(world.channel_id) if "welcome" in m["content"]]
    assert [u["id"] for u in fallback["mentions"]] == [str(ada)]
    dm_sends = len(world.twin.requests_to("POST", OPEN_DM))
    await effects.enqueue_now(welcome(2))  # type: ignore[arg-type]
    await settle(world)
    assert len(world.twin.requests_to("POST", OPEN_DM)) == dm_sends  # no retry to closed DMs
    assert len([m for m in world.twin.messages(world.channel_id) if "welcome" in m["content"]]) == 2
    failed = await effects.find(kind=EffectKind.DM, status=EffectStatus.FAILED)
    assert len(failed) == 2


async def test_opening_dms_too_fast_backs_off_without_using_up_attempts(world: World) -> None:
    ada = await world.join("ada")
    world.bot.effects_worker.slow_down_seconds = 0.2
    world.twin.inject_error("POST", r"^/users/@me/channels$", status=403, code=40003, count=3)
    [effect_id] = await world.services.effects.enqueue_now(
        direct_message(ada, purpose="test", dedupe_key="slow", content="Hi")
    )
    for _ in range(4):
        await settle(world)
        await world.advance(timedelta(seconds=1))
    await settle(world)
    effect = await world.services.effects.get(effect_id)
    assert effect is not None
    assert (effect.status, effect.attempts) == (EffectStatus.APPLIED, 1)
    assert [m["content"] for m in world.twin.dms(ada)] == ["Hi"]


async def test_a_fan_out_is_paced_below_the_global_limit_with_no_429(world: World) -> None:
    worker = world.bot.effects_worker
    worker.bucket.rate, worker.bucket.burst = 40.0, 5.0
    users = [world.twin.create_user(f"m{n}") for n in range(60)]
    for user in users:
        world.twin.world.dm_channel(user)  # known DM channels: one request each
    for user in users:
        channel = world.twin.world.dm_channels[user]
        await world.services.effects.remember_dm_channel(user, channel)
    started = time.monotonic()
    await world.services.effects.enqueue_now(
        *(
            direct_message(u, purpose="reminder", dedupe_key=f"fan:{u}", content="Reminder")
            for u in users
        )
    )
    await worker.wait_idle(timeout=20)
    elapsed = time.monotonic() - started
    sends = world.twin.requests_to("POST", MESSAGES)
    assert len(sends) == 60
    assert [r for r in world.twin.requests if r.status == 429] == []
    # 60 requests at 40/s with a burst of 5 need at least (60 - 5) / 40 s
    assert elapsed >= (60 - 5) / 40 - 0.05
    assert all(len(world.twin.dms(u)) == 1 for u in users)


async def test_a_cold_fan_out_that_opens_dms_too_fast_slows_down_and_everyone_gets_one(
    world: World,
) -> None:
    world.bot.effects_worker.slow_down_seconds = 0.3
    world.twin.set_dm_open_limit(3, per=0.3)
    users = [world.twin.create_user(f"m{n}") for n in range(8)]
    await world.services.effects.enqueue_now(
        *(direct_message(u, purpose="welcome", dedupe_key=f"w:{u}", content="Hi") for u in users)
    )
    for _ in range(20):
        await settle(world)
        if not await world.services.effects.find(status=EffectStatus.PENDING):
            break
        await world.advance(timedelta(seconds=1))
    assert all([m["content"] for m in world.twin.dms(u)] == ["Hi"] for u in users)
    refused = [r for r in world.twin.requests_to("POST", OPEN_DM) if r.status == 403]
    assert refused  # the limit was hit, and nothing failed for good because of it
    assert await world.services.effects.find(status=EffectStatus.FAILED) == []


async def test_a_channel_overwrite_is_set_and_removed(world: World) -> None:
    channel_id = world.guild.add_text_channel("private")
    role_id = world.guild.add_role("Windy")
    view = int(Perm.VIEW_CHANNEL)
    await world.services.effects.enqueue_now(
        channel_overwrite(
            world.guild_id, channel_id, role_id, allow=view, deny=0, describe="let Windy in"
        )
    )
    await settle(world)
    overwrite = world.guild.channels[channel_id].overwrites[role_id]
    assert (overwrite.allow, overwrite.deny) == (view, 0)
    await world.services.effects.enqueue_now(
        channel_overwrite(
            world.guild_id,
            channel_id,
            role_id,
            allow=0,
            deny=0,
            remove=True,
            describe="take Windy out",
        )
    )
    await settle(world)
    assert role_id not in world.guild.channels[channel_id].overwrites
    applied = await world.services.effects.find(
        kind=EffectKind.CHANNEL_OVERWRITE, status=EffectStatus.APPLIED
    )
    assert len(applied) == 2
