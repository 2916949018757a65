"""The twin against a real discord.py client: gateway, REST, interactions, faults, limits."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.twin.conftest import StartBot, make_bot
from twin import Perm, Twin, TwinError
from twin.testing import connected_client, fast_reidentify

pytestmark = pytest.mark.timeout(20)


def png_bytes(width: int = 2, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


async def test_login_ready_and_guild_cache(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    cat = guild.add_category("Chapters")
    text = guild.add_text_channel("chicago", parent_id=cat)
    mods = guild.add_role("Organizers", permissions=Perm.MANAGE_EVENTS)
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice, roles=[mods])

    joined: list[int] = []
    bot = make_bot()

    @bot.event
    async def on_guild_join(new_guild: discord.Guild) -> None:
        joined.append(new_guild.id)

    await run_bot(bot)

    assert bot.user is not None and bot.user.id == twin.bot_user_id
    assert bot.application_id == twin.application_id
    cached = bot.get_guild(guild.id)
    assert cached is not None and cached.name == "Test Guild"
    assert {c.id for c in cached.channels} == {guild.system_channel_id, cat, text}
    chicago = cached.get_channel(text)
    assert isinstance(chicago, discord.TextChannel) and chicago.category_id == cat
    assert cached.get_role(mods) is not None
    member = cached.get_member(alice)
    assert member is not None and [r.id for r in member.roles[1:]] == [mods]
    assert cached.me.top_role.id == guild.bot_role_id  # the bot's role is on top
    assert cached.chunked
    assert twin.gateway.identifies == 1

    later = twin.create_guild("Later Guild")  # the bot is added to a guild while running
    await twin.wait_for(lambda: joined == [later.id])


async def test_slash_command_sync_and_options(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    bob = twin.create_user("bob")
    await twin.member_join(guild.id, alice)
    await twin.member_join(guild.id, bob)
    role = guild.add_role("Chicago")
    seen: dict[str, object] = {}

    bot = make_bot()
    chapter = app_commands.Group(name="chapter", description="Chapters")

    @chapter.command(name="propose", description="Propose a chapter")
    @app_commands.describe(city="City", name="Name", size="Members", public="Public?")
    async def propose(
        interaction: discord.Interaction,
        city: str,
        name: str,
        size: app_commands.Range[int, 1, 500] = 5,
        public: bool = True,
        contact: discord.Member | None = None,
        where: discord.TextChannel | None = None,
        role: discord.Role | None = None,
    ) -> None:
        seen.update(
            city=city, name=name, size=size, public=public, contact=contact, where=where, role=role
        )
        await interaction.response.send_message(f"Proposed {name} in {city}", ephemeral=True)

    @propose.autocomplete("city")
    async def city_autocomplete(
        interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        cities = ["Chicago", "Chico", "Boston"]
        return [app_commands.Choice(name=c, value=c) for c in cities if c.startswith(current)]

    bot.tree.add_command(chapter)
    await run_bot(bot)
    await bot.tree.sync()

    [registered] = twin.commands()
    assert registered["name"] == "chapter" and registered["options"][0]["name"] == "propose"

    ix = await twin.slash(
        guild.id,
        guild.system_channel_id,
        alice,
        "chapter",
        subcommand="propose",
        options={
            "city": "Chicago",
            "name": "Windy",
            "size": 12,
            "public": False,
            "contact": bob,
            "where": guild.system_channel_id,
            "role": role,
        },
    )
    response = await ix.response()
    assert response["type"] == 4
    assert response["data"]["content"] == "Proposed Windy in Chicago"
    assert ix.ephemeral and ix.responded_after is not None and ix.responded_after < 3
    assert seen["city"] == "Chicago" and seen["size"] == 12 and seen["public"] is False
    assert isinstance(seen["contact"], discord.Member) and seen["contact"].id == bob
    assert getattr(seen["where"], "id", None) == guild.system_channel_id
    assert getattr(seen["role"], "id", None) == role
    # ephemeral responses are not channel history
    assert twin.messages(guild.system_channel_id) == []

    choices = await twin.autocomplete(
        guild.id,
        None,
        alice,
        "chapter",
        subcommand="propose",
        options={"city": "Chi"},
        focused="city",
    )
    assert [c["value"] for c in choices] == ["Chicago", "Chico"]

    with pytest.raises(TwinError, match="unknown option"):
        await twin.slash(
            guild.id,
            None,
            alice,
            "chapter",
            subcommand="propose",
            options={"town": "x", "city": "x", "name": "y"},
        )
    with pytest.raises(TwinError, match="above max_value"):
        await twin.slash(
            guild.id,
            None,
            alice,
            "chapter",
            subcommand="propose",
            options={"city": "x", "name": "y", "size": 501},
        )
    with pytest.raises(TwinError, match="no registered command"):
        await twin.slash(guild.id, None, alice, "nope")


async def test_button_click_updates_message(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    clicks: list[int] = []

    class RSVP(discord.ui.View):
        @discord.ui.button(label="Going", custom_id="rsvp:yes")
        async def going(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
            clicks.append(interaction.user.id)
            await interaction.response.edit_message(content="1 going", view=None)

    bot = await run_bot(make_bot())
    channel = bot.get_channel(guild.system_channel_id)
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("Meeting Tuesday", view=RSVP())

    ix = await twin.click(sent.id, "rsvp:yes", alice)
    response = await ix.response()
    assert response["type"] == 7
    assert clicks == [alice]
    [stored] = twin.messages(guild.system_channel_id)
    assert stored["content"] == "1 going" and stored["components"] == []
    with pytest.raises(TwinError, match="no component"):
        await twin.click(sent.id, "rsvp:yes", alice)


async def test_modal_round_trip(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    submitted: dict[str, str] = {}

    class Intro(discord.ui.Modal, title="Introduce yourself"):
        why = discord.ui.TextInput(label="Why did you join?", custom_id="why")
        ideas = discord.ui.Label(
            text="What could we do?",
            component=discord.ui.TextInput(
                custom_id="ideas", style=discord.TextStyle.long, required=False
            ),
        )

        async def on_submit(self, interaction: discord.Interaction) -> None:
            assert isinstance(self.ideas.component, discord.ui.TextInput)
            submitted.update(why=self.why.value, ideas=self.ideas.component.value)
            await interaction.response.send_message("Thanks!", ephemeral=True)

    bot = make_bot()

    @bot.tree.command(name="intro", description="Introduce yourself")
    async def intro(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Intro())

    await run_bot(bot)
    await bot.tree.sync()
    ix = await twin.slash(guild.id, None, alice, "intro")
    assert (await ix.response())["type"] == 9
    with pytest.raises(TwinError, match="is required"):
        await twin.submit_modal(ix, alice, {"ideas": "picnics"})
    submit = await twin.submit_modal(ix, alice, {"why": "climate", "ideas": "picnics"})
    reply = await submit.response()
    assert reply["data"]["content"] == "Thanks!"
    assert submitted == {"why": "climate", "ideas": "picnics"}


async def test_deferred_response_and_followups(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    bot = make_bot()

    @bot.tree.command(name="report", description="Slow report")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        await interaction.followup.send(
            "Here", file=discord.File(io.BytesIO(png_bytes()), filename="map.png")
        )
        await interaction.followup.send(
            "csv", file=discord.File(io.BytesIO(b"a,b\n1,2\n"), filename="members.csv")
        )
        await interaction.edit_original_response(content="Here (edited)")

    await run_bot(bot)
    await bot.tree.sync()
    ix = await twin.slash(guild.id, guild.system_channel_id, alice, "report")
    assert (await ix.response())["type"] == 5
    first = await ix.wait_followup()
    second = await ix.wait_followup()
    # the first follow-up after a deferral replaces the "thinking…" original response
    assert ix.original is not None and first["id"] == ix.original["id"]
    assert second["attachments"][0]["filename"] == "members.csv"
    assert twin.attachment_bytes(second["attachments"][0]) == b"a,b\n1,2\n"
    original = await ix.wait_original(predicate=lambda m: m["content"] == "Here (edited)")
    att = original["attachments"][0]
    assert (att["filename"], att["width"], att["height"]) == ("map.png", 2, 3)
    assert twin.attachment_bytes(att) == png_bytes()
    history = twin.messages(guild.system_channel_id)
    assert [m["content"] for m in history] == ["Here (edited)", "csv"]


async def test_late_interaction_response_is_refused(twin: Twin, run_bot: StartBot) -> None:
    twin.interaction_timeout = 0.2
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    errors: list[Exception] = []
    bot = make_bot()

    @bot.tree.command(name="slow", description="Too slow")
    async def slow(interaction: discord.Interaction) -> None:
        await asyncio.sleep(0.3)
        try:
            await interaction.response.send_message("late")
        except discord.NotFound as exc:
            errors.append(exc)

    await run_bot(bot)
    await bot.tree.sync()
    ix = await twin.slash(guild.id, None, alice, "slow")
    with pytest.raises(TimeoutError, match="too late"):
        await ix.response(timeout=0.5)
    assert isinstance(errors[0], discord.NotFound) and errors[0].code == 10062


async def test_reactions_reach_raw_reaction_add(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    events: list[discord.RawReactionActionEvent] = []
    bot = make_bot()

    @bot.event
    async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
        events.append(payload)

    await run_bot(bot)
    channel = bot.get_channel(guild.system_channel_id)
    assert isinstance(channel, discord.TextChannel)
    poll = await channel.send("Vote: A or B?")
    await poll.add_reaction("🅰️")
    await twin.add_reaction(channel.id, poll.id, alice, "🅰️")
    await twin.wait_for(lambda: len(events) == 2)
    mine, hers = events
    assert mine.user_id == twin.bot_user_id
    assert hers.user_id == alice and str(hers.emoji) == "🅰️" and hers.member is not None
    assert hers.guild_id == guild.id
    stored = twin.messages(channel.id)[0]
    assert stored["reactions"][0]["count"] == 2 and stored["reactions"][0]["me"] is True
    users = [u async for u in (await channel.fetch_message(poll.id)).reactions[0].users()]
    assert {u.id for u in users} == {alice, twin.bot_user_id}


async def test_dm_closed_user_is_forbidden_50007(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    carol = twin.create_user("carol")
    for user in (alice, carol):
        await twin.member_join(guild.id, user)
    twin.set_dms_closed(carol)
    received: list[str] = []
    bot = make_bot()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if isinstance(message.channel, discord.DMChannel) and message.author != bot.user:
            received.append(message.content)

    await run_bot(bot)
    member = bot.get_guild(guild.id).get_member(carol)  # type: ignore[union-attr]
    assert member is not None
    with pytest.raises(discord.Forbidden) as info:
        await member.send("Reminder: meeting today")
    assert info.value.code == 50007 and info.value.status == 403
    assert twin.requests_to("POST", "/users/@me/channels")[-1].status == 200
    assert twin.dms(carol) == []

    await bot.get_user(alice).send("Welcome!")  # type: ignore[union-attr]
    assert [m["content"] for m in twin.dms(alice)] == ["Welcome!"]
    await twin.dm_bot(alice, "I'm in Chicago")
    await twin.wait_for(lambda: received == ["I'm in Chicago"])


async def test_nonce_dedup(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    bot = await run_bot(make_bot())
    channel = bot.get_channel(guild.system_channel_id)
    assert isinstance(channel, discord.TextChannel)
    first = await channel.send("Reminder #1", nonce="delivery-42")
    again = await channel.send("Reminder #1", nonce="delivery-42")
    other = await channel.send("Reminder #2", nonce="delivery-43")
    assert first.id == again.id != other.id
    assert [m["content"] for m in twin.messages(channel.id)] == ["Reminder #1", "Reminder #2"]
    assert twin.requests_to("POST", "/channels/{channel_id}/messages")[0].body["enforce_nonce"]


async def test_429_is_retried_and_burst_arrives(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    bot = await run_bot(make_bot())
    channel = bot.get_channel(guild.system_channel_id)
    assert isinstance(channel, discord.TextChannel)
    twin.inject_error("POST", r"^/channels/\d+/messages$", status=429, retry_after=0.05)
    await channel.send("after a 429")
    limited = [r for r in twin.requests if r.status == 429]
    assert len(limited) == 1 and limited[0].response["retry_after"] == 0.05

    # the per-channel bucket out of the way: the global limit (50/s) is what bites
    twin.set_rate_limits(routes={"POST /channels/{channel_id}/messages": (1000, 1.0)})
    await asyncio.gather(*(channel.send(f"burst {i}") for i in range(60)))
    contents = [m["content"] for m in twin.messages(channel.id)]
    assert sorted(contents[1:]) == sorted(f"burst {i}" for i in range(60))
    global_429s = [r for r in twin.requests if r.status == 429 and r.response["global"]]
    assert global_429s, "the burst should have hit the global limit"


async def test_route_bucket_headers_pace_discord_py(twin: Twin, run_bot: StartBot) -> None:
    twin.set_rate_limits(routes={"POST /channels/{channel_id}/messages": (2, 0.3)})
    guild = twin.create_guild("Test Guild")
    bot = await run_bot(make_bot())
    channel = bot.get_channel(guild.system_channel_id)
    assert isinstance(channel, discord.TextChannel)
    for i in range(5):
        await channel.send(f"m{i}")
    sends = twin.requests_to("POST", "/channels/{channel_id}/messages")
    assert [r.status for r in sends] == [200] * 5  # discord.py waited on the headers
    assert sends[-1].at - sends[0].at >= 0.5


async def test_injected_500_is_retried(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    bot = await run_bot(make_bot())
    channel = bot.get_channel(guild.system_channel_id)
    assert isinstance(channel, discord.TextChannel)
    fault = twin.inject_error("POST", r"/channels/\d+/messages", status=500)
    await channel.send("eventually")
    assert fault.hits == 1
    assert [r.status for r in twin.requests_to("POST", "/channels/{channel_id}/messages")] == [
        500,
        200,
    ]
    twin.inject_error("GET", r"/channels/\d+$", status=404, code=10003, message="Unknown Channel")
    with pytest.raises(discord.NotFound) as info:
        await bot.fetch_channel(channel.id)
    assert info.value.code == 10003


async def test_gateway_drop_resumes_and_replays(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    joined: list[int] = []
    resumed = asyncio.Event()
    bot = make_bot()

    @bot.event
    async def on_member_join(member: discord.Member) -> None:
        joined.append(member.id)

    @bot.event
    async def on_resumed() -> None:
        resumed.set()

    await run_bot(bot)
    await twin.drop_gateway()
    await twin.member_join(guild.id, alice)  # dispatched while the bot is away
    await asyncio.wait_for(resumed.wait(), 5)
    await twin.wait_for(lambda: joined == [alice])
    assert (twin.gateway.identifies, twin.gateway.resumes) == (1, 1)

    await twin.send_reconnect()  # op 7: discord.py reconnects and resumes again
    await twin.wait_for(lambda: twin.gateway.resumes == 2)

    await twin.drop_gateway(resumable=False)  # invalidated: a fresh IDENTIFY
    await twin.wait_for(lambda: twin.gateway.identifies == 2)
    await twin.wait_until_connected()


async def test_large_guild_is_chunked(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Big Guild")
    twin.add_members_bulk(guild.id, 300)
    bot = await run_bot(make_bot())
    cached = bot.get_guild(guild.id)
    assert cached is not None and cached.large and cached.chunked
    assert cached.member_count == len(cached.members) == 302  # + owner + bot
    ops = [p["op"] for p in twin.gateway.received]
    assert 8 in ops
    chunk_request = next(p for p in twin.gateway.received if p["op"] == 8)
    assert int(chunk_request["d"]["guild_id"]) == guild.id


async def test_sharding_by_guild_id(twin: Twin) -> None:
    from bot.endpoints import reset_endpoints, use_endpoints

    twin.shard_count = 2
    even = twin.create_guild("Even", guild_id=(1 << 40) << 22 | 5)
    odd = twin.create_guild("Odd", guild_id=((1 << 40) + 1) << 22 | 5)
    use_endpoints(twin.api_base, twin.gateway_url)
    try:
        client = fast_reidentify(
            discord.AutoShardedClient(
                intents=discord.Intents(guilds=True, members=True), guild_ready_timeout=0.05
            )
        )
        async with connected_client(twin, client):
            await twin.wait_until_connected(shards=2)
            assert client.shard_count == 2
            assert client.get_guild(even.id).shard_id == 0  # type: ignore[union-attr]
            assert client.get_guild(odd.id).shard_id == 1  # type: ignore[union-attr]
            sessions = {s.shard: s.guild_ids for s in twin.gateway.live_sessions()}
            assert sessions == {(0, 2): {even.id}, (1, 2): {odd.id}}
    finally:
        reset_endpoints()


async def test_role_above_bot_is_50013(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    below = guild.add_role("Member")
    above = guild.add_role("Admins", position=99)
    bot = await run_bot(make_bot())
    cached = bot.get_guild(guild.id)
    assert cached is not None
    member = cached.get_member(alice)
    assert member is not None
    await member.add_roles(discord.Object(below))
    await twin.wait_for(lambda: below in twin.guild(guild.id).members[alice].roles)
    await twin.wait_for(lambda: any(r.id == below for r in member.roles))  # cache followed
    with pytest.raises(discord.Forbidden) as info:
        await member.add_roles(discord.Object(above))
    assert info.value.code == 50013
    assert above not in twin.guild(guild.id).members[alice].roles

    role = await cached.create_role(
        name="Chicago", permissions=discord.Permissions(send_messages=True)
    )
    assert twin.guild(guild.id).roles[role.id].position == 1
    with pytest.raises(discord.Forbidden):  # cannot grant what the bot lacks
        await cached.create_role(name="Mods", permissions=discord.Permissions(ban_members=True))
    twin.set_bot_permissions(guild.id, 0)
    await twin.wait_for(lambda: not cached.me.guild_permissions.manage_roles)
    with pytest.raises(discord.Forbidden):
        await cached.create_role(name="Nope")


async def test_channels_overwrites_and_events(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    bot = await run_bot(make_bot())
    cached = bot.get_guild(guild.id)
    assert cached is not None
    organizers = await cached.create_role(name="Organizers")
    secret = await cached.create_category(
        "Secret", overwrites={cached.default_role: discord.PermissionOverwrite(view_channel=False)}
    )
    with pytest.raises(discord.Forbidden) as info:  # the bot hid the category from itself
        await secret.set_permissions(organizers, view_channel=True)
    assert info.value.code == 50001
    category = await cached.create_category(
        "Chicago Chapter",
        overwrites={
            cached.default_role: discord.PermissionOverwrite(view_channel=False),
            organizers: discord.PermissionOverwrite(view_channel=True),
            cached.me: discord.PermissionOverwrite(view_channel=True),
        },
    )
    text = await category.create_text_channel("Chicago General")
    assert text.name == "chicago-general"  # Discord normalizes text channel names
    twin_cat = twin.guild(guild.id).channels[category.id]
    assert twin_cat.type == 4 and twin_cat.overwrites[guild.id].deny == Perm.VIEW_CHANNEL
    await text.set_permissions(organizers, send_messages=True)
    assert twin.guild(guild.id).channels[text.id].overwrites[organizers.id].allow == (
        Perm.SEND_MESSAGES
    )
    await twin.wait_for(lambda: cached.get_channel(text.id) is not None)

    start = discord.utils.utcnow() + __import__("datetime").timedelta(days=3)
    event = await cached.create_scheduled_event(
        name="Chicago monthly meeting",
        start_time=start,
        end_time=start + __import__("datetime").timedelta(hours=2),
        entity_type=discord.EntityType.external,
        location="Library, room 2",
        privacy_level=discord.PrivacyLevel.guild_only,
    )
    stored = twin.guild(guild.id).scheduled_events[event.id]
    assert stored["entity_metadata"]["location"] == "Library, room 2"
    await event.edit(name="Chicago meeting")
    assert twin.guild(guild.id).scheduled_events[event.id]["name"] == "Chicago meeting"
    await event.delete()
    assert event.id not in twin.guild(guild.id).scheduled_events
    twin.set_bot_permissions(guild.id, 0)
    await twin.wait_for(lambda: not cached.me.guild_permissions.manage_channels)
    with pytest.raises(discord.Forbidden):
        await cached.create_text_channel("nope")


async def test_spec_violation_and_errors_with_raw_http(twin: Twin) -> None:
    guild = twin.create_guild("Test Guild")
    channel = guild.system_channel_id
    auth = {"Authorization": f"Bot {twin.token}"}
    async with aiohttp.ClientSession() as http:
        url = f"{twin.api_base}/channels/{channel}/messages"
        async with http.post(url, json={"content": 123, "tts": "yes"}, headers=auth) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert resp.headers["X-RateLimit-Limit"] == "5"
        assert len(twin.spec_violations) == 2
        assert {v.message.split(":")[0] for v in twin.spec_violations} == {"content", "tts"}
        twin.spec_violations.clear()

        async with http.post(url, json={"content": "x" * 2001}, headers=auth) as resp:
            body = await resp.json()
            assert (resp.status, body["code"]) == (400, 50035)
            assert body["errors"]["content"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
        assert twin.spec_violations == []  # the spec allows 4000; Discord 2000
        async with http.post(url, json={"content": "hi"}) as resp:
            assert resp.status == 401
            assert await resp.json() == {"message": "401: Unauthorized", "code": 0}
        async with http.get(f"{twin.api_base}/guilds/{guild.id}/audit-logs", headers=auth) as resp:
            assert resp.status == 404
            assert await resp.json() == {"message": "404: Not Found", "code": 0}
        assert [r.route_template for r in twin.unimplemented] == ["/guilds/{guild_id}/audit-logs"]
        twin.unimplemented.clear()
        async with http.get(f"{twin.api_base}/channels/1/messages", headers=auth) as resp:
            assert (resp.status, (await resp.json())["code"]) == (404, 10003)
        twin.set_rate_limits(routes={"POST /channels/{channel_id}/messages": (1, 10.0)})
        async with http.post(url, json={"content": "a"}, headers=auth) as resp:
            assert resp.status == 200
        async with http.post(url, json={"content": "b"}, headers=auth) as resp:
            assert resp.status == 429
            assert resp.headers["Via"] == "1.1 google"
            assert resp.headers["X-RateLimit-Scope"] == "user"
            body = await resp.json()
            assert body["global"] is False and 0 < body["retry_after"] <= 10


async def test_message_content_intent_gates_guild_messages(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    seen: list[str] = []
    bot = make_bot()

    @bot.event
    async def on_message(message: discord.Message) -> None:
        if message.author.id == alice:
            seen.append(message.content)

    await run_bot(bot)
    await twin.send_as_user(guild.system_channel_id, alice, "secret plans")
    await twin.send_as_user(guild.system_channel_id, alice, f"hey <@{twin.bot_user_id}>")
    await twin.wait_for(lambda: len(seen) == 2)
    assert seen == ["", f"hey <@{twin.bot_user_id}>"]


async def test_dm_command_context_menus_and_selects(twin: Twin, run_bot: StartBot) -> None:
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    bob = twin.create_user("bob")
    await twin.member_join(guild.id, alice)
    await twin.member_join(guild.id, bob)
    picked: list[object] = []
    bot = make_bot()

    class Pick(discord.ui.View):
        @discord.ui.select(
            custom_id="city",
            options=[discord.SelectOption(label=c, value=c) for c in ("Chicago", "Boston")],
        )
        async def city(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
            picked.append(select.values[0])
            await interaction.response.defer()

        @discord.ui.select(cls=discord.ui.UserSelect, custom_id="who")
        async def who(
            self, interaction: discord.Interaction, select: discord.ui.UserSelect
        ) -> None:
            picked.append(select.values[0].id)
            await interaction.response.send_message("noted", ephemeral=True)

    @bot.tree.command(name="where", description="Where are you?")
    async def where(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("Pick one", view=Pick())

    @bot.tree.context_menu(name="Welcome")
    async def welcome(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"welcome {member.id}", ephemeral=True)

    @bot.tree.context_menu(name="Quote")
    async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
        await interaction.response.send_message(f"> {message.content}")

    await run_bot(bot)
    await bot.tree.sync()

    ix = await twin.slash(None, None, alice, "where")  # in alice's DM with the bot
    await ix.response()
    assert ix.original is not None and ix.payload["context"] == 1
    assert twin.dms(alice)[0]["content"] == "Pick one"
    await (await twin.click(ix.original["id"], "city", alice, values=["Boston"])).response()
    with pytest.raises(TwinError, match="not an option"):
        await twin.click(ix.original["id"], "city", alice, values=["Paris"])
    await (await twin.click(ix.original["id"], "who", alice, values=[bob])).response()
    assert picked == ["Boston", bob]

    menu = await twin.context_menu(guild.id, None, alice, "Welcome", target_user_id=bob)
    assert (await menu.response())["data"]["content"] == f"welcome {bob}"
    said = await twin.send_as_user(guild.system_channel_id, bob, "meet on the 1st")
    quoted = await twin.context_menu(guild.id, None, alice, "Quote", target_message_id=said["id"])
    assert (await quoted.response())["data"]["content"] == "> meet on the 1st"


def test_every_route_is_a_discord_route() -> None:
    from twin import router
    from twin.spec import find_spec_path, load_spec

    spec = load_spec(str(find_spec_path()))
    missing = [
        f"{r.method} {r.template}"
        for r in router.ROUTES
        if spec.operation(r.method, r.template) is None
    ]
    assert missing == []
