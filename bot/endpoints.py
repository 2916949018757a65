"""Point discord.py at another Discord (the local twin) instead of discord.com.

discord.py keeps its REST base in ``Route.BASE`` (also used by webhooks and interaction follow-ups)
and its first gateway URL in ``DiscordWebSocket.DEFAULT_GATEWAY``; resumes use the
``resume_gateway_url`` the server sends in READY.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def use_endpoints(api_base: str | None, gateway_url: str | None) -> None:
    """Redirect REST and gateway traffic; ``None`` leaves the production value in place."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def reset_endpoints() -> None:
    """Restore discord.com, for tests that point the library elsewhere and then leave."""
    discord.http.Route.BASE = f"https://discord.com/api/v{discord.http.INTERNAL_API_VERSION}"
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL("wss://gateway.discord.gg/")
