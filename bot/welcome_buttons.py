"""The welcome's Start button as message components, for whoever posts a welcome (the member
events' join step writes them into the outbox) and for the welcome cog that answers the click.
The guild id is in the custom_id, so a click in a DM knows its server, even after a restart."""

from __future__ import annotations

from typing import Any

START_TEMPLATE = r"welcome:start:(?P<guild>[0-9]{1,20})"
BUTTON = 2
ACTION_ROW = 1
PRIMARY = 1


def start_custom_id(guild_id: int) -> str:
    return f"welcome:start:{guild_id}"


def start_components(guild_id: int) -> list[dict[str, Any]]:
    """One action row with the Start button, as Discord's message body takes it."""
    button = {
        "type": BUTTON,
        "style": PRIMARY,
        "label": "Start",
        "emoji": {"name": "👋"},
        "custom_id": start_custom_id(guild_id),
    }
    return [{"type": ACTION_ROW, "components": [button]}]
