"""Profiles, the member map, markers and affiliates end to end: the real bot against the twin.

The key test loads the organization's 2014 member concentrations into a twin guild (members
joining before and after the bot connects), defines the organizers' regions and runs
``/chapter map`` through the twin: the map must reproduce the CSV's grouping and counts exactly,
and ``/markers`` must count those members and the chapters made formal.
"""

from __future__ import annotations

import csv
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.services.markers import CONTINGENCY_NOTE, check_key, next_check_time
from bot.services.places import Gazetteer
from db.models import ChapterStatus, MemberProfile
from tests.bot.services.test_member_map import city_query, load_member_csv, regions_from_csv
from tests.e2e.conftest import World, running_bot
from twin import Perm, Twin, TwinInteraction

EPHEMERAL = 1 << 6
DEFERRED = 5
PNG = b"\x89PNG\r\n\x1a\n"


def content(body: dict[str, Any]) -> str:
    data = body.get("data", body)
    return str(data.get("content") or "")


def all_text(message: dict[str, Any]) -> str:
    parts = [str(message.get("content") or "")]
    for embed in message.get("embeds") or []:
        parts += [str(embed.get("title") or ""), str(embed.get("description") or "")]
    return "\n".join(parts)


async def active_members(world_services: Any, guild_id: int) -> int:
    count: int = await world_services.members.count_active(guild_id)
    return count


async def affiliate(
    world: World, user_id: int, subcommand: str, *, check_permissions: bool = True, **options: Any
) -> TwinInteraction:
    """/affiliate ... (its ``name`` option clashes with ``World.slash``'s own ``name``)."""
    return await world.twin.slash(
        world.guild_id,
        world.channel_id,
        user_id,
        "affiliate",
        subcommand=subcommand,
        options=options,
        check_permissions=check_permissions,
    )


# ------------------------------------------------------------------------ profiles


async def test_profile_city_ambiguous_gives_suggestions_then_pick(world: World) -> None:
    member = await world.join("pat")
    await world.twin.wait_for(
        lambda: world.services.members.get(world.guild_id, member), message="join not recorded"
    )
    ix = await world.slash(member, "profile", subcommand="city", city="Portland")
    body = await ix.response()
    assert body["data"]["flags"] & EPHEMERAL
    text = content(body)
    assert "could be several cities" in text and "Portland, OR, US" in text
    assert body["data"]["allowed_mentions"]["parse"] == []
    [row] = body["data"]["components"]
    select = row["components"][0]
    labels = [o["label"] for o in select["options"]]
    assert "Portland, OR, US" in labels and "Portland, ME, US" in labels
    profile = await world.services.members.get(world.guild_id, member)
    assert profile is not None and not profile.has_city  # never a silent guess

    original = await ix.wait_original()
    oregon = next(o["value"] for o in select["options"] if o["label"] == "Portland, OR, US")
    pick = await world.twin.click(original["id"], select["custom_id"], member, values=[oregon])
    picked = await pick.response()
    assert "Saved" in content(picked) and "Portland, OR, US" in content(picked)
    profile = await world.services.members.get(world.guild_id, member)
    assert profile is not None and profile.city_label == "Portland, OR, US"
    assert profile.timezone == "America/Los_Angeles"
    world.twin.assert_no_spec_violations()


async def test_profile_city_autocomplete_is_fast_and_capped(world: World) -> None:
    member = await world.join("ana")
    for typed in ("", "San", "berl", "Portland, O", "zzzzqqq"):
        started = time.perf_counter()
        choices = await world.twin.autocomplete(
            world.guild_id,
            world.channel_id,
            member,
            "profile",
            subcommand="city",
            options={"city": typed},
            focused="city",
        )
        assert time.perf_counter() - started < 1.0
        assert len(choices) <= 25
        if typed == "San":
            assert len(choices) == 25
        if typed == "Portland, O":
            assert choices[0]["name"] == "Portland, OR, US"
            portland = choices[0]["value"]
    # the value of a choice is what /profile city receives: it resolves exactly
    ix = await world.slash(member, "profile", subcommand="city", city=portland)
    assert "Portland, OR, US" in content(await ix.response())
    world.twin.assert_no_spec_violations()


