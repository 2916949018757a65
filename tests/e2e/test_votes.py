"""Votes end to end: the real bot against the twin, driven like members and organizers."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from bot.clock import FakeClock
from bot.services.places import Gazetteer
from tests.e2e.conftest import World, running_bot
from twin import Perm

EPHEMERAL = 1 << 6
ONE, TWO, THREE = "1\ufe0f\u20e3", "2\ufe0f\u20e3", "3\ufe0f\u20e3"


async def answer(ix: Any) -> dict[str, Any]:
    response = await ix.response()
    if response["type"] == 5:  # deferred: the follow-up carries the answer
        return dict(await ix.wait_followup())
    return dict(response.get("data") or {})


def reactors(world: World, message_id: int | str, emoji: str) -> list[int]:
    state = world.twin.world.reactions.get(int(message_id), {}).get(emoji)
    return list(state.users) if state else []


async def vote_message(world: World, vote_id: int) -> dict[str, Any]:
    info = await world.services.votes.get(vote_id)
    assert info.message_id is not None, f"vote #{vote_id} has no ballot message"
    return world.twin.message(info.message_id)


def electorate_now(world: World) -> int:
    guild = world.bot.get_guild(world.guild_id)
    assert guild is not None
    return sum(1 for member in guild.members if not member.bot)


def results_message(world: World, vote_id: int) -> dict[str, Any]:
    for message in world.twin.messages(world.channel_id):
        for embed in message.get("embeds", []):
            if (
                embed.get("title", "").startswith("Results")
                and embed.get("footer", {}).get("text") == f"Vote #{vote_id}"
            ):
                return message
    raise AssertionError(f"no results for vote #{vote_id}")


async def latest_vote_id(world: World) -> int:
    votes = await world.services.votes.list_votes(world.guild_id)
    return votes[0].id


def allow_removing_reactions(world: World) -> None:
    world.twin.set_bot_permissions(world.guild_id, int(Perm.BOT_DEFAULT | Perm.MANAGE_MESSAGES))


async def test_contingency_vote_by_reactions(world: World) -> None:
    allow_removing_reactions(world)
    alice = await world.join("alice")
    carol = await world.join("carol")
    ix = await world.slash(world.organizer_id, "vote", "contingency", closes="2d")
    response = await ix.response()
    assert response["type"] == 9  # the editable template
    fields = {
        c["component"]["custom_id"] if "component" in c else c["components"][0]["custom_id"]: (
            c["component"] if "component" in c else c["components"][0]
        ).get("value", "")
        for c in response["data"]["components"]
    }
    assert "Push the deadline forward 6 months" in fields["options"]
    submit = await world.twin.submit_modal(ix, world.organizer_id, fields)
    reply = await answer(submit)
    assert "is open until" in reply["content"] and reply["flags"] & EPHEMERAL
    vote_id = await latest_vote_id(world)
    message = await vote_message(world, vote_id)
    await world.twin.wait_for(
        lambda: reactors(world, message["id"], THREE), timeout=10, message="numbers not added"
    )
    electorate = electorate_now(world)
    late = await world.join("bob")  # joined after the snapshot: not in the electorate

    await world.twin.add_reaction(world.channel_id, message["id"], alice, ONE)
    await world.twin.add_reaction(world.channel_id, message["id"], alice, TWO)  # changes her mind
    await world.twin.add_reaction(world.channel_id, message["id"], carol, TWO)
    await world.twin.add_reaction(world.channel_id, message["id"], late, ONE)
    await world.twin.wait_for(
        lambda: (
            alice not in reactors(world, message["id"], ONE)
            and late not in reactors(world, message["id"], ONE)
        ),
        timeout=10,
        message="the replaced and the ineligible reactions were not removed",
    )
    await world.twin.wait_for(
        lambda: any("not in the electorate" in m["content"] for m in world.twin.dms(late)),
        timeout=10,
        message="the ineligible member was not told why",
    )
    assert await world.services.votes.ballot_of(vote_id, alice) == (1,)
    assert await world.services.votes.turnout(vote_id) == (2, electorate)

    await world.advance(timedelta(days=1, hours=1))  # the 24-hour nudge
    await world.twin.wait_for(
        lambda: any(
            "have not voted yet" in m["content"] for m in world.twin.dms(world.organizer_id)
        ),
        timeout=10,
        message="the organizer (who has not voted) got no nudge",
    )
    assert not any("have not voted" in m["content"] for m in world.twin.dms(alice))
    await world.advance(timedelta(days=1))
    results = results_message(world, vote_id)
    text = results["embeds"][0]["description"]
    assert "Chosen: **Change the required number of chapters**" in text
    assert f"Turnout: 2 of {electorate} ({200 / electorate:.0f}%)" in text
    names = sorted(a["filename"] for a in results["attachments"])
    assert names == ["results.png", f"vote-{vote_id}-results.csv"]
    png = next(a for a in results["attachments"] if a["filename"] == "results.png")
    assert world.twin.attachment_bytes(png).startswith(b"\x89PNG")
    exported = next(a for a in results["attachments"] if a["filename"].endswith(".csv"))
    rows = list(csv.reader(io.StringIO(world.twin.attachment_bytes(exported).decode())))
    assert ["Change the required number of chapters", "2", "100.0"] in rows
    after = await world.slash(alice, "vote", "show", vote=vote_id)
    shown = await answer(after)
    assert any(e["title"].startswith("Results") for e in shown["embeds"])


async def test_secret_ranked_election_by_buttons(world: World) -> None:
    alice = await world.join("alice")
    bob = await world.join("bob")
    carol = await world.join("carol")
    dan = await world.join("dan")
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "election",
        title="Delegate",
        seats=1,
        closes="1d",
        nominations="2h",
    )
    assert "Nominations close" in (await answer(ix))["content"]
    vote_id = await latest_vote_id(world)
    await answer(await world.slash(alice, "vote", "nominate", vote=vote_id))
    await answer(await world.slash(carol, "vote", "nominate", vote=vote_id))
    nominated = await world.slash(alice, "vote", "nominate", vote=vote_id, member=str(bob))
    await nominated.response()
    invitation = nominated.original
    not_him = await world.twin.click(invitation["id"], f"vote:accept:{vote_id}:{bob}", carol)
    assert "Only the member nominated" in (await answer(not_him))["content"]
    accepted = await world.twin.click(invitation["id"], f"vote:accept:{vote_id}:{bob}", bob)
    assert "You stand" in (await answer(accepted))["content"]

    await world.advance(timedelta(hours=2))
    message = await vote_message(world, vote_id)
    assert message["components"][0]["components"][0]["custom_id"] == f"vote:ballot:{vote_id}"
    # Alice, Bob, Carol as options 0, 1, 2
    ballots = {alice: [0], bob: [1, 0], carol: [2, 1], dan: [2, 1]}
    for voter, ranking in ballots.items():
        opened = await world.twin.click(message["id"], f"vote:ballot:{vote_id}", voter)
        form = await answer(opened)
        assert form["flags"] & EPHEMERAL
        current = opened
        picked: list[int] = []
        for option in ranking:
            ballot = current.original
            custom = f"vote:rank:{vote_id}:{'.'.join(map(str, picked))}"
            current = await world.twin.click(ballot["id"], custom, voter, values=[str(option)])
            await current.response()
            picked.append(option)
        done = f"vote:rankdone:{vote_id}:{'.'.join(map(str, picked))}"
        cast = await world.twin.click(current.original["id"], done, voter)
        confirmation = await answer(cast)
        assert "Your ranking: 1." in confirmation["content"]
    outsider = await world.join("erin")
    refused = await world.twin.click(message["id"], f"vote:ballot:{vote_id}", outsider)
    assert "not in the electorate" in (await answer(refused))["content"]

    await world.advance(timedelta(days=1))
    results = results_message(world, vote_id)
    text = results["embeds"][0]["description"]
    # first preferences 1/1/2: Alice (fewest by the lot or rounds) goes, Bob gets her ballot... ;
    # Carol 2, Bob 2 → the earlier rounds decide; the rounds table is in the post
    assert "Elected: **" in text and "R1" in text
    exported = next(a for a in results["attachments"] if a["filename"].endswith(".csv"))
    data = world.twin.attachment_bytes(exported).decode()
    for member in (alice, bob, carol, dan):
        assert str(member) not in data and str(member) not in text


async def test_bad_input_is_refused_before_anything_is_created(world: World) -> None:
    before = len(world.twin.messages(world.channel_id))
    for options, closes, expected in [
        ("only one", "2d", "at least 2 options"),
        ("a; b; A", "2d", "listed twice"),
        ("a; b", "2020-01-01 10:00", "in the past"),
        ("a; b", "120d", "at most 90 days"),
    ]:
        ix = await world.slash(
            world.organizer_id, "vote", "create", title="T", options=options, closes=closes
        )
        reply = await answer(ix)
        assert expected in reply["content"] and reply["flags"] & EPHEMERAL
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "create",
        title="T",
        options="a;b",
        closes="2d",
        electorate="nosuchrole",
    )
    assert "not a role or chapter" in (await answer(ix))["content"]
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "create",
        title="T",
        options="a;b",
        closes="2d",
        method="approval",
        seats=2,
    )
    assert "more options than seats" in (await answer(ix))["content"]
    member = await world.join("mallory")
    ix = await world.slash(
        member, "vote", "create", title="T", options="a;b", closes="2d", check_permissions=False
    )
    assert "Only organizers" in (await answer(ix))["content"]
    assert len(world.twin.messages(world.channel_id)) == before
    assert await world.services.votes.list_votes(world.guild_id) == []


async def test_quick_poll_within_discord_limits(world: World) -> None:
    member = await world.join("pat")
    too_many = ";".join(f"answer {i}" for i in range(11))
    ix = await world.slash(member, "vote", "quick", question="Lunch?", answers=too_many)
    assert "at most 10 answers" in (await answer(ix))["content"]
    ix = await world.slash(member, "vote", "quick", question="Lunch?", answers="a;" + "x" * 56)
    assert "55 per answer" in (await answer(ix))["content"]
    ix = await world.slash(
        member, "vote", "quick", question="Lunch?", answers="a;b", duration="40d"
    )
    assert "32d" in (await answer(ix))["content"]
    ix = await world.slash(member, "vote", "quick", question="Lunch?", answers="Pizza; Salad")
    reply = await answer(ix)
    assert "Not anonymous" in reply["content"]
    posted = world.twin.messages(world.channel_id)[-1]
    assert [a["poll_media"]["text"] for a in posted["poll"]["answers"]] == ["Pizza", "Salad"]


async def test_votes_cast_while_the_bot_is_down_count_after_restart(
    world: World, gazetteer: Gazetteer
) -> None:
    alice = await world.join("alice")
    bob = await world.join("bob")
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "create",
        title="Picnic",
        options="Saturday; Sunday",
        closes="2d",
        method="approval",
    )
    await answer(ix)
    vote_id = await latest_vote_id(world)
    message = await vote_message(world, vote_id)
    await world.twin.wait_for(lambda: reactors(world, message["id"], TWO), timeout=10)
    electorate = electorate_now(world)
    await world.twin.add_reaction(world.channel_id, message["id"], bob, ONE)
    await world.twin.wait_for(
        lambda: world.services.votes.ballot_of(vote_id, bob), timeout=5, message="no ballot"
    )
    await world.bot.close()  # the bot goes away
    await world.twin.wait_for(lambda: not world.twin.gateway.connected(), timeout=5)
    await world.twin.add_reaction(world.channel_id, message["id"], alice, ONE)
    await world.twin.add_reaction(world.channel_id, message["id"], alice, TWO)
    await world.twin.remove_reaction(world.channel_id, message["id"], bob, ONE)
    clock = FakeClock(world.clock.now())
    async with running_bot(world.twin, world.database_url, clock, gazetteer) as (_, services, _e):

        async def counted() -> bool:
            return await services.votes.ballot_of(vote_id, alice) == (0, 1)

        await world.twin.wait_for(counted, timeout=10, message="offline votes not reconciled")
        assert await services.votes.ballot_of(vote_id, bob) == ()
        assert await services.votes.turnout(vote_id) == (1, electorate)


async def test_missing_manage_messages_is_reported_to_organizers(world: World) -> None:
    alice = await world.join("alice")
    ix = await world.slash(
        world.organizer_id, "vote", "create", title="Venue", options="Park; Library", closes="1d"
    )
    reply = await answer(ix)
    assert "Manage Messages" in reply["content"]
    vote_id = await latest_vote_id(world)
    message = await vote_message(world, vote_id)
    await world.twin.wait_for(lambda: reactors(world, message["id"], TWO), timeout=10)
    await world.twin.add_reaction(world.channel_id, message["id"], alice, ONE)
    await world.twin.add_reaction(world.channel_id, message["id"], alice, TWO)
    owner = world.twin.guild(world.guild_id).owner_id
    await world.twin.wait_for(
        lambda: any("Manage Messages" in m["content"] for m in world.twin.dms(owner)),
        timeout=10,
        message="organizers were not told about the missing permission",
    )
    assert await world.services.votes.ballot_of(vote_id, alice) == (1,)  # the old one not counted


async def test_consent_block_extend_close_early_and_outcome(world: World) -> None:
    alice = await world.join("alice")
    bob = await world.join("bob")
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "create",
        title="Adopt the code of conduct",
        method="consent",
        closes="2d",
    )
    await answer(ix)
    vote_id = await latest_vote_id(world)
    message = await vote_message(world, vote_id)
    agree = await world.twin.click(message["id"], f"vote:consent:{vote_id}:0", alice)
    assert "Your ballot: Agree" in (await answer(agree))["content"]
    block = await world.twin.click(message["id"], f"vote:consent:{vote_id}:3", bob)
    form = await block.response()
    assert form["type"] == 9  # a block asks for a reason
    reason_field = form["data"]["components"][0]
    field_id = (reason_field.get("component") or reason_field["components"][0])["custom_id"]
    submitted = await world.twin.submit_modal(block, bob, {field_id: "Not before the budget"})
    assert "Block" in (await answer(submitted))["content"]

    pending = await world.twin.click(message["id"], f"vote:consent:{vote_id}:3", alice)
    assert (await pending.response())["type"] == 9  # a form left open until after the close
    refused = await world.slash(
        alice, "vote", "close", vote=vote_id, reason="enough", check_permissions=False
    )
    assert "Only organizers" in (await answer(refused))["content"]
    extended = await world.slash(
        world.organizer_id, "vote", "extend", vote=vote_id, closes="1d", reason="holidays"
    )
    assert "now closes" in (await answer(extended))["content"]
    await world.twin.wait_for(  # the notice follows the answer
        lambda: any("extended" in m["content"] for m in world.twin.messages(world.channel_id)),
        timeout=5,
        message="no extension notice in the channel",
    )
    closed = await world.slash(
        world.organizer_id, "vote", "close", vote=vote_id, reason="decided at the meeting"
    )
    assert "Outcome: **blocked**" in (await answer(closed))["content"]
    text = results_message(world, vote_id)["embeds"][0]["description"]
    assert "Closed early: decided at the meeting" in text
    assert (
        "components" not in world.twin.message(message["id"])
        or not world.twin.message(message["id"])["components"]
    )  # the closed ballot has no buttons left
    late = await world.twin.submit_modal(pending, alice, {field_id: "too late"})
    assert "has closed" in (await answer(late))["content"]
    stated = await world.slash(
        world.organizer_id, "vote", "outcome", vote=vote_id, statement="We revise section 3."
    )
    await answer(stated)
    assert any(
        "We revise section 3." in m["content"] for m in world.twin.messages(world.channel_id)
    )
    audit = [action for _, action, _, _ in await world.services.votes.audit(vote_id)]
    assert {"cast", "extended", "closed", "outcome"} <= set(audit)


async def test_scheduled_vote_opens_at_its_time_with_the_electorate_of_then(world: World) -> None:
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "create",
        title="Later",
        options="a; b",
        closes="1d",
        opens="2h",
        secret=True,
    )
    assert "opens" in (await answer(ix))["content"]
    vote_id = await latest_vote_id(world)
    assert (await world.services.votes.get(vote_id)).message_id is None
    newcomer = await world.join("nina")  # joins before the opening: in the electorate
    await world.advance(timedelta(hours=2))
    message = await vote_message(world, vote_id)
    opened = await world.twin.click(message["id"], f"vote:ballot:{vote_id}", newcomer)
    await answer(opened)
    picked = await world.twin.click(
        opened.original["id"], f"vote:pick:{vote_id}", newcomer, values=["1"]
    )
    assert "Your ballot: b" in (await answer(picked))["content"]


async def test_reactions_missed_by_a_fresh_session_are_reconciled(world: World) -> None:
    alice = await world.join("alice")
    ix = await world.slash(
        world.organizer_id,
        "vote",
        "create",
        title="Banner",
        options="Red; Green",
        closes="1d",
        method="approval",
    )
    await answer(ix)
    vote_id = await latest_vote_id(world)
    message = await vote_message(world, vote_id)
    await world.twin.wait_for(lambda: reactors(world, message["id"], TWO), timeout=10)
    identifies = world.twin.gateway.identifies
    await world.twin.drop_gateway(resumable=False)  # INVALID_SESSION: nothing will be replayed
    await world.twin.add_reaction(world.channel_id, message["id"], alice, TWO)
    await world.twin.wait_for(
        lambda: world.twin.gateway.identifies > identifies, timeout=15, message="no IDENTIFY"
    )

    async def counted() -> bool:
        return await world.services.votes.ballot_of(vote_id, alice) == (1,)

    await world.twin.wait_for(counted, timeout=10, message="the missed reaction was not counted")


async def test_a_batch_that_fails_to_store_is_recovered_from_the_reactions(
    world: World, monkeypatch: Any
) -> None:
    alice = await world.join("alice")
    ix = await world.slash(
        world.organizer_id, "vote", "create", title="Snacks", options="Fruit; Chips", closes="1d"
    )
    await answer(ix)
    vote_id = await latest_vote_id(world)
    message = await vote_message(world, vote_id)
    await world.twin.wait_for(lambda: reactors(world, message["id"], TWO), timeout=10)
    votes = world.services.votes
    original = votes.react_many
    failures = []

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        if not failures:
            failures.append(1)
            raise RuntimeError("database is locked")
        return await original(*args, **kwargs)

    monkeypatch.setattr(votes, "react_many", fails_once)
    await world.twin.add_reaction(world.channel_id, message["id"], alice, TWO)

    async def counted() -> bool:
        return await votes.ballot_of(vote_id, alice) == (1,)

    await world.twin.wait_for(counted, timeout=10, message="the failed batch was lost")
    assert failures == [1]
