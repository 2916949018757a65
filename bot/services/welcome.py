"""Welcome and onboarding: greet every newcomer, learn why they came, connect them locally and
make sure someone follows up within the window organizers set (48 h by default).

The practice this follows (DESIGN §1): welcome each incoming member, ask why they joined and
what the group could do, connect members in the same city, follow up within two days. Every
Discord call it causes (the welcome post and DM, roles, introductions, reminders) is written as
an effect in the same transaction as the change that causes it; the follow-up is one keyed
durable timer per newcomer. Nothing here imports discord.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import InvalidInput, NotAllowed, NotFound
from bot.services.chapters import ChapterService, ChapterSummary
from bot.services.effects import (
    DM_CLOSED_RECHECK,
    EffectRequest,
    EffectService,
    channel_post,
    direct_message,
    private_thread,
    role_grant,
    role_removal,
)
from bot.services.places import Gazetteer, Place
from bot.services.sanitize import clean_name, clean_text
from bot.services.timers import TimerService
from db.models import (
    DirectMessageState,
    GuildConfig,
    MemberIntroduction,
    MemberProfile,
    Onboarding,
    ToolkitResource,
    WelcomeSettings,
    WelcomeVolunteer,
)
from db.session import Sessions

FOLLOWUP_EVENT = "welcome_followup"
PLACEHOLDERS = ("member", "server", "toolkit")
TEMPLATE_MAX = 1500  # leaves room for the member, the server's name and the toolkit line
ANSWER_MAX = 1000
NOTE_MAX = 500
DEFAULT_FOLLOWUP = timedelta(hours=48)
FOLLOWUP_MIN = timedelta(minutes=1)
FOLLOWUP_MAX = timedelta(days=30)
DEFAULT_RADIUS_KM = 50
RADIUS_MAX_KM = 1000
NEARBY_CHAPTERS = 3
#: Newcomers one welcome post may greet when many join at once (see ``_join_welcome_post``).
WELCOME_BATCH_MAX = 10
CONTENT_MAX = 2000
_BATCH = "welcome_members"
TOOLKIT_TEXT = "the chapter toolkit (/toolkit show)"
#: The sections a new server's toolkit starts with (the seed's list of resources for chapters).
TOOLKIT_SECTIONS = (
    "Sign-up sheets",
    "A mailing list",
    "Fundraising plan",
    "Running an empowering meeting",
    "Outreach as a system",
)
TOOLKIT_TITLE_MAX = 100
TOOLKIT_DESCRIPTION_MAX = 200
TOOLKIT_URL_MAX = 500
TOOLKIT_SECTION_MAX = 60

DEFAULT_CHANNEL_TEMPLATE = (
    "👋 Welcome to {server}, {member}! Press **Start** to tell us why you came and where you "
    "live: we'll connect you with members and a chapter near you."
)
DEFAULT_DM_TEMPLATE = (
    "Hi {member}, welcome to {server}! We'd love to know why you joined and what you think we "
    "could do together. Press **Start** to answer three short questions (you can skip any and "
    "come back with /welcome start). Starting a chapter? See {toolkit}."
)

_MENTION = re.compile(r"@(everyone|here)|<@[!&]?\d+>|<#\d+>", re.IGNORECASE)
_DURATION_PART = re.compile(r"(\d{1,4})\s*([dhm])")
_URL = re.compile(r"^https?://[^\s<>]+$", re.IGNORECASE)


# ---------------------------------------------------------------------------------- pure helpers


def validate_template(text: str) -> str:
    """A template as organizers may save it: not too long, only known placeholders, no pings
    (member mentions come from ``{member}``, never typed)."""
    template = clean_text(text).strip()
    if not template:
        raise InvalidInput("The message can't be empty.")
    if len(template) > TEMPLATE_MAX:
        raise InvalidInput(
            f"That message is {len(template):,} characters; keep it under {TEMPLATE_MAX:,}."
        )
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as error:
        raise InvalidInput(
            f"The message has a stray {{ or }} ({error}). Placeholders look like {known}; "
            "write {{ or }} for a literal brace."
        ) from error
    unknown = sorted({f for f in fields if f not in PLACEHOLDERS})
    if unknown:
        shown = ", ".join("{" + u[:30] + "}" for u in unknown)
        raise InvalidInput(f"Unknown placeholder {shown}. You can use {known}.")
    if _MENTION.search(template):
        raise InvalidInput(
            "Welcome messages can't mention @everyone, @here, roles, members or channels "
            "(the newcomer is {member}). Name a channel in words instead."
        )
    return template


def render(template: str, *, member: str, server: str, toolkit: str = TOOLKIT_TEXT) -> str:
    """A saved template with its placeholders filled (``validate_template`` vouched for it)."""
    return template.format_map({"member": member, "server": server, "toolkit": toolkit})


def parse_duration(text: str) -> timedelta:
    """``48h``, ``2d``, ``30m``, ``1d12h`` → a duration between a minute and 30 days."""
    compact = text.strip().lower().replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise InvalidInput(
            f"“{text[:40]}” isn't a duration: write it like 48h, 2d or 30m (d = days, "
            "h = hours, m = minutes)."
        )
    unit = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}
    total = sum((int(n) * unit[u] for n, u in parts), timedelta())
    if not FOLLOWUP_MIN <= total <= FOLLOWUP_MAX:
        raise InvalidInput("The follow-up window must be between 1 minute and 30 days.")
    return total


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((days, "d"), (hours, "h"), (minutes, "m")) if n)
    return text or "0m"


def distance_km(a: Place, b: Place) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.latitude, a.longitude, b.latitude, b.longitude))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, h)))


def followup_key(guild_id: int, user_id: int) -> str:
    return f"{FOLLOWUP_EVENT}:{guild_id}:{user_id}"


def _clean_answer(text: str | None, what: str) -> str | None:
    if text is None:
        return None
    answer = clean_text(text).strip()
    if len(answer) > ANSWER_MAX:
        raise InvalidInput(f"Keep {what} under {ANSWER_MAX:,} characters.")
    return answer or None


def _mention(user_id: int) -> str:
    return f"<@{user_id}>"


# ---------------------------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class WelcomeConfig:
    """A guild's welcome settings with defaults filled in."""

    guild_id: int
    channel_template: str
    dm_template: str
    followup: timedelta
    radius_km: int
    newcomer_role_id: int | None
    member_role_id: int | None
    welcome_channel_id: int | None
    organizer_channel_id: int | None


