"""Welcome and onboarding end to end: joins, the Start flow from a DM and from the channel,
closed DMs, introductions, the follow-up reminder (across a restart) and its cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from bot.services.places import Gazetteer
from bot.services.welcome import followup_key
from bot.welcome_buttons import start_custom_id
from tests.e2e.conftest import World, running_bot
from twin import Twin, TwinInteraction

WHY = "welcome:why"
WHAT = "welcome:what"
CITY = "welcome:city"
DEFERRED = 5
PRIVATE_THREAD = 12


def components_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for row in message.get("components") or [] for c in row.get("components") or []]


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for c in components_of(message) if "custom_id" in c]


async def data(ix: TwinInteraction) -> dict[str, Any]:
    body = await ix.response(timeout=3)
    return dict(body.get("data") or {})


async def answer(ix: TwinInteraction) -> dict[str, Any]:
    """The message that answers ``ix``: the immediate reply, or the first follow-up."""
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        return dict(await ix.wait_followup(timeout=3))
    return dict(body.get("data") or {})


async def setup_channels(world: World) -> tuple[int, int]:
    welcome = world.guild.add_text_channel("welcome")
    organizers = world.guild.add_text_channel("organizers")
    await world.services.guilds.setup(
        world.guild_id, welcome_channel_id=welcome, organizer_channel_id=organizers
    )
    return welcome, organizers


def welcome_post(world: World, channel: int, user_id: int) -> dict[str, Any]:
    [post] = [m for m in world.twin.messages(channel) if f"<@{user_id}>" in m["content"]]
    return post


async def onboard(
    world: World,
    message: dict[str, Any],
    user_id: int,
    *,
    why: str = "",
    what: str = "",
    city: str = "",
    intro: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Start → modal → (a city the gazetteer knows) → intro yes/no; the final answer and the
    message it is on."""
    start = await world.twin.click(message["id"], start_custom_id(world.guild_id), user_id)
    await start.response(timeout=3)
    assert start.modal is not None
    submitted = await world.twin.submit_modal(start, user_id, {WHY: why, WHAT: what, CITY: city})
    question = await data(submitted)
    assert "introduce you" in question["content"], question
    original = await submitted.wait_original()
    answer = "yes" if intro else "no"
    click = await world.twin.click(
        original["id"], f"welcome:intro:{world.guild_id}:{answer}", user_id
    )
    return await data(click), original


async def test_join_welcomes_in_the_channel_and_by_dm_then_onboarding_from_the_dm(
    world: World,
) -> None:
    welcome, _ = await setup_channels(world)
    founder = await world.join("fran")
    chapter = await world.services.chapters.propose(world.guild_id, founder, "Portland, OR")
    bot_user = world.twin.create_user("helper-bot", bot=True)
    await world.twin.member_join(world.guild_id, bot_user)
    newcomer = await world.join("nora")
    await world.bot.effects_worker.wait_idle()

    post = welcome_post(world, welcome, newcomer)
    assert "Welcome to Test Guild" in post["content"]
    assert start_custom_id(world.guild_id) in custom_ids(post)
    [dm] = world.twin.dms(newcomer)
    assert "welcome to Test Guild" in dm["content"] and "/toolkit show" in dm["content"]
    assert start_custom_id(world.guild_id) in custom_ids(dm)
    assert world.twin.dms(bot_user) == []  # bots are not welcomed
    assert not [m for m in world.twin.messages(welcome) if f"<@{bot_user}>" in m["content"]]

    # Start in the DM → modal → an ambiguous city → pick → intro → chapter suggested
    start = await world.twin.click(dm["id"], start_custom_id(world.guild_id), newcomer)
    await start.response(timeout=3)
    assert start.modal is not None
    submitted = await world.twin.submit_modal(
        start, newcomer, {WHY: "To organize my block", WHAT: "Tenant meetings", CITY: "Portland"}
    )
    picker_message = await data(submitted)
    assert "Pick your city" in picker_message["content"], picker_message
    [select] = components_of(picker_message)
    oregon = next(o["value"] for o in select["options"] if o["label"] == "Portland, OR, US")
    original = await submitted.wait_original()
    picked = await world.twin.click(original["id"], select["custom_id"], newcomer, values=[oregon])
    assert "introduce you" in (await data(picked))["content"]
    done_ix = await world.twin.click(original["id"], f"welcome:intro:{world.guild_id}:no", newcomer)
    done = await data(done_ix)
    assert "Portland Chapter" in done["content"] and "km away" in done["content"], done
    join_id = f"welcome:join:{world.guild_id}:{chapter.id}"
    assert join_id in custom_ids(done)

    profile = await world.services.members.get(world.guild_id, newcomer)
    assert profile is not None and profile.city_label == "Portland, OR, US"
    answers = await world.services.welcome.answers(world.guild_id, newcomer)
    assert answers is not None and answers.why_joined == "To organize my block"

    joined = await answer(await world.twin.click(original["id"], join_id, newcomer))
    assert "Welcome to **Portland Chapter**" in joined["content"], joined
    assert "no Discord role yet" in joined["content"]  # as /chapter join says it
    assert [c.id for c in await world.services.chapters.chapters_of(world.guild_id, newcomer)] == [
        chapter.id
    ]

    shown = await data(await world.slash(newcomer, "profile", "show"))
    assert "To organize my block" in shown["content"] and "Portland, OR" in shown["content"]


