"""Meetings end to end: schedule → Confirm → RSVP → reminder DMs → attendance, via the twin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.services.chapters import ChapterSummary
from bot.services.places import Gazetteer
from db.models import ChapterMeeting, ReminderDelivery
from tests.e2e.conftest import World, other_dms, running_bot
from twin import Perm, Twin

DEFERRED = 5


async def answer(ix: Any) -> dict[str, Any]:
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        return dict(await ix.wait_followup(timeout=3))
    return dict(body["data"])


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """custom_id → label of every button on a message."""
    return {
        str(item["custom_id"]): str(item.get("label", ""))
        for row in message.get("components", [])
        for item in row.get("components", [])
        if "custom_id" in item
    }


async def chapter_with_members(world: World, count: int) -> tuple[ChapterSummary, list[int]]:
    founder = await world.join("founder")
    ix = await world.twin.slash(
        world.guild_id,
        world.channel_id,
        founder,
        "chapter",
        subcommand="propose",
        options={"city": "Chicago"},
    )
    await answer(ix)
    [chapter] = await world.services.chapters.chapters_of(world.guild_id, founder)
    members = [founder]
    for n in range(count - 1):
        user = await world.join(f"member{n}")
        joined = await world.twin.slash(
            world.guild_id,
            world.channel_id,
            user,
            "chapter",
            subcommand="join",
            options={"chapter": str(chapter.id)},
        )
        await answer(joined)
        members.append(user)
    await world.bot.effects_worker.wait_idle()
    return await world.services.chapters.get(world.guild_id, chapter.id), members


def local(world: World, chapter: ChapterSummary, delta: timedelta) -> str:
    moment = (world.clock.now() + delta).astimezone(ZoneInfo(chapter.timezone))
    return moment.strftime("%Y-%m-%d %H:%M")


async def schedule(world: World, chapter: ChapterSummary, user: int, **options: str) -> int:
    """/meeting schedule, then Confirm; returns the first meeting's id."""
    meetings = world.services.meetings
    before = {o.id for o in await meetings.upcoming(world.guild_id, chapter_id=chapter.id)}
    ix = await world.slash(user, "meeting", "schedule", chapter=str(chapter.id), **options)
    preview = await answer(ix)
    assert "Nothing is saved until you press **Confirm**" in preview["content"], preview
    assert "<t:" in preview["content"]
    unsaved = await meetings.upcoming(world.guild_id, chapter_id=chapter.id)
    assert {o.id for o in unsaved} == before  # nothing saved before Confirm
    original = await ix.wait_original()
    [confirm] = [c for c, label in buttons(original).items() if label == "Confirm"]
    click = await world.twin.click(original["id"], confirm, user)
    done = await click.response(timeout=3)
    assert "Scheduled" in done["data"]["content"], done
    after = await meetings.upcoming(world.guild_id, chapter_id=chapter.id)
    [first, *_] = [o for o in after if o.id not in before]
    return first.id


