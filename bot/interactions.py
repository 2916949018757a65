"""One place that turns any interaction failure into an answer, so none is left unanswered."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

import discord
from discord import app_commands

from bot.errors import DomainError, NotAllowed
from bot.limits import clip

log = logging.getLogger(__name__)

GENERIC_APOLOGY = (
    "Sorry, something went wrong on our side. It has been logged; please try again in a moment."
)


class UserFacingCheckFailure(app_commands.CheckFailure):
    """A check that failed for a reason the user can act on; its message is shown to them."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def message_for(error: BaseException) -> str | None:
    """The short text to show for errors users can fix, or None for bugs."""
    if isinstance(error, app_commands.CommandInvokeError | app_commands.TransformerError):
        original = error.__cause__ if isinstance(error, app_commands.TransformerError) else None
        inner = error.original if isinstance(error, app_commands.CommandInvokeError) else original
        if isinstance(error, app_commands.TransformerError) and inner is None:
            return f"“{str(error.value)[:80]}” isn't a valid value for that option."
        if inner is not None:
            return message_for(inner)
    if isinstance(error, DomainError):
        return error.message
    if isinstance(error, UserFacingCheckFailure):
        return error.message
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works inside a server."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down a little: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.MissingPermissions | app_commands.BotMissingPermissions):
        return str(error)
    if isinstance(error, app_commands.CheckFailure):
        return "You can't use this command here."
    return None


def guild_of(interaction: discord.Interaction[Any]) -> discord.Guild:
    """The server an interaction came from; outside one, the user is told it only works there."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild


def guild_and_member(
    interaction: discord.Interaction[Any],
) -> tuple[discord.Guild, discord.Member]:
    """The server and the acting member of an interaction (see ``guild_of``); someone who has
    left the server (by the member list the bot holds) is refused."""
    guild = guild_of(interaction)
    if not isinstance(interaction.user, discord.Member):
        raise app_commands.NoPrivateMessage()
    if guild.chunked and guild.get_member(interaction.user.id) is None:
        # an old button clicked (or a command sent) just as they left: nothing is done for them
        raise NotAllowed("You're no longer a member of this server.")
    return guild, interaction.user


async def send_ephemeral(interaction: discord.Interaction, content: str) -> None:
    """Error messages often quote what the user typed; the bot's default pings nobody."""
    content = clip(content)
    try:
        if interaction.response.is_done():
            await interaction.followup.send(content, ephemeral=True)
        else:
            await interaction.response.send_message(content, ephemeral=True)
    except discord.HTTPException:
        log.warning("could not answer interaction %s", interaction.id, exc_info=True)


def _source(interaction: discord.Interaction[Any]) -> str:
    """What the user used, for the log: a command's name or a component's custom_id."""
    if interaction.command is not None:
        return f"/{interaction.command.qualified_name}"
    data: dict[str, Any] = dict(interaction.data or {})
    custom_id = data.get("custom_id")
    return f"component {custom_id}" if custom_id else str(interaction.type)


async def handle_interaction_error(interaction: discord.Interaction, error: BaseException) -> None:
    """The one error path of commands, views and persistent items: errors users can fix get
    their short answer; anything else is logged with its traceback and gets the apology."""
    text = message_for(error)
    if text is None:
        log.error("unhandled error in %s", _source(interaction), exc_info=error)
        text = GENERIC_APOLOGY
    await send_ephemeral(interaction, text)


class ErrorHandlingView(discord.ui.View):
    """Base for views: component errors get the same treatment as command errors."""

    async def on_error(
        self,
        interaction: discord.Interaction,
        error: Exception,
        item: discord.ui.Item[discord.ui.View],
    ) -> None:
        await handle_interaction_error(interaction, error)


class ErrorHandlingItem:
    """Mixin for persistent buttons and selects, listed before ``discord.ui.DynamicItem``:
    discord.py only logs a dynamic item's errors (no view ``on_error`` is called), so the
    callback runs ``respond`` and sends any failure through ``handle_interaction_error``."""

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        try:
            await self.respond(interaction)
        except Exception as error:
            await handle_interaction_error(interaction, error)

    async def respond(self, interaction: discord.Interaction[Any]) -> None:
        raise NotImplementedError


P = ParamSpec("P")
ChoiceT = TypeVar("ChoiceT")


def logged_autocomplete(
    func: Callable[P, Awaitable[list[ChoiceT]]],
) -> Callable[P, Coroutine[Any, Any, list[ChoiceT]]]:
    """For every autocomplete callback: a failure offers no choices instead of leaving the menu
    spinning. Domain errors (a half-typed chapter name) are expected and not logged as errors;
    anything else is logged with its traceback."""

    @functools.wraps(func)
    async def autocomplete(*args: P.args, **kwargs: P.kwargs) -> list[ChoiceT]:
        try:
            return await func(*args, **kwargs)
        except DomainError as error:
            log.debug("autocomplete %s: %s", func.__qualname__, error.message)
        except Exception:
            log.exception("autocomplete %s failed; no choices offered", func.__qualname__)
        return []

    autocomplete.logs_errors = True  # type: ignore[attr-defined]
    return autocomplete
