"""How votes look in Discord: the ballot message, results, numbered reaction emoji."""

from __future__ import annotations

import discord

from bot.services.tally import Method
from bot.services.votes import Results, VoteInfo
from bot.text import esc, timestamp
from db.models import ElectorateKind

KEYCAPS = (*(f"{n}\ufe0f\u20e3" for n in range(1, 10)), "\U0001f51f")
LETTERS = tuple(chr(0x1F1E6 + i) for i in range(10))  # regional indicators A..J
NUMBERED = KEYCAPS + LETTERS  # 20 options at most, Discord's limit of reactions per message

METHOD_HELP = {
    Method.SINGLE: "one choice",
    Method.APPROVAL: "approve as many as you like",
    Method.RANKED: "rank the options",
    Method.CONSENT: "agree, abstain, disagree or block",
}


def emoji_for(option: int) -> str:
    return NUMBERED[option]


def option_of(emoji_name: str | None) -> int | None:
    """The option a reaction stands for (keycaps with or without the variation selector)."""
    if not emoji_name:
        return None
    wanted = emoji_name.replace("\ufe0f", "")
    for index, emoji in enumerate(NUMBERED):
        if emoji.replace("\ufe0f", "") == wanted:
            return index
    return None


def electorate_text(vote: VoteInfo) -> str:
    if vote.electorate is ElectorateKind.ROLE:
        who = f"members with <@&{vote.electorate_id}>"
    elif vote.electorate is ElectorateKind.CHAPTER:
        who = "the chapter's members"
    else:
        who = "the whole server"
    if vote.min_days:
        who += f" (members for at least {vote.min_days} days)"
    return who


def how_to_vote(vote: VoteInfo) -> str:
    if vote.uses_reactions:
        if vote.method is Method.SINGLE:
            return "React with the option's number; a new reaction replaces your previous one."
        return "React with the number of every option you approve."
    if vote.method is Method.CONSENT:
        return "Press a button below. A block needs a reason. You can change it until the close."
    secret = " Your ballot is secret." if vote.secret else ""
    return (
        f"Press **Vote** below; you get a private ballot and can change it until the close.{secret}"
    )


def vote_embed(vote: VoteInfo, *, turnout: tuple[int, int] | None = None) -> discord.Embed:
    lines = [esc(vote.description)] if vote.description else []
    if vote.method is not Method.CONSENT:
        lines.append(
            "\n".join(f"{emoji_for(i)} {esc(label)}" for i, label in enumerate(vote.options))
        )
    rules = [
        f"Method: **{vote.method.value}** ({METHOD_HELP[vote.method]})"
        + (f", {vote.seats} seats" if vote.seats > 1 else ""),
        f"Who votes: {electorate_text(vote)}",
        f"Closes {timestamp(vote.closes_at, 'F')} ({timestamp(vote.closes_at)})",
    ]
    if vote.quorum is not None:
        rules.append(f"Quorum: {vote.quorum}% of the electorate")
    if vote.threshold is not None:
        rules.append(f"Passes with {vote.threshold}%")
    rules.append("Results: live (/vote show)" if vote.live_results else "Results: at the close")
    if turnout is not None:
        rules.append(f"Voted so far: {turnout[0]} of {turnout[1]}")
    lines.append("\n".join(rules))
    lines.append(how_to_vote(vote))
    embed = discord.Embed(
        title=f"🗳️ {vote.title}"[:256],
        description="\n\n".join(lines)[:4096],
        colour=discord.Colour.blurple(),
    )
    embed.set_footer(text=f"Vote #{vote.id}")
    return embed


def results_embed(results: Results, *, chart: str | None = None) -> discord.Embed:
    vote = results.vote
    parts = [results.outcome_line(), results.turnout_line()]
    if vote.method is not Method.RANKED or results.tally.ballots:
        parts.append("\n".join(esc(line) for line in results.count_lines()))
    table = results.rounds_table()
    if table:
        quota = f" (quota {results.tally.quota})" if results.tally.quota else ""
        parts.append(f"Rounds{quota}: * elected, x excluded\n```\n{table[:2500]}\n```")
    if vote.close_reason:
        parts.append(f"Closed early: {esc(vote.close_reason)}")
    if vote.outcome_statement:
        parts.append(f"**Outcome statement**: {esc(vote.outcome_statement)}")
    final = "Results" if results.final else "Current results"
    embed = discord.Embed(
        title=f"{final}: {vote.title}"[:256],
        description="\n\n".join(parts)[:4096],
        colour=discord.Colour.green() if results.final else discord.Colour.light_grey(),
    )
    if chart:
        embed.set_image(url=f"attachment://{chart}")
    embed.set_footer(text=f"Vote #{vote.id}")
    return embed


def list_line(vote: VoteInfo) -> str:
    state = {
        "nominating": "nominations open",
        "scheduled": f"opens {timestamp(vote.opens_at)}",
        "open": f"closes {timestamp(vote.closes_at)}",
        "closed": f"closed {timestamp(vote.closed_at or vote.closes_at, 'd')}",
    }[vote.status.value]
    return f"#{vote.id} **{esc(vote.title)}** ({vote.method.value}, {state})"