async def test_schedule_rsvp_remind_and_record_attendance(world: World) -> None:
    chapter, members = await chapter_with_members(world, 4)
    founder, ana, ben, cat = members
    world.twin.set_dms_closed(cat)
    # a member who is not the facilitator or a founder cannot schedule (checked server-side)
    refused = await answer(
        await world.slash(
            ana,
            "meeting",
            "schedule",
            chapter=str(chapter.id),
            title="x",
            start=local(world, chapter, timedelta(days=4)),
            duration="1h",
            location="here",
        )
    )
    assert "Only the facilitator or founders" in refused["content"]
    meeting = await schedule(
        world,
        chapter,
        founder,
        title="Monthly circle",
        start=local(world, chapter, timedelta(days=4)),
        duration="90m",
        location="Public library, room 2",
        repeat="weekly",
    )
    [announced] = [
        m for m in world.twin.messages(chapter.channel_id or 0) if "Monthly circle" in m["content"]
    ]
    assert "<t:" in announced["content"] and ":R>" in announced["content"]
    going = f"meeting:rsvp:{meeting}:going"
    assert buttons(announced)[going] == "Going (0)"

    click = await world.twin.click(announced["id"], going, ana)
    await click.response(timeout=3)
    assert buttons(world.twin.message(announced["id"]))[going] == "Going (1)"
    cant = f"meeting:rsvp:{meeting}:cant"
    await (await world.twin.click(announced["id"], cant, ben)).response(timeout=3)
    assert buttons(world.twin.message(announced["id"]))[cant] == "Can't (1)"

    # the 3-day reminder: every member but Ben (Can't); Cat's DMs are closed
    await world.advance(timedelta(days=1, minutes=1))
    await world.bot.effects_worker.wait_idle()
    for user in (founder, ana):
        [dm] = world.dms(user)
        assert "Monthly circle" in dm["content"] and "<t:" in dm["content"]
        assert going in buttons(dm)
        # the DM carries the meeting as an .ics file a calendar app can import
        [ics] = dm["attachments"]
        assert ics["filename"] == f"meeting-{meeting}.ics"
        calendar = icalendar.Calendar.from_ical(world.twin.attachment_bytes(ics))
        [event] = calendar.walk("VEVENT")
        view = await world.services.meetings.get(world.guild_id, meeting)
        assert event.decoded("dtstart") == view.starts_at
        assert str(event.get("summary")).startswith("Monthly circle")
    assert world.dms(ben) == []
    fallback = [
        m for m in world.twin.messages(chapter.channel_id or 0) if f"<@{cat}>" in m["content"]
    ]
    assert len(fallback) == 1 and [u["id"] for u in fallback[0]["mentions"]] == [str(cat)]

    # the 2-hour reminder: Cat is now known to refuse DMs, so one combined channel message
    await world.advance(timedelta(days=2, hours=22))
    await world.bot.effects_worker.wait_idle()
    assert [len(world.dms(u)) for u in (founder, ana, ben)] == [2, 2, 0]
    channel_reminders = [
        m for m in world.twin.messages(chapter.channel_id or 0) if f"<@{cat}>" in m["content"]
    ]
    assert len(channel_reminders) == 2
    # a rerun of the same reminder timer adds nothing (the ledger is unique)
    batch = await world.services.meetings.prepare_reminders(
        meeting,
        120,
        renderer=world.bot.get_cog("Meetings").renderer,  # type: ignore[union-attr]
    )
    assert batch.due == ()
    await world.bot.effects_worker.wait_idle()
    assert [len(world.dms(u)) for u in (founder, ana, ben)] == [2, 2, 0]
    ledger = await world.services.meetings.ledger(meeting)
    assert sorted((lead, user, status) for lead, user, status, _ in ledger) == sorted(
        [(4320, u, "sent") for u in (founder, ana)]
        + [(4320, cat, "queued"), (120, founder, "sent"), (120, ana, "sent"), (120, cat, "queued")]
    )

    # the meeting starts; the founder records who came
    await world.advance(timedelta(hours=2, minutes=10))
    ix = await world.slash(
        founder, "meeting", "attendance", meeting=str(meeting), notes="Planned the fair"
    )
    prompt = await answer(ix)
    assert "Who came" in prompt["content"]
    original = await ix.wait_original()
    [picker] = [
        item
        for row in original["components"]
        for item in row["components"]
        if item["custom_id"].startswith("meeting:attendance:")
    ]
    pick = await world.twin.click(
        original["id"], picker["custom_id"], founder, values=[str(founder), str(ana)]
    )
    recorded = await pick.response(timeout=3)
    assert "Recorded 2 attendee(s)" in recorded["data"]["content"], recorded
    async with world.services.sessions() as session:
        held = list(await session.scalars(select(ChapterMeeting)))
    assert [(m.chapter_id, m.attendee_count) for m in held] == [(chapter.id, 2)]
    details = await world.services.chapters.details(world.guild_id, chapter.id)
    [meetings_criterion] = [r for r in details.criteria.results if r.key == "meetings"]
    assert meetings_criterion.met
    info = await answer(
        await world.twin.slash(
            world.guild_id,
            world.channel_id,
            ana,
            "chapter",
            subcommand="info",
            options={"chapter": str(chapter.id)},
        )
    )
    shown = str(info["embeds"][0])
    assert "Notes: Planned the fair" in shown and "(2 came)" in shown
    assert "Next meeting: **Monthly circle** <t:" in shown  # next week's, the series is weekly


async def test_bad_input_is_answered_before_anything_is_saved(world: World) -> None:
    chapter, [founder] = await chapter_with_members(world, 1)
    cases = {
        "2019-01-05 19:00": "in the past",
        "someday soon": "couldn't read",
    }
    for start, expected in cases.items():
        reply = await answer(
            await world.slash(
                founder,
                "meeting",
                "schedule",
                chapter=str(chapter.id),
                title="Circle",
                start=start,
                duration="1h",
                location="Library",
            )
        )
        assert expected in reply["content"], reply
    reply = await answer(
        await world.slash(
            founder,
            "meeting",
            "schedule",
            chapter=str(chapter.id),
            title="Circle",
            start=local(world, chapter, timedelta(days=3)),
            duration="1h",
            location="Library",
            repeat="whenever it suits",
        )
    )
    assert "1st and 3rd Tuesday" in reply["content"]
    reply = await answer(
        await world.slash(founder, "meeting", "reminders", chapter=str(chapter.id), leads="3d, 1m")
    )
    assert "at least 5 minutes" in reply["content"]
    async with world.services.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(ReminderDelivery)) == 0
    assert await world.services.meetings.upcoming(world.guild_id, chapter_id=chapter.id) == []


