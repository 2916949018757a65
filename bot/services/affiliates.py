"""Affiliates: existing organizations that share the values and work with the organization
without meeting chapter requirements. Counted separately, never as chapters. Removing one keeps
the row (``active`` NULL, ``removed_at`` set), so the name can be registered again later."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from bot.clock import Clock
from bot.errors import Conflict, InvalidInput, NotFound
from bot.services import sanitize
from bot.services.places import Gazetteer, Place, normalize
from db.models import Affiliate
from db.session import Sessions

MAX_NAME = 100
MAX_DESCRIPTION = 500
MAX_URL = 300
MAX_LIST = 200
_URL_SPACE = re.compile(r"\s")


@dataclass(frozen=True, slots=True)
class AffiliateSummary:
    id: int
    guild_id: int
    name: str
    description: str
    url: str | None
    city_label: str | None
    country_code: str | None
    continent_code: str | None
    registered_by: int
    created_at: datetime
    active: bool
    removed_at: datetime | None


def _summary(row: Affiliate) -> AffiliateSummary:
    return AffiliateSummary(
        id=row.id,
        guild_id=row.guild_id,
        name=row.name,
        description=row.description or "",
        url=row.url,
        city_label=row.city_label,
        country_code=row.country_code,
        continent_code=row.continent_code,
        registered_by=row.registered_by,
        created_at=row.created_at,
        active=bool(row.active),
        removed_at=row.removed_at,
    )


def name_key(name: str) -> str:
    """How names are compared: no case, accents, punctuation or extra spaces."""
    return (normalize(name) or " ".join(name.casefold().split()))[:MAX_NAME]


def clean_name(name: str) -> str:
    cleaned = sanitize.clean_name(name)
    if not cleaned:
        raise InvalidInput("Give the affiliate's name, like “Riverside Tenants Union”.")
    if len(cleaned) > MAX_NAME:
        raise InvalidInput(f"Affiliate names are at most {MAX_NAME} characters.")
    return cleaned


def clean_url(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    text = sanitize.clean_name(url)
    if len(text) > MAX_URL:
        raise InvalidInput(f"The link is too long (at most {MAX_URL} characters).")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or _URL_SPACE.search(text):
        raise InvalidInput("Give the link as a full web address, like https://example.org.")
    return text


def clean_description(description: str | None) -> str:
    text = sanitize.clean_text(description or "").strip()
    if len(text) > MAX_DESCRIPTION:
        raise InvalidInput(
            f"The description is {len(text)} characters; keep it to {MAX_DESCRIPTION}."
        )
    return text


class AffiliateService:
    def __init__(self, sessions: Sessions, clock: Clock, places: Gazetteer) -> None:
        self._sessions = sessions
        self._clock = clock
        self._places = places

    async def register(
        self,
        guild_id: int,
        actor_id: int,
        name: str,
        *,
        city: str | None = None,
        url: str | None = None,
        description: str | None = None,
    ) -> AffiliateSummary:
        cleaned = clean_name(name)
        key = name_key(cleaned)
        link = clean_url(url)
        text = clean_description(description)
        place: Place | None = self._places.resolve(city) if city and city.strip() else None
        row = Affiliate(
            guild_id=guild_id,
            name=cleaned,
            name_key=key,
            description=text,
            url=link,
            geoname_id=place.geoname_id if place else None,
            city_label=place.label[:120] if place else None,
            country_code=place.country_code if place else None,
            continent_code=place.continent_code if place else None,
            registered_by=actor_id,
            created_at=self._clock.now(),
            active=True,
        )
        duplicate = Conflict(f"An affiliate named “{cleaned}” is already registered.")
        try:
            async with self._sessions.write() as session:
                existing = await session.scalar(
                    select(Affiliate.id).where(
                        Affiliate.guild_id == guild_id,
                        Affiliate.name_key == key,
                        Affiliate.active.is_(True),
                    )
                )
                if existing is not None:
                    raise duplicate
                session.add(row)
        except IntegrityError:  # a concurrent registration of the same name
            raise duplicate from None
        return _summary(row)

    async def list_active(self, guild_id: int) -> list[AffiliateSummary]:
        """Active affiliates by name (at most 200)."""
        async with self._sessions.read() as session:
            rows = (
                await session.scalars(
                    select(Affiliate)
                    .where(Affiliate.guild_id == guild_id, Affiliate.active.is_(True))
                    .order_by(Affiliate.name_key)
                    .limit(MAX_LIST)
                )
            ).all()
        return [_summary(r) for r in rows]

    async def count(self, guild_id: int) -> int:
        async with self._sessions.read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(Affiliate)
                .where(Affiliate.guild_id == guild_id, Affiliate.active.is_(True))
            )
            return count or 0

    async def remove(self, guild_id: int, name: str) -> AffiliateSummary:
        key = name_key(name)
        async with self._sessions.write() as session:
            row = await session.scalar(
                select(Affiliate).where(
                    Affiliate.guild_id == guild_id,
                    Affiliate.name_key == key,
                    Affiliate.active.is_(True),
                )
            )
            if row is None:
                raise NotFound(
                    f"No affiliate is named “{' '.join(name.split())[:MAX_NAME]}”. "
                    "See /affiliate list for the names."
                )
            row.active = None
            row.removed_at = self._clock.now()
            return _summary(row)

    async def suggest(self, guild_id: int, prefix: str, limit: int = 25) -> list[str]:
        """Active affiliate names for autocomplete."""
        key = name_key(prefix) if prefix.strip() else ""
        names = [a.name for a in await self.list_active(guild_id)]
        starts = [n for n in names if name_key(n).startswith(key)]
        inside = [n for n in names if key in name_key(n) and n not in starts]
        return (starts + inside)[: min(limit, 25)]
