"""Meetings: /meeting schedule, list, edit, cancel, export, attendance, reminders; /reminders;
persistent RSVP buttons; reminder timers handed to the outbox."""

from __future__ import annotations

from bot.client import ChapterBot
from cogs.meetings._cog import Meetings, MemberReminders
from cogs.meetings._views import RsvpButton


async def setup(bot: ChapterBot) -> None:
    bot.add_dynamic_items(RsvpButton)
    await bot.add_cog(Meetings(bot))
    await bot.add_cog(MemberReminders(bot))


async def teardown(bot: ChapterBot) -> None:
    bot.remove_dynamic_items(RsvpButton)