async def test_list_export_cancel_and_member_preferences(world: World) -> None:
    chapter, [founder, ana] = await chapter_with_members(world, 2)
    meeting = await schedule(
        world,
        chapter,
        founder,
        title="Circle",
        start=local(world, chapter, timedelta(days=2)),
        duration="1h",
        location="Cafe",
        repeat="1st and 15th",
    )
    listed = await answer(await world.slash(ana, "meeting", "list"))
    assert "Circle" in listed["content"] and "<t:" in listed["content"]
    export = await world.slash(ana, "meeting", "export", chapter=str(chapter.id))
    await answer(export)
    [attachment] = (await export.wait_original())["attachments"]
    assert attachment["filename"] == "meetings.ics"
    assert b"BEGIN:VEVENT" in world.twin.attachment_bytes(attachment)

    prefs = await answer(
        await world.slash(ana, "reminders", quiet_hours="22:00-07:00", timezone="Europe/Berlin")
    )
    assert "quiet hours 22:00-07:00 (Europe/Berlin)" in prefs["content"]
    off = await answer(await world.slash(ana, "reminders", enabled=False))
    assert "off" in off["content"]

    await (
        await world.twin.click(
            next(
                m for m in world.twin.messages(chapter.channel_id or 0) if "Circle" in m["content"]
            )["id"],
            f"meeting:rsvp:{meeting}:going",
            ana,
        )
    ).response(timeout=3)
    refused = await answer(
        await world.slash(ana, "meeting", "cancel", meeting=str(meeting), scope="this")
    )
    assert "Only the facilitator or founders" in refused["content"]
    cancelled = await answer(
        await world.slash(founder, "meeting", "cancel", meeting=str(meeting), scope="this")
    )
    assert "1 member(s) who answered are told" in cancelled["content"]
    await world.bot.effects_worker.wait_idle()
    [told] = world.dms(ana)
    assert "cancelled" in told["content"]
    upcoming = await world.services.meetings.upcoming(world.guild_id, chapter_id=chapter.id)
    assert meeting not in [o.id for o in upcoming]


async def test_bot_down_over_reminders_sends_one_late_and_skips_meetings_already_started(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    guild = twin.create_guild("Downtime Guild")
    organizer_role = guild.add_role("Organizers", permissions=int(Perm.MANAGE_GUILD))
    organizer = twin.create_user("olivia")
    await twin.member_join(guild.id, organizer, roles=[organizer_role])
    organizers = guild.add_text_channel("organizers")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'down.db'}"
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))

    def world_of(bot: Any, services: Any, engine: Any) -> World:
        return World(
            twin=twin,
            bot=bot,
            services=services,
            clock=clock,
            engine=engine,
            guild=guild,
            organizer_id=organizer,
            organizer_role_id=organizer_role,
            database_url=database_url,
        )

    async with running_bot(twin, database_url, clock, gazetteer) as (bot, services, engine):
        await services.guilds.setup(
            guild.id, organizer_role_id=organizer_role, organizer_channel_id=organizers
        )
        world = world_of(bot, services, engine)
        chapter, [founder, ana] = await chapter_with_members(world, 2)
        later = await schedule(
            world,
            chapter,
            founder,
            title="Evening circle",
            start=local(world, chapter, timedelta(hours=5)),
            duration="1h",
            location="Library",
        )
        sooner = await schedule(
            world,
            chapter,
            founder,
            title="Lunch circle",
            start=local(world, chapter, timedelta(hours=2, minutes=30)),
            duration="1h",
            location="Cafe",
        )
        breakfast = await schedule(
            world,
            chapter,
            founder,
            title="Breakfast circle",
            start=local(world, chapter, timedelta(hours=2, minutes=45)),
            duration="1h",
            location="Diner",
        )
        await bot.effects_worker.wait_idle()
    await twin.wait_for(lambda: not twin.gateway.connected(), timeout=5)

    # down for 3 h 10 min: the 2 h reminder of the lunch circle (due in 30 min) is useless now,
    # the one of the evening circle (due in 3 h) is 10 minutes late but still useful
    clock.advance(timedelta(hours=3, minutes=10))
    async with running_bot(twin, database_url, clock, gazetteer) as (bot, services, engine):
        world = world_of(bot, services, engine)

        async def reminded() -> bool:
            ledger = await services.meetings.ledger(later)
            return len([row for row in ledger if row[2] == "sent"]) == 2

        await twin.wait_for(reminded, timeout=10, message="the late reminder was not sent")
        await world.run_due_timers()
        await bot.effects_worker.wait_idle()
        for user in (founder, ana):
            [dm] = other_dms(twin, user)
            assert "Evening circle" in dm["content"] and "late" in dm["content"]
        for skipped in (sooner, breakfast):
            ledger = await services.meetings.ledger(skipped)
            assert ledger and all(status == "skipped" for _, _, status, _ in ledger)
        # both skipped meetings are told in one organizer message, after a short quiet delay
        assert not [m for m in twin.messages(organizers) if "not sent" in m["content"]]
        clock.advance(timedelta(seconds=61))
        await world.run_due_timers()
        await bot.effects_worker.wait_idle()
        told = [m for m in twin.messages(organizers) if "not sent" in m["content"]]
        assert len(told) == 1
        assert "Lunch circle" in told[0]["content"] and "Breakfast circle" in told[0]["content"]
        assert "2 reminder(s)" in told[0]["content"]
        # a later summary run finds nothing new and says nothing
        assert await services.meetings.summarise_skipped(guild.id) == []


