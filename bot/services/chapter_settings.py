"""Per-guild chapter criteria and planning knobs, shared by chapters, the map and markers."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.errors import InvalidInput
from db.models import ChapterSettings
from db.session import Sessions

DEFAULT_KEY_ROLES = ("facilitator", "note-taker")

#: Whether the bot records meeting attendance yet. While it doesn't, no chapter could meet a
#: meeting criterion, so the default asks for none (``meeting_months`` 0) and /chapter criteria
#: and /chapter info say attendance is not recorded. **Meetings feature: once attendance is
#: recorded (``chapter_meeting`` rows with ``attendee_count``), set this to True** — the default
#: becomes a meeting with attendance each month again, for every guild that never chose its own
#: ``meeting_months``, and the notes disappear.
MEETING_ATTENDANCE_RECORDED = True
#: Said wherever the meeting criterion is shown while attendance is not recorded.
ATTENDANCE_NOT_RECORDED = "meeting attendance is not recorded yet"
#: ``meeting_months`` of a guild that never chose one.
DEFAULT_MEETING_MONTHS = 1 if MEETING_ATTENDANCE_RECORDED else 0


@dataclass(frozen=True, slots=True)
class GuildChapterSettings:
    guild_id: int
    min_members: int = 5
    meeting_months: int = DEFAULT_MEETING_MONTHS
    require_agreements: bool = True
    key_roles: tuple[str, ...] = DEFAULT_KEY_ROLES
    map_min_members: int = 5
    marker_lead_days: int = 90
    category_id: int | None = None


LIMITS = {
    "min_members": (1, 1000),
    "meeting_months": (0, 12),
    "map_min_members": (1, 100000),
    "marker_lead_days": (0, 3650),
}


def _settings_of(row: ChapterSettings | None, guild_id: int) -> GuildChapterSettings:
    if row is None:
        return GuildChapterSettings(guild_id)
    return GuildChapterSettings(
        guild_id=guild_id,
        min_members=row.min_members,
        meeting_months=DEFAULT_MEETING_MONTHS if row.meeting_months is None else row.meeting_months,
        require_agreements=row.require_agreements,
        key_roles=tuple(r for r in row.key_roles.split(",") if r),
        map_min_members=row.map_min_members,
        marker_lead_days=row.marker_lead_days,
        category_id=row.category_id,
    )


async def load_chapter_settings(session: AsyncSession, guild_id: int) -> GuildChapterSettings:
    """For services that read settings inside their own transaction."""
    return _settings_of(await session.get(ChapterSettings, guild_id), guild_id)


class ChapterSettingsService:
    def __init__(self, sessions: Sessions, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock

    async def get(self, guild_id: int) -> GuildChapterSettings:
        async with self._sessions.read() as session:
            return await load_chapter_settings(session, guild_id)

    async def update(self, guild_id: int, **changes: Any) -> GuildChapterSettings:
        """Change only the given fields; ``None`` values are ignored. Validates ranges."""
        known = {f.name for f in fields(GuildChapterSettings)} - {"guild_id"}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown chapter settings: {sorted(unknown)}")
        changes = {k: v for k, v in changes.items() if v is not None}
        for name, (low, high) in LIMITS.items():
            if name in changes and not low <= int(changes[name]) <= high:
                raise InvalidInput(f"{name.replace('_', ' ')} must be between {low} and {high}.")
        if "key_roles" in changes:
            roles = tuple(r.strip().lower() for r in changes["key_roles"] if r.strip())
            changes["key_roles"] = ",".join(roles)
        async with self._sessions.write() as session:
            row = await session.get(ChapterSettings, guild_id)
            if row is None:
                defaults = GuildChapterSettings(guild_id)
                row = ChapterSettings(
                    guild_id=guild_id,
                    min_members=defaults.min_members,
                    meeting_months=None,  # the default, whatever it is when read
                    require_agreements=defaults.require_agreements,
                    key_roles=",".join(defaults.key_roles),
                    map_min_members=defaults.map_min_members,
                    marker_lead_days=defaults.marker_lead_days,
                )
                session.add(row)
            for name, value in changes.items():
                setattr(row, name, value)
            row.updated_at = self._clock.now()
            return _settings_of(row, guild_id)