@dataclass(frozen=True, slots=True)
class NewcomerWelcome:
    """What a join set in motion (nothing if the join was already welcomed)."""

    welcomed: bool
    welcomer_id: int | None = None
    followup_at: datetime | None = None
    channel_post_id: int | None = None
    dm_id: int | None = None


@dataclass(frozen=True, slots=True)
class OnboardingSummary:
    guild_id: int
    user_id: int
    joined_at: datetime
    why_joined: str | None
    what_we_could_do: str | None
    intro_opt_in: bool | None
    completed_at: datetime | None
    welcomer_id: int | None
    contacted_at: datetime | None
    contacted_by: int | None
    contact_note: str | None
    city_label: str | None = None
    dms_closed: bool = False


@dataclass(frozen=True, slots=True)
class NearbyChapter:
    chapter: ChapterSummary
    distance_km: float


@dataclass(frozen=True, slots=True)
class Completion:
    """Onboarding finished: who was introduced and what is near the member."""

    place: Place | None
    introduced: tuple[int, ...]
    chapters: tuple[NearbyChapter, ...]
    members_in_city: int
    members_nearby: int
    radius_km: int
    first_time: bool


@dataclass(frozen=True, slots=True)
class FollowupReminder:
    """A follow-up that was due: who was told."""

    user_id: int
    welcomer_id: int | None
    told_organizers: bool


@dataclass(frozen=True, slots=True)
class ToolkitItem:
    id: int
    section: str
    title: str
    url: str
    description: str


@dataclass(frozen=True, slots=True)
class ToolkitSection:
    name: str
    items: tuple[ToolkitItem, ...]


# ---------------------------------------------------------------------------------- service