async def test_closed_dms_fall_back_to_the_channel_once_and_mark_the_profile(
    world: World,
) -> None:
    welcome, _ = await setup_channels(world)
    user_id = world.twin.create_user("quiet-quinn")
    world.twin.set_dms_closed(user_id)
    await world.twin.member_join(world.guild_id, user_id)

    async def fallback_posted() -> bool:
        await world.bot.effects_worker.wait_idle()
        return (
            len([m for m in world.twin.messages(welcome) if f"<@{user_id}>" in m["content"]]) == 2
        )

    await world.twin.wait_for(fallback_posted, message="no channel fallback")
    posts = [m for m in world.twin.messages(welcome) if f"<@{user_id}>" in m["content"]]
    assert "couldn't send you a direct message" in posts[1]["content"]
    assert all(start_custom_id(world.guild_id) in custom_ids(p) for p in posts)
    sends = world.twin.requests_to("POST", "/channels/{channel_id}/messages")
    dm_channel = world.twin.world.dm_channel(user_id).id
    assert len([r for r in sends if str(dm_channel) in r.path]) == 1  # tried once, no retry
    shown = await data(await world.slash(user_id, "profile", "show"))
    assert "Direct messages: closed" in shown["content"], shown

    # onboarding from the channel message is ephemeral
    start = await world.twin.click(posts[0]["id"], start_custom_id(world.guild_id), user_id)
    await start.response(timeout=3)
    submitted = await world.twin.submit_modal(start, user_id, {WHY: "", WHAT: "", CITY: ""})
    assert "introduce you" in (await data(submitted))["content"]
    assert submitted.ephemeral


