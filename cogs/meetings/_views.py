"""How meetings look in Discord: text, RSVP buttons that survive restarts, reminder messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, Protocol

import discord

from bot.client import ChapterBot
from bot.interactions import ErrorHandlingItem, ErrorHandlingView
from bot.limits import clip
from bot.services.effects import Attachment, EffectRequest, channel_post, direct_message
from bot.services.meetings import DueReminder, OccurrenceView, RsvpAnswer
from bot.services.recurrence import SeriesPlan, format_lead
from bot.services.sanitize import require_row_id
from bot.text import esc, timestamp

COG_NAME = "Meetings"

ANSWER_LABELS = {RsvpAnswer.GOING: "Going", RsvpAnswer.MAYBE: "Maybe", RsvpAnswer.CANT: "Can't"}
ANSWER_STYLES = {
    RsvpAnswer.GOING: discord.ButtonStyle.success,
    RsvpAnswer.MAYBE: discord.ButtonStyle.secondary,
    RsvpAnswer.CANT: discord.ButtonStyle.danger,
}


def when(view: OccurrenceView) -> str:
    """Every reader sees their own local time (full date and relative)."""
    return f"{timestamp(view.starts_at, 'F')} ({timestamp(view.starts_at, 'R')})"


def place(location: str) -> str:
    """A channel mention or a link is shown as Discord renders it; an address is escaped."""
    if re.fullmatch(r"<#\d+>", location) or re.fullmatch(r"https?://\S+", location):
        return location
    return esc(location)


def counts(view: OccurrenceView) -> str:
    c = view.counts
    return f"✅ {c.going} going · ❔ {c.maybe} maybe · ❌ {c.cant} can't"


def meeting_line(view: OccurrenceView) -> str:
    state = " — **cancelled**" if view.cancelled else ""
    return (
        f"`#{view.id}` **{esc(view.title)}** ({esc(view.chapter_name)}){state}\n"
        f"{when(view)} · 📍 {place(view.location)} · {counts(view)}"
    )


def announcement(view: OccurrenceView, *, intro: str = "📅 New meeting") -> str:
    return clip(
        f"{intro}: **{esc(view.title)}** ({esc(view.chapter_name)}, {view.repeat})\n"
        f"🕒 {when(view)}\n📍 {place(view.location)}\n"
        "Let the chapter know if you're coming:"
    )


def preview_text(plan: SeriesPlan, title: str, location: str, chapter_name: str) -> str:
    lines = [
        f"**{esc(title)}** for {esc(chapter_name)}: {plan.repeat.description}, "
        f"{int(plan.duration.total_seconds() // 60)} minutes, 📍 {place(location)}",
        f"Times are in the chapter's zone ({plan.timezone}); you see them in yours:",
        *(f"• {timestamp(start, 'F')} ({timestamp(start, 'R')})" for start in plan.first_starts),
    ]
    if plan.count > len(plan.first_starts):
        lines.append(f"… {plan.count} meetings in all.")
    lines += [f"ℹ️ {note}" for note in plan.notes]
    lines.append("Nothing is saved until you press **Confirm**.")
    return clip("\n".join(lines))


def reminder_text(view: OccurrenceView, lead: timedelta, *, late: bool) -> str:
    late_note = "\n(This reminder is late: the bot was offline when it was due.)" if late else ""
    return clip(
        f"⏰ Reminder ({format_lead(lead)} ahead): **{esc(view.title)}** ({esc(view.chapter_name)})"
        f"\n🕒 {when(view)}\n📍 {place(view.location)}{late_note}\n"
        "Use /reminders to change which reminders you get."
    )


class RsvpHandler(Protocol):
    async def rsvp_from_button(
        self, interaction: discord.Interaction[ChapterBot], occurrence_id: int, answer: RsvpAnswer
    ) -> None: ...


class RsvpButton(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"meeting:rsvp:(?P<id>[0-9]{1,20}):(?P<answer>going|maybe|cant)",
):
    """Going / Maybe / Can't on announcements and reminders; state lives in the custom_id, so it
    works after restarts and in DMs."""

    def __init__(self, occurrence_id: int, answer: RsvpAnswer, count: int = 0) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"{ANSWER_LABELS[answer]} ({count})",
                style=ANSWER_STYLES[answer],
                custom_id=f"meeting:rsvp:{occurrence_id}:{answer.value}",
            )
        )
        self.occurrence_id = occurrence_id
        self.answer = answer

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> RsvpButton:
        return cls(int(match["id"]), RsvpAnswer(match["answer"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        handler: RsvpHandler | None = interaction.client.get_cog(COG_NAME)  # type: ignore[assignment]
        if handler is None:
            raise RuntimeError("the meetings cog is not loaded")
        occurrence_id = require_row_id(self.occurrence_id, what="meeting")  # the id is user input
        await handler.rsvp_from_button(interaction, occurrence_id, self.answer)


def rsvp_view(view: OccurrenceView) -> ErrorHandlingView:
    buttons = ErrorHandlingView(timeout=None)
    counted = {
        RsvpAnswer.GOING: view.counts.going,
        RsvpAnswer.MAYBE: view.counts.maybe,
        RsvpAnswer.CANT: view.counts.cant,
    }
    for answer, count in counted.items():
        buttons.add_item(RsvpButton(view.id, answer, count))
    return buttons


class ReminderMessages:
    """Outbox requests for reminders (``MeetingService.prepare_reminders`` writes them)."""

    def __init__(self, calendar: Callable[[Sequence[OccurrenceView]], bytes]) -> None:
        self._calendar = calendar

    def direct(
        self, occurrence: OccurrenceView, due: DueReminder, lead: timedelta
    ) -> EffectRequest:
        fallback = None
        if occurrence.channel_id:
            fallback = channel_post(
                occurrence.channel_id,
                guild_id=occurrence.guild_id,
                content=clip(
                    f"<@{due.user_id}> "
                    + reminder_text(occurrence, lead, late=due.late)
                    + "\n(Posted here because your DMs are closed to the bot.)"
                ),
                mention_user_ids=[due.user_id],
                purpose="reminder",
                lane=f"reminder:chapter:{occurrence.chapter_id}",
                dedupe_key=f"{due.dedupe_key}:channel",
            )
        return direct_message(
            due.user_id,
            purpose="reminder",
            dedupe_key=due.dedupe_key,
            content=reminder_text(occurrence, lead, late=due.late),
            components=rsvp_view(occurrence).to_components(),
            guild_id=occurrence.guild_id,
            lane=f"reminder:chapter:{occurrence.chapter_id}",
            fallback=fallback,
            describe=f"remind <@{due.user_id}> of {occurrence.title}",
            files=[
                Attachment(
                    f"meeting-{occurrence.id}.ics",
                    self._calendar([occurrence]),
                    "text/calendar",
                )
            ],
        )

    def channel(
        self, occurrence: OccurrenceView, user_ids: Sequence[int], lead: timedelta
    ) -> EffectRequest | None:
        if not occurrence.channel_id or not user_ids:
            return None
        mentions = " ".join(f"<@{user}>" for user in user_ids)
        minutes = int(lead.total_seconds() // 60)
        return channel_post(
            occurrence.channel_id,
            guild_id=occurrence.guild_id,
            content=clip(
                f"{mentions}\n"
                + reminder_text(occurrence, lead, late=False)
                + "\n(Posted here because your DMs are closed to the bot.)"
            ),
            components=rsvp_view(occurrence).to_components(),
            mention_user_ids=user_ids,
            purpose="reminder",
            lane=f"reminder:chapter:{occurrence.chapter_id}",
            dedupe_key=f"reminder-channel:{occurrence.id}:{minutes}:{min(user_ids)}",
        )
