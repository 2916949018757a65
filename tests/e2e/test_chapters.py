"""Chapters end to end: the real bot through discord.py against the twin."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.clock import FakeClock
from bot.services.chapters import ChapterStatus, ChapterSummary
from bot.services.places import Gazetteer
from cogs.chapters._cog import EVALUATION_EVENT, evaluation_key, next_evaluation
from db.models import ChapterStatusChange
from tests.e2e.conftest import World, running_bot
from twin import Perm, Twin

EPHEMERAL = 1 << 6
DEFERRED = 5
CHANNEL_MESSAGE = 4
MEMBER_CHANNEL = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.READ_MESSAGE_HISTORY


def content(body: dict[str, Any]) -> str:
    data = body.get("data", body)
    return str(data.get("content") or "")


def flags(body: dict[str, Any]) -> int:
    data = body.get("data", body)
    return int(data.get("flags") or 0)


async def chapter_cmd(
    world: World, user_id: int, subcommand: str, group: str | None = None, **options: Any
) -> Any:
    """/chapter [group] subcommand (``world.slash`` can't take an option called ``name``)."""
    return await world.twin.slash(
        world.guild_id,
        world.channel_id,
        user_id,
        "chapter",
        subcommand=subcommand,
        group=group,
        options={k: v for k, v in options.items() if v is not None},
    )


async def answer(ix: Any) -> dict[str, Any]:
    """The message that answers ``ix``: the immediate reply, or the first follow-up."""
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        return dict(await ix.wait_followup(timeout=3))
    return dict(body["data"])


async def chapter_named(world: World, name: str) -> ChapterSummary:
    found = await world.services.chapters.resolve(world.guild_id, name, include_inactive=True)
    return found


async def organizers_channel(world: World) -> int:
    channel_id = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=channel_id)
    return channel_id


async def propose(world: World, user_id: int, city: str, name: str | None = None) -> ChapterSummary:
    ix = await chapter_cmd(world, user_id, "propose", city=city, name=name)
    message = await answer(ix)
    assert "proposed" in content(message), message
    assert ix.responded_after is not None and ix.responded_after < 3.0
    return await world.services.chapters.get(world.guild_id, int(message_chapter_id(message)))


def message_chapter_id(message: dict[str, Any]) -> str:
    for row in message.get("components", []):
        for item in row.get("components", []):
            custom_id = str(item.get("custom_id", ""))
            if custom_id.startswith("chapter:join:"):
                return custom_id.rsplit(":", 1)[1]
    raise AssertionError(f"no join button in {message}")


def has_role(world: World, user_id: int, role_id: int | None) -> bool:
    return (
        role_id is not None and role_id in world.twin.guild(world.guild_id).members[user_id].roles
    )


async def test_propose_creates_role_and_private_channel(world: World) -> None:
    mara = await world.join("mara")
    chapter = await propose(world, mara, "Chicago")
    assert chapter.status == ChapterStatus.FORMING
    [ix] = [i for i in world.twin.interactions() if i.user_id == mara]
    print(f"propose: answered (deferred) after {ix.responded_after * 1000:.1f} ms")
    guild = world.twin.guild(world.guild_id)

    assert chapter.role_id in guild.roles
    role = guild.roles[chapter.role_id]
    assert role.name == "Chicago Chapter" and not role.mentionable
    assert chapter.channel_id in guild.channels
    channel = guild.channels[chapter.channel_id]
    assert channel.name == "chicago-chapter"
    everyone = channel.overwrites[guild.everyone_role_id]
    assert everyone.deny & Perm.VIEW_CHANNEL
    members = channel.overwrites[role.id]
    assert members.allow & MEMBER_CHANNEL == MEMBER_CHANNEL
    bot = channel.overwrites[world.twin.bot_user_id]
    needed = Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.MANAGE_CHANNELS
    assert bot.type == 1 and bot.allow & needed == needed
    # the proposer has the role, so sees the channel; others don't
    assert has_role(world, mara, role.id)
    assert guild.channel_permissions_of(mara, channel.id) & Perm.VIEW_CHANNEL
    outsider = await world.join("otto")
    assert not guild.channel_permissions_of(outsider, channel.id) & Perm.VIEW_CHANNEL
    world.twin.assert_no_spec_violations()


