"""Members as the bot knows them: when they joined or left, and the city they live in.

A member's place is one canonical city of the offline gazetteer (never a guess: an unknown or
ambiguous city raises with suggestions). ``MemberProfile.joined_at``/``left_at`` are the member
history that marker projections are derived from, so joins and leaves are recorded as they
happen and reconciled with the guild's member list when the bot (re)connects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select, update

from bot.clock import Clock
from bot.errors import InvalidInput, NotFound
from bot.services.places import Gazetteer, Place
from bot.services.sanitize import clean_name
from db.models import MemberProfile
from db.session import Sessions

MAX_DISPLAY_NAME = 100
MAX_CITY_QUERY = 200
# Rows per INSERT when many members are added at once (SQLite allows 32766 bound variables).
_INSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class MemberSnapshot:
    """A member as the guild lists them now (what the cog hands over; no discord types)."""

    user_id: int
    joined_at: datetime | None
    display_name: str | None = None
    bot: bool = False


@dataclass(frozen=True, slots=True)
class ProfileSummary:
    guild_id: int
    user_id: int
    display_name: str | None
    joined_at: datetime
    left_at: datetime | None
    geoname_id: int | None
    city_label: str | None
    region_code: str | None
    country_code: str | None
    continent_code: str | None
    timezone: str | None

    @property
    def has_city(self) -> bool:
        return self.geoname_id is not None

    @property
    def active(self) -> bool:
        return self.left_at is None


@dataclass(frozen=True, slots=True)
class ReconcileResult:
    added: int
    returned: int
    left: int
    unchanged: int


def _summary(row: MemberProfile) -> ProfileSummary:
    return ProfileSummary(
        guild_id=row.guild_id,
        user_id=row.user_id,
        display_name=row.display_name,
        joined_at=row.joined_at,
        left_at=row.left_at,
        geoname_id=row.geoname_id,
        city_label=row.city_label,
        region_code=row.region_code,
        country_code=row.country_code,
        continent_code=row.continent_code,
        timezone=row.timezone,
    )


def _clean_name(name: str | None) -> str | None:
    if name is None:
        return None
    return clean_name(name)[:MAX_DISPLAY_NAME] or None


def _place_columns(place: Place | None) -> dict[str, object]:
    return {
        "geoname_id": place.geoname_id if place else None,
        "city_label": place.label[:120] if place else None,
        "region_code": (place.region_code or None) if place else None,
        "country_code": place.country_code if place else None,
        "continent_code": place.continent_code if place else None,
        "timezone": place.timezone if place else None,
    }


class MemberService:
    def __init__(self, sessions: Sessions, clock: Clock, places: Gazetteer) -> None:
        self._sessions = sessions
        self._clock = clock
        self._places = places

    # ------------------------------------------------------------------ places

    def resolve_city(self, query: str) -> Place:
        """The one city ``query`` names (a name like "Portland, OR" or an autocomplete id).

        Raises ``PlaceNotFound``/``AmbiguousPlace`` (DomainErrors) with suggestions.
        """
        if len(query) > MAX_CITY_QUERY:
            raise InvalidInput(
                "That's too long for a city. Type the city name, like “Portland, OR”, "
                "and pick it from the suggestions."
            )
        return self._places.resolve(query)

    # ---------------------------------------------------------------- profiles

    async def get(self, guild_id: int, user_id: int) -> ProfileSummary | None:
        async with self._sessions.read() as session:
            row = await session.get(MemberProfile, (guild_id, user_id))
            return _summary(row) if row else None

    async def set_city(
        self, guild_id: int, user_id: int, query: str, *, display_name: str | None = None
    ) -> ProfileSummary:
        """Set where a member lives; reusable by onboarding. Creates the profile if needed."""
        place = self.resolve_city(query)
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await session.get(MemberProfile, (guild_id, user_id))
            if row is None:
                row = MemberProfile(guild_id=guild_id, user_id=user_id, joined_at=now)
                session.add(row)
            for column, value in _place_columns(place).items():
                setattr(row, column, value)
            if display_name is not None:
                row.display_name = _clean_name(display_name)
            row.updated_at = now
            return _summary(row)

    async def set_cities(self, guild_id: int, assignments: Mapping[int, str | Place]) -> int:
        """Set many members' cities in one transaction (imports, onboarding backfills, tests).

        Every query is resolved first, so nothing is written if one of them is unknown or
        ambiguous. Returns the number of profiles written.
        """
        resolved: dict[int, Place] = {}
        cache: dict[str, Place] = {}
        for user_id, query in assignments.items():
            if isinstance(query, Place):
                resolved[user_id] = query
                continue
            if query not in cache:
                cache[query] = self.resolve_city(query)
            resolved[user_id] = cache[query]
        now = self._clock.now()
        async with self._sessions.write() as session:
            existing = set(
                (
                    await session.scalars(
                        select(MemberProfile.user_id).where(
                            MemberProfile.guild_id == guild_id,
                            MemberProfile.user_id.in_(list(resolved)),
                        )
                    )
                ).all()
            )
            new_rows = [
                {
                    "guild_id": guild_id,
                    "user_id": user_id,
                    "joined_at": now,
                    "updated_at": now,
                    **_place_columns(place),
                }
                for user_id, place in resolved.items()
                if user_id not in existing
            ]
            for start in range(0, len(new_rows), _INSERT_CHUNK):
                await session.execute(
                    insert(MemberProfile), new_rows[start : start + _INSERT_CHUNK]
                )
            by_place: dict[int, list[int]] = {}
            places: dict[int, Place] = {}
            for user_id, place in resolved.items():
                if user_id in existing:
                    by_place.setdefault(place.geoname_id, []).append(user_id)
                    places[place.geoname_id] = place
            for geoname_id, user_ids in by_place.items():
                await session.execute(
                    update(MemberProfile)
                    .where(MemberProfile.guild_id == guild_id, MemberProfile.user_id.in_(user_ids))
                    .values(updated_at=now, **_place_columns(places[geoname_id]))
                )
        return len(resolved)

    async def clear_city(self, guild_id: int, user_id: int) -> ProfileSummary:
        """Forget a member's city (the membership record stays, for the member counts)."""
        async with self._sessions.write() as session:
            row = await session.get(MemberProfile, (guild_id, user_id))
            if row is None or row.geoname_id is None:
                raise NotFound("You have no city set, so there is nothing to forget.")
            for column in _place_columns(None):
                setattr(row, column, None)
            row.updated_at = self._clock.now()
            return _summary(row)

    # ------------------------------------------------------------- membership

    async def member_joined(
        self,
        guild_id: int,
        user_id: int,
        joined_at: datetime | None = None,
        display_name: str | None = None,
    ) -> ProfileSummary:
        """Record a join (idempotent: a replayed event changes nothing). A returning member
        keeps their city and gets a new join time."""
        now = self._clock.now()
        joined_at = min(joined_at or now, now)  # Discord's clock may run a little ahead
        async with self._sessions.write() as session:
            row = await session.get(MemberProfile, (guild_id, user_id))
            if row is None:
                row = MemberProfile(
                    guild_id=guild_id,
                    user_id=user_id,
                    joined_at=joined_at,
                    **_place_columns(None),
                )
                session.add(row)
            elif row.left_at is not None:
                row.joined_at = max(joined_at, row.left_at)
                row.left_at = None
            if display_name is not None:
                row.display_name = _clean_name(display_name)
            row.updated_at = now
            return _summary(row)

    async def member_left(self, guild_id: int, user_id: int, at: datetime | None = None) -> bool:
        """Record a leave; False if the member was unknown or had already left."""
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await session.get(MemberProfile, (guild_id, user_id))
            if row is None or row.left_at is not None:
                return False
            row.left_at = max(at or now, row.joined_at)
            row.updated_at = now
            return True

    async def reconcile(self, guild_id: int, members: Iterable[MemberSnapshot]) -> ReconcileResult:
        """Make the profiles match the guild's member list (a fresh IDENTIFY replays nothing).

        Members not known yet are added with their Discord join time; members known as gone who
        are back are marked active again; members no longer listed are marked left now. Bots
        are ignored.
        """
        now = self._clock.now()
        listed = {m.user_id: m for m in members if not m.bot}
        async with self._sessions.write() as session:
            known = {
                user_id: left_at
                for user_id, left_at in (
                    await session.execute(
                        select(MemberProfile.user_id, MemberProfile.left_at).where(
                            MemberProfile.guild_id == guild_id
                        )
                    )
                )
            }
            new_rows = [
                {
                    "guild_id": guild_id,
                    "user_id": m.user_id,
                    "display_name": _clean_name(m.display_name),
                    "joined_at": min(m.joined_at or now, now),
                    "updated_at": now,
                    **_place_columns(None),
                }
                for m in listed.values()
                if m.user_id not in known
            ]
            for start in range(0, len(new_rows), _INSERT_CHUNK):
                await session.execute(
                    insert(MemberProfile), new_rows[start : start + _INSERT_CHUNK]
                )
            returned = [
                m for m in listed.values() if m.user_id in known and known[m.user_id] is not None
            ]
            for m in returned:
                left_at = known[m.user_id]
                assert left_at is not None
                joined = min(m.joined_at or now, now)
                await session.execute(
                    update(MemberProfile)
                    .where(MemberProfile.guild_id == guild_id, MemberProfile.user_id == m.user_id)
                    .values(left_at=None, joined_at=max(joined, left_at), updated_at=now)
                )
            gone = [u for u, left_at in known.items() if left_at is None and u not in listed]
            for start in range(0, len(gone), _INSERT_CHUNK):
                await session.execute(
                    update(MemberProfile)
                    .where(
                        MemberProfile.guild_id == guild_id,
                        MemberProfile.user_id.in_(gone[start : start + _INSERT_CHUNK]),
                    )
                    .values(left_at=now, updated_at=now)
                )
        return ReconcileResult(
            added=len(new_rows),
            returned=len(returned),
            left=len(gone),
            unchanged=len(listed) - len(new_rows) - len(returned),
        )

    async def count_active(self, guild_id: int) -> int:
        async with self._sessions.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(MemberProfile)
                .where(MemberProfile.guild_id == guild_id, MemberProfile.left_at.is_(None))
            )
            return count or 0
