"""/meeting and /reminders: chapter meetings, RSVPs, attendance and reminder settings.

Thin adapter: parse and check → ``services.meetings`` → render. Reminder timers land here and go
to the outbox through ``MeetingService.prepare_reminders``; nothing here sends a DM itself.
"""

from __future__ import annotations

import contextlib
import io
import logging
import re
from collections.abc import Sequence
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import member_is_organizer
from bot.client import ChapterBot
from bot.errors import InvalidInput
from bot.interactions import ErrorHandlingView, guild_and_member, guild_of, logged_autocomplete
from bot.limits import clip, fit_choices, fit_options, join_lines
from bot.notify import announce_chapter_transitions, notify_organizers, post_in_channel
from bot.services.chapters import ChapterSummary
from bot.services.effects import direct_message
from bot.services.meetings import (
    EVENT_WINDOW,
    AttendanceResult,
    OccurrenceView,
    RsvpAnswer,
    SchedulePreview,
)
from bot.services.recurrence import format_leads
from bot.services.sanitize import parse_row_id
from bot.services.timers import TimerRecord
from bot.text import esc
from cogs.meetings._views import (
    ANSWER_LABELS,
    ReminderMessages,
    announcement,
    meeting_line,
    preview_text,
    rsvp_view,
    when,
)

log = logging.getLogger(__name__)

SCOPE_CHOICES = [
    app_commands.Choice(name="Only this meeting", value="this"),
    app_commands.Choice(name="The whole series", value="series"),
]


class ChapterOption(app_commands.Transformer[ChapterBot]):
    """A chapter: autocomplete by name or city (value = id); typed names work too."""

    async def transform(
        self, interaction: discord.Interaction[ChapterBot], value: str
    ) -> ChapterSummary:
        guild = guild_of(interaction)
        return await interaction.client.services.chapters.resolve(guild.id, str(value))

    @logged_autocomplete
    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[ChapterBot], value: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        found = await interaction.client.services.chapters.search(
            interaction.guild_id, str(value), limit=25
        )
        return fit_choices([app_commands.Choice(name=c.name, value=str(c.id)) for c in found])


class MeetingOption(app_commands.Transformer[ChapterBot]):
    """An upcoming meeting: autocomplete by title or chapter (value = occurrence id)."""

    async def transform(
        self, interaction: discord.Interaction[ChapterBot], value: str
    ) -> OccurrenceView:
        guild = guild_of(interaction)
        occurrence_id = parse_row_id(str(value), what="meeting")
        return await interaction.client.services.meetings.get(guild.id, occurrence_id)

    @logged_autocomplete
    async def autocomplete(  # type: ignore[override]
        self, interaction: discord.Interaction[ChapterBot], value: str
    ) -> list[app_commands.Choice[str]]:
        if interaction.guild_id is None:
            return []
        found = await interaction.client.services.meetings.upcoming(interaction.guild_id, limit=100)
        needle = str(value).lower()
        choices = []
        for view in found:
            label = (
                f"#{view.id} {view.title} · {view.chapter_name} · {view.starts_at:%b %d %H:%M} UTC"
            )
            if needle in label.lower():
                choices.append(app_commands.Choice(name=label, value=str(view.id)))
        return fit_choices(choices)


Chapter = app_commands.Transform[ChapterSummary, ChapterOption]
Meeting = app_commands.Transform[OccurrenceView, MeetingOption]


