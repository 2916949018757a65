"""The chapter service: every part of it, in one object the bot wires up."""

from __future__ import annotations

from bot.services.chapters.agreements import ChapterAgreements
from bot.services.chapters.discord_sync import ChapterDiscordSync
from bot.services.chapters.founding import ChapterFounding
from bot.services.chapters.lookups import ChapterLookups
from bot.services.chapters.membership import ChapterMembership
from bot.services.chapters.roles import ChapterRoles
from bot.services.chapters.status import ChapterStatusChanges


class ChapterService(
    ChapterLookups,
    ChapterFounding,
    ChapterMembership,
    ChapterRoles,
    ChapterAgreements,
    ChapterStatusChanges,
    ChapterDiscordSync,
):
    """Chapters: proposal, membership, roles, agreements and the status lifecycle.

    Every method that changes an input of the evaluation (join, leave, role assignment,
    agreement adopted, merge) re-evaluates the chapter in the same transaction
    (:meth:`ChapterStore._reevaluate`) and returns the :class:`Transition` it caused, so the
    caller can announce it. Every transition is written to ``chapter_status_change`` with its
    time, reason and actor. Discord ids (role, channel) are recorded here, but creating them is
    the cog's job; members' chapter roles are written as effects in the same transaction as the
    membership change (:class:`ChapterDiscordSync`).
    """