async def test_profile_show_city_clear_and_unknown_city(world: World) -> None:
    member = await world.join("lee")
    shown = await world.slash(member, "profile", subcommand="show")
    body = await shown.response()
    assert body["data"]["flags"] & EPHEMERAL and "/profile city" in content(body)

    ix = await world.slash(member, "profile", subcommand="city", city="Chicago, IL")
    assert "Chicago, IL, US" in content(await ix.response())
    shown = await world.slash(member, "profile", subcommand="show")
    body = await shown.response()
    assert "City: Chicago, IL, US" in content(body) and "America/Chicago" in content(body)

    typo = await world.slash(member, "profile", subcommand="city", city="Chicagoo, IL")
    body = await typo.response()
    assert body["data"]["flags"] & EPHEMERAL
    assert "Did you mean Chicago, IL, US?" in content(body)

    nowhere = await world.slash(member, "profile", subcommand="city", city="@everyone")
    body = await nowhere.response()
    assert body["data"]["flags"] & EPHEMERAL  # a short answer saying what to do, never a ping

    cleared = await world.slash(member, "profile", subcommand="clear")
    assert "forgotten" in content(await cleared.response())
    again = await world.slash(member, "profile", subcommand="clear")
    body = await again.response()
    assert body["data"]["flags"] & EPHEMERAL and "nothing to forget" in content(body)
    world.twin.assert_no_spec_violations()


async def test_joins_and_leaves_are_recorded(world: World) -> None:
    members = world.services.members
    # the owner and the organizer were reconciled when the guild became available
    await world.twin.wait_for(lambda: active_members(world.services, world.guild_id))
    start = await members.count_active(world.guild_id)
    assert start == 2
    user = await world.join("kim")

    async def counted(n: int) -> bool:
        return await members.count_active(world.guild_id) == n

    await world.twin.wait_for(lambda: counted(start + 1), message="join not recorded")
    await world.twin.member_leave(world.guild_id, user)
    await world.twin.wait_for(lambda: counted(start), message="leave not recorded")
    profile = await members.get(world.guild_id, user)
    assert profile is not None and profile.left_at is not None
    world.twin.assert_no_spec_violations()


async def test_members_who_came_and_went_while_the_bot_was_away_are_reconciled(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    guild = twin.create_guild("Away Guild")
    stays, goes = twin.add_members_bulk(guild.id, 2)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    url = f"sqlite+aiosqlite:///{tmp_path / 'away.db'}"
    async with running_bot(twin, url, clock, gazetteer) as (_bot, services, _engine):

        async def recorded() -> bool:
            return await services.members.count_active(guild.id) == 3  # with the owner

        await twin.wait_for(recorded, message="members not recorded at connect")
    # offline: one member leaves, one joins (a fresh IDENTIFY will not replay these)
    await twin.member_leave(guild.id, goes)
    newcomer = twin.create_user("newcomer")
    await twin.member_join(guild.id, newcomer)
    clock.advance(timedelta(hours=5))
    async with running_bot(twin, url, clock, gazetteer) as (_bot, services, _engine):

        async def reconciled() -> bool:
            return await services.members.get(guild.id, newcomer) is not None

        await twin.wait_for(reconciled, message="reconcile did not run")
        gone = await services.members.get(guild.id, goes)
        assert gone is not None and gone.left_at == clock.now()
        still = await services.members.get(guild.id, stays)
        assert still is not None and still.active
        assert await services.members.count_active(guild.id) == 3
        assert await services.members.get(guild.id, twin.bot_user_id) is None  # bots excluded
    twin.assert_no_spec_violations()


# ------------------------------------------------------------------------ markers


async def test_markers_answers_with_a_png_within_three_seconds(world: World) -> None:
    member = await world.join("max")
    ix = await world.slash(member, "markers")
    body = await ix.response(timeout=3.0)
    assert ix.responded_after is not None and ix.responded_after < 3.0
    assert body["type"] == DEFERRED and body["data"]["flags"] & EPHEMERAL
    followup = await ix.wait_followup(timeout=10)
    [attachment] = followup["attachments"]
    assert attachment["filename"] == "markers.png"
    assert world.twin.attachment_bytes(attachment).startswith(PNG)
    text = all_text(followup)
    assert "**Members**: 3 (no target set)" in text  # owner, organizer, max
    assert "Affiliates (counted separately" in text
    assert "/marker set" in text
    world.twin.assert_no_spec_violations()


async def test_marker_set_is_organizers_only_and_validated(world: World) -> None:
    member = await world.join("nico")
    # server admins can open the command to everyone; the bot still refuses
    ix = await world.slash(
        member,
        "marker",
        subcommand="set",
        kind="members",
        target=3500,
        deadline="2099-01-01",
        check_permissions=False,
    )
    body = await ix.response()
    assert body["data"]["flags"] & EPHEMERAL and "Only organizers" in content(body)
    assert await world.services.markers.list_markers(world.guild_id) == []

    past = await world.slash(
        world.organizer_id,
        "marker",
        subcommand="set",
        kind="members",
        target=3500,
        deadline="2020-01-01",
    )
    body = await past.response()
    assert body["data"]["flags"] & EPHEMERAL and "future" in content(body)
    bad = await world.slash(
        world.organizer_id,
        "marker",
        subcommand="set",
        kind="continents",
        target=3,
        deadline="next spring",
    )
    assert "YYYY-MM-DD" in content(await bad.response())
    assert await world.services.markers.list_markers(world.guild_id) == []

    nobody = await world.slash(world.organizer_id, "marker", subcommand="remove", kind="continents")
    assert "none to remove" in content(await nobody.response())
    lead = await world.slash(world.organizer_id, "marker", subcommand="alerts", lead_days=30)
    assert "30 days" in content(await lead.response())
    assert (await world.services.chapter_settings.get(world.guild_id)).marker_lead_days == 30
    world.twin.assert_no_spec_violations()


async def test_projected_miss_alerts_organizers_once(world: World) -> None:
    organizers = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=organizers)
    members = world.services.members
    now = world.clock.now()
    for day in range(60):  # members who joined over two months, one a day
        await members.member_joined(world.guild_id, 10_000 + day, now - timedelta(days=60 - day))
    deadline = (now + timedelta(days=45)).date()
    ix = await world.slash(
        world.organizer_id,
        "marker",
        subcommand="set",
        kind="members",
        target=1000,
        deadline=deadline.isoformat(),
    )
    body = await ix.response()
    assert "Marker saved" in content(body)
    assert "after the deadline" in content(body)
    first_check = next_check_time(now)
    timer = await world.services.timers.get_by_key(check_key(world.guild_id, first_check))
    assert timer is not None and timer.status == "pending"

    await world.advance(timedelta(days=1))
    alerts = [m for m in world.twin.messages(organizers) if "Marker at risk" in m["content"]]
    assert len(alerts) == 1
    assert "1,000 members" in alerts[0]["content"]
    assert CONTINGENCY_NOTE in alerts[0]["content"]
    start = await world.twin.click(alerts[0]["id"], "vote:contingency-start", world.organizer_id)
    form = await start.response()  # the contingency vote's editable template
    assert form["type"] == 9 and "Push the deadline forward 6 months" in str(form["data"])
    # the next day's check is armed, runs, and does not repeat the news
    await world.advance(timedelta(days=1))
    await world.advance(timedelta(days=1))
    alerts = [m for m in world.twin.messages(organizers) if "Marker" in m["content"]]
    assert len(alerts) == 1
    assert (await world.services.markers.list_markers(world.guild_id))[0].target == 1000
    world.twin.assert_no_spec_violations()