class ConfirmSchedule(ErrorHandlingView):
    """Confirm / Cancel under a schedule preview; only its author can press them."""

    def __init__(self, cog: Meetings, preview: SchedulePreview, author_id: int) -> None:
        super().__init__(timeout=600)
        self.cog = cog
        self.preview = preview
        self.author_id = author_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.author_id:
            await interaction.response.send_message(
                "Only the person who scheduled this can confirm it.", ephemeral=True
            )
            return False
        return True

    @discord.ui.button(label="Confirm", style=discord.ButtonStyle.success)
    async def confirm(
        self, interaction: discord.Interaction[ChapterBot], _: discord.ui.Button[ConfirmSchedule]
    ) -> None:
        self.stop()
        await self.cog.confirm_schedule(interaction, self.preview)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(
        self, interaction: discord.Interaction[ChapterBot], _: discord.ui.Button[ConfirmSchedule]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(content="Not scheduled.", view=None)


class CheckInPicker(discord.ui.Select["CheckInList"]):
    async def callback(self, interaction: discord.Interaction[ChapterBot]) -> None:  # type: ignore[override]
        assert self.view is not None
        attendees = [int(value) for value in self.values]
        await self.view.cog.record_attendance(
            interaction, self.view.occurrence, attendees, self.view.notes
        )


class CheckInList(ErrorHandlingView):
    """Who came: a multi-select of the chapter's members, those who said Going first."""

    def __init__(
        self,
        cog: Meetings,
        occurrence: OccurrenceView,
        options: Sequence[discord.SelectOption],
        notes: str | None,
        author_id: int,
    ) -> None:
        super().__init__(timeout=900)
        self.cog = cog
        self.occurrence = occurrence
        self.notes = notes
        self.author_id = author_id
        self.add_item(
            CheckInPicker(
                placeholder="Who came?",
                min_values=1,
                max_values=len(options),
                options=list(options),
                custom_id=f"meeting:attendance:{occurrence.id}",
            )
        )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return interaction.user.id == self.author_id


@app_commands.guild_only()
class Meetings(
    commands.GroupCog,
    group_name="meeting",
    group_description="Chapter meetings: schedule, list, RSVP, attendance, reminders",
):
    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot
        self.renderer = ReminderMessages(bot.services.meetings.calendar)
        # guilds whose organizers were told the bot lacks Manage Events (once per run)
        self._told_manage_events: set[int] = set()

    # ------------------------------------------------------------------ schedule

    @app_commands.command(name="schedule", description="Schedule a chapter's meeting or series")
    @app_commands.describe(
        chapter="The chapter that meets",
        title="What the meeting is called",
        start="First meeting in the chapter's local time: 2027-01-05 19:00 or Jan 5 7pm",
        duration="How long: 90m, 1h30m, 2h",
        location="An address, a voice/stage channel (#channel) or a link",
        repeat="once, weekly, every two weeks, monthly, 1st and 15th, 1st and 3rd Tuesday",
        until="Last day of the series (at most a year; default a year)",
    )
    async def schedule(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Chapter,
        title: app_commands.Range[str, 1, 100],
        start: app_commands.Range[str, 1, 60],
        duration: app_commands.Range[str, 1, 20],
        location: app_commands.Range[str, 1, 300],
        repeat: app_commands.Range[str, 1, 60] = "once",
        until: app_commands.Range[str, 1, 30] | None = None,
    ) -> None:
        guild, member = guild_and_member(interaction)
        preview = await self.bot.services.meetings.preview(
            guild.id,
            chapter.id,
            actor_id=member.id,
            actor_is_organizer=await member_is_organizer(self.bot, member),
            title=title,
            start=start,
            duration=duration,
            location=location,
            repeat=repeat,
            until=until,
        )
        text = preview_text(preview.plan, preview.title, preview.location, preview.chapter_name)
        await interaction.response.send_message(
            text, view=ConfirmSchedule(self, preview, member.id), ephemeral=True
        )

    async def confirm_schedule(
        self, interaction: discord.Interaction[ChapterBot], preview: SchedulePreview
    ) -> None:
        guild, member = guild_and_member(interaction)
        series = await self.bot.services.meetings.schedule(
            guild.id,
            preview,
            actor_id=member.id,
            actor_is_organizer=await member_is_organizer(self.bot, member),
        )
        first = series.upcoming[0]
        await interaction.response.edit_message(
            content=clip(
                f"Scheduled **{esc(first.title)}** for {esc(series.chapter_name)} "
                f"({series.repeat}); the first is {when(first)}. It is announced in the "
                "chapter's channel; reminders follow the chapter's policy (/meeting reminders)."
            ),
            view=None,
        )
        channel_id = first.channel_id or interaction.channel_id
        await post_in_channel(
            self.bot, channel_id, guild.id, announcement(first), view=rsvp_view(first)
        )

    # ------------------------------------------------------------------ list, export

    @app_commands.command(name="list", description="Upcoming meetings of a chapter, or all of mine")
    @app_commands.describe(chapter="Only this chapter (default: every chapter you are in)")
    async def list_(
        self, interaction: discord.Interaction[ChapterBot], chapter: Chapter | None = None
    ) -> None:
        guild, member = guild_and_member(interaction)
        meetings = self.bot.services.meetings
        if chapter is not None:
            found = await meetings.upcoming(guild.id, chapter_id=chapter.id)
            where = esc(chapter.name)
        else:
            found = await meetings.upcoming(guild.id, user_id=member.id)
            where = "your chapters"
        if not found:
            await interaction.response.send_message(
                f"No upcoming meetings for {where}. Facilitators schedule with /meeting schedule.",
                ephemeral=True,
            )
            return
        lines = [f"Upcoming meetings for {where}:", *(meeting_line(view) for view in found)]
        await interaction.response.send_message(join_lines(lines), ephemeral=True)

    @app_commands.command(name="export", description="Download meetings as a calendar (.ics) file")
    @app_commands.describe(chapter="A chapter's upcoming meetings", meeting="Only this meeting")
    async def export(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Chapter | None = None,
        meeting: Meeting | None = None,
    ) -> None:
        guild, _member = guild_and_member(interaction)
        if chapter is None and meeting is None:
            raise InvalidInput("Pick a `chapter` or a `meeting` to export.")
        data = await self.bot.services.meetings.export_ics(
            guild.id,
            chapter_id=chapter.id if chapter else None,
            occurrence_id=meeting.id if meeting else None,
        )
        await interaction.response.send_message(
            "Add this file to your calendar app:",
            file=discord.File(io.BytesIO(data), filename="meetings.ics"),
            ephemeral=True,
        )

    # ------------------------------------------------------------------ edit, cancel

    @app_commands.command(name="edit", description="Change one meeting, or its whole series")
    @app_commands.describe(
        meeting="The meeting (pick from the list)",
        scope="Only this meeting, or the whole series",
        title="New title",
        location="New place",
        start="New start, this meeting only (local time: Jan 5 7pm)",
        duration="New length: 90m, 2h",
    )
    @app_commands.choices(scope=SCOPE_CHOICES)
    async def edit(
        self,
        interaction: discord.Interaction[ChapterBot],
        meeting: Meeting,
        scope: app_commands.Choice[str],
        title: app_commands.Range[str, 1, 100] | None = None,
        location: app_commands.Range[str, 1, 300] | None = None,
        start: app_commands.Range[str, 1, 60] | None = None,
        duration: app_commands.Range[str, 1, 20] | None = None,
    ) -> None:
        guild, member = guild_and_member(interaction)
        if not any((title, location, start, duration)):
            raise InvalidInput("Give at least one of title, location, start or duration.")
        organizer = await member_is_organizer(self.bot, member)
        meetings = self.bot.services.meetings
        if scope.value == "series":
            if start is not None:
                raise InvalidInput(
                    "A series' start can't move; change one meeting, or cancel the series "
                    "and schedule it again."
                )
            changed = await meetings.edit_series(
                guild.id,
                meeting.id,
                actor_id=member.id,
                actor_is_organizer=organizer,
                title=title,
                location=location,
                duration=duration,
            )
            text = f"Updated the series and its {len(changed)} upcoming meeting(s)."
        else:
            view = await meetings.edit_occurrence(
                guild.id,
                meeting.id,
                actor_id=member.id,
                actor_is_organizer=organizer,
                title=title,
                location=location,
                start=start,
                duration=duration,
            )
            text = "Updated:\n" + meeting_line(view)
            await post_in_channel(
                self.bot,
                view.channel_id,
                guild.id,
                announcement(view, intro="✏️ Meeting changed"),
                view=rsvp_view(view),
            )
        await interaction.response.send_message(clip(text), ephemeral=True)

    @app_commands.command(name="cancel", description="Cancel one meeting, or the rest of a series")
    @app_commands.describe(meeting="The meeting", scope="Only this meeting, or the whole series")
    @app_commands.choices(scope=SCOPE_CHOICES)
    async def cancel(
        self,
        interaction: discord.Interaction[ChapterBot],
        meeting: Meeting,
        scope: app_commands.Choice[str],
    ) -> None:
        guild, member = guild_and_member(interaction)
        result = await self.bot.services.meetings.cancel(
            guild.id,
            meeting.id,
            actor_id=member.id,
            actor_is_organizer=await member_is_organizer(self.bot, member),
            whole_series=scope.value == "series",
        )
        first = result.occurrences[0] if result.occurrences else meeting
        what = (
            f"the series **{esc(first.title)}**"
            if scope.value == "series"
            else f"**{esc(first.title)}** on {when(first)}"
        )
        text = f"❌ {esc(first.chapter_name)}: {what} is cancelled."
        if result.notify_user_ids:
            await self.bot.services.effects.enqueue_now(
                *(
                    direct_message(
                        user,
                        purpose="meeting",
                        dedupe_key=f"meeting-cancelled:{first.id}:{scope.value}:{user}",
                        content=clip(text + " You had answered that you might come."),
                        guild_id=guild.id,
                        lane=f"meeting:chapter:{first.chapter_id}",
                    )
                    for user in result.notify_user_ids
                )
            )
        await post_in_channel(self.bot, first.channel_id, guild.id, text)
        await interaction.response.send_message(
            clip(
                f"Cancelled {len(result.occurrences)} meeting(s); "
                f"{len(result.notify_user_ids)} member(s) who answered are told by DM."
            ),
            ephemeral=True,
        )

    # ------------------------------------------------------------------ RSVP

    async def rsvp_from_button(
        self, interaction: discord.Interaction[ChapterBot], occurrence_id: int, answer: RsvpAnswer
    ) -> None:
        view = await self.bot.services.meetings.rsvp(
            interaction.guild_id, occurrence_id, interaction.user.id, answer
        )
        await interaction.response.edit_message(view=rsvp_view(view))
        await interaction.followup.send(
            f"Saved: **{ANSWER_LABELS[answer]}** for {esc(view.title)} ({when(view)}).",
            ephemeral=True,
        )

    # ------------------------------------------------------------------ attendance

    @app_commands.command(name="attendance", description="Record who came to a meeting")
    @app_commands.describe(meeting="The meeting (it has started)", notes="Short notes (optional)")
    async def attendance(
        self,
        interaction: discord.Interaction[ChapterBot],
        meeting: Meeting,
        notes: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        guild, member = guild_and_member(interaction)
        meetings = self.bot.services.meetings
        if meeting.starts_at > self.bot.services.clock.now():
            raise InvalidInput(
                "That meeting has not started yet; record attendance during or after it."
            )
        if not await self._can_manage(member, meeting):
            raise InvalidInput(
                f"Only the facilitator or founders of {esc(meeting.chapter_name)}, or an "
                "organizer, record attendance."
            )
        members = await meetings.check_in_list(guild.id, meeting.id)
        answers = await meetings.answers(guild.id, meeting.id)
        options = []
        for user_id in members[:25]:
            person = guild.get_member(user_id)
            name = person.display_name if person else f"member {user_id}"
            options.append(
                discord.SelectOption(
                    label=name,
                    value=str(user_id),
                    default=answers.get(user_id) == RsvpAnswer.GOING,
                )
            )
        if not options:
            raise InvalidInput("That chapter has no members to check in.")
        more = f" (the first 25 of {len(members)})" if len(members) > 25 else ""
        await interaction.response.send_message(
            f"Who came to **{esc(meeting.title)}** ({when(meeting)})?{more}",
            view=CheckInList(self, meeting, fit_options(options), notes, member.id),
            ephemeral=True,
        )

    async def _can_manage(self, member: discord.Member, meeting: OccurrenceView) -> bool:
        if await member_is_organizer(self.bot, member):
            return True
        details = await self.bot.services.chapters.details(member.guild.id, meeting.chapter_id)
        return member.id in details.founders or details.holder("facilitator") == member.id

    async def record_attendance(
        self,
        interaction: discord.Interaction[ChapterBot],
        meeting: OccurrenceView,
        attendees: Sequence[int],
        notes: str | None,
    ) -> None:
        guild, member = guild_and_member(interaction)
        result: AttendanceResult = await self.bot.services.meetings.record_attendance(
            guild.id,
            meeting.id,
            attendees,
            actor_id=member.id,
            actor_is_organizer=await member_is_organizer(self.bot, member),
            notes=notes,
        )
        lines = [
            f"Recorded {len(result.attendee_ids)} attendee(s) for **{esc(meeting.title)}**. "
            "It counts as this month's meeting."
        ]
        if result.rotation is not None:
            holders = ", ".join(f"{h.role}: <@{h.user_id}>" for h in result.rotation.holders)
            lines.append(f"Roles rotated for the next meeting — {holders}.")
        await interaction.response.edit_message(content=clip("\n".join(lines)), view=None)
        if result.rotation is not None:
            await post_in_channel(
                self.bot, meeting.channel_id, guild.id, "🔄 " + "\n".join(lines[1:])
            )
        announce_chapter_transitions(self.bot, result.transitions)

    # ------------------------------------------------------------------ reminder policy

    @app_commands.command(name="reminders", description="Set when a chapter's members are reminded")
    @app_commands.describe(chapter="The chapter", leads="How long before each meeting: 3d, 2h")
    async def reminders(
        self,
        interaction: discord.Interaction[ChapterBot],
        chapter: Chapter,
        leads: app_commands.Range[str, 1, 60],
    ) -> None:
        guild, member = guild_and_member(interaction)
        policy = await self.bot.services.meetings.set_policy(
            guild.id,
            chapter.id,
            leads,
            actor_id=member.id,
            actor_is_organizer=await member_is_organizer(self.bot, member),
        )
        await interaction.response.send_message(
            f"{esc(chapter.name)} members are reminded {format_leads(policy)} before each "
            "meeting (each member can change theirs with /reminders).",
            ephemeral=True,
        )

    # ------------------------------------------------------------------ timers

    @commands.Cog.listener()
    async def on_meeting_reminder_timer_complete(self, timer: TimerRecord) -> None:
        await self.bot.services.meetings.prepare_reminders(
            int(timer.payload["occurrence_id"]),
            int(timer.payload["lead_minutes"]),
            late=timer.late,
            renderer=self.renderer,
        )

    @commands.Cog.listener()
    async def on_meeting_skip_summary_timer_complete(self, timer: TimerRecord) -> None:
        """One organizer message for every reminder skipped since the last one (a catch-up after
        downtime skips many runs; organizers hear about them once)."""
        guild_id = int(timer.payload["guild_id"])
        skipped = await self.bot.services.meetings.summarise_skipped(guild_id)
        if not skipped:
            return
        lines = [
            f"- **{esc(s.title)}** ({esc(s.chapter_name)}), "
            f"{discord.utils.format_dt(s.starts_at, 'f')}: {s.reminders} reminder(s)"
            for s in skipped
        ]
        await notify_organizers(
            self.bot,
            guild_id,
            clip(
                "The bot was offline when these reminders were due; the meetings had started, "
                "so they were not sent:\n" + "\n".join(lines)
            ),
        )

    @commands.Cog.listener()
    async def on_meeting_series_extend_timer_complete(self, timer: TimerRecord) -> None:
        await self.bot.services.meetings.extend(int(timer.payload["series_id"]))

    @commands.Cog.listener()
    async def on_meeting_event_sync_timer_complete(self, timer: TimerRecord) -> None:
        """Mirror one occurrence as a one-off Discord scheduled event (Discord's own recurrence
        can't say "1st and 3rd Tuesday"): create, update, or delete when cancelled or over."""
        meetings = self.bot.services.meetings
        view = await meetings.get(None, int(timer.payload["occurrence_id"]))
        guild = self.bot.get_guild(view.guild_id)
        if guild is None:
            return
        now = self.bot.services.clock.now()
        try:
            if view.cancelled or view.ends_at <= now:
                if view.event_id is not None:
                    with contextlib.suppress(discord.NotFound):
                        await (await guild.fetch_scheduled_event(view.event_id)).delete()
                    await meetings.set_event_id(view.id, None)
                return
            if view.starts_at - now > EVENT_WINDOW or view.starts_at <= now:
                return  # not mirrored yet (a later timer does it), or under way: leave it
            event = None
            if view.event_id is not None:
                with contextlib.suppress(discord.NotFound):
                    event = await guild.fetch_scheduled_event(view.event_id)
            fields = self._event_fields(guild, view)
            if event is None:
                event = await guild.create_scheduled_event(**fields)
                await meetings.set_event_id(view.id, event.id)
            else:
                await event.edit(**fields)
        except discord.Forbidden:
            if guild.id not in self._told_manage_events:
                self._told_manage_events.add(guild.id)
                await notify_organizers(
                    self.bot,
                    guild.id,
                    "I can't mirror chapter meetings as Discord events: give my role the "
                    "**Manage Events** permission. Meetings, RSVPs and reminders work without it.",
                )

    @staticmethod
    def _event_fields(guild: discord.Guild, view: OccurrenceView) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "name": clip(view.title, 100),
            "start_time": view.starts_at,
            "end_time": view.ends_at,
            "description": clip(f"{view.chapter_name} · {view.repeat}", 1000),
            "privacy_level": discord.PrivacyLevel.guild_only,
        }
        match = re.fullmatch(r"<#(\d+)>", view.location)
        channel = guild.get_channel(int(match[1])) if match else None
        if isinstance(channel, discord.StageChannel):
            fields.update(entity_type=discord.EntityType.stage_instance, channel=channel)
        elif isinstance(channel, discord.VoiceChannel):
            fields.update(entity_type=discord.EntityType.voice, channel=channel)
        else:
            fields.update(
                entity_type=discord.EntityType.external, location=clip(view.location, 100)
            )
        return fields


class MemberReminders(commands.Cog):
    """/reminders: each member's own reminder settings."""

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="reminders", description="Your meeting reminders: on/off, which, quiet hours"
    )
    @app_commands.guild_only()
    @app_commands.describe(
        enabled="Get meeting reminders at all",
        leads="Which of the chapter's reminders you want (e.g. 2h), or all",
        quiet_hours="No reminders between these local times, e.g. 22:00-07:00, or off",
        timezone="Your timezone for quiet hours (default: your /profile city's)",
    )
    async def reminders(
        self,
        interaction: discord.Interaction[ChapterBot],
        enabled: bool | None = None,
        leads: app_commands.Range[str, 1, 60] | None = None,
        quiet_hours: app_commands.Range[str, 1, 20] | None = None,
        timezone: app_commands.Range[str, 1, 64] | None = None,
    ) -> None:
        guild, member = guild_and_member(interaction)
        prefs = await self.bot.services.meetings.set_preferences(
            guild.id,
            member.id,
            enabled=enabled,
            leads=leads,
            quiet_hours=quiet_hours,
            timezone=timezone,
        )
        if not prefs.enabled:
            text = "Meeting reminders are **off** for you; `/reminders enabled:True` turns them on."
        else:
            which = (
                "every reminder your chapters send"
                if prefs.leads is None
                else (f"only the {format_leads(prefs.leads)} reminder(s)")
            )
            quiet = (
                f"quiet hours {prefs.quiet_start:%H:%M}-{prefs.quiet_end:%H:%M} ({prefs.timezone})"
                if prefs.quiet_start is not None and prefs.quiet_end is not None
                else "no quiet hours"
            )
            text = f"You get {which}, with {quiet}."
        await interaction.response.send_message(text, ephemeral=True)