async def test_mutual_opt_in_introduction_is_sent_once(world: World) -> None:
    welcome, organizers = await setup_channels(world)
    ana = await world.join("ana")
    ben = await world.join("ben")
    cy = await world.join("cy")
    await world.bot.effects_worker.wait_idle()
    await onboard(world, welcome_post(world, welcome, ana), ana, city="Boston, MA", intro=True)
    await onboard(world, welcome_post(world, welcome, cy), cy, city="Boston, MA", intro=False)
    done, message = await onboard(
        world, welcome_post(world, welcome, ben), ben, city="Boston, MA", intro=True
    )
    assert f"<@{ana}>" in done["content"] and f"<@{cy}>" not in done["content"]
    assert "Start a chapter here" in str(done["components"])
    assert "2 other member(s) live in Boston" in done["content"], done
    # again (editing the answers): nobody is introduced twice
    await onboard(world, welcome_post(world, welcome, ben), ben, city="Boston, MA", intro=True)
    await world.bot.effects_worker.wait_idle()
    intro_to_ana = [m for m in world.twin.dms(ana) if "🤝" in m["content"]]
    intro_to_ben = [m for m in world.twin.dms(ben) if "🤝" in m["content"]]
    assert len(intro_to_ana) == 1 and f"<@{ben}>" in intro_to_ana[0]["content"]
    assert len(intro_to_ben) == 1 and f"<@{ana}>" in intro_to_ben[0]["content"]
    assert not [m for m in world.twin.dms(cy) if "🤝" in m["content"]]

    # Start a chapter here: the same proposal as /chapter propose, ben its founder
    [propose_id] = [i for i in custom_ids(done) if i.startswith("welcome:propose:")]
    proposed = await answer(await world.twin.click(message["id"], propose_id, ben))
    [chapter] = await world.services.chapters.list_chapters(world.guild_id)
    assert chapter.city_label == "Boston, MA, US" and chapter.created_by == ben
    # the same path as /chapter propose: role and private channel made, the same announcement
    guild = world.twin.guild(world.guild_id)
    assert chapter.role_id in guild.roles and guild.roles[chapter.role_id].name == "Boston Chapter"
    assert chapter.channel_id in guild.channels
    assert guild.channels[chapter.channel_id].name == "boston-chapter"
    assert proposed["content"] == (
        f"🌱 <@{ben}> proposed **Boston Chapter** in Boston, MA, US. It becomes a formal chapter "
        "once it meets the criteria (see /chapter info). Its channel: "
        f"<#{chapter.channel_id}>. Join with the button or /chapter join."
    ), proposed
    assert custom_ids(proposed) == [f"chapter:join:{chapter.id}"]
    await world.bot.effects_worker.wait_idle()
    assert chapter.role_id in guild.members[ben].roles  # the founder has the role
    organizers_saw = [m["content"] for m in world.twin.messages(organizers)]
    assert not [m for m in organizers_saw if "Boston Chapter" in m]  # nothing failed

    # the welcome's one-click Join, as /chapter join: joined with the role; a lost role given back
    redo, redo_message = await onboard(
        world, welcome_post(world, welcome, cy), cy, city="Boston, MA", intro=False
    )
    join_id = f"welcome:join:{world.guild_id}:{chapter.id}"
    assert join_id in custom_ids(redo), redo
    joined = await answer(await world.twin.click(redo_message["id"], join_id, cy))
    assert "Welcome to **Boston Chapter**" in joined["content"], joined
    assert f"<#{chapter.channel_id}>" in joined["content"]
    await world.bot.effects_worker.wait_idle()
    assert chapter.role_id in guild.members[cy].roles
    await world.twin.remove_member_role(world.guild_id, cy, chapter.role_id)
    await world.twin.wait_for(
        lambda: (
            world.bot.get_guild(world.guild_id).get_member(cy).get_role(chapter.role_id)  # type: ignore[union-attr]
            is None
        ),
        timeout=3,
    )
    again = await answer(await world.twin.click(redo_message["id"], join_id, cy))
    assert "didn't have its role: it's back" in again["content"], again
    assert chapter.role_id in guild.members[cy].roles


async def test_followup_reminds_welcomer_and_organizers_once_and_contacted_cancels(
    world: World,
) -> None:
    _, organizers = await setup_channels(world)
    helper = await world.join("helper")
    await data(await world.slash(helper, "welcome", "volunteer", on=True))
    await data(await world.slash(world.organizer_id, "welcome", "settings", followup="30m"))
    late = await world.join("late")
    early = await world.join("early")
    contacted = await data(
        await world.slash(helper, "welcome", "contacted", member=early, note="Called her")
    )
    assert "was contacted" in contacted["content"]
    pending = await data(await world.slash(world.organizer_id, "welcome", "pending"))
    assert f"<@{late}>" in pending["content"] and f"<@{early}>" not in pending["content"]

    await world.advance(timedelta(minutes=31))
    await world.advance(timedelta(minutes=31))  # a second tick sends nothing more
    await world.bot.effects_worker.wait_idle()
    reminders = [m for m in world.twin.dms(helper) if "⏰" in m["content"]]
    assert len(reminders) == 1 and f"<@{late}>" in reminders[0]["content"]
    told = [m for m in world.twin.messages(organizers) if "⏰" in m["content"]]
    assert len(told) == 1 and f"<@{late}>" in told[0]["content"]
    assert not [m for m in told + reminders if f"<@{early}>" in m["content"]]


