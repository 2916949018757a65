"""Every cog loads, and the command tree is valid for Discord and free of duplicate names."""

from __future__ import annotations

import re
from collections.abc import Iterator

from discord import app_commands
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.client import ChapterBot, discover_extensions
from bot.settings import Settings
from bot.wiring import build_services

NAME = re.compile(r"^[-_\w]{1,32}$")


def walk(
    commands: list[app_commands.Command | app_commands.Group],  # type: ignore[type-arg]
) -> Iterator[app_commands.Command | app_commands.Group]:  # type: ignore[type-arg]
    for command in commands:
        yield command
        if isinstance(command, app_commands.Group):
            yield from walk(command.commands)


async def test_every_cog_loads_and_command_names_are_unique_and_valid(
    engine: AsyncEngine,
) -> None:
    settings = Settings(_env_file=None, discord_token="x")  # type: ignore[call-arg]
    bot = ChapterBot(settings, build_services(settings, engine))
    extensions = list(discover_extensions())
    assert "cogs.admin" in extensions
    for name in extensions:
        await bot.load_extension(name)
    top_level = bot.tree.get_commands()
    top_names = [c.name for c in top_level]
    assert len(top_names) == len(set(top_names)), top_names
    assert {"setup", "about"} <= set(top_names)
    assert len(top_level) <= 100
    for command in walk(top_level):  # type: ignore[arg-type]
        assert NAME.match(command.name) and command.name == command.name.lower(), command.name
        assert 1 <= len(command.description) <= 100, command.qualified_name
        if isinstance(command, app_commands.Group):
            names = [c.name for c in command.commands]
            assert len(names) == len(set(names)) and len(names) <= 25, command.qualified_name
        else:
            params = command.parameters
            assert len(params) <= 25, command.qualified_name
            for param in params:
                assert NAME.match(param.name), (command.qualified_name, param.name)
                if param.autocomplete:  # failures offer no choices and are logged one way
                    callback = command._params[param.name].autocomplete
                    assert getattr(callback, "logs_errors", False), (
                        f"/{command.qualified_name} {param.name}: use @logged_autocomplete"
                    )
                assert 1 <= len(param.description) <= 100, (command.qualified_name, param.name)
