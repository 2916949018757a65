"""Bad input and permissions end to end: every command answers with a short ephemeral message
that says what to do, organizer-only commands are refused server-side, and nothing pings."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import World
from twin import TwinInteraction

EPHEMERAL = 1 << 6
DEFERRED = 5
NOT_ORGANIZER = "Only organizers can do this"

# (command, group, subcommand, options) of every organizer-only command
ORGANIZER_COMMANDS: list[tuple[str, str | None, str, dict[str, Any]]] = [
    ("chapter", None, "archive", {"chapter": "Chicago Chapter", "reason": "x"}),
    ("chapter", None, "merge", {"source": "Chicago Chapter", "into": "Oakland", "reason": "x"}),
    (
        "chapter",
        None,
        "set-status",
        {"chapter": "Chicago Chapter", "status": "formal", "reason": "x"},
    ),
    ("chapter", None, "criteria", {"min_members": 1}),
    ("chapter", None, "provision", {"chapter": "Chicago Chapter"}),
    ("chapter", "region", "set", {"name": "West", "areas": "US-CA"}),
    ("chapter", "region", "remove", {"name": "West"}),
    ("chapter", "region", "list", {}),
    ("marker", None, "set", {"kind": "members", "target": 5, "deadline": "2099-01-01"}),
    ("marker", None, "remove", {"kind": "members"}),
    ("marker", None, "alerts", {"lead_days": 3}),
    ("affiliate", None, "register", {"name": "Tenants Union"}),
    ("affiliate", None, "remove", {"name": "Tenants Union"}),
]


async def run(
    world: World, user_id: int, command: str, group: str | None, sub: str, **options: Any
) -> TwinInteraction:
    return await world.twin.slash(
        world.guild_id,
        world.channel_id,
        user_id,
        command,
        subcommand=sub,
        group=group,
        options=options,
        check_permissions=False,  # as if admins opened every command to everyone
    )


async def answer(ix: TwinInteraction) -> dict[str, Any]:
    body = await ix.response(timeout=3)
    if body["type"] == DEFERRED:
        return dict(await ix.wait_followup(timeout=3))
    return dict(body["data"])


async def refused(ix: TwinInteraction, *expected: str) -> str:
    """The interaction got an ephemeral answer containing ``expected`` that pings nobody."""
    message = await answer(ix)
    text = str(message.get("content") or "")
    assert int(message.get("flags") or 0) & EPHEMERAL, message
    assert message.get("allowed_mentions", {}).get("parse") == [], message
    for part in expected:
        assert part in text, text
    return text


async def test_every_organizer_command_is_refused_to_members(world: World) -> None:
    member = await world.join("mara")
    chapter = await world.services.chapters.propose(world.guild_id, member, "Chicago")
    await world.services.chapters.propose(world.guild_id, member, "Oakland")
    await world.services.affiliates.register(world.guild_id, world.organizer_id, "Tenants Union")
    for command, group, sub, options in ORGANIZER_COMMANDS:
        ix = await run(world, member, command, group, sub, **options)
        await refused(ix, NOT_ORGANIZER)
    assert (await world.services.chapters.get(world.guild_id, chapter.id)).status == "forming"
    assert await world.services.markers.list_markers(world.guild_id) == []
    assert await world.services.member_map.list_regions(world.guild_id) == []
    assert len(await world.services.affiliates.list_active(world.guild_id)) == 1
    assert (await world.services.chapter_settings.get(world.guild_id)).min_members == 5
    world.twin.assert_no_spec_violations()


async def test_bad_input_gets_short_ephemeral_answers_that_never_ping(world: World) -> None:
    member = await world.join("mara")
    org = world.organizer_id
    long_name = "_*" * 40  # 80 characters, every one of them escaped in messages
    ix = await run(world, member, "chapter", None, "propose", city="Chicago", name=long_name)
    await answer(ix)
    chapter = await world.services.chapters.resolve(world.guild_id, "Chicago")

    cases: list[tuple[int, str, str | None, str, dict[str, Any], tuple[str, ...]]] = [
        (
            member,
            "chapter",
            None,
            "join",
            {"chapter": "Nowhere <@123> @everyone"},
            ("I don't know",),
        ),
        (member, "chapter", None, "join", {"chapter": "   "}, ("Name a chapter",)),
        (member, "chapter", None, "join", {"chapter": str(chapter.id)}, ("already a member",)),
        (member, "chapter", None, "propose", {"city": "Chicago"}, ("already has a chapter",)),
        (member, "chapter", None, "propose", {"city": "<@123>"}, ("couldn't find",)),
        (
            member,
            "chapter",
            None,
            "propose",
            {"city": "Boston, MA", "name": "x" * 81},
            ("at most 80",),
        ),
        (
            member,
            "chapter",
            "agreements",
            "add",
            {"chapter": str(chapter.id), "text": "a" * 1001},
            ("at most 1000",),
        ),
        (
            member,
            "chapter",
            "agreements",
            "add",
            {"chapter": str(chapter.id), "text": "   "},
            ("can't be empty",),
        ),
        (
            member,
            "chapter",
            "agreements",
            "adopt",
            {"chapter": str(chapter.id), "agreement": "x"},
            ("its number",),
        ),
        (
            member,
            "chapter",
            "roles",
            "assign",
            {"chapter": str(chapter.id), "role": "<@123>", "member": member},
            ("Role names",),
        ),
        (
            org,
            "chapter",
            None,
            "merge",
            {"source": str(chapter.id), "into": str(chapter.id), "reason": "x"},
            ("two different",),
        ),
        (
            org,
            "chapter",
            None,
            "set-status",
            {"chapter": str(chapter.id), "status": "forming", "reason": "x"},
            ("already forming",),
        ),
        (
            org,
            "chapter",
            "region",
            "set",
            {"name": "West", "areas": "XX-YY"},
            ("isn't a country code",),
        ),
        (org, "chapter", None, "criteria", {"key_roles": "bad role!"}, ("Role names",)),
        (
            org,
            "marker",
            None,
            "set",
            {"kind": "members", "target": 5, "deadline": "2000-01-01"},
            ("future",),
        ),
        (
            org,
            "marker",
            None,
            "set",
            {"kind": "members", "target": 5, "deadline": "soon"},
            ("YYYY-MM-DD",),
        ),
        (
            org,
            "marker",
            None,
            "set",
            {"kind": "continents", "target": 8, "deadline": "2099-01-01"},
            ("between 1 and 7",),
        ),
        (org, "affiliate", None, "register", {"name": "   "}, ("affiliate's name",)),
        (
            org,
            "affiliate",
            None,
            "register",
            {"name": "X", "url": "javascript:x"},
            ("full web address",),
        ),
    ]
    for user, command, group, sub, options, expected in cases:
        ix = await run(world, user, command, group, sub, **options)
        await refused(ix, *expected)

    # the longest agreement, all markdown, in the chapter with the longest name still fits
    ix = await run(
        world, member, "chapter", "agreements", "add", chapter=str(chapter.id), text="_" * 1000
    )
    proposed = await answer(ix)
    assert "proposed agreement" in proposed["content"] and len(proposed["content"]) <= 2000
    [agreement] = await world.services.chapters.list_agreements(world.guild_id, chapter.id)
    ix = await run(
        world, member, "chapter", "agreements", "adopt",
        chapter=str(chapter.id), agreement=str(agreement.id),
    )  # fmt: skip
    adopted = await answer(ix)
    assert "adopted agreement" in adopted["content"] and len(adopted["content"]) <= 2000

    # archived: joining says so, archiving again too
    ix = await run(world, org, "chapter", None, "archive", chapter=str(chapter.id), reason="done")
    assert "Archived" in (await answer(ix))["content"]
    ix = await run(world, member, "chapter", None, "join", chapter=str(chapter.id))
    await refused(ix, "is archived")
    world.twin.assert_no_spec_violations()


def message_bodies(world: World) -> list[dict[str, Any]]:
    """Every message body the bot sent: channel posts, DMs, interaction answers, follow-ups."""
    bodies = []
    for record in world.twin.requests:
        body = record.body
        if record.method not in ("POST", "PATCH") or not isinstance(body, dict):
            continue
        if isinstance(body.get("data"), dict) and "type" in body:  # an interaction callback
            body = body["data"]
        if "content" in body or "embeds" in body:
            bodies.append(body)
    return bodies


async def test_no_message_pings_unless_it_opts_in(world: World) -> None:
    """The bot's default is AllowedMentions.none(): replies that mention members (a proposal,
    a role assignment) and replies that set nothing at all ping nobody."""
    mara = await world.join("mara")
    ix = await run(world, mara, "chapter", None, "propose", city="Chicago")
    assert "proposed" in str((await answer(ix)).get("content"))
    ix = await run(
        world, mara, "chapter", "roles", "assign",
        chapter="Chicago Chapter", role="facilitator", member=str(mara),
    )  # fmt: skip
    assert f"<@{mara}>" in str((await answer(ix)).get("content"))
    ix = await run(world, mara, "profile", None, "clear")
    assert "forget" in str((await answer(ix)).get("content"))
    bodies = message_bodies(world)
    assert len(bodies) >= 3
    for body in bodies:
        assert body.get("allowed_mentions", {}).get("parse") == [], body
        assert not body["allowed_mentions"].get("users"), body
