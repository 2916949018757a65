"""Rendering chapters for Discord, and the persistent Join button."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import discord

from bot.interactions import ErrorHandlingItem, ErrorHandlingView
from bot.limits import EMBED_FIELD_VALUE_MAX, clip, fit_embed, join_lines
from bot.provisioning import JOIN_TEMPLATE, join_custom_id
from bot.services.chapter_settings import (
    ATTENDANCE_NOT_RECORDED,
    MEETING_ATTENDANCE_RECORDED,
    GuildChapterSettings,
)
from bot.services.chapters import (
    AgreementSummary,
    ChapterDetails,
    ChapterStatus,
    ChapterSummary,
    Transition,
)
from bot.services.meetings import OccurrenceView
from bot.services.sanitize import require_row_id
from bot.text import esc, timestamp

if TYPE_CHECKING:
    from bot.client import ChapterBot

log = logging.getLogger(__name__)

COG_NAME = "Chapters"
EMBED_DESCRIPTION_MAX = 4000
FIELD_MAX = EMBED_FIELD_VALUE_MAX
NO_MEETINGS = "no meetings scheduled"

STATUS_ICONS: dict[ChapterStatus, str] = {
    ChapterStatus.FORMING: "🌱",
    ChapterStatus.FORMAL: "✅",
    ChapterStatus.AT_RISK: "⚠️",
    ChapterStatus.LAPSED: "💤",
    ChapterStatus.ARCHIVED: "📦",
    ChapterStatus.MERGED: "🔀",
}
STATUS_COLOURS: dict[ChapterStatus, discord.Colour] = {
    ChapterStatus.FORMING: discord.Colour.blue(),
    ChapterStatus.FORMAL: discord.Colour.green(),
    ChapterStatus.AT_RISK: discord.Colour.orange(),
    ChapterStatus.LAPSED: discord.Colour.dark_grey(),
    ChapterStatus.ARCHIVED: discord.Colour.light_grey(),
    ChapterStatus.MERGED: discord.Colour.light_grey(),
}


def quote(text: str, limit: int) -> str:
    """``text`` as a block quote with markdown escaped, at most ``limit`` characters: cut on the
    raw text (escaping can double its length), so no escape is split and the message fits."""

    def render(raw: str) -> str:
        return "> " + esc(raw).replace("\n", "\n> ")

    quoted, raw = render(text), text
    while len(quoted) > limit:
        raw = raw[: len(raw) - (len(quoted) - limit + 1)]
        quoted = render(raw) + "…"
    return quoted


def status_text(chapter: ChapterSummary) -> str:
    return f"{STATUS_ICONS[chapter.status]} {chapter.status_label}"


def chapter_line(chapter: ChapterSummary) -> str:
    members = f"{chapter.member_count} member{'' if chapter.member_count == 1 else 's'}"
    return (
        f"**{esc(chapter.name)}** · {esc(chapter.city_label)} · {status_text(chapter)} · {members}"
    )


def choice_label(chapter: ChapterSummary) -> str:
    """An autocomplete choice name (≤ 100 chars)."""
    label = f"{chapter.name} — {chapter.city_label} ({chapter.status_label})"
    return label if len(label) <= 100 else label[:99] + "…"


def mentions(user_ids: Sequence[int], limit: int = FIELD_MAX) -> str:
    if not user_ids:
        return "nobody yet"
    return join_lines([f"<@{u}>" for u in user_ids], limit, "and {n} more")


def criteria_lines(details: ChapterDetails) -> list[str]:
    lines = []
    for result in details.criteria.results:
        icon = "✅" if result.met else "❌"
        if not result.required:
            icon = "➖"
        lines.append(f"{icon} **{result.label}:** {esc(result.detail)}")
    return lines


def info_embed(
    details: ChapterDetails,
    next_meeting: OccurrenceView | None = None,
    last_held: OccurrenceView | None = None,
) -> discord.Embed:
    chapter = details.chapter
    embed = discord.Embed(
        title=clip(f"{STATUS_ICONS[chapter.status]} {chapter.name}", 256),
        colour=STATUS_COLOURS[chapter.status],
    )
    place = [esc(chapter.city_label)]
    if chapter.region_name:
        place.append(esc(chapter.region_name))
    place.append(chapter.continent_name)
    where = " · ".join(place)
    status = f"**{chapter.status_label}** since {timestamp(chapter.status_changed_at, 'D')}"
    if details.merged_into is not None:
        status += f" into **{esc(details.merged_into.name)}**"
    lines = [where, f"Timezone: {chapter.timezone}", f"Status: {status}"]
    if chapter.channel_id:
        lines.append(f"Channel: <#{chapter.channel_id}>")
    if details.criteria.met and chapter.status == ChapterStatus.FORMING:
        lines.append("Every criterion is met: it becomes formal at the next check.")
    embed.description = "\n".join(lines)

    embed.add_field(
        name="Criteria", value=join_lines(criteria_lines(details), FIELD_MAX), inline=False
    )
    founders = details.founders
    embed.add_field(
        name=f"Members ({chapter.member_count})",
        value=mentions([m.user_id for m in details.members]),
        inline=False,
    )
    if founders:
        embed.add_field(name="Founders", value=mentions(founders, 500), inline=True)
    role_lines = [f"**{r.role}:** <@{r.user_id}>" for r in details.roles]
    rotation = " (rotating)" if chapter.rotate_roles else ""
    embed.add_field(
        name=f"Roles{rotation}",
        value=join_lines(role_lines, FIELD_MAX) if role_lines else "none assigned yet",
        inline=True,
    )
    adopted = [a for a in details.agreements if a.adopted]
    proposed = len(details.agreements) - len(adopted)
    agreement_lines = [agreement_line(a, 150) for a in adopted]
    if proposed:
        agreement_lines.append(f"{proposed} proposed, not adopted yet")
    embed.add_field(
        name="Agreements",
        value=join_lines(agreement_lines, FIELD_MAX) if agreement_lines else "none yet",
        inline=False,
    )
    meeting = f"Next meeting: {NO_MEETINGS}"
    if next_meeting is not None:
        meeting = (
            f"Next meeting: **{esc(next_meeting.title)}** {timestamp(next_meeting.starts_at, 'F')}"
            f" ({timestamp(next_meeting.starts_at, 'R')}), {next_meeting.repeat}"
        )
    if details.criteria.last_meeting_at is not None:
        meeting += f" · last meeting {timestamp(details.criteria.last_meeting_at, 'D')}"
    if last_held is not None:
        meeting += f" ({last_held.attendee_count} came)"
        if last_held.notes:
            meeting += f"\nNotes: {esc(clip(last_held.notes, 300))}"
    if not MEETING_ATTENDANCE_RECORDED:
        meeting += f"\n{ATTENDANCE_NOT_RECORDED.capitalize()}."
    embed.add_field(name="Meetings", value=meeting, inline=False)
    if details.history:
        latest = details.history[0]
        embed.set_footer(text=clip(f"Last change: {latest.reason}", 300))
    return fit_embed(embed)


def agreement_line(agreement: AgreementSummary, limit: int = 300) -> str:
    text = agreement.text if len(agreement.text) <= limit else agreement.text[: limit - 1] + "…"
    mark = "✅" if agreement.adopted else "📝"
    return f"{mark} **#{agreement.id}** {esc(text)}"


def agreements_embed(details: ChapterDetails) -> discord.Embed:
    embed = discord.Embed(
        title=clip(f"Agreements of {details.chapter.name}", 256), colour=discord.Colour.blurple()
    )
    if not details.agreements:
        embed.description = (
            "No agreements yet. Propose one with /chapter agreements add; the facilitator, "
            "a founder or an organizer adopts it with /chapter agreements adopt."
        )
        return embed
    lines = []
    for agreement in details.agreements:
        line = agreement_line(agreement)
        if agreement.adopted_at is not None:
            line += f"\n  adopted {timestamp(agreement.adopted_at, 'D')}"
        else:
            line += f"\n  proposed by <@{agreement.proposed_by}>, not adopted yet"
        lines.append(line)
    embed.description = join_lines(lines, EMBED_DESCRIPTION_MAX)
    return fit_embed(embed)


def roles_text(details: ChapterDetails) -> str:
    chapter = details.chapter
    lines = [f"**Roles in {esc(chapter.name)}**"]
    if details.roles:
        lines += [
            f"• **{r.role}:** <@{r.user_id}> since {timestamp(r.assigned_at, 'D')}"
            for r in details.roles
        ]
    else:
        lines.append("No roles assigned yet.")
    vacant = [r for r in details.settings.key_roles if details.holder(r) is None]
    if vacant:
        lines.append(f"Key roles still open: {', '.join(vacant)}.")
    lines.append(
        "Rotation is **on**: facilitator and note-taker pass to the next members in turn."
        if chapter.rotate_roles
        else "Rotation is off. Turn it on with /chapter roles rotation."
    )
    return join_lines(lines, 1900)


def list_embed(chapters: Sequence[ChapterSummary], filters: str) -> discord.Embed:
    title = "Chapters" + (f" ({filters})" if filters else "")
    embed = discord.Embed(title=clip(title, 256), colour=discord.Colour.blurple())
    if not chapters:
        embed.description = (
            "No chapters match. Propose one with /chapter propose, or see where members are "
            "with /chapter map."
        )
        return embed
    lines = [chapter_line(c) for c in chapters]
    embed.description = join_lines(
        lines, EMBED_DESCRIPTION_MAX, "…and {n} more: narrow with region, continent or status."
    )
    counts: dict[ChapterStatus, int] = {}
    for chapter in chapters:
        counts[chapter.status] = counts.get(chapter.status, 0) + 1
    embed.set_footer(
        text=" · ".join(f"{n} {status.value.replace('_', ' ')}" for status, n in counts.items())
    )
    return fit_embed(embed)


def settings_text(settings: GuildChapterSettings) -> str:
    if settings.meeting_months == 0:
        meetings = "not required"
        if not MEETING_ATTENDANCE_RECORDED:
            meetings += f" ({ATTENDANCE_NOT_RECORDED})"
    else:
        meetings = (
            f"at least one with attendance in each of the last {settings.meeting_months} month(s)"
        )
        if not MEETING_ATTENDANCE_RECORDED:
            meetings += (
                f". But {ATTENDANCE_NOT_RECORDED}, so no chapter can meet this: "
                "set meeting_months:0 until it is"
            )
    category = f"<#{settings.category_id}>" if settings.category_id else "none (top of the list)"
    return "\n".join(
        [
            f"**Minimum members:** {settings.min_members}",
            f"**Meetings:** {meetings}",
            f"**Agreements adopted:** {'required' if settings.require_agreements else 'optional'}",
            f"**Key roles:** {', '.join(settings.key_roles) or 'none'}",
            f"**Map: best places need** {settings.map_min_members} members",
            f"**Category for chapter channels:** {category}",
        ]
    )


def transition_text(transition: Transition, lapse_days: int) -> str:
    chapter = transition.chapter
    name = f"**{esc(chapter.name)}** ({esc(chapter.city_label)})"
    reason = esc(transition.reason)
    if transition.to_status == ChapterStatus.FORMAL:
        if transition.from_status == ChapterStatus.AT_RISK:
            return f"✅ {name} is a formal chapter again. {reason}"
        return f"🎉 {name} is now a formal chapter! {reason}"
    if transition.to_status == ChapterStatus.AT_RISK:
        return (
            f"⚠️ {name} is at risk: {reason}. If this lasts {lapse_days} days it lapses. "
            "See /chapter info for what's missing."
        )
    if transition.to_status == ChapterStatus.LAPSED:
        return (
            f"💤 {name} has lapsed: {reason}. An organizer can revive it with /chapter set-status."
        )
    return f"{STATUS_ICONS[transition.to_status]} {name} is now {chapter.status_label}: {reason}"


class JoinHandler(Protocol):
    async def join_from_button(
        self, interaction: discord.Interaction[ChapterBot], chapter_id: int
    ) -> None: ...


class JoinChapterButton(
    ErrorHandlingItem,
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=JOIN_TEMPLATE,
):
    """Join button on a proposal; works after restarts (the chapter id is in the custom_id)."""

    def __init__(self, chapter_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Join this chapter",
                style=discord.ButtonStyle.success,
                custom_id=join_custom_id(chapter_id),
                emoji="🤝",
            )
        )
        self.chapter_id = chapter_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> JoinChapterButton:
        return cls(int(match["id"]))

    async def respond(self, interaction: discord.Interaction[ChapterBot]) -> None:
        handler: JoinHandler | None = interaction.client.get_cog(COG_NAME)  # type: ignore[assignment]
        if handler is None:
            raise RuntimeError("the chapters cog is not loaded")
        chapter_id = require_row_id(self.chapter_id, what="chapter")  # the id is user input
        await handler.join_from_button(interaction, chapter_id)


def join_view(chapter_id: int) -> ErrorHandlingView:
    view = ErrorHandlingView(timeout=None)
    view.add_item(JoinChapterButton(chapter_id))
    return view
