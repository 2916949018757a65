"""``Twin``: a local Discord (gateway + REST) on loopback, and the API tests drive it with."""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from aiohttp import web

from twin.errors import TwinError
from twin.gateway import Gateway
from twin.interactions import (
    TwinInteraction,
    build_command_interaction,
    build_component_interaction,
    build_context_menu_interaction,
    build_modal_submit,
    poll_until,
)
from twin.messages import new_message
from twin.permissions import Perm
from twin.ratelimit import RateLimiter
from twin.records import RequestRecord, SpecViolation
from twin.rest import Fault, RestApi
from twin.spec import OpenApiSpec, find_spec_path, load_spec
from twin.state import Intent, TwinGuild, TwinUser, World, parse_emoji

APP_FLAG_GATEWAY_PRESENCE = 1 << 12
APP_FLAG_GATEWAY_GUILD_MEMBERS = 1 << 14
APP_FLAG_GATEWAY_MESSAGE_CONTENT = 1 << 18


class Twin:
    """A fake Discord for end-to-end tests. See the package docstring for a tour."""

    def __init__(
        self,
        spec_path: str | Path | None = None,
        *,
        validate: bool = True,
        token: str = "twin-bot-token",
        shard_count: int = 1,
        heartbeat_interval_ms: int = 41250,
        bot_name: str = "chapterbot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        self.host = host
        self._port = port
        self.validate = validate
        path = Path(spec_path) if spec_path is not None else find_spec_path()
        if validate and path is None:
            raise TwinError(
                "cannot find Discord's openapi.json: set TWIN_OPENAPI_SPEC or pass spec_path"
            )
        self.spec: OpenApiSpec | None = load_spec(str(path)) if path is not None else None
        self.world = World(bot_name=bot_name)
        self.gateway = Gateway(self)
        self.gateway.heartbeat_interval_ms = heartbeat_interval_ms
        self.world.emit = self.gateway.emit
        self.rest = RestApi(self)
        self.rate_limits = RateLimiter()
        #: privileged intents the application is allowed (Developer Portal switches)
        self.privileged_intents = Intent.PRIVILEGED
        #: seconds the bot has for the initial interaction response (Discord: 3)
        self.interaction_timeout = 3.0
        #: seconds an interaction token works for follow-ups (Discord: 15 minutes)
        self.followup_ttl = 900.0
        self.requests: list[RequestRecord] = []
        self.spec_violations: list[SpecViolation] = []
        #: requests to routes the twin does not implement (answered 404)
        self.unimplemented: list[RequestRecord] = []
        self.started_at = time.monotonic()
        self._runner: web.AppRunner | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> Twin:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/", self.gateway.handle)
        app.router.add_get("/attachments/{channel_id}/{attachment_id}/{filename}", self._attachment)
        app.router.add_route("*", "/api/{tail:.*}", self.rest.handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = sockets[0].getsockname()[1]
        self.world.base_url = self.base_url
        self.started_at = time.monotonic()
        return self

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Twin:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self._port}/"

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def bot_user_id(self) -> int:
        return self.world.bot_user_id

    @property
    def application_flags(self) -> int:
        flags = 0
        if self.privileged_intents & Intent.GUILD_PRESENCES:
            flags |= APP_FLAG_GATEWAY_PRESENCE
        if self.privileged_intents & Intent.GUILD_MEMBERS:
            flags |= APP_FLAG_GATEWAY_GUILD_MEMBERS
        if self.privileged_intents & Intent.MESSAGE_CONTENT:
            flags |= APP_FLAG_GATEWAY_MESSAGE_CONTENT
        return flags

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        att = self.world.attachments.get(int(request.match_info["attachment_id"]))
        if att is None:
            raise web.HTTPNotFound()
        return web.Response(body=att.data, headers={"Content-Type": att.content_type})

    # -- world building ------------------------------------------------------------------------

    def create_guild(
        self, name: str, owner_id: int | None = None, *, guild_id: int | None = None
    ) -> TwinGuild:
        """A guild with @everyone, the bot's managed role (top), a #general system channel."""
        return self.world.create_guild(name, owner_id, guild_id=guild_id)

    def create_user(self, name: str, bot: bool = False, *, global_name: str | None = None) -> int:
        return self.world.create_user(name, bot=bot, global_name=global_name)

    def guild(self, guild_id: int) -> TwinGuild:
        return self.world.guild(guild_id)

    def user(self, user_id: int) -> TwinUser:
        return self.world.user(user_id)

    def set_bot_role_position(self, guild_id: int, position: int) -> None:
        guild = self.guild(guild_id)
        self.world.move_role(guild, guild.roles[guild.bot_role_id], position)

    def set_bot_permissions(self, guild_id: int, perms: int) -> None:
        """Permissions of the bot's managed role (the bot also has @everyone's)."""
        guild = self.guild(guild_id)
        role = guild.roles[guild.bot_role_id]
        role.permissions = perms
        self.world.update_role(guild, role)

    def set_everyone_permissions(self, guild_id: int, perms: int) -> None:
        guild = self.guild(guild_id)
        role = guild.roles[guild.everyone_role_id]
        role.permissions = perms
        self.world.update_role(guild, role)

    def set_role_permissions(self, guild_id: int, role_id: int, perms: int) -> None:
        guild = self.guild(guild_id)
        role = guild.roles[role_id]
        role.permissions = perms
        self.world.update_role(guild, role)

    def set_dms_closed(self, user_id: int, closed: bool = True) -> None:
        self.world.user(user_id).dms_closed = closed

    def set_dm_open_limit(self, count: int | None, per: float = 1.0) -> None:
        """Opening more than ``count`` new DM channels within ``per`` seconds answers 403 code
        40003 ("opening direct messages too fast"); ``None`` lifts the limit. Existing DM
        channels are returned as before."""
        self.world.dm_open_limit = None if count is None else (count, per)
        self.world.dm_opened_at.clear()

    def add_members_bulk(self, guild_id: int, user_ids_or_count: int | Iterable[int]) -> list[int]:
        """Add many members at once (e.g. 300 for a "large" guild); returns their user ids."""
        guild = self.guild(guild_id)
        if isinstance(user_ids_or_count, int):
            base = len(guild.members)
            ids = [self.create_user(f"member-{base + i}") for i in range(user_ids_or_count)]
        else:
            ids = list(user_ids_or_count)
        for user_id in ids:
            self.world.add_member(guild, user_id)
        return ids

    async def member_join(self, guild_id: int, user_id: int, roles: Iterable[int] = ()) -> None:
        self.world.add_member(self.guild(guild_id), user_id, roles)
        await self.gateway.flush()

    async def member_leave(self, guild_id: int, user_id: int) -> None:
        self.world.remove_member(self.guild(guild_id), user_id)
        await self.gateway.flush()

    async def add_member_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        """As if an admin gave the role (no permission checks); GUILD_MEMBER_UPDATE."""
        guild = self.guild(guild_id)
        member = self.world.member(guild, user_id)
        if role_id not in guild.roles:
            raise TwinError(f"no role {role_id} in guild {guild_id}")
        if role_id not in member.roles:
            member.roles.append(role_id)
            self.world.member_updated(guild, member)
        await self.gateway.flush()

    async def remove_member_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        guild = self.guild(guild_id)
        member = self.world.member(guild, user_id)
        if role_id in member.roles:
            member.roles.remove(role_id)
            self.world.member_updated(guild, member)
        await self.gateway.flush()

    # -- acting as users -----------------------------------------------------------------------

    def _require_bot(self) -> None:
        if not self.gateway.live_sessions():
            raise TwinError("no bot is connected to the twin's gateway")

    async def _send_interaction(self, ix: TwinInteraction) -> TwinInteraction:
        self._require_bot()
        ix.created_at = asyncio.get_running_loop().time()
        self.world.emit("INTERACTION_CREATE", ix.payload, ix.guild_id, None)
        await self.gateway.flush()
        return ix

    async def slash(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        name: str,
        subcommand: str | None = None,
        group: str | None = None,
        options: dict[str, Any] | None = None,
        *,
        check_permissions: bool = True,
    ) -> TwinInteraction:
        """Invoke a registered slash command as ``user_id`` (``guild_id=None``: in a DM)."""
        ix = build_command_interaction(
            self.world,
            guild_id,
            channel_id,
            user_id,
            name,
            subcommand=subcommand,
            group=group,
            options=options or {},
            check_permissions=check_permissions,
        )
        return await self._send_interaction(ix)

    async def context_menu(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        name: str,
        *,
        target_user_id: int | None = None,
        target_message_id: int | str | None = None,
    ) -> TwinInteraction:
        """Run a registered user or message context-menu command on a target."""
        ix = build_context_menu_interaction(
            self.world,
            guild_id,
            channel_id,
            user_id,
            name,
            target_user_id=target_user_id,
            target_message_id=None if target_message_id is None else int(target_message_id),
        )
        return await self._send_interaction(ix)

    async def autocomplete(
        self,
        guild_id: int | None,
        channel_id: int | None,
        user_id: int,
        name: str,
        subcommand: str | None = None,
        group: str | None = None,
        options: dict[str, Any] | None = None,
        *,
        focused: str,
        timeout: float = 3.0,  # noqa: ASYNC109
    ) -> list[dict[str, Any]]:
        """Ask for autocomplete choices while ``focused`` is being typed; returns the choices."""
        ix = build_command_interaction(
            self.world,
            guild_id,
            channel_id,
            user_id,
            name,
            subcommand=subcommand,
            group=group,
            options=options or {},
            focused=focused,
        )
        await self._send_interaction(ix)
        await ix.response(timeout)
        return list(ix.choices or [])

    async def click(
        self, message_id: int | str, custom_id: str, user_id: int, values: list[Any] | None = None
    ) -> TwinInteraction:
        """Press a button (or choose ``values`` in a select) on any message the twin knows."""
        ix = build_component_interaction(self.world, int(message_id), custom_id, user_id, values)
        return await self._send_interaction(ix)

    async def submit_modal(
        self, modal_from_ix: TwinInteraction, user_id: int, values: dict[str, Any]
    ) -> TwinInteraction:
        """Fill in and submit the modal the bot answered ``modal_from_ix`` with."""
        ix = build_modal_submit(self.world, modal_from_ix, user_id, values)
        return await self._send_interaction(ix)

    async def add_reaction(
        self, channel_id: int, message_id: int | str, user_id: int, emoji: str
    ) -> None:
        message = self._message_in(channel_id, message_id)
        self.world.add_reaction(message, parse_emoji(emoji), user_id)
        await self.gateway.flush()

    async def remove_reaction(
        self, channel_id: int, message_id: int | str, user_id: int, emoji: str
    ) -> None:
        message = self._message_in(channel_id, message_id)
        self.world.remove_reaction(message, parse_emoji(emoji), user_id)
        await self.gateway.flush()

    def _message_in(self, channel_id: int, message_id: int | str) -> dict[str, Any]:
        message = self.world.find_message(int(message_id))
        if message["channel_id"] != str(channel_id):
            raise TwinError(f"message {message_id} is not in channel {channel_id}")
        return message

    async def send_as_user(
        self, channel_id: int, user_id: int, content: str, **fields: Any
    ) -> dict[str, Any]:
        """A user posts a message in a channel (MESSAGE_CREATE); returns the message."""
        world = self.world
        channel = world.channel(channel_id)
        guild = world.guild_of(channel)
        if guild is not None:
            if user_id not in guild.members:
                raise TwinError(f"user {user_id} is not a member of guild {guild.id}")
            perms = guild.channel_permissions_of(user_id, channel_id)
            if perms & (Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES) != (
                Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES
            ):
                raise TwinError(f"user {user_id} cannot send messages in channel {channel_id}")
        message = new_message(world, channel, user_id, {"content": content, **fields}, [])
        world.store_message(message)
        await self.gateway.flush()
        return message

    async def dm_bot(self, user_id: int, content: str, **fields: Any) -> dict[str, Any]:
        """The user DMs the bot (MESSAGE_CREATE in their DM channel)."""
        channel = self.world.dm_channel(user_id)
        return await self.send_as_user(channel.id, user_id, content, **fields)

    # -- observing -----------------------------------------------------------------------------

    def messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages in a channel, oldest first (bot's and users'; not ephemeral ones)."""
        return copy.deepcopy(self.world.messages.get(channel_id, []))

    def dms(self, user_id: int) -> list[dict[str, Any]]:
        """Messages the bot sent to ``user_id``'s DM channel, oldest first."""
        channel_id = self.world.dm_channels.get(user_id)
        if channel_id is None:
            return []
        bot = str(self.bot_user_id)
        return [m for m in self.messages(channel_id) if m["author"]["id"] == bot]

    def message(self, message_id: int | str) -> dict[str, Any]:
        """Any message the twin knows (including ephemeral ones), as it is now."""
        return copy.deepcopy(self.world.find_message(int(message_id)))

    def attachment_bytes(self, attachment: dict[str, Any] | int | str) -> bytes:
        ident = attachment["id"] if isinstance(attachment, dict) else attachment
        return self.world.attachments[int(ident)].data

    def commands(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Registered command definitions: global (``None``) or for one guild."""
        if guild_id is None:
            return copy.deepcopy(list(self.world.global_commands.values()))
        return copy.deepcopy(list(self.world.guild_commands.get(guild_id, {}).values()))

    def interactions(self) -> list[TwinInteraction]:
        return list(self.world.interactions.values())

    def requests_to(self, method: str, route_template: str) -> list[RequestRecord]:
        return [
            r
            for r in self.requests
            if r.method == method.upper() and r.route_template == route_template
        ]

    @property
    def invalid_requests(self) -> int:
        """401, 403 and 429 answers so far (Discord bans an IP at 10,000 in 10 minutes)."""
        return sum(1 for r in self.requests if r.status in (401, 403, 429))

    def assert_no_spec_violations(self) -> None:
        if self.spec_violations:
            lines = "\n".join(f"  {v}\n    body: {v.body!r}"[:2000] for v in self.spec_violations)
            raise AssertionError(
                f"{len(self.spec_violations)} request(s) violate Discord's OpenAPI spec:\n{lines}"
            )

    def assert_no_unimplemented_calls(self) -> None:
        if self.unimplemented:
            lines = "\n".join(
                f"  {r.method} {r.path} ({r.route_template or 'not in the spec either'})"
                for r in self.unimplemented
            )
            raise AssertionError(f"the bot called routes the twin does not implement:\n{lines}")

    # -- faults and gateway control ------------------------------------------------------------

    def inject_error(
        self,
        method: str,
        path_regex: str,
        status: int = 500,
        count: int = 1,
        code: int = 0,
        *,
        message: str | None = None,
        retry_after: float = 0.05,
    ) -> Fault:
        """The next ``count`` requests matching ``method`` ("*" = any) and ``path_regex``
        (searched in the path after ``/api/v10``) fail with ``status``/``code``. A 429 gets
        Discord's rate-limit body and headers with ``retry_after``."""
        fault = Fault(method.upper(), path_regex, status, count, code, message, retry_after)
        self.rest.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.rest.faults.clear()

    def set_rate_limits(
        self,
        enabled: bool | None = None,
        *,
        global_limit: int | None = None,
        global_window: float | None = None,
        routes: dict[str, tuple[int, float]] | None = None,
        default_route_limit: tuple[int, float] | None = None,
    ) -> None:
        """E.g. ``set_rate_limits(routes={"POST /channels/{channel_id}/messages": (100, 1.0)})``."""
        rl = self.rate_limits
        if enabled is not None:
            rl.enabled = enabled
        if global_limit is not None:
            rl.global_limit = global_limit
        if global_window is not None:
            rl.global_window = global_window
        if default_route_limit is not None:
            rl.default_route_limit = default_route_limit
        for route, (limit, per) in (routes or {}).items():
            rl.set_route(route, limit, per)
        rl.reset()

    async def drop_gateway(self, resumable: bool = True) -> None:
        """Close the bot's websocket(s) (code 4000, so discord.py resumes). Events dispatched
        before the bot is back are replayed on RESUME; with ``resumable=False`` the session is
        invalidated and the bot must IDENTIFY afresh (missing those events)."""
        await self.gateway.drop(resumable=resumable)

    async def send_reconnect(self) -> None:
        """Send op 7 RECONNECT; discord.py reconnects and resumes."""
        await self.gateway.send_reconnect()

    async def invalidate_session(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION."""
        await self.gateway.invalidate(resumable=resumable)

    # -- waiting -------------------------------------------------------------------------------

    async def wait_for(
        self,
        predicate: Callable[[], Any] | Callable[[], Awaitable[Any]],
        timeout: float = 3.0,  # noqa: ASYNC109
        message: str | None = None,
    ) -> Any:
        """Poll ``predicate`` until it returns something truthy; returns that value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if loop.time() >= deadline:
                raise TimeoutError(message or f"condition not met within {timeout} s")
            await asyncio.sleep(0.005)

    async def wait_until_connected(self, timeout: float = 5.0, shards: int | None = None) -> None:  # noqa: ASYNC109
        """Until a bot has IDENTIFYed (all ``shards``, if sharded), got its GUILD_CREATEs, and
        requested the members of every large guild. Then ``await client.wait_until_ready()``
        for discord.py's own ``on_ready`` (pass ``guild_ready_timeout=0.1`` to the client)."""
        await poll_until(
            lambda: self.gateway.connected(shards),
            timeout,
            f"no bot finished connecting within {timeout} s",
        )
        await self.gateway.flush()
