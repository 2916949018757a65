"""Errors are handled in one place: persistent buttons and selects answer like slash commands
(a domain error gets its short ephemeral answer; anything else the apology and a logged
traceback), and an autocomplete that fails offers no choices and is logged."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from bot.interactions import GENERIC_APOLOGY
from tests.e2e.conftest import World
from twin import TwinInteraction

EPHEMERAL = 1 << 6
DEFERRED = 5


async def answer(ix: TwinInteraction) -> dict[str, Any]:
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        return dict(await ix.wait_followup(timeout=3))
    return dict(body["data"])


async def proposal(world: World, founder: int) -> tuple[dict[str, Any], str]:
    """The public proposal message with its Join button, and the button's custom_id."""
    ix = await world.slash(founder, "chapter", "propose", city="Oakland")
    message = await answer(ix)
    button = message["components"][0]["components"][0]["custom_id"]
    assert button.startswith("chapter:join:")
    return message, button


def tracebacks(caplog: pytest.LogCaptureFixture, text: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno >= logging.ERROR and r.exc_info and text in r.getMessage()
    ]


async def test_a_button_whose_handler_raises_a_domain_error_answers_ephemerally(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    founder = await world.join("mara")
    message, button = await proposal(world, founder)
    click = await world.twin.click(message["id"], button, founder)  # already a member
    reply = await answer(click)
    assert "already a member" in str(reply["content"]) and reply["flags"] & EPHEMERAL
    assert not tracebacks(caplog, button)
    world.twin.assert_no_spec_violations()


async def test_a_button_that_fails_unexpectedly_apologizes_and_logs_the_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    founder, joiner = await world.join("mara"), await world.join("nils")
    message, button = await proposal(world, founder)

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the database fell over")

    monkeypatch.setattr(world.services.chapters, "join", broken)
    with caplog.at_level(logging.ERROR, logger="bot.interactions"):
        click = await world.twin.click(message["id"], button, joiner)
        reply = await answer(click)
    assert reply["content"] == GENERIC_APOLOGY and reply["flags"] & EPHEMERAL
    [record] = tracebacks(caplog, f"component {button}")
    assert record.exc_info is not None and "fell over" in str(record.exc_info[1])
    world.twin.assert_no_spec_violations()


async def test_a_select_that_fails_unexpectedly_apologizes_and_logs_the_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    member = await world.join("mara")
    ix = await world.slash(member, "profile", "city", city="Portland")
    picker = (await ix.response())["data"]["components"][0]["components"][0]
    original = await ix.wait_original()

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the gazetteer fell over")

    monkeypatch.setattr(world.services.members, "set_city", broken)
    value = picker["options"][0]["value"]
    with caplog.at_level(logging.ERROR, logger="bot.interactions"):
        pick = await world.twin.click(original["id"], picker["custom_id"], member, values=[value])
        reply = await answer(pick)
    assert reply["content"] == GENERIC_APOLOGY and reply["flags"] & EPHEMERAL
    assert tracebacks(caplog, "component profile:city-choice")
    world.twin.assert_no_spec_violations()


async def test_an_autocomplete_that_raises_offers_no_choices_and_is_logged(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    member = await world.join("mara")
    await world.services.chapters.propose(world.guild_id, member, "Chicago")

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("index missing")

    async def broken_search(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("index missing")

    monkeypatch.setattr(world.services.places, "suggest", broken)
    monkeypatch.setattr(world.services.chapters, "search", broken_search)
    with caplog.at_level(logging.ERROR, logger="bot.interactions"):
        cities = await world.twin.autocomplete(
            world.guild_id, world.channel_id, member, "profile", "city",
            options={"city": "Chi"}, focused="city",
        )  # fmt: skip
        chapters = await world.twin.autocomplete(
            world.guild_id, world.channel_id, member, "chapter", "join",
            options={"chapter": "Chi"}, focused="chapter",
        )  # fmt: skip
    assert cities == [] and chapters == []
    assert tracebacks(caplog, "city_autocomplete")
    assert tracebacks(caplog, "autocomplete")
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 2


async def test_an_autocomplete_with_nothing_to_suggest_yet_logs_no_error(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A half-typed chapter name (NotFound) is expected while typing: no choices, no error."""
    member = await world.join("mara")
    with caplog.at_level(logging.DEBUG, logger="bot.interactions"):
        choices = await world.twin.autocomplete(
            world.guild_id, world.channel_id, member, "chapter", "adopt", "agreements",
            options={"chapter": "Nowhere Chap", "agreement": ""}, focused="agreement",
        )  # fmt: skip
    assert choices == []
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("Nowhere Chap" in r.getMessage() for r in caplog.records)
