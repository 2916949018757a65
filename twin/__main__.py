"""``python -m twin --port 8765``: run the twin standalone with a demo guild, for manual demos.

Point the bot at it with ``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL`` (printed at start) and
the printed token. Requests are logged to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging

from twin.permissions import Perm
from twin.server import Twin

log = logging.getLogger("twin")


def seed(twin: Twin) -> None:
    guild = twin.create_guild("Chapterbot Demo")
    chapters = guild.add_category("Chapters")
    guild.add_text_channel("chicago", parent_id=chapters)
    guild.add_text_channel("organizers")
    guild.add_role("Organizer", permissions=Perm.MANAGE_EVENTS | Perm.MANAGE_MESSAGES)
    for name in ("alice", "bob", "carol", "dan"):
        twin.world.add_member(guild, twin.create_user(name))


async def run(args: argparse.Namespace) -> None:
    twin = Twin(
        validate=not args.no_validate,
        port=args.port,
        host=args.host,
        shard_count=args.shards,
        token=args.token,
    )
    twin.rate_limits.enabled = not args.no_rate_limits
    await twin.start()
    seed(twin)
    print(f"API base:     {twin.api_base}")
    print(f"Gateway URL:  {twin.gateway_url}")
    print(f"Bot token:    {twin.token}")
    print(f"App id:       {twin.application_id}")
    for guild in twin.world.guilds.values():
        print(f"Demo guild:   {guild.name} ({guild.id}), #general {guild.system_channel_id}")
    seen = 0
    try:
        while True:
            await asyncio.sleep(0.25)
            for record in twin.requests[seen:]:
                log.info("%s %s -> %s", record.method, record.path, record.status)
            seen = len(twin.requests)
            for violation in twin.spec_violations:
                log.warning("spec violation: %s", violation)
            twin.spec_violations.clear()
    finally:
        await twin.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m twin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--shards", type=int, default=1)
    parser.add_argument("--token", default="twin-bot-token")
    parser.add_argument("--no-validate", action="store_true", help="skip OpenAPI validation")
    parser.add_argument("--no-rate-limits", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
