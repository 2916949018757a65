"""Entry point: ``python -m bot`` or the ``chapterbot`` console script.

Builds every resource here (settings, logging, database, services) and hands them to the Bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys

import aiohttp
import discord
from pydantic import ValidationError

from bot.client import ChapterBot
from bot.endpoints import use_endpoints
from bot.logging_setup import configure_logging
from bot.settings import Settings
from bot.wiring import build_services
from db.migrate import upgrade_to_head
from db.session import create_engine

log = logging.getLogger("bot")

EXIT_CONFIG = 2
MISSING_CREDENTIALS_HELP = (
    "chapterbot: DISCORD_TOKEN is not set. Copy .env.example to .env and paste your bot token "
    "(Developer Portal → your app → Bot → Reset Token), then run again."
)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            (f"{'.'.join(str(p) for p in err['loc']).upper()}: " if err["loc"] else "")
            + err["msg"].removeprefix("Value error, ")
            for err in exc.errors()
        )
        print(f"chapterbot: invalid configuration: {problems}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


async def run(settings: Settings, token: str) -> None:
    # First of all: a signal during the migration must not kill the process half-way through it
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    use_endpoints(settings.discord_api_base, settings.discord_gateway_url)
    await upgrade_to_head(settings.database_url)
    if stop.is_set():
        log.info("stopped before connecting")
        return
    engine = create_engine(settings.database_url)
    services = build_services(settings, engine)
    bot = ChapterBot(settings, services)
    try:
        async with bot:
            runner = asyncio.create_task(bot.start(token))
            stopper = asyncio.create_task(stop.wait())
            done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if runner in done:
                runner.result()
            else:
                log.info("shutting down")
            stopper.cancel()
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
    finally:
        await services.dispatcher.shutdown()
        await engine.dispose()
        log.info("stopped")


def main() -> None:
    settings = load_settings()
    token = settings.token
    if token is None:
        print(MISSING_CREDENTIALS_HELP, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    configure_logging(settings.log_level, [token])
    try:
        asyncio.run(run(settings, token))
    except discord.LoginFailure:
        print(
            "chapterbot: Discord rejected DISCORD_TOKEN. Reset the token in the Developer Portal "
            "and update .env.",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_CONFIG) from None
    except discord.PrivilegedIntentsRequired:
        print(
            "chapterbot: enable the Server Members Intent (Developer Portal → Bot → Privileged "
            "Gateway Intents), then run again.",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_CONFIG) from None
    except aiohttp.ClientConnectionError as exc:
        where = settings.discord_api_base or "discord.com"
        print(
            f"chapterbot: cannot reach Discord at {where} ({exc}). Check the network connection"
            " (and DISCORD_API_BASE if set), then run again.",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