# ---------------------------------------------------------------------- affiliates


async def test_affiliates_register_list_remove(world: World) -> None:
    member = await world.join("rae")
    refused = await affiliate(world, member, "register", name="Sneaky Org", check_permissions=False)
    assert "Only organizers" in content(await refused.response())

    ix = await affiliate(
        world,
        world.organizer_id,
        "register",
        name="Riverside Tenants Union @everyone",
        city="Oakland, CA",
        url="https://riverside.example.org",
        description="Tenant organizing since 1998.",
    )
    body = await ix.response()
    assert "Registered" in content(body) and "Oakland, CA, US" in content(body)
    assert body["data"]["allowed_mentions"]["parse"] == []
    dup = await affiliate(
        world,
        world.organizer_id,
        "register",
        name="riverside tenants union @everyone",
    )
    assert "already registered" in content(await dup.response())
    bad = await affiliate(world, world.organizer_id, "register", name="X", url="not a link")
    assert "https://" in content(await bad.response())

    listed = await affiliate(world, member, "list")
    body = await listed.response()
    assert "Riverside Tenants Union" in body["data"]["embeds"][0]["description"]

    choices = await world.twin.autocomplete(
        world.guild_id,
        world.channel_id,
        world.organizer_id,
        "affiliate",
        subcommand="remove",
        options={"name": "river"},
        focused="name",
    )
    assert [c["value"] for c in choices] == ["Riverside Tenants Union @everyone"]
    removed = await affiliate(world, world.organizer_id, "remove", name=choices[0]["value"])
    assert "Removed" in content(await removed.response())
    assert await world.services.affiliates.count(world.guild_id) == 0
    world.twin.assert_no_spec_violations()


# --------------------------------------------------- the 2014 member concentrations


