"""Member places and the membership record, against a real SQLite database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.choices import city_choices
from bot.clock import FakeClock
from bot.errors import InvalidInput, NotFound
from bot.services.members import MemberService, MemberSnapshot
from bot.services.places import AmbiguousPlace, Gazetteer, PlaceNotFound

GUILD = 1001


@pytest.fixture
def members(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> MemberService:
    return MemberService(sessions, clock, gazetteer)


async def test_set_city_creates_profile_with_canonical_place(members: MemberService) -> None:
    view = await members.set_city(GUILD, 7, "san francisco, ca", display_name="  Ada  ")
    assert view.city_label == "San Francisco, CA, US"
    assert (view.region_code, view.country_code, view.continent_code) == ("CA", "US", "NA")
    assert view.timezone == "America/Los_Angeles"
    assert view.display_name == "Ada"
    assert view.active and view.has_city
    stored = await members.get(GUILD, 7)
    assert stored == view


async def test_set_city_accepts_autocomplete_id(
    members: MemberService, gazetteer: Gazetteer
) -> None:
    place = city_choices(gazetteer, "Berl")[0]
    view = await members.set_city(GUILD, 7, place.value)
    assert str(view.geoname_id) == place.value and view.city_label == place.name


async def test_ambiguous_city_is_never_guessed(members: MemberService) -> None:
    with pytest.raises(AmbiguousPlace) as info:
        await members.set_city(GUILD, 7, "Portland")
    assert len(info.value.candidates) >= 2
    assert "Portland, OR" in info.value.message
    assert await members.get(GUILD, 7) is None


async def test_unknown_city_gets_suggestions(members: MemberService) -> None:
    with pytest.raises(PlaceNotFound) as info:
        await members.set_city(GUILD, 7, "San Franciscoo")
    assert info.value.suggestions
    assert "San Francisco" in info.value.message


async def test_overlong_query_is_refused(members: MemberService) -> None:
    with pytest.raises(InvalidInput):
        await members.set_city(GUILD, 7, "x" * 300)


def test_city_choices_cap_at_25(gazetteer: Gazetteer) -> None:
    assert len(city_choices(gazetteer, "")) == 25
    assert len(city_choices(gazetteer, "s")) <= 25
    assert len(city_choices(gazetteer, "x" * 500)) <= 25


async def test_clear_city_keeps_membership(members: MemberService, clock: FakeClock) -> None:
    await members.member_joined(GUILD, 7, clock.now() - timedelta(days=3))
    await members.set_city(GUILD, 7, "Chicago, IL")
    cleared = await members.clear_city(GUILD, 7)
    assert not cleared.has_city and cleared.city_label is None and cleared.timezone is None
    assert cleared.joined_at == clock.now() - timedelta(days=3)
    with pytest.raises(NotFound):
        await members.clear_city(GUILD, 7)
    with pytest.raises(NotFound):
        await members.clear_city(GUILD, 8)


async def test_join_leave_rejoin(members: MemberService, clock: FakeClock) -> None:
    first = clock.now()
    await members.member_joined(GUILD, 7, first, "Ada")
    await members.member_joined(GUILD, 7, first, "Ada")  # a replayed event changes nothing
    assert await members.count_active(GUILD) == 1
    clock.advance(timedelta(days=10))
    assert await members.member_left(GUILD, 7) is True
    assert await members.member_left(GUILD, 7) is False
    assert await members.member_left(GUILD, 99) is False
    assert await members.count_active(GUILD) == 0
    left = await members.get(GUILD, 7)
    assert left is not None and left.left_at == clock.now()
    clock.advance(timedelta(days=5))
    back = await members.member_joined(GUILD, 7, clock.now())
    assert back.active and back.joined_at == clock.now()
    assert await members.count_active(GUILD) == 1


async def test_set_cities_in_bulk(members: MemberService) -> None:
    written = await members.set_cities(
        GUILD, {u: "Oakland, CA" if u % 2 else "Boston, MA" for u in range(1, 401)}
    )
    assert written == 400
    assert await members.count_active(GUILD) == 400
    view = await members.get(GUILD, 3)
    assert view is not None and view.city_label == "Oakland, CA, US"
    # updating existing profiles in bulk
    await members.set_cities(GUILD, {3: "Boston, MA"})
    view = await members.get(GUILD, 3)
    assert view is not None and view.city_label == "Boston, MA, US"


async def test_set_cities_writes_nothing_if_one_is_ambiguous(members: MemberService) -> None:
    with pytest.raises(AmbiguousPlace):
        await members.set_cities(GUILD, {1: "Oakland, CA", 2: "Springfield"})
    assert await members.count_active(GUILD) == 0


async def test_reconcile_adds_marks_left_and_returns(
    members: MemberService, clock: FakeClock
) -> None:
    long_ago = clock.now() - timedelta(days=400)
    await members.member_joined(GUILD, 1, long_ago)
    await members.member_joined(GUILD, 2, long_ago)
    await members.member_joined(GUILD, 3, long_ago)
    await members.member_left(GUILD, 3, long_ago + timedelta(days=1))
    listed = [
        MemberSnapshot(1, long_ago, "one"),  # known, still here
        MemberSnapshot(3, clock.now() - timedelta(days=2), "three"),  # came back unseen
        MemberSnapshot(4, clock.now() - timedelta(days=30), "four"),  # joined unseen
        MemberSnapshot(5, None, "five"),  # no join time known
        MemberSnapshot(6, long_ago, "a bot", bot=True),  # bots are not members
    ]
    result = await members.reconcile(GUILD, listed)
    assert (result.added, result.returned, result.left, result.unchanged) == (2, 1, 1, 1)
    assert await members.count_active(GUILD) == 4
    four = await members.get(GUILD, 4)
    assert four is not None and four.joined_at == clock.now() - timedelta(days=30)
    five = await members.get(GUILD, 5)
    assert five is not None and five.joined_at == clock.now()
    two = await members.get(GUILD, 2)
    assert two is not None and two.left_at == clock.now()
    assert await members.get(GUILD, 6) is None
    again = await members.reconcile(GUILD, listed)
    assert (again.added, again.returned, again.left, again.unchanged) == (0, 0, 0, 4)


async def test_reconcile_scales(members: MemberService, clock: FakeClock) -> None:
    listed = [MemberSnapshot(u, clock.now(), f"m{u}") for u in range(1, 5001)]
    result = await members.reconcile(GUILD, listed)
    assert result.added == 5000
    result = await members.reconcile(GUILD, listed[:4000])
    assert result.left == 1000 and result.unchanged == 4000
    assert await members.count_active(GUILD) == 4000


async def test_guilds_are_separate(members: MemberService) -> None:
    await members.set_city(GUILD, 7, "Chicago, IL")
    assert await members.get(GUILD + 1, 7) is None
    assert await members.count_active(GUILD + 1) == 0
