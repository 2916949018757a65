"""Logs hold no credentials: with DEBUG logging, discord.py prints every gateway payload (each
INTERACTION_CREATE carries the interaction token) and every HTTP route (callback and follow-up
URLs carry it too); what reaches the log has neither that token nor the bot token."""

from __future__ import annotations

import io
import logging

from bot.logging_setup import configure_logging, redact
from tests.e2e.conftest import World
from tests.e2e.test_guards import answer


async def test_debug_logs_hold_neither_interaction_nor_bot_tokens(world: World) -> None:
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", [world.twin.token], stream=buffer)
    try:
        member = await world.join("ada")
        about = await world.slash(member, "about")  # answered at once: the callback route
        await answer(about)
        propose = await world.slash(member, "chapter", "propose", city="Chicago")
        await answer(propose)  # deferred, then a follow-up through the webhook route
        await world.twin.drop_gateway(resumable=True)  # RESUME sends the bot token again
        await world.twin.wait_for(lambda: world.twin.gateway.resumes, timeout=10)
        logging.getLogger("bot.test").error("failed: %s", f"Bot {world.twin.token}")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved_handlers:
            root.addHandler(handler)
        root.setLevel(saved_level)
    text = buffer.getvalue()
    assert "INTERACTION_CREATE" in text and "/callback" in text and "/webhooks/" in text
    for ix in (about, propose):
        assert ix.payload["token"] not in text
    assert world.twin.token not in text
    assert "[token redacted]" in text


def test_redact_removes_payload_and_url_tokens() -> None:
    text = (
        "{'t': 'INTERACTION_CREATE', 'd': {'token': 'aW50ZXJhY3Rpb246MTIz', 'id': '1'}} "
        "POST https://discord.com/api/v10/interactions/123/aW50ZXJhY3Rpb246MTIz/callback "
        "PATCH /webhooks/456/aW50ZXJhY3Rpb246MTIz/messages/@original "
        '{"token": "secret-bot"} Bot secret-bot'
    )
    cleaned = redact(text, ["secret-bot"])
    assert "aW50ZXJhY3Rpb246MTIz" not in cleaned and "secret-bot" not in cleaned
    assert "/interactions/123/[token redacted]/callback" in cleaned
    assert "/webhooks/456/[token redacted]/messages/@original" in cleaned
