"""WelcomeService against a real migrated SQLite database and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services.chapters import ChapterService
from bot.services.effects import EffectKind, EffectService, EffectStatus
from bot.services.guilds import GuildService
from bot.services.members import MemberService
from bot.services.places import Gazetteer
from bot.services.timers import TimerService
from bot.services.welcome import (
    DEFAULT_FOLLOWUP,
    FOLLOWUP_EVENT,
    TOOLKIT_SECTIONS,
    WELCOME_BATCH_MAX,
    WelcomeService,
    followup_key,
    parse_duration,
    render,
    validate_template,
)
from db.models import DirectMessageState, MemberIntroduction, TimerStatus

GUILD = 500
WELCOME_CHANNEL = 600
ORGANIZER_CHANNEL = 601
START = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
BUTTON = [{"type": 1, "components": [{"type": 2, "style": 1, "label": "Start", "custom_id": "x"}]}]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def effects(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> EffectService:
    return EffectService(sessions, clock)  # type: ignore[arg-type]


@pytest.fixture
def timers(sessions: async_sessionmaker[AsyncSession], clock: FakeClock) -> TimerService:
    return TimerService(sessions, clock)  # type: ignore[arg-type]


@pytest.fixture
def members(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> MemberService:
    return MemberService(sessions, clock, gazetteer)  # type: ignore[arg-type]


@pytest.fixture
def chapters(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> ChapterService:
    return ChapterService(sessions, clock, gazetteer)  # type: ignore[arg-type]


@pytest.fixture
async def welcome(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    timers: TimerService,
    effects: EffectService,
    chapters: ChapterService,
    gazetteer: Gazetteer,
) -> WelcomeService:
    await GuildService(sessions, clock).setup(  # type: ignore[arg-type]
        GUILD, welcome_channel_id=WELCOME_CHANNEL, organizer_channel_id=ORGANIZER_CHANNEL
    )
    return WelcomeService(sessions, clock, timers, effects, chapters, gazetteer)  # type: ignore[arg-type]


async def join(
    members: MemberService, welcome: WelcomeService, user_id: int, city: str | None = None
) -> None:
    await members.member_joined(GUILD, user_id)
    if city:
        await members.set_city(GUILD, user_id, city)
    await welcome.newcomer_joined(GUILD, user_id, server_name="Test", start_components=BUTTON)


# ------------------------------------------------------------------------------ pure parts


def test_templates_are_checked_when_saved() -> None:
    assert validate_template("  Hi {member}, see {toolkit} on {server}  ") == (
        "Hi {member}, see {toolkit} on {server}"
    )
    with pytest.raises(InvalidInput, match="Unknown placeholder"):
        validate_template("Hi {name}")
    with pytest.raises(InvalidInput, match="stray"):
        validate_template("Hi {member")
    for ping in ("hello @everyone", "hi @here", "see <@&123>", "ask <@42>", "in <#9>"):
        with pytest.raises(InvalidInput, match="mention"):
            validate_template(ping)
    with pytest.raises(InvalidInput, match="1,500"):
        validate_template("x" * 1501)
    with pytest.raises(InvalidInput, match="empty"):
        validate_template("   ")
    assert render("{member} {server} {{x}}", member="<@1>", server="S") == "<@1> S {x}"


def test_durations() -> None:
    assert parse_duration("48h") == timedelta(hours=48)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("1d 12h") == timedelta(hours=36)
    for bad in ("", "soon", "48", "2w", "0m", "31d", "5h and"):
        with pytest.raises(InvalidInput):
            parse_duration(bad)


# ------------------------------------------------------------------------------ settings


async def test_defaults_then_settings(welcome: WelcomeService) -> None:
    config = await welcome.config(GUILD)
    assert config.followup == DEFAULT_FOLLOWUP
    assert config.radius_km == 50
    assert "{member}" in config.channel_template and config.welcome_channel_id == WELCOME_CHANNEL
    config = await welcome.update_settings(
        GUILD, channel_template="Hey {member}", followup="30m", radius_km=80, member_role_id=7
    )
    assert (config.channel_template, config.followup, config.radius_km) == (
        "Hey {member}",
        timedelta(minutes=30),
        80,
    )
    assert config.member_role_id == 7
    with pytest.raises(InvalidInput):
        await welcome.update_settings(GUILD, dm_template="{oops}", followup="1h")
    assert (await welcome.config(GUILD)).followup == timedelta(minutes=30)  # nothing saved
    config = await welcome.update_settings(GUILD, reset_templates=True, clear_roles=True)
    assert config.channel_template.startswith("👋") and config.member_role_id is None


# ------------------------------------------------------------------------------ join


async def test_join_posts_dms_grants_role_and_arms_the_followup(
    welcome: WelcomeService,
    members: MemberService,
    effects: EffectService,
    timers: TimerService,
) -> None:
    await welcome.update_settings(GUILD, newcomer_role_id=70)
    await welcome.set_volunteer(GUILD, 2, True)
    await members.member_joined(GUILD, 2)
    await members.member_joined(GUILD, 1)
    result = await welcome.newcomer_joined(
        GUILD, 1, server_name="Test **Server**", start_components=BUTTON
    )
    assert result.welcomed and result.welcomer_id == 2
    assert result.followup_at == START + DEFAULT_FOLLOWUP
    rows = await effects.find(guild_id=GUILD)
    kinds = [r.kind for r in rows]
    assert kinds == [EffectKind.CHANNEL_POST, EffectKind.DM, EffectKind.ROLE_GRANT]
    post, dm, role = rows
    assert post.payload["channel_id"] == WELCOME_CHANNEL
    assert "<@1>" in post.payload["message"]["content"]
    assert post.payload["message"]["components"] == BUTTON
    assert post.payload["message"]["allowed_mentions"]["users"] == ["1"]
    assert dm.payload["message"]["components"] == BUTTON
    assert dm.payload["fallback"]["kind"] == "channel_post"
    assert role.payload["role_id"] == 70
    timer = await timers.get_by_key(followup_key(GUILD, 1))
    assert timer is not None and timer.event == FOLLOWUP_EVENT
    assert timer.expires == START + DEFAULT_FOLLOWUP
    # a replayed join event changes nothing
    again = await welcome.newcomer_joined(GUILD, 1, server_name="Test", start_components=BUTTON)
    assert not again.welcomed
    assert len(await effects.find(guild_id=GUILD)) == 3


async def test_known_closed_dms_get_only_the_channel_post(
    welcome: WelcomeService,
    members: MemberService,
    effects: EffectService,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        session.add(
            DirectMessageState(user_id=1, closed_at=START, closed_reason="50007", updated_at=START)
        )
    await join(members, welcome, 1)
    assert [r.kind for r in await effects.find(guild_id=GUILD)] == [EffectKind.CHANNEL_POST]
    summary = await welcome.answers(GUILD, 1)
    assert summary is not None and summary.dms_closed


async def test_welcomer_same_city_first_then_fewest_open(
    welcome: WelcomeService, members: MemberService
) -> None:
    for volunteer, city in ((10, "Chicago, IL"), (11, "Boston, MA"), (12, "Boston, MA")):
        await members.member_joined(GUILD, volunteer)
        await members.set_city(GUILD, volunteer, city)
        await welcome.set_volunteer(GUILD, volunteer, True)
    # a returning member with a city: same city first
    await join(members, welcome, 1, "Chicago, IL")
    assert (await welcome.answers(GUILD, 1)).welcomer_id == 10  # type: ignore[union-attr]
    # no city: fewest open newcomers (11 and 12 have none; 11 volunteered first)
    await join(members, welcome, 2)
    assert (await welcome.answers(GUILD, 2)).welcomer_id == 11  # type: ignore[union-attr]
    await join(members, welcome, 3)
    assert (await welcome.answers(GUILD, 3)).welcomer_id == 12  # type: ignore[union-attr]
    # a volunteer who left is never picked; one who stopped volunteering neither
    await members.member_left(GUILD, 10)
    await welcome.set_volunteer(GUILD, 11, False)
    await join(members, welcome, 4, "Chicago, IL")
    assert (await welcome.answers(GUILD, 4)).welcomer_id == 12  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ follow-up


async def test_followup_reminds_once_and_contact_cancels(
    welcome: WelcomeService,
    members: MemberService,
    effects: EffectService,
    timers: TimerService,
) -> None:
    await members.member_joined(GUILD, 9)
    await welcome.set_volunteer(GUILD, 9, True)
    await join(members, welcome, 1)
    await join(members, welcome, 2)
    pending = await welcome.pending(GUILD)
    assert [p.user_id for p in pending] == [1, 2]
    timer = await timers.get_by_key(followup_key(GUILD, 1))
    assert timer is not None
    joined = timer.payload["joined_at"]
    reminder = await welcome.followup_due(GUILD, 1, joined, owner_id=None)
    assert reminder is not None and reminder.welcomer_id == 9 and reminder.told_organizers
    followups = [r for r in await effects.find(guild_id=GUILD) if r.purpose == "welcome-followup"]
    assert [(r.kind, r.payload.get("user_id")) for r in followups] == [
        (EffectKind.DM, 9),
        (EffectKind.CHANNEL_POST, None),
    ]
    assert followups[1].payload["channel_id"] == ORGANIZER_CHANNEL
    # fires once: a second run (a retry, a restart) sends nothing
    assert await welcome.followup_due(GUILD, 1, joined, owner_id=None) is None
    # member 2: a stranger can't record contact, the welcomer can; the timer is cancelled
    with pytest.raises(NotAllowed):
        await welcome.record_contact(GUILD, 5, 2, "hi", actor_is_organizer=False)
    with pytest.raises(NotFound):
        await welcome.record_contact(GUILD, 9, 77, None, actor_is_organizer=True)
    summary = await welcome.record_contact(GUILD, 9, 2, "called", actor_is_organizer=False)
    assert summary.contacted_by == 9 and summary.contact_note == "called"
    timer2 = await timers.get_by_key(followup_key(GUILD, 2))
    assert timer2 is not None and timer2.status == TimerStatus.CANCELLED
    assert await welcome.followup_due(GUILD, 2, timer2.payload["joined_at"], owner_id=None) is None
    assert [p.user_id for p in await welcome.pending(GUILD)] == [1]


async def test_followup_drops_a_newcomer_who_left(
    welcome: WelcomeService, members: MemberService, timers: TimerService
) -> None:
    await join(members, welcome, 1)
    timer = await timers.get_by_key(followup_key(GUILD, 1))
    assert timer is not None
    await members.member_left(GUILD, 1)
    assert await welcome.followup_due(GUILD, 1, timer.payload["joined_at"], owner_id=3) is None
    assert await welcome.pending(GUILD) == []


async def test_followup_goes_to_the_owner_without_an_organizer_channel(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    timers: TimerService,
    effects: EffectService,
    chapters: ChapterService,
    gazetteer: Gazetteer,
    members: MemberService,
) -> None:
    welcome = WelcomeService(sessions, clock, timers, effects, chapters, gazetteer)  # type: ignore[arg-type]
    await join(members, welcome, 1)  # no /setup at all: no channel post, a DM only
    assert [r.kind for r in await effects.find(guild_id=GUILD)] == [EffectKind.DM]
    timer = await timers.get_by_key(followup_key(GUILD, 1))
    assert timer is not None
    reminder = await welcome.followup_due(GUILD, 1, timer.payload["joined_at"], owner_id=42)
    assert reminder is not None and reminder.welcomer_id is None
    owner_dm = (await effects.find(guild_id=GUILD, kind=EffectKind.DM))[-1]
    assert owner_dm.payload["user_id"] == 42 and "nobody" in owner_dm.payload["message"]["content"]


# ------------------------------------------------------------------------------ onboarding


async def test_answers_completion_roles_and_chapters_nearby(
    welcome: WelcomeService,
    members: MemberService,
    chapters: ChapterService,
    effects: EffectService,
) -> None:
    await welcome.update_settings(GUILD, newcomer_role_id=70, member_role_id=71, radius_km=50)
    for user_id, city in ((20, "Oakland, CA"), (21, "San Francisco, CA"), (22, "Chicago, IL")):
        await members.member_joined(GUILD, user_id)
        await members.set_city(GUILD, user_id, city)
    await chapters.propose(GUILD, 20, "Oakland, CA")
    await chapters.propose(GUILD, 22, "Chicago, IL")
    await join(members, welcome, 1)
    with pytest.raises(InvalidInput):
        await welcome.save_answers(GUILD, 1, "x" * 1001, None)
    await welcome.save_answers(GUILD, 1, "  climate\x00 justice ", "")
    await members.set_city(GUILD, 1, "San Francisco, CA")
    done = await welcome.complete(GUILD, 1, intro_opt_in=False)
    assert done.first_time and done.introduced == ()
    assert done.place is not None and done.place.name == "San Francisco"
    assert [c.chapter.city_label for c in done.chapters] == ["Oakland, CA, US"]
    assert done.chapters[0].distance_km < 20
    assert (done.members_in_city, done.members_nearby, done.radius_km) == (1, 2, 50)
    summary = await welcome.answers(GUILD, 1)
    assert summary is not None
    assert (summary.why_joined, summary.what_we_could_do) == ("climate justice", None)
    assert summary.city_label == "San Francisco, CA, US" and summary.completed_at == START
    roles = [r for r in await effects.find(guild_id=GUILD) if r.purpose == "welcome"]
    assert [(r.kind, r.payload.get("role_id")) for r in roles[-2:]] == [
        (EffectKind.ROLE_GRANT, 71),
        (EffectKind.ROLE_REMOVE, 70),
    ]
    again = await welcome.complete(GUILD, 1, intro_opt_in=True)  # editing: no second role change
    assert not again.first_time
    assert len([r for r in await effects.find(guild_id=GUILD) if r.purpose == "welcome"]) == len(
        roles
    )


async def test_mutual_opt_in_introductions_at_most_once_per_pair(
    welcome: WelcomeService,
    members: MemberService,
    effects: EffectService,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for user_id in (1, 2, 3):
        await join(members, welcome, user_id, "Boston, MA")
    await join(members, welcome, 4, "Chicago, IL")
    assert (await welcome.complete(GUILD, 1, intro_opt_in=True)).introduced == ()
    assert (await welcome.complete(GUILD, 2, intro_opt_in=False)).introduced == ()  # not mutual
    assert (await welcome.complete(GUILD, 4, intro_opt_in=True)).introduced == ()  # other city
    assert (await welcome.complete(GUILD, 3, intro_opt_in=True)).introduced == (1,)
    intros = [r for r in await effects.find(kind=EffectKind.DM) if r.purpose == "introduction"]
    assert sorted(r.payload["user_id"] for r in intros) == [1, 3]
    to_three = next(r for r in intros if r.payload["user_id"] == 3)
    assert "<@1>" in to_three.payload["message"]["content"]
    assert "<@2>" not in to_three.payload["message"]["content"]
    # running it again (an edit through /welcome start) introduces nobody twice
    assert (await welcome.complete(GUILD, 3, intro_opt_in=True)).introduced == ()
    assert (await welcome.complete(GUILD, 1, intro_opt_in=True)).introduced == ()
    await welcome.complete(GUILD, 2, intro_opt_in=True)  # 2 opts in later: meets 1 and 3
    async with sessions() as session:
        pairs = (
            await session.execute(
                select(MemberIntroduction.first_user_id, MemberIntroduction.second_user_id)
            )
        ).all()
    assert sorted(pairs) == [(1, 2), (1, 3), (2, 3)]
    async with sessions.begin() as session:
        session.add(
            MemberIntroduction(guild_id=GUILD, first_user_id=1, second_user_id=3, created_at=START)
        )
        with pytest.raises(IntegrityError):
            await session.flush()
        await session.rollback()


# ------------------------------------------------------------------------------ toolkit


async def test_toolkit_sections_add_remove(welcome: WelcomeService) -> None:
    sections = await welcome.toolkit(GUILD)
    assert [s.name for s in sections] == list(TOOLKIT_SECTIONS)
    assert all(s.items == () for s in sections)
    item = await welcome.add_resource(
        GUILD, 1, "sign-up sheets", "Sheet", "https://example.org/s", "A sign-up sheet"
    )
    assert item.section == "Sign-up sheets"
    await welcome.add_resource(GUILD, 1, "Press", "Kit", "https://example.org/p", "")
    sections = await welcome.toolkit(GUILD)
    assert sections[0].items == (item,) and sections[-1].name == "Press"
    for bad in ("javascript:alert(1)", "example.org", "https://a b"):
        with pytest.raises(InvalidInput):
            await welcome.add_resource(GUILD, 1, "Press", "X", bad, "")
    assert await welcome.remove_resource(GUILD, item.id) == item
    with pytest.raises(NotFound):
        await welcome.remove_resource(GUILD, item.id)
    with pytest.raises(NotFound):
        await welcome.remove_resource(GUILD + 1, 2)  # another server's resource


async def test_effects_of_a_join_are_pending_for_the_worker(
    welcome: WelcomeService, members: MemberService, effects: EffectService
) -> None:
    await join(members, welcome, 1)
    assert {r.status for r in await effects.find(guild_id=GUILD)} == {EffectStatus.PENDING}


async def test_a_burst_of_joins_shares_welcome_posts_not_yet_sent(
    welcome: WelcomeService, members: MemberService, effects: EffectService
) -> None:
    """A channel takes 5 messages per 5 s: newcomers join a post the worker hasn't tried yet,
    up to WELCOME_BATCH_MAX each; a post already claimed is never changed."""
    for user_id in range(1, WELCOME_BATCH_MAX + 3):
        await join(members, welcome, user_id)
    posts = await effects.find(guild_id=GUILD, kind=EffectKind.CHANNEL_POST)
    assert [p.payload["welcome_members"] for p in posts] == [
        list(range(1, WELCOME_BATCH_MAX + 1)),
        [WELCOME_BATCH_MAX + 1, WELCOME_BATCH_MAX + 2],
    ]
    first = posts[0].payload["message"]
    assert "<@1>, <@2>" in first["content"] and len(first["content"]) <= 2000
    assert first["allowed_mentions"]["users"] == [str(u) for u in range(1, WELCOME_BATCH_MAX + 1)]
    [claimed] = await effects.claim_batch(1, timedelta(minutes=1))
    assert claimed.id == posts[0].id
    await join(members, welcome, 99)
    posts = await effects.find(guild_id=GUILD, kind=EffectKind.CHANNEL_POST)
    assert posts[0].payload["welcome_members"] == list(range(1, WELCOME_BATCH_MAX + 1))
    assert posts[1].payload["welcome_members"][-1] == 99
    # every newcomer still gets their own DM
    assert len(await effects.find(guild_id=GUILD, kind=EffectKind.DM)) == WELCOME_BATCH_MAX + 3
