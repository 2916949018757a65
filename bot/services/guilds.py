"""Per-guild configuration set by organizers with /setup."""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import process

from bot.clock import Clock
from bot.errors import InvalidInput
from db.models import GuildConfig
from db.session import Sessions

TZ_LIST_URL = "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones"


@lru_cache(maxsize=1)
def _all_timezones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def validate_timezone(name: str) -> str:
    """Return the canonical IANA name for ``name`` or explain how to find a valid one."""
    candidate = name.strip()
    zones = _all_timezones()
    by_lower = {z.lower(): z for z in zones}
    if candidate.lower() in by_lower:
        return by_lower[candidate.lower()]
    guesses = [match for match, _score, _ in process.extract(candidate, zones, limit=3)]
    hint = f" Did you mean {', '.join(guesses)}?" if guesses else ""
    raise InvalidInput(
        f"“{candidate[:64]}” is not an IANA timezone name (like Europe/Berlin or America/Chicago)."
        f"{hint} The full list: <{TZ_LIST_URL}>"
    )


def suggest_timezones(prefix: str, limit: int = 25) -> list[str]:
    zones = _all_timezones()
    text = prefix.strip().lower()
    if not text:
        return list(zones[:limit])
    starts = [z for z in zones if z.lower().startswith(text)]
    contains = [z for z in zones if text in z.lower() and z not in starts]
    return (starts + contains)[:limit]


@dataclass(frozen=True, slots=True)
class GuildSettings:
    guild_id: int
    welcome_channel_id: int | None
    organizer_role_id: int | None
    timezone: str
    configured: bool
    organizer_channel_id: int | None = None


class GuildService:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def get(self, guild_id: int) -> GuildSettings:
        async with self._sessions.read() as session:
            row = await session.get(GuildConfig, guild_id)
        if row is None:
            return GuildSettings(guild_id, None, None, "UTC", configured=False)
        return _settings(row)

    async def setup(
        self,
        guild_id: int,
        *,
        welcome_channel_id: int | None = None,
        organizer_role_id: int | None = None,
        timezone: str | None = None,
        organizer_channel_id: int | None = None,
    ) -> GuildSettings:
        """Update only what was given; the first call creates the guild's configuration."""
        tz = validate_timezone(timezone) if timezone is not None else None
        now = self._clock.now()
        async with self._sessions.write() as session:
            row = await session.get(GuildConfig, guild_id)
            if row is None:
                row = GuildConfig(guild_id=guild_id, timezone="UTC", created_at=now)
                session.add(row)
            if welcome_channel_id is not None:
                row.welcome_channel_id = welcome_channel_id
            if organizer_role_id is not None:
                row.organizer_role_id = organizer_role_id
            if tz is not None:
                row.timezone = tz
            if organizer_channel_id is not None:
                row.organizer_channel_id = organizer_channel_id
            row.updated_at = now
        return _settings(row)


def _settings(row: GuildConfig) -> GuildSettings:
    return GuildSettings(
        guild_id=row.guild_id,
        welcome_channel_id=row.welcome_channel_id,
        organizer_role_id=row.organizer_role_id,
        timezone=row.timezone,
        configured=True,
        organizer_channel_id=row.organizer_channel_id,
    )