async def test_members_join_until_formal_and_it_is_announced(world: World) -> None:
    organizers = await organizers_channel(world)
    # the default criteria ask for a meeting with recorded attendance each month
    ix = await world.slash(world.organizer_id, "chapter", "criteria")
    shown = content(await answer(ix))
    assert "**Meetings:** at least one with attendance in each of the last 1 month(s)" in shown
    # this guild does not require meetings (test_meetings covers a meeting making it formal)
    ix = await world.slash(
        world.organizer_id, "chapter", "criteria", min_members=5, meeting_months=0
    )
    assert "Saved" in content(await answer(ix))
    # re-evaluating every chapter (~2 s for 300 on SQLite) comes after the answer
    assert (await ix.response())["type"] == DEFERRED

    founder = await world.join("mara")
    chapter = await propose(world, founder, "Chicago")
    members = [founder]
    for name in ("nils", "ada", "bo", "cy"):
        user = await world.join(name)
        ix = await world.slash(user, "chapter", "join", chapter=str(chapter.id))
        message = await answer(ix)
        assert flags(message) & EPHEMERAL and "Welcome to **Chicago Chapter**" in content(message)
        assert has_role(world, user, chapter.role_id)
        members.append(user)

    ix = await world.slash(
        members[1], "chapter", "add", group="agreements", chapter="Chicago Chapter",
        text="We meet on the 1st and 3rd of each month.",
    )  # fmt: skip
    added = await answer(ix)
    assert "proposed agreement" in content(added)
    agreement_id = (await world.services.chapters.list_agreements(world.guild_id, chapter.id))[0].id
    choices = await world.twin.autocomplete(
        world.guild_id, world.channel_id, founder, "chapter", "adopt", "agreements",
        options={"chapter": str(chapter.id), "agreement": ""}, focused="agreement",
    )  # fmt: skip
    assert [c["value"] for c in choices] == [str(agreement_id)]
    ix = await world.slash(
        founder, "chapter", "adopt", group="agreements", chapter=str(chapter.id),
        agreement=str(agreement_id),
    )  # fmt: skip
    assert "adopted agreement" in content(await answer(ix))

    ix = await world.slash(
        founder, "chapter", "assign", group="roles", chapter=str(chapter.id),
        role="facilitator", member=members[2],
    )  # fmt: skip
    assert "is now **facilitator**" in content(await answer(ix))
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "forming"
    ix = await world.slash(
        founder, "chapter", "assign", group="roles", chapter=str(chapter.id),
        role="note-taker", member=members[3],
    )  # fmt: skip
    await answer(ix)

    def announced(channel_id: int) -> bool:
        return any(
            "is now a formal chapter" in str(m.get("content"))
            for m in world.twin.messages(channel_id)
        )

    await world.twin.wait_for(
        lambda: announced(chapter.channel_id) and announced(organizers), timeout=3
    )
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "formal"

    ix = await world.slash(founder, "chapter", "info", chapter="Chicago Chapter")
    info = await answer(ix)
    embed = info["embeds"][0]
    text = str(embed)
    assert "formal" in text and "no meetings scheduled" in text
    assert "meetings not required" in text and "not recorded" not in text
    assert flags(info) & EPHEMERAL
    world.twin.assert_no_spec_violations()


async def test_asking_for_meetings_each_month(world: World) -> None:
    ix = await world.slash(world.organizer_id, "chapter", "criteria", meeting_months=2)
    saved = content(await answer(ix))
    assert "at least one with attendance in each of the last 2 month(s)" in saved
    assert "not recorded" not in saved
    assert (await world.services.chapter_settings.get(world.guild_id)).meeting_months == 2