async def test_followup_and_start_button_survive_a_restart(
    tmp_path: Path, twin: Twin, gazetteer: Gazetteer
) -> None:
    guild = twin.create_guild("Restart Guild")
    welcome = guild.add_text_channel("welcome")
    organizers = guild.add_text_channel("organizers")
    [helper] = twin.add_members_bulk(guild.id, 1)
    clock = FakeClock(datetime.now(UTC).replace(microsecond=0))
    url = f"sqlite+aiosqlite:///{tmp_path / 'welcome.db'}"
    async with running_bot(twin, url, clock, gazetteer) as (bot, services, _engine):
        await services.guilds.setup(
            guild.id, welcome_channel_id=welcome, organizer_channel_id=organizers
        )

        async def reconciled() -> bool:
            return await services.members.get(guild.id, helper) is not None

        await twin.wait_for(reconciled)
        await services.welcome.set_volunteer(guild.id, helper, True)
        await services.welcome.update_settings(guild.id, followup="30m")
        newcomer = twin.create_user("newcomer")
        await twin.member_join(guild.id, newcomer)

        async def welcomed() -> bool:
            return await services.timers.get_by_key(followup_key(guild.id, newcomer)) is not None

        await twin.wait_for(welcomed)
        await bot.effects_worker.wait_idle()
        [post] = [m for m in twin.messages(welcome) if f"<@{newcomer}>" in m["content"]]
    clock.advance(timedelta(minutes=45))  # the window passes while the bot is down
    async with running_bot(twin, url, clock, gazetteer) as (bot, services, _engine):
        timer = await services.timers.get_by_key(followup_key(guild.id, newcomer))
        assert timer is not None

        async def reminded() -> bool:
            await bot.effects_worker.wait_idle()
            return any("⏰" in m["content"] for m in twin.messages(organizers))

        await services.dispatcher.fire(timer.id)
        await twin.wait_for(reminded, message="no follow-up after the restart")
        await services.dispatcher.fire(timer.id)  # fires once
        await bot.effects_worker.wait_idle()
        assert len([m for m in twin.messages(organizers) if "⏰" in m["content"]]) == 1
        assert len([m for m in twin.dms(helper) if "⏰" in m["content"]]) == 1

        # the Start button on the message posted before the restart still opens the modal
        start = await twin.click(post["id"], start_custom_id(guild.id), newcomer)
        await start.response(timeout=3)
        assert start.modal is not None and "Welcome to" in start.modal["title"]
    twin.assert_no_spec_violations()


async def test_settings_are_checked_previewed_and_organizer_only(world: World) -> None:
    welcome, _ = await setup_channels(world)
    member = await world.join("mel")
    refused = await data(await world.slash(member, "welcome", "settings", followup="1h"))
    assert "Only organizers" in refused["content"]
    bad = await data(
        await world.slash(
            world.organizer_id, "welcome", "settings", channel_message="Hi {name} @everyone"
        )
    )
    assert "Unknown placeholder {name}" in bad["content"], bad
    bad = await data(await world.slash(world.organizer_id, "welcome", "settings", followup="soon"))
    assert "48h, 2d or 30m" in bad["content"]
    saved = await data(
        await world.slash(
            world.organizer_id,
            "welcome",
            "settings",
            channel_message="Hello {member}, welcome to {server}!",
            followup="2d",
            radius_km=80,
        )
    )
    assert "Follow-up window: 2d" in saved["content"] and "80 km" in saved["content"], saved
    preview = await data(await world.slash(world.organizer_id, "welcome", "preview"))
    assert f"Hello <@{world.organizer_id}>, welcome to Test Guild!" in preview["content"]
    assert f"<#{welcome}>" in preview["content"]
    newcomer = await world.join("nat")
    await world.bot.effects_worker.wait_idle()
    assert "welcome to Test Guild!" in welcome_post(world, welcome, newcomer)["content"]