async def test_attendance_that_makes_a_chapter_formal_is_announced_like_any_status_change(
    world: World,
) -> None:
    """Chapter status changes a meeting causes go through the chapters cog's one announcer
    (the same text as a join or the daily evaluation), in the channel and to organizers."""
    organizers = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=organizers)
    await world.services.chapter_settings.update(
        world.guild_id, min_members=2, meeting_months=1, require_agreements=False, key_roles=()
    )
    chapter, (founder, ana) = await chapter_with_members(world, 2)
    assert chapter.status == "forming"  # no meeting with attendance yet
    meeting = await schedule(
        world, chapter, founder, title="First circle",
        start=local(world, chapter, timedelta(hours=1)), duration="1h", location="Library",
    )  # fmt: skip
    await world.advance(timedelta(hours=1, minutes=10))
    ix = await world.slash(founder, "meeting", "attendance", meeting=str(meeting))
    await answer(ix)
    original = await ix.wait_original()
    [picker] = [
        item
        for row in original["components"]
        for item in row["components"]
        if item["custom_id"].startswith("meeting:attendance:")
    ]
    pick = await world.twin.click(
        original["id"], picker["custom_id"], founder, values=[str(founder), str(ana)]
    )
    await pick.response(timeout=3)

    def announced(channel_id: int) -> bool:
        return any(
            "is now a formal chapter" in str(m.get("content"))
            for m in world.twin.messages(channel_id)
        )

    await world.twin.wait_for(
        lambda: announced(chapter.channel_id or 0) and announced(organizers), timeout=5
    )
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "formal"


async def test_meetings_within_two_weeks_are_mirrored_as_scheduled_events(world: World) -> None:
    chapter, [founder] = await chapter_with_members(world, 1)
    meeting = await schedule(
        world,
        chapter,
        founder,
        title="Weekly circle",
        repeat="weekly",
        start=local(world, chapter, timedelta(days=2)),
        duration="1h",
        location="Library",
    )
    await world.run_due_timers()
    events = world.twin.guild(world.guild_id).scheduled_events
    # weekly for five weeks materialised; the two within 14 days are mirrored as one-off events
    assert sorted(e["name"] for e in events.values()) == ["Weekly circle"] * 2
    view = await world.services.meetings.get(world.guild_id, meeting)
    event = events[view.event_id or 0]
    assert event["entity_metadata"] == {"location": "Library"} and event["entity_type"] == 3
    assert event["scheduled_start_time"].startswith(view.starts_at.strftime("%Y-%m-%dT%H:%M"))

    await answer(
        await world.slash(
            founder, "meeting", "edit", meeting=str(meeting), scope="this", location="Cafe"
        )
    )
    await world.run_due_timers()
    assert events[view.event_id or 0]["entity_metadata"] == {"location": "Cafe"}
    await answer(
        await world.slash(founder, "meeting", "cancel", meeting=str(meeting), scope="this")
    )
    await world.run_due_timers()
    assert view.event_id not in events and len(events) == 1
    assert (await world.services.meetings.get(world.guild_id, meeting)).event_id is None


async def test_missing_manage_events_is_reported_to_organizers_once(world: World) -> None:
    guild = world.twin.guild(world.guild_id)
    guild.roles[guild.bot_role_id].permissions &= ~int(Perm.MANAGE_EVENTS)
    organizers = guild.add_text_channel("organizers")
    await world.services.guilds.setup(world.guild_id, organizer_channel_id=organizers)
    chapter, [founder] = await chapter_with_members(world, 1)
    await schedule(
        world,
        chapter,
        founder,
        title="Circle",
        repeat="weekly",
        start=local(world, chapter, timedelta(days=1)),
        duration="1h",
        location="Library",
    )
    await world.run_due_timers()
    told = [m for m in world.twin.messages(organizers) if "Manage Events" in m["content"]]
    assert len(told) == 1 and guild.scheduled_events == {}