async def test_join_button_on_the_proposal(world: World) -> None:
    founder = await world.join("mara")
    ix = await world.slash(founder, "chapter", "propose", city="Oakland")
    message = await answer(ix)
    joiner = await world.join("nils")
    chapter_id = message_chapter_id(message)
    click = await world.twin.click(message["id"], f"chapter:join:{chapter_id}", joiner)
    reply = await answer(click)
    assert "Welcome to **Oakland Chapter**" in content(reply) and flags(reply) & EPHEMERAL
    chapter = await world.services.chapters.get(world.guild_id, int(chapter_id))
    assert chapter.member_count == 2 and has_role(world, joiner, chapter.role_id)
    again = await world.twin.click(message["id"], f"chapter:join:{chapter_id}", joiner)
    assert "already a member" in content(await answer(again))
    world.twin.assert_no_spec_violations()


async def test_non_organizer_cannot_archive(world: World) -> None:
    founder = await world.join("mara")
    chapter = await propose(world, founder, "Chicago")
    ix = await world.slash(
        founder, "chapter", "archive", chapter=str(chapter.id), reason="I want to"
    )
    message = await answer(ix)
    assert flags(message) & EPHEMERAL
    assert "Only organizers" in content(message)
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "forming"

    ix = await world.slash(
        world.organizer_id, "chapter", "archive", chapter=str(chapter.id), reason="test run"
    )
    done = await answer(ix)
    assert "Archived" in content(done) and "left in place" in content(done)
    assert (await chapter_named(world, str(chapter.id))).status == "archived"
    world.twin.assert_no_spec_violations()


async def test_missing_manage_roles_is_explained_and_chapter_still_recorded(world: World) -> None:
    organizers = await organizers_channel(world)
    world.twin.set_bot_permissions(world.guild_id, int(Perm.BOT_DEFAULT) & ~int(Perm.MANAGE_ROLES))
    await world.twin.wait_for(
        lambda: not world.bot.get_guild(world.guild_id).me.guild_permissions.manage_roles,  # type: ignore[union-attr]
        timeout=3,
    )
    founder = await world.join("mara")
    ix = await world.slash(founder, "chapter", "propose", city="Chicago")
    public = await answer(ix)
    assert "proposed" in content(public)
    warning = await ix.wait_followup(timeout=3)
    assert flags(warning) & EPHEMERAL and "Manage Roles" in content(warning)
    chapter = await chapter_named(world, "Chicago Chapter")  # still recorded
    assert chapter.role_id is None
    await world.twin.wait_for(
        lambda: any("Manage Roles" in str(m["content"]) for m in world.twin.messages(organizers)),
        timeout=3,
    )
    # never asked Discord for what it could not do
    assert not world.twin.requests_to("POST", "/guilds/{guild_id}/roles")

    world.twin.set_bot_permissions(world.guild_id, int(Perm.BOT_DEFAULT))
    await world.twin.wait_for(
        lambda: world.bot.get_guild(world.guild_id).me.guild_permissions.manage_roles,  # type: ignore[union-attr]
        timeout=3,
    )
    ix = await world.slash(world.organizer_id, "chapter", "provision", chapter="Chicago Chapter")
    fixed = await answer(ix)
    assert "Everything is in place" in content(fixed), content(fixed)
    chapter = await chapter_named(world, "Chicago Chapter")
    assert has_role(world, founder, chapter.role_id)
    world.twin.assert_no_spec_violations()


async def test_bot_role_too_low_names_the_role_to_move(world: World) -> None:
    organizers = await organizers_channel(world)
    founder = await world.join("mara")
    chapter = await propose(world, founder, "Chicago")
    guild = world.twin.guild(world.guild_id)
    chapter_role = guild.roles[chapter.role_id]  # type: ignore[index]
    world.twin.set_bot_role_position(world.guild_id, 1)  # now below the chapter role
    bot_guild = world.bot.get_guild(world.guild_id)
    assert bot_guild is not None
    await world.twin.wait_for(
        lambda: bot_guild.me.top_role < bot_guild.get_role(chapter_role.id),  # type: ignore[operator]
        timeout=3,
    )
    role_adds = len(
        world.twin.requests_to("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
    )
    joiner = await world.join("nils")
    ix = await world.slash(joiner, "chapter", "join", chapter="Chicago Chapter")
    reply = await answer(ix)
    assert "couldn't give you the chapter role" in content(reply)
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).member_count == 2

    def told() -> bool:
        return any(
            "drag the **chapterbot** role above **Chicago Chapter**" in str(m["content"])
            and "Server Settings → Roles" in str(m["content"])
            for m in world.twin.messages(organizers)
        )

    await world.bot.effects_worker.wait_idle()
    assert not told()  # failures are gathered for a minute into one report
    await world.advance(timedelta(minutes=1))
    await world.twin.wait_for(told, timeout=3)
    assert (
        len(world.twin.requests_to("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}"))
        == role_adds
    )
    world.twin.assert_no_spec_violations()


