"""Where members are: the map grouped by organizer regions, against a real SQLite database.

The key test loads the organization's own 2014 member concentrations (region, city, state,
country, members) and checks that the map reproduces its regional grouping and counts exactly.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import InvalidInput, NotFound
from bot.services.chapter_settings import ChapterSettingsService
from bot.services.member_map import (
    CSV_HEADER,
    CityCount,
    MemberMap,
    MemberMapService,
    RegionGroup,
)
from bot.services.members import MemberService
from bot.services.places import Gazetteer, Place
from db.models import Chapter, ChapterStatus, ChapterStatusChange
from tests.paths import MEMBER_CONCENTRATIONS_CSV

GUILD = 2002


def find_member_csv() -> Path:
    """The 2014 member concentrations the repository carries in ``data/``."""
    assert MEMBER_CONCENTRATIONS_CSV.is_file(), f"missing {MEMBER_CONCENTRATIONS_CSV}"
    return MEMBER_CONCENTRATIONS_CSV


def load_member_csv(path: Path | None = None) -> list[dict[str, str]]:
    with (path or find_member_csv()).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def regions_from_csv(rows: list[dict[str, str]]) -> dict[str, list[str]]:
    """Organizer regions in order of first appearance, with their US-state areas."""
    regions: dict[str, list[str]] = {}
    for row in rows:
        area = f"{row['country']}-{row['state']}"
        if area not in regions.setdefault(row["region"], []):
            regions[row["region"]].append(area)
    return regions


def city_query(row: dict[str, str]) -> str:
    return f"{row['city']}, {row['state']}, {row['country']}"


async def add_chapter(
    sessions: async_sessionmaker[AsyncSession],
    guild_id: int,
    place: Place,
    status: ChapterStatus,
    at: datetime,
    *,
    name: str | None = None,
) -> int:
    """A chapter row with its status history (what the chapters service writes)."""
    async with sessions.begin() as session:
        chapter = Chapter(
            guild_id=guild_id,
            name=name or place.name,
            name_key=(name or place.name).lower(),
            geoname_id=place.geoname_id,
            city_label=place.label,
            region_code=place.region_code,
            region_name=place.region_name,
            country_code=place.country_code,
            continent_code=place.continent_code,
            timezone=place.timezone,
            status=status,
            active=True,
            created_by=1,
            created_at=at,
            status_changed_at=at,
        )
        session.add(chapter)
        await session.flush()
        session.add(
            ChapterStatusChange(
                chapter_id=chapter.id,
                from_status=None,
                to_status=status,
                reason="test",
                actor_id=1,
                at=at,
            )
        )
        return chapter.id


@pytest.fixture
def members(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> MemberService:
    return MemberService(sessions, clock, gazetteer)


@pytest.fixture
def member_map(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> MemberMapService:
    return MemberMapService(sessions, clock, gazetteer)


async def load_guild_from_csv(
    rows: list[dict[str, str]], members: MemberService, member_map: MemberMapService
) -> int:
    for name, areas in regions_from_csv(rows).items():
        await member_map.set_region(GUILD, name, ", ".join(areas))
    assignments: dict[int, str] = {}
    user_id = 10_000
    for row in rows:
        for _ in range(int(row["members"])):
            user_id += 1
            assignments[user_id] = city_query(row)
    await members.set_cities(GUILD, assignments)
    return user_id


async def test_map_reproduces_the_2014_concentrations(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    gazetteer: Gazetteer,
    members: MemberService,
    member_map: MemberMapService,
) -> None:
    rows = load_member_csv()
    assert len(rows) >= 29
    last_id = await load_guild_from_csv(rows, members, member_map)
    for extra in range(1, 4):  # members who never said where they are
        await members.member_joined(GUILD, last_id + extra)
    chicago = gazetteer.resolve("Chicago, IL")
    boston = gazetteer.resolve("Boston, MA")
    await add_chapter(sessions, GUILD, chicago, ChapterStatus.FORMAL, clock.now())
    await add_chapter(sessions, GUILD, boston, ChapterStatus.FORMING, clock.now())

    result = await member_map.member_map(GUILD)
    expected_total = sum(int(r["members"]) for r in rows)

    # the regional grouping, in the organizers' order, with the CSV's counts exactly
    assert [g.name for g in result.groups] == list(regions_from_csv(rows))
    for group in result.groups:
        expected = {
            (r["city"], r["state"], int(r["members"])) for r in rows if r["region"] == group.name
        }
        assert {(c.name, c.region, c.members) for c in group.cities} == expected
        assert group.members == sum(n for _, _, n in expected)
        assert [c.members for c in group.cities] == sorted(
            (c.members for c in group.cities), reverse=True
        )
    assert result.total == expected_total + 3
    assert result.unknown == 3
    assert result.min_members == 5

    # the CSV export carries the same rows
    exported = list(csv.DictReader(result.to_csv().splitlines()))
    assert tuple(exported[0]) == CSV_HEADER
    assert Counter(
        (e["region"], e["city"], e["state"], e["country"], e["members"]) for e in exported
    ) == Counter((r["region"], r["city"], r["state"], r["country"], r["members"]) for r in rows)
    by_city = {e["city"]: e for e in exported}
    assert by_city["Chicago"]["chapter_status"] == "formal"
    assert by_city["Chicago"]["best_place"] == "no"
    assert by_city["Boston"]["chapter_status"] == "forming"
    assert by_city["Boston"]["best_place"] == "yes"

    # best places: 5+ members and no formal chapter
    best = result.best_places()
    expected_best = {r["city"] for r in rows if int(r["members"]) >= 5 and r["city"] != "Chicago"}
    assert {c.name for c in best} == expected_best
    assert best[0].label == "San Francisco, CA" and best[0].members == 28

    text = result.render()
    first = result.groups[0]
    assert text.startswith(f"**{first.name}** ({first.members})\n")
    assert "San Francisco, CA (28) ★ · Oakland, CA (21) ★" in text
    assert "Chicago, IL (30) ✓" in text
    assert text.splitlines()[-1] == "Unknown city: 3"
    assert len(text) <= 4000


async def test_min_members_from_argument_and_settings(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    members: MemberService,
    member_map: MemberMapService,
) -> None:
    rows = load_member_csv()
    await load_guild_from_csv(rows, members, member_map)
    strict = await member_map.member_map(GUILD, min_members=20)
    assert {c.name for c in strict.best_places()} == {
        r["city"] for r in rows if int(r["members"]) >= 20
    }
    await ChapterSettingsService(sessions, clock).update(GUILD, map_min_members=15)
    configured = await member_map.member_map(GUILD)
    assert configured.min_members == 15
    assert all(c.members >= 15 for c in configured.best_places())
    with pytest.raises(InvalidInput):
        await member_map.member_map(GUILD, min_members=0)


async def test_fallback_groups_and_overlapping_areas(
    members: MemberService, member_map: MemberMapService
) -> None:
    await members.set_cities(
        GUILD,
        {
            1: "Toronto, ON, CA",
            2: "Toronto, ON, CA",
            3: "Ottawa, CA",
            4: "Berlin, DE",
            5: "Munich, DE",
            6: "Portland, OR",
            7: "Seattle, WA",
        },
    )
    result = await member_map.member_map(GUILD)
    names = [g.name for g in result.groups]
    assert names[0] == "Ontario, Canada"  # fallback groups by total members
    assert set(names) == {"Ontario, Canada", "Germany", "Oregon, United States",
                          "Washington, United States"}  # fmt: skip
    ontario = result.groups[0]
    assert [(c.label, c.members) for c in ontario.cities] == [
        ("Toronto, ON", 2),
        ("Ottawa, ON", 1),
    ]

    await member_map.set_region(GUILD, "Europe", "DE")
    await member_map.set_region(GUILD, "Pacific Northwest", "US-OR, US-WA")
    await member_map.set_region(GUILD, "Bavaria", "DE-02")  # a subdivision beats its country
    result = await member_map.member_map(GUILD)
    groups = {g.name: g for g in result.groups}
    assert [c.name for c in groups["Europe"].cities] == ["Berlin"]
    assert [c.name for c in groups["Bavaria"].cities] == ["Munich"]
    assert groups["Pacific Northwest"].members == 2
    # defined regions first, in their order; fallback groups after
    assert [g.name for g in result.groups] == [
        "Europe",
        "Pacific Northwest",
        "Bavaria",
        "Ontario, Canada",
    ]


async def test_left_members_are_not_counted(
    members: MemberService, member_map: MemberMapService, clock: FakeClock
) -> None:
    await members.set_cities(GUILD, {1: "Austin, TX", 2: "Austin, TX", 3: "Austin, TX"})
    clock.advance(timedelta(days=1))
    await members.member_left(GUILD, 2)
    result = await member_map.member_map(GUILD)
    assert result.total == 2
    assert result.groups[0].cities[0].members == 2


async def test_regions_set_move_list_remove(member_map: MemberMapService) -> None:
    view = await member_map.set_region(GUILD, "West Coast", "us-ca, US-OR,US-WA")
    assert view.areas == ("US-CA", "US-OR", "US-WA") and view.moved == ()
    await member_map.set_region(GUILD, "Europe", "DE FR")
    moved = await member_map.set_region(GUILD, "Pacific", "US-WA, US-OR")
    assert set(moved.moved) == {"US-WA (was in West Coast)", "US-OR (was in West Coast)"}
    regions = await member_map.list_regions(GUILD)
    assert [(r.name, r.areas) for r in regions] == [
        ("West Coast", ("US-CA",)),
        ("Europe", ("DE", "FR")),
        ("Pacific", ("US-WA", "US-OR")),
    ]
    # redefining keeps the region's position and replaces its areas
    await member_map.set_region(GUILD, "west coast", "US-CA, US-NV")
    regions = await member_map.list_regions(GUILD)
    assert regions[0].name == "west coast" and regions[0].areas == ("US-CA", "US-NV")
    await member_map.remove_region(GUILD, "EUROPE")
    assert [r.name for r in await member_map.list_regions(GUILD)] == ["west coast", "Pacific"]
    with pytest.raises(NotFound, match="Regions: Pacific, west coast"):
        await member_map.remove_region(GUILD, "Europe")


@pytest.mark.parametrize(
    "areas",
    ["", "California", "US-California", "XX", "US-ZZ", "US_CA", "1A", "US-CA; 123"],
)
async def test_bad_area_codes_explain_the_format(member_map: MemberMapService, areas: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape("US-CA, US-OR, DE")):
        await member_map.set_region(GUILD, "Somewhere", areas)


async def test_region_name_is_checked(member_map: MemberMapService) -> None:
    with pytest.raises(InvalidInput):
        await member_map.set_region(GUILD, "   ", "US-CA")
    with pytest.raises(InvalidInput):
        await member_map.set_region(GUILD, "x" * 61, "US-CA")


async def test_empty_map(member_map: MemberMapService) -> None:
    result = await member_map.member_map(GUILD)
    assert result.groups == () and result.total == 0
    assert result.render().splitlines()[-1] == "Unknown city: 0"
    assert result.to_csv().strip() == ",".join(CSV_HEADER)


def _big_map(groups: int, cities: int) -> MemberMap:
    return MemberMap(
        guild_id=1,
        groups=tuple(
            RegionGroup(
                name=f"Region {g}",
                cities=tuple(
                    CityCount(
                        geoname_id=g * 1000 + c,
                        label=f"City number {c} of {g}, ST",
                        region="ST",
                        country_code="US",
                        members=cities - c + 5,
                        chapter_name=None,
                        chapter_status=None,
                        best_place=c % 2 == 0,
                        name=f"City number {c} of {g}",
                    )
                    for c in range(cities)
                ),
                members=sum(cities - c + 5 for c in range(cities)),
            )
            for g in range(groups)
        ),
        unknown=7,
        total=1000,
        min_members=5,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    groups=st.integers(1, 12),
    cities=st.integers(1, 60),
    max_chars=st.integers(300, 4000),
)
def test_render_truncates_cleanly(groups: int, cities: int, max_chars: int) -> None:
    big = _big_map(groups, cities)
    text = big.render(max_chars)
    assert len(text) <= max_chars
    assert text.splitlines()[-1] == "Unknown city: 7"
    shown = len(re.findall(r"City number \d+ of \d+, ST \(\d+\)", text))
    more = re.search(r"… and (\d+) more cities \(see the CSV\)", text)
    assert shown + (int(more.group(1)) if more else 0) == groups * cities
    if more:  # the notice comes after every shown city
        assert "City number" not in text[more.end() :]