async def test_toolkit_show_add_remove(world: World) -> None:
    member = await world.join("tess")
    shown = await data(await world.slash(member, "toolkit", "show"))
    for section in ("Sign-up sheets", "A mailing list", "Outreach as a system"):
        assert section in shown["content"]
    refused = await data(
        await world.slash(
            member, "toolkit", "add", section="A mailing list", title="X", link="https://x.org"
        )
    )
    assert "Only organizers" in refused["content"]
    added = await data(
        await world.slash(
            world.organizer_id,
            "toolkit",
            "add",
            section="A mailing list",
            title="Running a list",
            link="https://example.org/list",
            description="How we run ours",
        )
    )
    assert "Added **Running a list**" in added["content"]
    shown = await data(await world.slash(member, "toolkit", "show"))
    assert "[Running a list](<https://example.org/list>): How we run ours" in shown["content"]
    [item] = (await world.services.welcome.toolkit(world.guild_id))[1].items
    removed = await data(
        await world.slash(world.organizer_id, "toolkit", "remove", resource=str(item.id))
    )
    assert "Removed **Running a list**" in removed["content"]


async def test_a_role_above_the_bot_is_reported_to_organizers_by_name(world: World) -> None:
    _, organizers = await setup_channels(world)
    newcomer_role = world.guild.add_role("Newcomer", position=50)  # above the bot's role
    settings = await data(
        await world.slash(
            world.organizer_id, "welcome", "settings", newcomer_role=str(newcomer_role)
        )
    )
    assert "below **Newcomer**" in settings["content"], settings
    user_id = await world.join("rita")

    async def reported() -> bool:
        await world.bot.effects_worker.wait_idle()
        await world.advance(timedelta(minutes=1))  # failures are gathered into one report
        await world.bot.effects_worker.wait_idle()
        return any(
            "newcomer role" in m["content"] and f"<@{user_id}>" in m["content"]
            for m in world.twin.messages(organizers)
        )

    await world.twin.wait_for(reported, message="the role problem was not reported")
    report = next(m for m in world.twin.messages(organizers) if f"<@{user_id}>" in m["content"])
    assert "drag" in report["content"] and "Newcomer" in report["content"], report


async def test_introduction_falls_back_to_a_private_thread_when_dms_are_closed(
    world: World,
) -> None:
    welcome, _ = await setup_channels(world)
    ana = await world.join("ana")
    ben = await world.join("ben")
    await world.bot.effects_worker.wait_idle()
    world.twin.set_dms_closed(ben)
    await onboard(world, welcome_post(world, welcome, ana), ana, city="Boston, MA", intro=True)
    done, _ = await onboard(
        world, welcome_post(world, welcome, ben), ben, city="Boston, MA", intro=True
    )
    assert f"<@{ana}>" in done["content"], done
    await world.bot.effects_worker.wait_idle()
    # ana's DMs are open: a DM naming ben; ben's are closed: a private thread in the welcome
    # channel with ben and ana in it, naming ana; nothing posted in the channel itself
    [to_ana] = [m for m in world.twin.dms(ana) if "🤝" in m["content"]]
    assert f"<@{ben}>" in to_ana["content"]
    assert not [m for m in world.twin.messages(welcome) if "🤝" in m["content"]]
    threads = [
        c
        for c in world.twin.world.channels.values()
        if c.type == PRIVATE_THREAD and c.parent_id == welcome
    ]
    [thread] = threads
    assert set(thread.thread_member_ids) >= {ben, ana}
    [intro] = world.twin.messages(thread.id)
    assert f"<@{ana}>" in intro["content"] and "🤝" in intro["content"]
    # again (editing the answers): no second thread
    await onboard(world, welcome_post(world, welcome, ben), ben, city="Boston, MA", intro=True)
    await world.bot.effects_worker.wait_idle()
    assert [c for c in world.twin.world.channels.values() if c.type == PRIVATE_THREAD] == threads