async def test_bad_and_ambiguous_city_get_ephemeral_suggestions(world: World) -> None:
    user = await world.join("mara")
    ix = await world.slash(user, "chapter", "propose", city="Chicgo")
    body = await ix.response()
    assert body["type"] == CHANNEL_MESSAGE and flags(body) & EPHEMERAL
    assert "Did you mean Chicago, IL, US?" in content(body)
    ix = await world.slash(user, "chapter", "propose", city="Springfield")
    body = await ix.response()
    assert flags(body) & EPHEMERAL
    assert "Springfield, MO, US" in content(body) and "Springfield, IL, US" in content(body)
    assert await world.services.chapters.list_chapters(world.guild_id) == []
    ix = await chapter_cmd(world, user, "propose", city="Chicago", name="x" * 90)
    body = await ix.response()
    assert flags(body) & EPHEMERAL and "at most 80 characters" in content(body)
    assert not world.twin.requests_to("POST", "/guilds/{guild_id}/roles")
    world.twin.assert_no_spec_violations()


async def test_autocomplete_is_fast_and_at_most_25(world: World) -> None:
    user = await world.join("mara")
    started = time.perf_counter()
    choices = await world.twin.autocomplete(
        world.guild_id, world.channel_id, user, "chapter", "propose",
        options={"city": "San"}, focused="city",
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    print(f"city autocomplete: {elapsed * 1000:.1f} ms")
    assert 0 < len(choices) <= 25 and elapsed < 1.0
    assert all(c["value"].isdecimal() and len(c["name"]) <= 100 for c in choices)

    for index, place in enumerate(world.services.places.suggest("", limit=25) * 2):
        if index >= 30:
            break
        try:
            await world.services.chapters.propose(world.guild_id, 1000 + index, place.label)
        except Exception:  # the same city twice: fine, we only need many chapters
            continue
    started = time.perf_counter()
    choices = await world.twin.autocomplete(
        world.guild_id, world.channel_id, user, "chapter", "join",
        options={"chapter": ""}, focused="chapter",
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    print(f"chapter autocomplete over {index} chapters: {elapsed * 1000:.1f} ms")
    assert len(choices) == 25 and elapsed < 1.0
    world.twin.assert_no_spec_violations()


async def test_daily_evaluation_timer_puts_a_chapter_at_risk(world: World) -> None:
    organizers = await organizers_channel(world)
    now = world.clock.now()
    first = next_evaluation(now)
    # armed by the cog's on_ready listener, which runs as its own task once the bot is ready
    timer = await world.twin.wait_for(
        lambda: world.services.timers.get_by_key(evaluation_key(world.guild_id, first)),
        timeout=5,
        message="the daily evaluation timer was not armed when the bot got ready",
    )
    assert timer.event == EVALUATION_EVENT

    founder = await world.join("mara")
    chapter = await propose(world, founder, "Chicago")
    ix = await world.slash(
        world.organizer_id, "chapter", "set-status", chapter=str(chapter.id), status="formal",
        reason="they have met for years",
    )  # fmt: skip
    assert "now **formal**" in content(await answer(ix))

    await world.advance(first - now)
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "at_risk"
    await world.twin.wait_for(
        lambda: (
            any("is at risk" in str(m["content"]) for m in world.twin.messages(organizers))
            and any(
                "is at risk" in str(m["content"]) for m in world.twin.messages(chapter.channel_id)
            )
        ),  # type: ignore[arg-type]
        timeout=3,
    )
    # the timer re-armed itself for the next day
    following = await world.services.timers.get_by_key(
        evaluation_key(world.guild_id, first + timedelta(days=1))
    )
    assert following is not None and following.status == "pending"

    await world.advance(timedelta(days=60))
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "lapsed"
    async with world.services.sessions() as session:
        reasons = list(
            await session.scalars(
                select(ChapterStatusChange.reason)
                .where(ChapterStatusChange.chapter_id == chapter.id)
                .order_by(ChapterStatusChange.id)
            )
        )
    assert reasons[1] == "set by an organizer: they have met for years"
    assert "daily evaluation" in reasons[2] and "at risk for 60 days" in reasons[3]
    world.twin.assert_no_spec_violations()


async def test_member_map_with_csv_and_organizer_regions(world: World) -> None:
    users = [await world.join(f"m{i}") for i in range(7)]
    cities = ["Oakland, CA"] * 5 + ["Portland, OR", "Berlin"]
    await world.services.members.set_cities(world.guild_id, dict(zip(users, cities, strict=True)))

    ix = await chapter_cmd(
        world, users[0], "set", "region", name="West Coast", areas="US-CA, US-OR"
    )
    body = await ix.response()
    assert flags(body) & EPHEMERAL and "Only organizers" in content(body)
    ix = await chapter_cmd(
        world, world.organizer_id, "set", "region", name="West Coast", areas="US-CA, US-OR"
    )
    assert "US-CA, US-OR" in content(await answer(ix))
    ix = await chapter_cmd(world, world.organizer_id, "list", "region")
    assert "**West Coast**" in content(await answer(ix))

    ix = await world.slash(users[1], "chapter", "map")
    message = await answer(ix)
    assert flags(message) & EPHEMERAL
    embed = message["embeds"][0]
    assert "**West Coast** (6)" in embed["description"]
    assert "Oakland, CA (5) ★" in embed["description"]
    assert "★ = at least 5 members and no formal chapter" in embed["footer"]["text"]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "members_by_city.csv"
    csv_text = world.twin.attachment_bytes(attachment).decode()
    assert csv_text.startswith("region,city,state,country,members")
    assert "West Coast,Oakland,CA,US,5" in csv_text

    ix = await chapter_cmd(world, world.organizer_id, "remove", "region", name="West Coast")
    assert "Removed" in content(await answer(ix))
    world.twin.assert_no_spec_violations()


async def test_leave_merge_and_names_that_never_ping(world: World) -> None:
    ada = await world.join("ada")
    bo = await world.join("bo")
    oakland = await propose(world, ada, "Oakland", "@everyone Oakland <@123> @here")
    assert oakland.name == "everyone Oakland here"
    guild = world.twin.guild(world.guild_id)
    assert "@" not in guild.roles[oakland.role_id].name  # type: ignore[index]
    assert guild.channels[oakland.channel_id].name == "everyone-oakland-here"  # type: ignore[index]
    sf = await propose(world, bo, "San Francisco, CA")

    # leaving takes the role back
    ix = await world.slash(ada, "chapter", "join", chapter=str(sf.id))
    await answer(ix)
    assert has_role(world, ada, sf.role_id)
    ix = await world.slash(ada, "chapter", "leave", chapter=str(sf.id))
    assert "You left" in content(await answer(ix))
    await world.twin.wait_for(lambda: not has_role(world, ada, sf.role_id), timeout=3)

    # merging moves members (and gives them the target's role); the source keeps its role
    ix = await world.slash(
        world.organizer_id, "chapter", "merge", source=str(oakland.id), into=str(sf.id),
        reason="one Bay Area chapter",
    )  # fmt: skip
    reply = await answer(ix)
    assert "1 member(s) moved" in content(reply) and "left in place" in content(reply)
    assert has_role(world, ada, sf.role_id)
    assert (await chapter_named(world, str(oakland.id))).status == "merged"
    ix = await world.slash(ada, "chapter", "join", chapter=str(oakland.id))
    body = await ix.response()
    assert flags(body) & EPHEMERAL and "merged into San Francisco Chapter" in content(body)
    world.twin.assert_no_spec_violations()


async def test_a_restart_reconciles_chapter_members_and_keeps_the_city_picker_working(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    """Members who left while the bot was away leave their chapters (a fresh IDENTIFY replays
    no leaves); a city picker sent before the restart still answers (no in-memory view)."""
    guild = twin.create_guild("Away Guild")
    founder, goes = twin.add_members_bulk(guild.id, 2)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    url = f"sqlite+aiosqlite:///{tmp_path / 'away.db'}"
    async with running_bot(twin, url, clock, gazetteer) as (_bot, services, _engine):
        chapter = await services.chapters.propose(guild.id, founder, "Chicago")
        await services.chapters.join(guild.id, chapter.id, goes)
        ix = await twin.slash(
            guild.id, None, founder, "profile", subcommand="city", options={"city": "Portland"}
        )
        picker = (await ix.response())["data"]["components"][0]["components"][0]
        original = await ix.wait_original()
    await twin.member_leave(guild.id, goes)  # offline: a fresh IDENTIFY won't replay it
    async with running_bot(twin, url, clock, gazetteer) as (_bot, services, _engine):

        async def reconciled() -> bool:
            return (await services.chapters.get(guild.id, chapter.id)).member_count == 1

        await twin.wait_for(reconciled, message="chapter members not reconciled")
        assert [c.id for c in await services.chapters.chapters_of(guild.id, goes)] == []

        oregon = next(o["value"] for o in picker["options"] if o["label"] == "Portland, OR, US")
        pick = await twin.click(original["id"], picker["custom_id"], founder, values=[oregon])
        assert "Portland, OR, US" in (await pick.response())["data"]["content"]
    twin.assert_no_spec_violations()


async def test_a_50013_despite_manage_roles_names_the_role_to_move(world: World) -> None:
    """The cache said the role was below the bot's, Discord disagreed (moved meanwhile)."""
    organizers = await organizers_channel(world)
    founder = await world.join("mara")
    await propose(world, founder, "Chicago")
    world.twin.inject_error("PUT", r"/members/\d+/roles/\d+$", status=403, code=50013)
    joiner = await world.join("nils")
    ix = await world.slash(joiner, "chapter", "join", chapter="Chicago Chapter")
    assert "couldn't give you the chapter role" in content(await answer(ix))

    def told() -> bool:
        return any(
            "drag the **chapterbot** role above **Chicago Chapter**" in str(m["content"])
            for m in world.twin.messages(organizers)
        )

    await world.bot.effects_worker.wait_idle()
    await world.advance(timedelta(minutes=1))  # failures are gathered into one report
    await world.twin.wait_for(told, timeout=3)
    world.twin.assert_no_spec_violations()


async def test_a_status_announcement_survives_server_errors_and_arrives_once(
    world: World,
) -> None:
    organizers = await organizers_channel(world)
    founder = await world.join("mara")
    chapter = await propose(world, founder, "Chicago")
    await world.bot.effects_worker.wait_idle()
    before = len(world.twin.messages(chapter.channel_id))  # type: ignore[arg-type]
    world.twin.inject_error(
        "POST", rf"/channels/{chapter.channel_id}/messages", status=503, count=2
    )
    ix = await world.slash(
        world.organizer_id, "chapter", "set-status", chapter=str(chapter.id), status="formal",
        reason="they have met for years",
    )  # fmt: skip
    assert "now **formal**" in content(await answer(ix))
    for _ in range(3):
        await world.bot.effects_worker.wait_idle()
        await world.advance(timedelta(minutes=5))  # the retries' durable timer
    await world.bot.effects_worker.wait_idle()
    posted = world.twin.messages(chapter.channel_id)[before:]  # type: ignore[arg-type]
    told = [m for m in world.twin.messages(organizers) if "formal" in str(m["content"])]
    assert len(posted) == 1 and len(told) == 1, (posted, told)
    assert posted[0]["content"] == told[0]["content"]
    sends = world.twin.requests_to("POST", "/channels/{channel_id}/messages")
    nonces = {r.body["nonce"] for r in sends if r.body.get("content") == posted[0]["content"]}
    assert len(nonces) == 2  # one per effect (channel, organizers), the same on every retry
    assert sum(r.status == 503 for r in sends) == 2  # the channel post was retried twice
