"""/markers (progress with a chart) and /marker set|remove|alerts (organizers), plus the daily
check that tells organizers when a marker's projection misses its deadline."""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.checks import organizer_only
from bot.client import ChapterBot
from bot.interactions import guild_of
from bot.limits import fit_embed
from bot.notify import notify_organizers
from bot.services.charts import render_markers_chart
from bot.services.markers import (
    BEHIND,
    CHECK_EVENT,
    MISSED,
    NO_PACE,
    ON_TRACK,
    REACHED,
    MarkerAlert,
    MarkerProgress,
    MarkersReport,
    check_key,
    next_check_time,
)
from bot.services.timers import TimerRecord
from bot.text import timestamp

log = logging.getLogger(__name__)

CHART_NAME = "markers.png"
CONTINGENCY_BUTTON_ID = "vote:contingency-start"
KindChoice = Literal["members", "formal_chapters", "continents"]


def _date(when: object) -> str:
    return f"{when:%Y-%m-%d}"


def _rate(pace: float) -> str:
    if pace >= 1 or pace <= 0:
        return f"{pace:,.1f}/day"
    return f"{pace * 30:,.1f}/month"


def progress_line(p: MarkerProgress) -> str:
    head = f"**{p.title}**: {p.current:,}"
    if p.target is None or p.deadline is None:
        return f"{head} (no target set)"
    head += f" of {p.target:,} ({p.percent or 0:.0f}%) by {_date(p.deadline)}"
    deadline = timestamp(p.deadline)
    if p.status == REACHED:
        return f"{head}: ✅ reached"
    if p.status == MISSED:
        return f"{head}: ❌ not reached by the deadline"
    if p.status == NO_PACE:
        return f"{head} ({deadline}): ⚠️ not at this pace ({_rate(p.pace_per_day)})"
    assert p.projected is not None
    reached = f"reached around {_date(p.projected)} at this pace ({_rate(p.pace_per_day)})"
    if p.status == ON_TRACK:
        return f"{head} ({deadline}): on track, {reached}"
    assert p.status == BEHIND
    return f"{head} ({deadline}): ⚠️ {reached}, after the deadline"


def report_embed(report: MarkersReport) -> discord.Embed:
    lines = [progress_line(p) for p in report.markers]
    lines.append(f"\nAffiliates (counted separately, never as chapters): {report.affiliates:,}")
    if not report.has_targets:
        lines.append("No targets are set yet. Organizers set them with /marker set.")
    embed = discord.Embed(
        title="Organization markers",
        description="\n".join(lines),
        colour=discord.Colour.blurple(),
    )
    embed.set_image(url=f"attachment://{CHART_NAME}")
    embed.set_footer(
        text="Pace: change over the last 90 days. History comes from joins, leaves and "
        "chapter status changes."
    )
    return fit_embed(embed)


def alert_nonce(alert: MarkerAlert) -> str:
    """Deterministic per alert (≤ 25 chars): a resend after a crash is not a duplicate."""
    digest = hashlib.sha256(f"{alert.guild_id}:{alert.kind}:{alert.state}".encode()).hexdigest()
    return f"mk{digest[:20]}"


def contingency_button() -> discord.ui.View:
    """The alert's way into a contingency vote; the votes cog answers this custom_id."""
    view = discord.ui.View(timeout=None)
    view.add_item(
        discord.ui.Button(
            label="Start a contingency vote",
            style=discord.ButtonStyle.primary,
            custom_id=CONTINGENCY_BUTTON_ID,
        )
    )
    return view


