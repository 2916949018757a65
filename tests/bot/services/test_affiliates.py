"""Affiliates against a real SQLite database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import FakeClock
from bot.errors import Conflict, InvalidInput, NotFound
from bot.services.affiliates import AffiliateService
from bot.services.places import AmbiguousPlace, Gazetteer
from db.models import Affiliate

GUILD = 4004


@pytest.fixture
def affiliates(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, gazetteer: Gazetteer
) -> AffiliateService:
    return AffiliateService(sessions, clock, gazetteer)


async def test_register_list_remove(
    affiliates: AffiliateService, sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    view = await affiliates.register(
        GUILD,
        9,
        "  Riverside   Tenants Union ",
        city="Oakland, CA",
        url="https://riverside.example.org",
        description="Tenant organizing since 1998.",
    )
    assert view.name == "Riverside Tenants Union"
    assert view.city_label == "Oakland, CA, US" and view.continent_code == "NA"
    await affiliates.register(GUILD, 9, "Food Not Bombs")
    assert [a.name for a in await affiliates.list_active(GUILD)] == [
        "Food Not Bombs",
        "Riverside Tenants Union",
    ]
    assert await affiliates.count(GUILD) == 2
    assert await affiliates.count(GUILD + 1) == 0

    clock.advance(timedelta(days=2))
    removed = await affiliates.remove(GUILD, "riverside tenants union")
    assert removed.removed_at == clock.now() and not removed.active
    assert [a.name for a in await affiliates.list_active(GUILD)] == ["Food Not Bombs"]
    async with sessions() as session:  # the row is kept
        row = await session.scalar(select(Affiliate).where(Affiliate.id == view.id))
        assert row is not None and row.active is None and row.removed_at == clock.now()
    with pytest.raises(NotFound, match="/affiliate list"):
        await affiliates.remove(GUILD, "Riverside Tenants Union")
    # a removed name can be registered again
    again = await affiliates.register(GUILD, 9, "Riverside Tenants Union")
    assert again.id != view.id


async def test_duplicate_names_are_refused(affiliates: AffiliateService) -> None:
    await affiliates.register(GUILD, 9, "Food Not Bombs")
    for same in ("food not bombs", "FOOD  NOT BOMBS", "Food Not Bombs!"):
        with pytest.raises(Conflict, match="already registered"):
            await affiliates.register(GUILD, 9, same)
    await affiliates.register(GUILD + 1, 9, "Food Not Bombs")  # other guilds are separate


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "100"),
        ({"name": "Ok", "description": "d" * 501}, "500"),
        ({"name": "Ok", "url": "riverside.org"}, "https://"),
        ({"name": "Ok", "url": "javascript:alert(1)"}, "https://"),
        ({"name": "Ok", "url": "https://" + "a" * 300}, "too long"),
    ],
)
async def test_bad_input_is_refused(
    affiliates: AffiliateService, kwargs: dict[str, str], match: str
) -> None:
    name = kwargs.pop("name")
    with pytest.raises(InvalidInput, match=match):
        await affiliates.register(GUILD, 9, name, **kwargs)
    assert await affiliates.count(GUILD) == 0


async def test_ambiguous_city_is_refused(affiliates: AffiliateService) -> None:
    with pytest.raises(AmbiguousPlace):
        await affiliates.register(GUILD, 9, "Portland Collective", city="Portland")


async def test_suggest_names(affiliates: AffiliateService) -> None:
    for name in ("Food Not Bombs", "Riverside Tenants Union", "Bay Area Food Co-op"):
        await affiliates.register(GUILD, 9, name)
    assert await affiliates.suggest(GUILD, "food") == ["Food Not Bombs", "Bay Area Food Co-op"]
    assert len(await affiliates.suggest(GUILD, "")) == 3