async def test_member_map_and_markers_reproduce_the_2014_concentrations(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    rows = load_member_csv()
    cities = [city_query(row) for row in rows for _ in range(int(row["members"]))]
    total = len(cities)
    owner = twin.create_user("owner")
    guild = twin.create_guild("Organization 2014", owner)
    organizer_role = guild.add_role("Organizers", permissions=int(Perm.MANAGE_GUILD))
    organizer = twin.create_user("organizer")
    await twin.member_join(guild.id, organizer, roles=[organizer_role])
    # most members joined while the bot was away; the rest join once it is connected
    early = twin.add_members_bulk(guild.id, total - 2 - 40)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    url = f"sqlite+aiosqlite:///{tmp_path / 'csv.db'}"
    async with running_bot(twin, url, clock, gazetteer) as (_bot, services, _engine):
        await services.guilds.setup(guild.id, organizer_role_id=organizer_role)
        late = twin.add_members_bulk(guild.id, 40)
        user_ids = [owner, organizer, *early, *late]
        assert len(user_ids) == total

        async def all_recorded() -> bool:
            return await services.members.count_active(guild.id) == total

        await twin.wait_for(all_recorded, timeout=10, message="members not all recorded")
        async with services.sessions() as session:
            known = await session.scalar(
                select(func.count())
                .select_from(MemberProfile)
                .where(MemberProfile.guild_id == guild.id)
            )
        assert known == total  # nobody twice, no bot
        await services.members.set_cities(guild.id, dict(zip(user_ids, cities, strict=True)))

        # the organizers' regions, defined through the chapters cog
        channel = guild.system_channel_id
        for name, areas in regions_from_csv(rows).items():
            ix = await twin.slash(
                guild.id,
                channel,
                organizer,
                "chapter",
                subcommand="set",
                group="region",
                options={"name": name, "areas": ", ".join(areas)},
            )
            assert name in content(await ix.response())

        # three formal chapters (and one still forming), through the chapter service
        formal = ["Chicago, IL", "San Francisco, CA", "Boston, MA"]
        for city in [*formal, "Oakland, CA"]:
            chapter = await services.chapters.propose(guild.id, organizer, city)
            if city in formal:
                await services.chapters.set_status(
                    guild.id, chapter.id, ChapterStatus.FORMAL, "meets monthly", organizer
                )

        started = time.perf_counter()
        ix = await twin.slash(guild.id, channel, organizer, "chapter", subcommand="map")
        await ix.response(timeout=3.0)
        followup = await ix.wait_followup(timeout=5)
        map_seconds = time.perf_counter() - started
        [attachment] = followup["attachments"]
        exported = list(
            csv.DictReader(twin.attachment_bytes(attachment).decode("utf-8").splitlines())
        )
        assert Counter(
            (e["region"], e["city"], e["state"], e["country"], e["members"]) for e in exported
        ) == Counter((r["region"], r["city"], r["state"], r["country"], r["members"]) for r in rows)
        assert [e["region"] for e in exported] == sorted(
            (e["region"] for e in exported), key=list(regions_from_csv(rows)).index
        )
        best = {e["city"] for e in exported if e["best_place"] == "yes"}
        assert best == {
            r["city"]
            for r in rows
            if int(r["members"]) >= 5 and r["city"] not in ("Chicago", "San Francisco", "Boston")
        }
        text = all_text(followup)
        for name in regions_from_csv(rows):
            count = sum(int(r["members"]) for r in rows if r["region"] == name)
            assert f"**{name}** ({count})" in text
        assert "Oakland, CA (21) ★" in text and "Chicago, IL (30) ✓" in text
        assert text.rstrip().endswith("Unknown city: 0")

        member_map = await services.member_map.member_map(guild.id)
        assert member_map.total == total and member_map.unknown == 0
        assert [g.name for g in member_map.groups] == list(regions_from_csv(rows))

        # /markers: every member, the formal chapters, one continent
        set_ix = await twin.slash(
            guild.id,
            channel,
            organizer,
            "marker",
            subcommand="set",
            options={
                "kind": "formal_chapters",
                "target": 20,
                "deadline": f"{clock.now().year + 1}-12-31",
            },
        )
        assert "Marker saved" in content(await set_ix.response())
        ix = await twin.slash(guild.id, channel, organizer, "markers")
        body = await ix.response(timeout=3.0)
        assert body["type"] == DEFERRED
        followup = await ix.wait_followup(timeout=10)
        text = all_text(followup)
        assert f"**Members**: {total} (no target set)" in text
        assert "**Formal chapters**: 3 of 20 (15%)" in text
        assert "**Continents with a formal chapter**: 1 (no target set)" in text
        assert twin.attachment_bytes(followup["attachments"][0]).startswith(PNG)
        report = await services.markers.report(guild.id)
        assert report.get("members").current == total == sum(int(r["members"]) for r in rows)
        assert report.get("formal_chapters").current == 3
        assert map_seconds < 3.0
    twin.assert_no_spec_violations()