class Markers(commands.Cog):
    marker = app_commands.Group(
        name="marker",
        description="Organizers: the organization's markers and their alerts",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot: ChapterBot) -> None:
        self.bot = bot

    # ---------------------------------------------------------------- /markers

    @app_commands.command(
        name="markers", description="Progress toward the organization's markers, with a chart"
    )
    @app_commands.describe(share="Post it in the channel for everyone (default: only you)")
    @app_commands.guild_only()
    async def markers(
        self, interaction: discord.Interaction[ChapterBot], share: bool = False
    ) -> None:
        guild = guild_of(interaction)
        await interaction.response.defer(ephemeral=not share, thinking=True)
        report = await self.bot.services.markers.report(guild.id)
        png = await asyncio.to_thread(render_markers_chart, report)
        await interaction.followup.send(
            embed=report_embed(report),
            file=discord.File(io.BytesIO(png), filename=CHART_NAME),
            ephemeral=not share,
        )

    # ------------------------------------------------------------ /marker ...

    @marker.command(name="set", description="Set a marker: a target to reach by a deadline")
    @app_commands.describe(
        kind="What is counted",
        target="The number to reach",
        deadline="The date to reach it by, as YYYY-MM-DD",
    )
    @organizer_only()
    async def set_marker(
        self,
        interaction: discord.Interaction[ChapterBot],
        kind: KindChoice,
        target: app_commands.Range[int, 1, 10_000_000],
        deadline: app_commands.Range[str, 1, 20],
    ) -> None:
        guild = guild_of(interaction)
        guild_id = guild.id
        await self.bot.services.markers.set_marker(
            guild_id, kind, target, deadline, interaction.user.id
        )
        await self.arm(guild_id)
        progress = (await self.bot.services.markers.report(guild_id)).get(kind)
        settings = await self.bot.services.chapter_settings.get(guild_id)
        await interaction.response.send_message(
            f"Marker saved.\n{progress_line(progress)}\n"
            f"Organizers are told if the projection misses the deadline, starting "
            f"{settings.marker_lead_days} days before it (change with /marker alerts).",
            ephemeral=True,
        )

    @marker.command(name="remove", description="Remove a marker")
    @app_commands.describe(kind="Which marker to remove")
    @organizer_only()
    async def remove_marker(
        self, interaction: discord.Interaction[ChapterBot], kind: KindChoice
    ) -> None:
        guild = guild_of(interaction)
        await self.bot.services.markers.remove_marker(guild.id, kind)
        await interaction.response.send_message(
            f"The {kind.replace('_', ' ')} marker is removed.", ephemeral=True
        )

    @marker.command(
        name="alerts", description="How many days before a deadline organizers get warned"
    )
    @app_commands.describe(lead_days="Warn when a deadline is this many days away or closer")
    @organizer_only()
    async def alerts(
        self,
        interaction: discord.Interaction[ChapterBot],
        lead_days: app_commands.Range[int, 0, 3650],
    ) -> None:
        guild = guild_of(interaction)
        settings = await self.bot.services.chapter_settings.update(
            guild.id, marker_lead_days=lead_days
        )
        await interaction.response.send_message(
            f"Organizers will be told when a marker's deadline is {settings.marker_lead_days} "
            "days away or closer and the current pace misses it (once per change).",
            ephemeral=True,
        )

    # -------------------------------------------------------------- daily check

    async def arm(self, guild_id: int) -> None:
        """Make sure the next daily check exists (idempotent: one keyed timer per day)."""
        when = next_check_time(self.bot.services.clock.now())
        await self.bot.services.timers.create_timer(
            when, CHECK_EVENT, {"guild_id": guild_id}, key=check_key(guild_id, when)
        )

    @commands.Cog.listener()
    async def on_guild_available(self, guild: discord.Guild) -> None:
        if await self.bot.services.markers.has_markers(guild.id):
            await self.arm(guild.id)

    @commands.Cog.listener()
    async def on_marker_check_timer_complete(self, timer: TimerRecord) -> None:
        guild_id = int(timer.payload["guild_id"])
        markers = self.bot.services.markers
        if self.bot.get_guild(guild_id) is None or not await markers.has_markers(guild_id):
            return  # no markers (or no guild): the daily checks stop until a marker is set
        await self.arm(guild_id)
        for alert in await markers.check_alerts(guild_id):
            extra = {"view": contingency_button()} if alert.is_miss else {}
            message = await notify_organizers(
                self.bot, guild_id, alert.text(), nonce=alert_nonce(alert), **extra
            )
            if message is not None:
                await markers.acknowledge(alert)
            else:
                log.warning("marker alert for guild %s not delivered; retried tomorrow", guild_id)


async def setup(bot: ChapterBot) -> None:
    await bot.add_cog(Markers(bot))