class WelcomeService:
    def __init__(
        self,
        sessions: Sessions,
        clock: Clock,
        timers: TimerService,
        effects: EffectService,
        chapters: ChapterService,
        places: Gazetteer,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._timers = timers
        self._effects = effects
        self._chapters = chapters
        self._places = places

    # -- settings ---------------------------------------------------------------------------------

    async def config(self, guild_id: int) -> WelcomeConfig:
        async with self._sessions.read() as session:
            return await self._config(session, guild_id)

    async def _config(self, session: AsyncSession, guild_id: int) -> WelcomeConfig:
        row = await session.get(WelcomeSettings, guild_id)
        guild = await session.get(GuildConfig, guild_id)
        return WelcomeConfig(
            guild_id=guild_id,
            channel_template=(row.channel_template if row else None) or DEFAULT_CHANNEL_TEMPLATE,
            dm_template=(row.dm_template if row else None) or DEFAULT_DM_TEMPLATE,
            followup=timedelta(minutes=row.followup_minutes)
            if row and row.followup_minutes
            else DEFAULT_FOLLOWUP,
            radius_km=(row.radius_km if row else None) or DEFAULT_RADIUS_KM,
            newcomer_role_id=row.newcomer_role_id if row else None,
            member_role_id=row.member_role_id if row else None,
            welcome_channel_id=guild.welcome_channel_id if guild else None,
            organizer_channel_id=guild.organizer_channel_id if guild else None,
        )

    async def update_settings(
        self,
        guild_id: int,
        *,
        channel_template: str | None = None,
        dm_template: str | None = None,
        followup: str | None = None,
        radius_km: int | None = None,
        newcomer_role_id: int | None = None,
        member_role_id: int | None = None,
        reset_templates: bool = False,
        clear_roles: bool = False,
    ) -> WelcomeConfig:
        """Change only what was given (everything is checked before anything is saved)."""
        channel = validate_template(channel_template) if channel_template is not None else None
        dm = validate_template(dm_template) if dm_template is not None else None
        window = parse_duration(followup) if followup is not None else None
        if radius_km is not None and not 1 <= radius_km <= RADIUS_MAX_KM:
            raise InvalidInput(f"The radius must be between 1 and {RADIUS_MAX_KM} km.")
        async with self._sessions.write() as session:
            row = await session.get(WelcomeSettings, guild_id)
            if row is None:
                row = WelcomeSettings(guild_id=guild_id)
                session.add(row)
            if reset_templates:
                row.channel_template = row.dm_template = None
            if clear_roles:
                row.newcomer_role_id = row.member_role_id = None
            if channel is not None:
                row.channel_template = channel
            if dm is not None:
                row.dm_template = dm
            if window is not None:
                row.followup_minutes = int(window.total_seconds() // 60)
            if radius_km is not None:
                row.radius_km = radius_km
            if newcomer_role_id is not None:
                row.newcomer_role_id = newcomer_role_id
            if member_role_id is not None:
                row.member_role_id = member_role_id
            row.updated_at = self._clock.now()
            await session.flush()
            return await self._config(session, guild_id)

    # -- join ------------------------------------------------------------------------------------

    async def newcomer_joined(
        self,
        guild_id: int,
        user_id: int,
        *,
        server_name: str,
        start_components: Sequence[dict[str, Any]],
    ) -> NewcomerWelcome:
        """Welcome a member who joined (after ``members.member_joined`` recorded them): the
        channel post and the DM (both carrying ``start_components``), the newcomer role, a
        welcomer and the follow-up timer, all in one transaction. A replayed join event (same
        join time) changes nothing; a returning member is welcomed again."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            profile = await session.get(MemberProfile, (guild_id, user_id))
            if profile is None or profile.left_at is not None:
                return NewcomerWelcome(welcomed=False)
            joined_at = profile.joined_at
            row = await session.get(Onboarding, (guild_id, user_id))
            if row is not None and row.joined_at == joined_at:
                return NewcomerWelcome(welcomed=False)
            config = await self._config(session, guild_id)
            welcomer_id = await self._pick_welcomer(session, guild_id, user_id, profile)
            if row is None:
                row = Onboarding(guild_id=guild_id, user_id=user_id, joined_at=joined_at)
                session.add(row)
            row.joined_at = joined_at
            row.contacted_at = row.contacted_by = row.contact_note = row.reminded_at = None
            row.welcomer_id = welcomer_id
            row.followup_due_at = now + config.followup
            row.updated_at = now
            stamp = int(joined_at.timestamp())
            requests: list[EffectRequest] = []
            member = _mention(user_id)
            post_id = None
            if config.welcome_channel_id is not None:
                post_id = await self._join_welcome_post(
                    session, config, config.welcome_channel_id, user_id, server_name
                )
                if post_id is None:
                    welcome_post = channel_post(
                        config.welcome_channel_id,
                        guild_id=guild_id,
                        content=render(config.channel_template, member=member, server=server_name),
                        components=start_components,
                        mention_user_ids=[user_id],
                        purpose="welcome",
                        lane=f"welcome:{guild_id}",
                        dedupe_key=f"welcome:post:{guild_id}:{user_id}:{stamp}",
                        describe=f"post the welcome in <#{config.welcome_channel_id}>",
                    )
                    welcome_post.payload[_BATCH] = [user_id]
                    requests.append(welcome_post)
            if not await self._dms_closed(session, user_id):
                fallback = None
                if config.welcome_channel_id is not None:
                    fallback = channel_post(
                        config.welcome_channel_id,
                        guild_id=guild_id,
                        content=f"{member}, I couldn't send you a direct message (your DMs are "
                        "closed), so let's do it here: press **Start**, only you will see the "
                        "questions.",
                        components=start_components,
                        mention_user_ids=[user_id],
                        purpose="welcome-fallback",
                        lane=f"welcome:{guild_id}",
                        dedupe_key=f"welcome:dm-fallback:{guild_id}:{user_id}:{stamp}",
                    )
                requests.append(
                    direct_message(
                        user_id,
                        purpose="welcome",
                        lane=f"welcome:{guild_id}",
                        guild_id=guild_id,
                        dedupe_key=f"welcome:dm:{guild_id}:{user_id}:{stamp}",
                        content=render(config.dm_template, member=member, server=server_name),
                        components=start_components,
                        fallback=fallback,
                        describe=f"send {member} the welcome DM",
                    )
                )
            if config.newcomer_role_id is not None:
                requests.append(
                    role_grant(
                        guild_id,
                        user_id,
                        config.newcomer_role_id,
                        describe=f"give {member} the newcomer role <@&{config.newcomer_role_id}>",
                        reason="welcome: newcomer",
                        purpose="welcome",
                        hint="Fix it, or change it with /welcome settings newcomer_role:.",
                    )
                )
            ids = dict(
                zip(
                    (r.kind.value for r in requests),
                    await self._effects.enqueue(session, *requests),
                    strict=True,
                )
            )
            timer = await self._timers.put(
                session,
                row.followup_due_at,
                FOLLOWUP_EVENT,
                {"guild_id": guild_id, "user_id": user_id, "joined_at": joined_at.isoformat()},
                key=followup_key(guild_id, user_id),
            )
            welcomer_id, followup_at = row.welcomer_id, row.followup_due_at
        self._timers.announce([timer])
        return NewcomerWelcome(
            welcomed=True,
            welcomer_id=welcomer_id,
            followup_at=followup_at,
            channel_post_id=ids.get("channel_post", post_id),
            dm_id=ids.get("dm"),
        )

    async def _join_welcome_post(
        self,
        session: AsyncSession,
        config: WelcomeConfig,
        channel_id: int,
        user_id: int,
        server_name: str,
    ) -> int | None:
        """In a burst of joins, the newcomer joins a welcome post not sent yet (up to
        ``WELCOME_BATCH_MAX`` newcomers each): a channel takes 5 messages per 5 s, so one post
        per member would welcome the 500th member of a raid minutes late. None if there is no
        such post (a new one is written)."""

        def add(payload: dict[str, Any]) -> dict[str, Any] | None:
            members = [int(u) for u in payload.get(_BATCH) or []]
            if not members or len(members) >= WELCOME_BATCH_MAX or user_id in members:
                return None
            members.append(user_id)
            content = render(
                config.channel_template,
                member=", ".join(_mention(u) for u in members),
                server=server_name,
            )
            if len(content) > CONTENT_MAX:
                return None
            message = dict(payload["message"])
            message["content"] = content
            message["allowed_mentions"] = {"parse": [], "users": [str(u) for u in members]}
            return {**payload, "message": message, _BATCH: members}

        return await self._effects.amend_untried(
            session, subject=f"channel:{channel_id}", purpose="welcome", amend=add
        )

    async def _dms_closed(self, session: AsyncSession, user_id: int) -> bool:
        """Known not to accept our DMs (recently): the channel post is their welcome."""
        row = await session.get(DirectMessageState, user_id)
        if row is None or row.closed_at is None:
            return False
        return self._clock.now() - row.closed_at < DM_CLOSED_RECHECK

    async def _pick_welcomer(
        self, session: AsyncSession, guild_id: int, newcomer_id: int, profile: MemberProfile
    ) -> int | None:
        """A volunteer still in the server: the same city first, then the fewest open newcomers
        (not yet contacted), then whoever volunteered first."""
        open_counts = (
            select(Onboarding.welcomer_id.label("welcomer"), func.count().label("open"))
            .join(
                MemberProfile,
                and_(
                    MemberProfile.guild_id == Onboarding.guild_id,
                    MemberProfile.user_id == Onboarding.user_id,
                ),
            )
            .where(
                Onboarding.guild_id == guild_id,
                Onboarding.contacted_at.is_(None),
                MemberProfile.left_at.is_(None),
            )
            .group_by(Onboarding.welcomer_id)
            .subquery()
        )
        rows = await session.execute(
            select(
                WelcomeVolunteer.user_id,
                MemberProfile.geoname_id,
                func.coalesce(open_counts.c.open, 0),
                WelcomeVolunteer.since,
            )
            .join(
                MemberProfile,
                and_(
                    MemberProfile.guild_id == WelcomeVolunteer.guild_id,
                    MemberProfile.user_id == WelcomeVolunteer.user_id,
                ),
            )
            .outerjoin(open_counts, open_counts.c.welcomer == WelcomeVolunteer.user_id)
            .where(
                WelcomeVolunteer.guild_id == guild_id,
                WelcomeVolunteer.user_id != newcomer_id,
                MemberProfile.left_at.is_(None),
            )
        )
        city = profile.geoname_id
        ranked = sorted(
            rows.all(),
            key=lambda r: (
                not (city is not None and r[1] == city),
                int(r[2]),
                r[3],
                int(r[0]),
            ),
        )
        return int(ranked[0][0]) if ranked else None

    # -- volunteers and contact ------------------------------------------------------------------

    async def set_volunteer(self, guild_id: int, user_id: int, on: bool) -> bool:
        """Offer (or stop offering) to welcome newcomers; True if anything changed."""
        async with self._sessions.write() as session:
            row = await session.get(WelcomeVolunteer, (guild_id, user_id))
            if on and row is None:
                session.add(
                    WelcomeVolunteer(guild_id=guild_id, user_id=user_id, since=self._clock.now())
                )
                return True
            if not on and row is not None:
                await session.delete(row)
                return True
            return False

    async def volunteers(self, guild_id: int) -> list[int]:
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(WelcomeVolunteer.user_id)
                .where(WelcomeVolunteer.guild_id == guild_id)
                .order_by(WelcomeVolunteer.since, WelcomeVolunteer.user_id)
            )
            return [int(u) for u in rows]

    async def record_contact(
        self,
        guild_id: int,
        actor_id: int,
        member_id: int,
        note: str | None,
        *,
        actor_is_organizer: bool,
    ) -> OnboardingSummary:
        """Someone got in touch with a newcomer: the follow-up reminder is cancelled. Only the
        newcomer's welcomer or an organizer may record it."""
        text = clean_text(note).strip() if note else None
        if text and len(text) > NOTE_MAX:
            raise InvalidInput(f"Keep the note under {NOTE_MAX} characters.")
        async with self._sessions.write() as session:
            row = await session.get(Onboarding, (guild_id, member_id))
            if row is None:
                raise NotFound(
                    "That member has no welcome on record (they joined before the bot was here, "
                    "or they are a bot)."
                )
            if not actor_is_organizer and row.welcomer_id != actor_id:
                raise NotAllowed(
                    "Only their welcomer or an organizer can record contact with a newcomer."
                )
            row.contacted_at = self._clock.now()
            row.contacted_by = actor_id
            row.contact_note = text or None
            row.updated_at = row.contacted_at
            await self._timers.cancel_keys(session, [followup_key(guild_id, member_id)])
            return self._summary(row, None)

    async def followup_due(
        self, guild_id: int, user_id: int, joined_at: str, *, owner_id: int | None
    ) -> FollowupReminder | None:
        """The follow-up window passed: remind the welcomer (DM) and the organizers (their
        channel, else the server owner by DM), once. None if nothing is due any more: contact
        was recorded, the newcomer left (or left and came back: a newer timer covers that), or
        the reminder went out already."""
        async with self._sessions.write() as session:
            row = await session.get(Onboarding, (guild_id, user_id))
            profile = await session.get(MemberProfile, (guild_id, user_id))
            if (
                row is None
                or profile is None
                or profile.left_at is not None
                or row.joined_at.isoformat() != joined_at
                or row.contacted_at is not None
                or row.reminded_at is not None
            ):
                return None
            config = await self._config(session, guild_id)
            now = self._clock.now()
            row.reminded_at = now
            row.updated_at = now
            member = _mention(user_id)
            since = f"<t:{int(row.joined_at.timestamp())}:R>"
            answers = self._answers_line(row)
            welcomer = _mention(row.welcomer_id) if row.welcomer_id else "nobody (no volunteers)"
            stamp = int(row.joined_at.timestamp())
            requests: list[EffectRequest] = []
            if row.welcomer_id is not None:
                requests.append(
                    direct_message(
                        row.welcomer_id,
                        purpose="welcome-followup",
                        guild_id=guild_id,
                        dedupe_key=f"welcome:followup:welcomer:{guild_id}:{user_id}:{stamp}",
                        content=(
                            f"⏰ Nobody has recorded contact with {member} yet (joined {since}). "
                            f"Could you say hello? {answers}When you have, record it with "
                            f"/welcome contacted member:{member}."
                        )[:2000],
                    )
                )
            organizer_text = (
                f"⏰ {member} joined {since} and nobody has recorded contact yet "
                f"(welcomer: {welcomer}). {answers}Record it with /welcome contacted; "
                "see everyone waiting with /welcome pending."
            )[:2000]
            key = f"welcome:followup:organizers:{guild_id}:{user_id}:{stamp}"
            told = True
            if config.organizer_channel_id is not None:
                requests.append(
                    channel_post(
                        config.organizer_channel_id,
                        guild_id=guild_id,
                        content=organizer_text,
                        purpose="welcome-followup",
                        dedupe_key=key,
                    )
                )
            elif owner_id is not None:
                requests.append(
                    direct_message(
                        owner_id,
                        purpose="welcome-followup",
                        guild_id=guild_id,
                        dedupe_key=key,
                        content=organizer_text,
                    )
                )
            else:
                told = False
            await self._effects.enqueue(session, *requests)
            return FollowupReminder(user_id, row.welcomer_id, told_organizers=told)

    @staticmethod
    def _answers_line(row: Onboarding) -> str:
        parts = []
        if row.why_joined:
            parts.append(f"Why they joined: “{row.why_joined[:200]}”")
        if row.what_we_could_do:
            parts.append(f"What we could do: “{row.what_we_could_do[:200]}”")
        return (" ".join(parts) + " ") if parts else ""

    # -- onboarding answers ----------------------------------------------------------------------

    async def _row_for(self, session: AsyncSession, guild_id: int, user_id: int) -> Onboarding:
        """The member's onboarding row (members from before the bot get one when they start)."""
        row = await session.get(Onboarding, (guild_id, user_id))
        if row is None:
            profile = await session.get(MemberProfile, (guild_id, user_id))
            now = self._clock.now()
            row = Onboarding(
                guild_id=guild_id,
                user_id=user_id,
                joined_at=profile.joined_at if profile else now,
                updated_at=now,
            )
            session.add(row)
        return row

    async def save_answers(
        self, guild_id: int, user_id: int, why_joined: str | None, what_we_could_do: str | None
    ) -> OnboardingSummary:
        """Why they joined and what the group could do (both optional, ≤ 1,000 characters;
        empty clears)."""
        why = _clean_answer(why_joined, "why you joined")
        what = _clean_answer(what_we_could_do, "what we could do")
        async with self._sessions.write() as session:
            row = await self._row_for(session, guild_id, user_id)
            row.why_joined = why
            row.what_we_could_do = what
            row.updated_at = self._clock.now()
            return self._summary(row, None)

    async def answers(self, guild_id: int, user_id: int) -> OnboardingSummary | None:
        async with self._sessions.read() as session:
            row = await session.get(Onboarding, (guild_id, user_id))
            if row is None:
                return None
            profile = await session.get(MemberProfile, (guild_id, user_id))
        closed = await self._effects.closed_dm_user_ids([user_id])
        return self._summary(row, profile, dms_closed=user_id in closed)

    @staticmethod
    def _summary(
        row: Onboarding, profile: MemberProfile | None, *, dms_closed: bool = False
    ) -> OnboardingSummary:
        return OnboardingSummary(
            guild_id=row.guild_id,
            user_id=row.user_id,
            joined_at=row.joined_at,
            why_joined=row.why_joined,
            what_we_could_do=row.what_we_could_do,
            intro_opt_in=row.intro_opt_in,
            completed_at=row.completed_at,
            welcomer_id=row.welcomer_id,
            contacted_at=row.contacted_at,
            contacted_by=row.contacted_by,
            contact_note=row.contact_note,
            city_label=profile.city_label if profile else None,
            dms_closed=dms_closed,
        )

    async def complete(self, guild_id: int, user_id: int, intro_opt_in: bool) -> Completion:
        """The last step: the introduction choice is saved, the member role replaces the
        newcomer role (the first time), members in the same city who also opted in are
        introduced (at most once per pair), and what is near the member is returned."""
        now = self._clock.now()
        introduced: list[int] = []
        async with self._sessions.write() as session:
            row = await self._row_for(session, guild_id, user_id)
            config = await self._config(session, guild_id)
            profile = await session.get(MemberProfile, (guild_id, user_id))
            first_time = row.completed_at is None
            row.intro_opt_in = intro_opt_in
            row.completed_at = row.completed_at or now
            row.updated_at = now
            requests: list[EffectRequest] = []
            member = _mention(user_id)
            if first_time and config.member_role_id is not None:
                requests.append(
                    role_grant(
                        guild_id,
                        user_id,
                        config.member_role_id,
                        describe=f"give {member} the member role <@&{config.member_role_id}>",
                        reason="welcome: onboarding completed",
                        purpose="welcome",
                        hint="Fix it, or change it with /welcome settings member_role:.",
                    )
                )
            if first_time and config.newcomer_role_id is not None:
                requests.append(
                    role_removal(
                        guild_id,
                        user_id,
                        config.newcomer_role_id,
                        describe=f"take the newcomer role <@&{config.newcomer_role_id}> "
                        f"from {member}",
                        reason="welcome: onboarding completed",
                        purpose="welcome",
                    )
                )
            geoname_id = profile.geoname_id if profile else None
            if intro_opt_in and geoname_id is not None:
                introduced = await self._introduce(
                    session, guild_id, user_id, geoname_id, profile, config.welcome_channel_id
                )
            await self._effects.enqueue(session, *requests)
        place = self._places.get(geoname_id) if geoname_id is not None else None
        chapters, in_city, nearby = await self._surroundings(guild_id, user_id, place, config)
        return Completion(
            place=place,
            introduced=tuple(introduced),
            chapters=tuple(chapters),
            members_in_city=in_city,
            members_nearby=nearby,
            radius_km=config.radius_km,
            first_time=first_time,
        )

    async def _introduce(
        self,
        session: AsyncSession,
        guild_id: int,
        user_id: int,
        geoname_id: int,
        profile: MemberProfile | None,
        welcome_channel_id: int | None,
    ) -> list[int]:
        """Pair the member with every opted-in member of the same city not yet introduced to
        them; one DM to each naming the others (a private thread in the welcome channel with
        them added when their DMs are closed). The unique pair makes a second time impossible."""

        def in_thread(
            recipient: int, named: Sequence[int], key: str, content: str
        ) -> EffectRequest | None:
            if welcome_channel_id is None:
                return None
            return private_thread(
                guild_id,
                welcome_channel_id,
                [recipient, *named],
                name="🤝 Introductions",
                purpose="introduction",
                dedupe_key=f"{key}:thread",
                content=content,
            )

        candidates = (
            await session.scalars(
                select(Onboarding.user_id)
                .join(
                    MemberProfile,
                    and_(
                        MemberProfile.guild_id == Onboarding.guild_id,
                        MemberProfile.user_id == Onboarding.user_id,
                    ),
                )
                .where(
                    Onboarding.guild_id == guild_id,
                    Onboarding.user_id != user_id,
                    Onboarding.intro_opt_in.is_(True),
                    MemberProfile.left_at.is_(None),
                    MemberProfile.geoname_id == geoname_id,
                )
                .order_by(Onboarding.completed_at, Onboarding.user_id)
                .limit(20)
            )
        ).all()
        already = set(
            (
                await session.execute(
                    select(
                        MemberIntroduction.first_user_id, MemberIntroduction.second_user_id
                    ).where(
                        MemberIntroduction.guild_id == guild_id,
                        or_(
                            MemberIntroduction.first_user_id == user_id,
                            MemberIntroduction.second_user_id == user_id,
                        ),
                    )
                )
            ).all()
        )
        now = self._clock.now()
        fresh: list[int] = []
        for other in (int(c) for c in candidates):
            pair = (min(user_id, other), max(user_id, other))
            if pair in already:
                continue
            try:
                async with session.begin_nested():
                    session.add(
                        MemberIntroduction(
                            guild_id=guild_id,
                            first_user_id=pair[0],
                            second_user_id=pair[1],
                            geoname_id=geoname_id,
                            created_at=now,
                        )
                    )
            except IntegrityError:  # a concurrent completion introduced them just now
                continue
            fresh.append(other)
        if not fresh:
            return []
        city = (profile.city_label if profile else None) or "your city"
        names = ", ".join(_mention(o) for o in fresh)
        key = f"intro:{guild_id}:{user_id}:{'-'.join(map(str, fresh))}"
        content = (
            f"🤝 You asked to meet members near you. In {city}: {names}. They asked "
            "to be introduced too: say hello!"
        )[:2000]
        requests = [
            direct_message(
                user_id,
                purpose="introduction",
                guild_id=guild_id,
                dedupe_key=key,
                content=content,
                fallback=in_thread(user_id, fresh, key, content),
            )
        ]
        for other in fresh:
            pair_key = f"{min(user_id, other)}-{max(user_id, other)}"
            key = f"intro:{guild_id}:{pair_key}:{other}"
            content = (
                f"🤝 {_mention(user_id)} just joined and lives in {city} too; you both "
                "asked to be introduced to members nearby. Say hello!"
            )
            requests.append(
                direct_message(
                    other,
                    purpose="introduction",
                    guild_id=guild_id,
                    dedupe_key=key,
                    content=content,
                    fallback=in_thread(other, [user_id], key, content),
                )
            )
        await self._effects.enqueue(session, *requests)
        return fresh

    async def _surroundings(
        self, guild_id: int, user_id: int, place: Place | None, config: WelcomeConfig
    ) -> tuple[list[NearbyChapter], int, int]:
        """Active chapters within the radius (nearest first), members in the city and within
        the radius (the member not counted)."""
        if place is None:
            return [], 0, 0
        chapters: list[NearbyChapter] = []
        for chapter in await self._chapters.list_chapters(guild_id):
            where = self._places.get(chapter.geoname_id)
            if where is None:
                continue
            km = distance_km(place, where)
            if km <= config.radius_km:
                chapters.append(NearbyChapter(chapter, km))
        chapters.sort(key=lambda c: (c.distance_km, c.chapter.id))
        async with self._sessions.read() as session:
            rows = await session.execute(
                select(MemberProfile.geoname_id, func.count())
                .where(
                    MemberProfile.guild_id == guild_id,
                    MemberProfile.left_at.is_(None),
                    MemberProfile.geoname_id.is_not(None),
                    MemberProfile.user_id != user_id,
                )
                .group_by(MemberProfile.geoname_id)
            )
            counts = [(int(g), int(n)) for g, n in rows if g is not None]
        in_city = sum(n for g, n in counts if g == place.geoname_id)
        nearby = 0
        for geoname_id, n in counts:
            other = self._places.get(geoname_id)
            if other is not None and distance_km(place, other) <= config.radius_km:
                nearby += n
        return chapters[:NEARBY_CHAPTERS], in_city, nearby

    # -- pending ---------------------------------------------------------------------------------

    async def pending(self, guild_id: int, limit: int = 50) -> list[OnboardingSummary]:
        """Newcomers still in the server with no contact recorded, oldest first."""
        async with self._sessions.read() as session:
            rows = await session.execute(
                select(Onboarding, MemberProfile)
                .join(
                    MemberProfile,
                    and_(
                        MemberProfile.guild_id == Onboarding.guild_id,
                        MemberProfile.user_id == Onboarding.user_id,
                    ),
                )
                .where(
                    Onboarding.guild_id == guild_id,
                    Onboarding.contacted_at.is_(None),
                    Onboarding.followup_due_at.is_not(None),
                    MemberProfile.left_at.is_(None),
                )
                .order_by(Onboarding.joined_at, Onboarding.user_id)
                .limit(limit)
            )
            return [self._summary(o, p) for o, p in rows.all()]

    # -- toolkit ---------------------------------------------------------------------------------

    async def toolkit(self, guild_id: int) -> list[ToolkitSection]:
        """The seed's sections first (empty ones too), then any other section, A to Z."""
        async with self._sessions.read() as session:
            rows = await session.scalars(
                select(ToolkitResource)
                .where(ToolkitResource.guild_id == guild_id)
                .order_by(ToolkitResource.id)
            )
            items = [
                ToolkitItem(r.id, r.section, r.title, r.url, r.description) for r in rows.all()
            ]
        names = list(TOOLKIT_SECTIONS) + sorted(
            {i.section for i in items} - set(TOOLKIT_SECTIONS), key=str.lower
        )
        return [
            ToolkitSection(name, tuple(i for i in items if i.section == name)) for name in names
        ]

    async def add_resource(
        self, guild_id: int, actor_id: int, section: str, title: str, url: str, description: str
    ) -> ToolkitItem:
        name = clean_name(section)
        known = {s.lower(): s for s in TOOLKIT_SECTIONS}
        name = known.get(name.lower(), name)
        title_ = clean_name(title)
        link = url.strip()
        about = clean_name(description)
        if not name or len(name) > TOOLKIT_SECTION_MAX:
            raise InvalidInput(f"Give a section name of at most {TOOLKIT_SECTION_MAX} characters.")
        if not title_ or len(title_) > TOOLKIT_TITLE_MAX:
            raise InvalidInput(f"Give a title of at most {TOOLKIT_TITLE_MAX} characters.")
        if len(link) > TOOLKIT_URL_MAX or not _URL.match(link):
            raise InvalidInput("The link must start with https:// (or http://) and have no spaces.")
        if len(about) > TOOLKIT_DESCRIPTION_MAX:
            raise InvalidInput(
                f"Keep the description to one line of at most {TOOLKIT_DESCRIPTION_MAX} characters."
            )
        async with self._sessions.write() as session:
            row = ToolkitResource(
                guild_id=guild_id,
                section=name,
                title=title_,
                url=link,
                description=about,
                added_by=actor_id,
                created_at=self._clock.now(),
            )
            session.add(row)
            await session.flush()
            return ToolkitItem(row.id, row.section, row.title, row.url, row.description)

    async def remove_resource(self, guild_id: int, resource_id: int) -> ToolkitItem:
        async with self._sessions.write() as session:
            row = await session.get(ToolkitResource, resource_id)
            if row is None or row.guild_id != guild_id:
                raise NotFound("There is no such toolkit resource. See them with /toolkit show.")
            item = ToolkitItem(row.id, row.section, row.title, row.url, row.description)
            await session.execute(delete(ToolkitResource).where(ToolkitResource.id == row.id))
            return item

    async def search_resources(
        self, guild_id: int, text: str, limit: int = 25
    ) -> list[ToolkitItem]:
        wanted = text.strip().lower()
        return [
            item
            for section in await self.toolkit(guild_id)
            for item in section.items
            if wanted in item.title.lower() or wanted in item.section.lower()
        ][:limit]
