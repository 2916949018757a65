"""REST v10 routes a bot uses: users, gateway, application, commands, channels, messages,
reactions, guilds, members, roles, scheduled events. Handlers enforce the permission and
hierarchy rules Discord enforces and dispatch the gateway events Discord would send."""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from typing import Any

from twin.errors import (
    ApiError,
    cannot_dm,
    check,
    invalid_form,
    missing_access,
    missing_permissions,
    unknown,
)
from twin.messages import apply_edit, new_message, validate_content
from twin.permissions import Perm, base_permissions, channel_permissions
from twin.router import Ctx, route
from twin.snowflake import iso, parse_iso, utcnow
from twin.state import (
    GUILD_CHANNEL_TYPES,
    ChannelType,
    Intent,
    Overwrite,
    TwinChannel,
    TwinGuild,
    TwinMember,
    TwinRole,
    World,
    emoji_key,
    parse_emoji,
)

NONCE_TTL = 300.0
TEXT_CHANNELS = {0, 1, 2, 3, 5, 11, 12, 13}

# -- helpers -----------------------------------------------------------------------------------


def _guild(ctx: Ctx) -> TwinGuild:
    guild = ctx.world.guilds.get(ctx.id("guild_id"))
    if guild is None or ctx.world.bot_user_id not in guild.members:
        raise unknown("guild")
    return guild


def _channel(ctx: Ctx, *, need: int = Perm.VIEW_CHANNEL) -> TwinChannel:
    world = ctx.world
    channel = world.channels.get(ctx.id("channel_id"))
    if channel is None:
        raise unknown("channel")
    guild = world.guild_of(channel)
    if guild is not None:
        perms = channel_permissions(guild, world.bot_user_id, channel)
        if not perms & Perm.VIEW_CHANNEL:
            raise missing_access()
        if perms & need != need:
            raise missing_permissions()
    return channel


def _bot_perms(world: World, guild: TwinGuild) -> int:
    return base_permissions(guild, world.bot_user_id)


def _require(world: World, guild: TwinGuild, perm: int) -> None:
    if _bot_perms(world, guild) & perm != perm:
        raise missing_permissions()


def _check_grantable(world: World, guild: TwinGuild, perms: int) -> None:
    """A bot can only grant (or deny in overwrites) permissions it has itself."""
    mine = _bot_perms(world, guild)
    if mine != Perm.ALL and perms & ~mine:
        raise missing_permissions()


def _check_role_below_bot(world: World, guild: TwinGuild, role: TwinRole) -> None:
    if _bot_perms(world, guild) == Perm.ALL and guild.owner_id == world.bot_user_id:
        return
    if role.position >= guild.top_position(world.bot_user_id):
        raise missing_permissions()


def _check_member_below_bot(world: World, guild: TwinGuild, user_id: int) -> None:
    if user_id == world.bot_user_id:
        return
    if user_id == guild.owner_id or guild.top_position(user_id) >= guild.top_position(
        world.bot_user_id
    ):
        raise missing_permissions()


def _message(ctx: Ctx, channel: TwinChannel) -> dict[str, Any]:
    message = ctx.world.message_index.get(ctx.id("message_id"))
    if (
        message is None
        or message["channel_id"] != str(channel.id)
        or ctx.world.is_ephemeral(message)
    ):
        raise unknown("message")
    return message


def _perm_int(value: Any, field: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise invalid_form(
            {field: ("NUMBER_TYPE_COERCE", f'Value "{value}" is not int.')}
        ) from None


def _guild_perms_in(world: World, channel: TwinChannel) -> int:
    guild = world.guild_of(channel)
    if guild is None:
        return Perm.ALL
    return channel_permissions(guild, world.bot_user_id, channel)


# -- users, gateway, application ---------------------------------------------------------------


@route("GET", "/users/@me")
async def get_me(ctx: Ctx) -> Any:
    return ctx.world.bot_user.payload() | {
        "verified": True,
        "mfa_enabled": False,
        "email": None,
        "locale": "en-US",
    }


@route("GET", "/users/{user_id}")
async def get_user(ctx: Ctx) -> Any:
    user = ctx.world.users.get(ctx.id("user_id"))
    if user is None:
        raise unknown("user")
    return user.payload()


@route("GET", "/users/@me/guilds")
async def my_guilds(ctx: Ctx) -> Any:
    world = ctx.world
    return [
        {
            "id": str(g.id),
            "name": g.name,
            "icon": None,
            "banner": None,
            "owner": g.owner_id == world.bot_user_id,
            "permissions": str(_bot_perms(world, g)),
            "features": list(g.features),
        }
        for g in world.guilds.values()
        if world.bot_user_id in g.members
    ]


@route("DELETE", "/users/@me/guilds/{guild_id}")
async def leave_guild(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    world = ctx.world
    del guild.members[world.bot_user_id]
    world.emit("GUILD_DELETE", {"id": str(guild.id)}, guild.id, Intent.GUILDS)
    return None


@route("POST", "/users/@me/channels")
async def create_dm(ctx: Ctx) -> Any:
    body = ctx.json()
    recipient = body.get("recipient_id")
    if recipient is None or not str(recipient).isdigit() or int(recipient) not in ctx.world.users:
        raise ApiError(400, 50033, "Invalid Recipient(s)")
    world = ctx.world
    if world.dm_open_limit is not None and int(recipient) not in world.dm_channels:
        count, per = world.dm_open_limit
        now = time.monotonic()
        world.dm_opened_at = [t for t in world.dm_opened_at if now - t < per]
        if len(world.dm_opened_at) >= count:
            raise ApiError(403, 40003, "You are opening direct messages too fast.")
        world.dm_opened_at.append(now)
    return world.dm_channel(int(recipient)).payload(world)


@route("GET", "/gateway")
async def get_gateway(ctx: Ctx) -> Any:
    return {"url": ctx.twin.gateway_url}


@route("GET", "/gateway/bot")
async def get_gateway_bot(ctx: Ctx) -> Any:
    return {
        "url": ctx.twin.gateway_url,
        "shards": ctx.twin.shard_count,
        "session_start_limit": {
            "total": 1000,
            "remaining": 999,
            "reset_after": 86_400_000,
            "max_concurrency": 1,
        },
    }


def _application(ctx: Ctx) -> dict[str, Any]:
    world = ctx.world
    return {
        "id": str(world.application_id),
        "name": world.bot_user.username,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "hook": True,
        "bot_public": True,
        "bot_require_code_grant": False,
        "verify_key": "00" * 32,
        "flags": ctx.twin.application_flags,
        "owner": world.users[world.app_owner_id].payload(),
        "team": None,
        "bot": world.bot_user.payload(),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "role_connections_verification_url": None,
        "tags": [],
        "approximate_guild_count": len(world.guilds),
        "integration_types_config": {"0": {}},
        "rpc_origins": [],
    }


@route("GET", "/oauth2/applications/@me")
async def oauth_application(ctx: Ctx) -> Any:
    return _application(ctx)


@route("GET", "/applications/@me")
async def current_application(ctx: Ctx) -> Any:
    return _application(ctx)


@route("GET", "/applications/{application_id}/emojis")
async def application_emojis(ctx: Ctx) -> Any:
    _app(ctx)
    return {"items": []}


# -- application commands ----------------------------------------------------------------------

NAME_RE = re.compile(r"^[-_'\w]{1,32}$", re.UNICODE)


def _app(ctx: Ctx) -> None:
    if ctx.params["application_id"] != str(ctx.world.application_id):
        raise ApiError(403, 50001, "Missing Access")


def _validate_options(
    options: list[dict[str, Any]], where: str, errors: dict[str, tuple[str, str]]
) -> None:
    if len(options) > 25:
        errors[where] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    seen: set[str] = set()
    optional_seen = False
    kinds = {o.get("type") in (1, 2) for o in options}
    if len(kinds) > 1:
        errors[where] = (
            "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
            "Sub-command and sub-command group option types are mutually exclusive "
            "to all other types",
        )
    for i, opt in enumerate(options):
        name = opt.get("name", "")
        if not NAME_RE.match(name) or name != name.lower():
            errors[f"{where}.{i}.name"] = (
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
        if name in seen:
            errors[f"{where}.{i}.name"] = (
                "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                "Option names must be unique",
            )
        seen.add(name)
        desc = opt.get("description") or ""
        if not 1 <= len(desc) <= 100:
            errors[f"{where}.{i}.description"] = (
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        if opt.get("type") not in (1, 2):
            if opt.get("required"):
                if optional_seen:
                    errors[f"{where}.{i}.required"] = (
                        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                        "Required options must be placed before non-required options",
                    )
            else:
                optional_seen = True
        choices = opt.get("choices") or []
        if len(choices) > 25:
            errors[f"{where}.{i}.choices"] = (
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )
        if choices and opt.get("autocomplete"):
            errors[f"{where}.{i}.autocomplete"] = (
                "APPLICATION_COMMAND_OPTION_CHOICES_AUTOCOMPLETE",
                "Autocomplete cannot be enabled on options with choices",
            )
        if opt.get("type") in (1, 2):
            _validate_options(opt.get("options") or [], f"{where}.{i}.options", errors)


def _validate_command(body: dict[str, Any], where: str, errors: dict[str, tuple[str, str]]) -> None:
    kind = body.get("type") or 1
    name = body.get("name") or ""
    prefix = f"{where}." if where else ""
    if kind == 1:
        if not NAME_RE.match(name) or name != name.lower():
            errors[f"{prefix}name"] = (
                "APPLICATION_COMMAND_INVALID_NAME",
                "Command name is invalid",
            )
        desc = body.get("description") or ""
        if not 1 <= len(desc) <= 100:
            errors[f"{prefix}description"] = (
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            )
        _validate_options(body.get("options") or [], f"{prefix}options", errors)
    elif not 1 <= len(name) <= 32:
        errors[f"{prefix}name"] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")


def _store_command(
    ctx: Ctx, body: dict[str, Any], guild_id: int | None, existing: dict[str, Any] | None
) -> dict[str, Any]:
    world = ctx.world
    command: dict[str, Any] = {
        "id": existing["id"] if existing else str(world.new_id()),
        "application_id": str(world.application_id),
        "version": str(world.new_id()),
        "default_member_permissions": (
            None
            if body.get("default_member_permissions") is None
            else str(body["default_member_permissions"])
        ),
        "type": body.get("type") or 1,
        "name": body["name"],
        "name_localizations": body.get("name_localizations"),
        "description": body.get("description") or "",
        "description_localizations": body.get("description_localizations"),
        "nsfw": bool(body.get("nsfw")),
        "contexts": body.get("contexts"),
        "integration_types": body.get("integration_types") or [0],
    }
    if body.get("options"):
        command["options"] = copy.deepcopy(body["options"])
    if guild_id is not None:
        command["guild_id"] = str(guild_id)
    else:
        command["dm_permission"] = body.get("dm_permission", True) is not False
    return command


def _command_store(ctx: Ctx) -> tuple[dict[int, dict[str, Any]], int | None]:
    _app(ctx)
    if "guild_id" in ctx.params:
        guild = _guild(ctx)
        return ctx.world.guild_commands.setdefault(guild.id, {}), guild.id
    return ctx.world.global_commands, None


@route("GET", "/applications/{application_id}/commands")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands")
async def list_commands(ctx: Ctx) -> Any:
    store, _ = _command_store(ctx)
    return list(store.values())


@route("PUT", "/applications/{application_id}/commands")
@route("PUT", "/applications/{application_id}/guilds/{guild_id}/commands")
async def bulk_overwrite_commands(ctx: Ctx) -> Any:
    store, guild_id = _command_store(ctx)
    body = ctx.body or []
    if not isinstance(body, list):
        raise invalid_form({"_": ("LIST_TYPE_CONVERT", "Only iterables may be used in a ListType")})
    errors: dict[str, tuple[str, str]] = {}
    seen: set[tuple[str, int]] = set()
    for i, cmd in enumerate(body):
        _validate_command(cmd, str(i), errors)
        key = (cmd.get("name", ""), cmd.get("type") or 1)
        if key in seen:
            errors[f"{i}.name"] = (
                "APPLICATION_COMMANDS_DUPLICATE_NAME",
                f"Application command names must be unique ({key[0]})",
            )
        seen.add(key)
    if len(body) > 100:
        errors["_"] = ("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    if errors:
        raise invalid_form(errors)
    by_key = {(c["name"], c["type"]): c for c in store.values()}
    new_store: dict[int, dict[str, Any]] = {}
    for cmd in body:
        existing = by_key.get((cmd["name"], cmd.get("type") or 1))
        stored = _store_command(ctx, cmd, guild_id, existing)
        new_store[int(stored["id"])] = stored
    store.clear()
    store.update(new_store)
    return list(store.values())


@route("POST", "/applications/{application_id}/commands")
@route("POST", "/applications/{application_id}/guilds/{guild_id}/commands")
async def create_command(ctx: Ctx) -> Any:
    store, guild_id = _command_store(ctx)
    body = ctx.json()
    errors: dict[str, tuple[str, str]] = {}
    _validate_command(body, "", errors)
    if errors:
        raise invalid_form(errors)
    existing = next(
        (
            c
            for c in store.values()
            if c["name"] == body["name"] and c["type"] == (body.get("type") or 1)
        ),
        None,
    )
    stored = _store_command(ctx, body, guild_id, existing)
    store[int(stored["id"])] = stored
    return (200 if existing else 201), stored


def _command(ctx: Ctx) -> tuple[dict[int, dict[str, Any]], int | None, dict[str, Any]]:
    store, guild_id = _command_store(ctx)
    command = store.get(ctx.id("command_id"))
    if command is None:
        raise unknown("command")
    return store, guild_id, command


@route("GET", "/applications/{application_id}/commands/{command_id}")
@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def get_command(ctx: Ctx) -> Any:
    return _command(ctx)[2]


@route("PATCH", "/applications/{application_id}/commands/{command_id}")
@route("PATCH", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def edit_command(ctx: Ctx) -> Any:
    store, guild_id, command = _command(ctx)
    merged = {k: v for k, v in command.items() if k not in ("id", "version")}
    merged.update(ctx.json())
    errors: dict[str, tuple[str, str]] = {}
    _validate_command(merged, "", errors)
    if errors:
        raise invalid_form(errors)
    stored = _store_command(ctx, merged, guild_id, command)
    store[int(stored["id"])] = stored
    return stored


@route("DELETE", "/applications/{application_id}/commands/{command_id}")
@route("DELETE", "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}")
async def delete_command(ctx: Ctx) -> Any:
    store, _, command = _command(ctx)
    del store[int(command["id"])]
    return None


@route("GET", "/applications/{application_id}/guilds/{guild_id}/commands/permissions")
async def command_permissions(ctx: Ctx) -> Any:
    _command_store(ctx)
    return []


# -- channels ----------------------------------------------------------------------------------


@route("GET", "/channels/{channel_id}")
async def get_channel(ctx: Ctx) -> Any:
    return _channel(ctx).payload(ctx.world)


def _parse_overwrites(
    ctx: Ctx, guild: TwinGuild, raw: list[dict[str, Any]] | None, field: str
) -> dict[int, Overwrite]:
    out: dict[int, Overwrite] = {}
    for i, item in enumerate(raw or []):
        target = int(item["id"])
        kind = item.get("type")
        if kind is None:
            kind = 0 if target in guild.roles else 1
        kind = int(kind)
        if (kind == 0 and target not in guild.roles) or (
            kind == 1 and target not in ctx.world.users
        ):
            raise invalid_form(
                {f"{field}.{i}.id": ("UNKNOWN_OVERWRITE_TARGET", "Unknown role or user")}
            )
        allow = _perm_int(item.get("allow"), f"{field}.{i}.allow")
        deny = _perm_int(item.get("deny"), f"{field}.{i}.deny")
        _check_grantable(ctx.world, guild, allow | deny)
        out[target] = Overwrite(target, kind, allow, deny)
    return out


def _normalize_name(kind: int, name: str) -> str:
    if kind in (
        ChannelType.GUILD_TEXT,
        ChannelType.GUILD_ANNOUNCEMENT,
        ChannelType.GUILD_FORUM,
        ChannelType.GUILD_MEDIA,
    ):
        name = re.sub(r"\s+", "-", name.strip().lower())
    return name


@route("GET", "/guilds/{guild_id}/channels")
async def list_guild_channels(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    return [c.payload(ctx.world) for c in guild.channels.values()]


@route("POST", "/guilds/{guild_id}/channels")
async def create_guild_channel(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_CHANNELS)
    body = ctx.json()
    kind = int(body.get("type") or 0)
    name = body.get("name") or ""
    check(
        1 <= len(name) <= 100,
        "name",
        "BASE_TYPE_BAD_LENGTH",
        "Must be between 1 and 100 in length.",
    )
    check(
        kind in GUILD_CHANNEL_TYPES,
        "type",
        "BASE_TYPE_CHOICES",
        f"Value must be one of {sorted(GUILD_CHANNEL_TYPES)}.",
    )
    parent_id = body.get("parent_id")
    if parent_id is not None:
        parent = guild.channels.get(int(parent_id))
        check(
            parent is not None
            and parent.type == ChannelType.GUILD_CATEGORY
            and kind != ChannelType.GUILD_CATEGORY,
            "parent_id",
            "CHANNEL_PARENT_INVALID",
            "Category does not exist",
        )
    check(len(guild.channels) < 500, "_", "MAX_CHANNELS", "Maximum number of guild channels (500)")
    if "permission_overwrites" in body or parent_id is None:
        overwrites = _parse_overwrites(
            ctx, guild, body.get("permission_overwrites"), "permission_overwrites"
        )
    else:
        # a channel created in a category with the field omitted syncs with the category
        # (discord.py always sends a list, possibly empty, so its channels start unsynced)
        parent = guild.channels[int(parent_id)]
        overwrites = {
            k: Overwrite(ow.id, ow.type, ow.allow, ow.deny) for k, ow in parent.overwrites.items()
        }
    if overwrites and _bot_perms(world, guild) != Perm.ALL:
        _require(world, guild, Perm.MANAGE_ROLES)
    channel = TwinChannel(
        id=world.new_id(),
        type=kind,
        name=_normalize_name(kind, name),
        guild_id=guild.id,
        position=int(body["position"])
        if body.get("position") is not None
        else len([c for c in guild.channels.values() if c.type == kind]),
        parent_id=int(parent_id) if parent_id is not None else None,
        topic=body.get("topic"),
        nsfw=bool(body.get("nsfw")),
        rate_limit_per_user=int(body.get("rate_limit_per_user") or 0),
        bitrate=int(body.get("bitrate") or 64000),
        user_limit=int(body.get("user_limit") or 0),
        overwrites=overwrites,
    )
    world.add_channel(guild, channel)
    return 201, channel.payload(world)


@route("POST", "/channels/{channel_id}/threads")
async def start_thread_without_message(ctx: Ctx) -> Any:
    """A thread not attached to a message (private by default, as Discord does)."""
    world = ctx.world
    parent = _channel(ctx, need=Perm.VIEW_CHANNEL)
    guild = world.guild_of(parent)
    if guild is None or parent.type not in (ChannelType.GUILD_TEXT, ChannelType.GUILD_ANNOUNCEMENT):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    body = ctx.json()
    kind = int(body.get("type") or ChannelType.PRIVATE_THREAD)
    check(
        kind in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD),
        "type",
        "BASE_TYPE_CHOICES",
        "Value must be one of [11, 12].",
    )
    need = Perm.CREATE_PRIVATE_THREADS if kind == ChannelType.PRIVATE_THREAD else 0
    perms = channel_permissions(guild, world.bot_user_id, parent)
    if perms & need != need:
        raise missing_permissions()
    name = str(body.get("name") or "")
    check(
        1 <= len(name) <= 100,
        "name",
        "BASE_TYPE_BAD_LENGTH",
        "Must be between 1 and 100 in length.",
    )
    thread = TwinChannel(
        id=world.new_id(),
        type=kind,
        name=name,
        guild_id=guild.id,
        parent_id=parent.id,
        overwrites={
            k: Overwrite(ow.id, ow.type, ow.allow, ow.deny) for k, ow in parent.overwrites.items()
        },
        thread_member_ids=[world.bot_user_id],
    )
    world.add_thread(guild, thread)
    return 201, thread.payload(world)


@route("PUT", "/channels/{channel_id}/thread-members/{user_id}")
async def add_thread_member(ctx: Ctx) -> Any:
    world = ctx.world
    thread = _channel(ctx, need=Perm.VIEW_CHANNEL)
    if thread.type not in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD):
        raise ApiError(400, 50024, "Cannot execute action on this channel type")
    guild = world.guild_of(thread)
    user_id = ctx.id("user_id")
    if guild is None or user_id not in guild.members:
        raise unknown("member")
    if user_id not in thread.thread_member_ids:
        thread.thread_member_ids.append(user_id)
    return 204, None


@route("PATCH", "/guilds/{guild_id}/channels")
async def reorder_channels(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_CHANNELS)
    for item in ctx.body or []:
        channel = guild.channels.get(int(item["id"]))
        if channel is None:
            raise unknown("channel")
        if item.get("position") is not None:
            channel.position = int(item["position"])
        if "parent_id" in item:
            channel.parent_id = int(item["parent_id"]) if item["parent_id"] else None
        world.update_channel(channel)
    return None


@route("PATCH", "/channels/{channel_id}")
async def edit_channel(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.MANAGE_CHANNELS)
    guild = world.guild_of(channel)
    if guild is None:
        raise ApiError(400, 50003, "Cannot execute action on a DM channel")
    body = ctx.json()
    if "name" in body:
        check(
            1 <= len(body["name"] or "") <= 100,
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        )
        channel.name = _normalize_name(channel.type, body["name"])
    if "topic" in body:
        channel.topic = body["topic"]
    if "nsfw" in body:
        channel.nsfw = bool(body["nsfw"])
    if "rate_limit_per_user" in body:
        channel.rate_limit_per_user = int(body["rate_limit_per_user"] or 0)
    if body.get("position") is not None:
        channel.position = int(body["position"])
    if "parent_id" in body:
        parent_id = body["parent_id"]
        if parent_id is not None:
            parent = guild.channels.get(int(parent_id))
            check(
                parent is not None and parent.type == ChannelType.GUILD_CATEGORY,
                "parent_id",
                "CHANNEL_PARENT_INVALID",
                "Category does not exist",
            )
        channel.parent_id = int(parent_id) if parent_id is not None else None
    if "permission_overwrites" in body:
        if channel_permissions(guild, world.bot_user_id, channel) != Perm.ALL:
            _require(world, guild, Perm.MANAGE_ROLES)
        channel.overwrites = _parse_overwrites(
            ctx, guild, body["permission_overwrites"], "permission_overwrites"
        )
    if "bitrate" in body:
        channel.bitrate = int(body["bitrate"] or 64000)
    if "user_limit" in body:
        channel.user_limit = int(body["user_limit"] or 0)
    world.update_channel(channel)
    return channel.payload(world)


@route("DELETE", "/channels/{channel_id}")
async def delete_channel(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx)
    payload = channel.payload(world)
    if channel.guild_id is None:
        return payload  # closing a DM
    _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.MANAGE_CHANNELS)
    world.delete_channel(channel)
    return payload


def _overwrite_target(ctx: Ctx) -> tuple[World, TwinChannel, TwinGuild]:
    """A guild channel whose overwrites the bot may edit (Manage Roles, or every permission)."""
    world = ctx.world
    channel = _channel(ctx)
    guild = world.guild_of(channel)
    if guild is None:
        raise ApiError(400, 50003, "Cannot execute action on a DM channel")
    if channel_permissions(guild, world.bot_user_id, channel) != Perm.ALL:
        _require(world, guild, Perm.MANAGE_ROLES)
    return world, channel, guild


@route("PUT", "/channels/{channel_id}/permissions/{overwrite_id}")
async def put_overwrite(ctx: Ctx) -> Any:
    world, channel, guild = _overwrite_target(ctx)
    body = ctx.json()
    target = ctx.id("overwrite_id")
    parsed = _parse_overwrites(ctx, guild, [dict(body, id=target)], "permission_overwrites")
    channel.overwrites.update(parsed)
    world.update_channel(channel)
    return None


@route("DELETE", "/channels/{channel_id}/permissions/{overwrite_id}")
async def delete_overwrite(ctx: Ctx) -> Any:
    world, channel, _guild = _overwrite_target(ctx)
    if channel.overwrites.pop(ctx.id("overwrite_id"), None) is not None:
        world.update_channel(channel)
    return None


@route("POST", "/channels/{channel_id}/typing")
async def typing(ctx: Ctx) -> Any:
    _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    return None


# -- messages ----------------------------------------------------------------------------------


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx)
    if not _guild_perms_in(world, channel) & Perm.READ_MESSAGE_HISTORY:
        return []
    limit = ctx.query_int("limit", 50, 1, 100)
    messages = list(world.messages.get(channel.id, []))
    if "before" in ctx.query:
        messages = [m for m in messages if int(m["id"]) < int(ctx.query["before"])]
        messages = messages[-limit:]
    elif "after" in ctx.query:
        messages = [m for m in messages if int(m["id"]) > int(ctx.query["after"])]
        messages = messages[:limit]
    elif "around" in ctx.query:
        pivot = int(ctx.query["around"])
        older = [m for m in messages if int(m["id"]) <= pivot]
        newer = [m for m in messages if int(m["id"]) > pivot]
        half = limit // 2
        messages = older[-(limit - half) :] + newer[:half]
    else:
        messages = messages[-limit:]
    return list(reversed(messages))


@route("POST", "/channels/{channel_id}/messages")
async def create_message(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES)
    if channel.type not in TEXT_CHANNELS:
        raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
    body = ctx.json()
    if channel.type == ChannelType.DM:
        recipient = world.users[channel.recipient_ids[0]]
        if recipient.dms_closed or recipient.bot:
            raise cannot_dm()
    else:
        perms = _guild_perms_in(world, channel)
        if body.get("embeds") and not perms & Perm.EMBED_LINKS:
            raise missing_permissions()
        if ctx.files and not perms & Perm.ATTACH_FILES:
            raise missing_permissions()
    validate_content(body, ctx.files, creating=True)
    nonce = body.get("nonce")
    key = (channel.id, world.bot_user_id, str(nonce))
    now = time.monotonic()
    if nonce is not None and body.get("enforce_nonce"):
        seen = world.nonces.get(key)
        if seen is not None and now - seen[1] < NONCE_TTL and seen[0] in world.message_index:
            return world.message_index[seen[0]]
    ref = body.get("message_reference")
    if ref and ref.get("message_id") is not None:
        target = world.message_index.get(int(ref["message_id"]))
        if target is None and ref.get("fail_if_not_exists", True):
            raise invalid_form(
                {"message_reference": ("MESSAGE_REFERENCE_UNKNOWN_MESSAGE", "Unknown message")}
            )
    message = new_message(world, channel, world.bot_user_id, body, ctx.files)
    world.store_message(message)
    if nonce is not None:
        world.nonces[key] = (int(message["id"]), now)
    return message


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(ctx: Ctx) -> Any:
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
    return _message(ctx, channel)


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx)
    message = _message(ctx, channel)
    if message["author"]["id"] != str(world.bot_user_id):
        raise ApiError(403, 50005, "Cannot edit a message authored by another user")
    body = ctx.json()
    validate_content(body, ctx.files, creating=False)
    apply_edit(world, message, body, ctx.files)
    world.message_event(message, "MESSAGE_UPDATE")
    return message


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx)
    message = _message(ctx, channel)
    own = message["author"]["id"] == str(world.bot_user_id)
    if (
        not own
        and channel.type != ChannelType.DM
        and not (_guild_perms_in(world, channel) & Perm.MANAGE_MESSAGES)
    ):
        raise missing_permissions()
    world.delete_message(message)
    return None


@route("POST", "/channels/{channel_id}/messages/bulk-delete")
async def bulk_delete(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.MANAGE_MESSAGES)
    ids = [int(i) for i in ctx.json().get("messages") or []]
    check(
        2 <= len(ids) <= 100,
        "messages",
        "BASE_TYPE_BAD_LENGTH",
        "Must be between 2 and 100 in length.",
    )
    for message_id in ids:
        message = world.message_index.get(message_id)
        if message is not None and message["channel_id"] == str(channel.id):
            world.delete_message(message)
    return None


def _set_pinned(ctx: Ctx, pinned: bool) -> None:
    world = ctx.world
    channel = _channel(ctx)
    if channel.guild_id is not None and not _guild_perms_in(world, channel) & (
        Perm.MANAGE_MESSAGES | Perm.PIN_MESSAGES
    ):
        raise missing_permissions()
    message = _message(ctx, channel)
    pins = world.pins.setdefault(channel.id, {})
    if message.get("pinned") != pinned:
        message["pinned"] = pinned
        if pinned:
            if len(pins) >= 250:
                raise ApiError(400, 30003, "Maximum number of pins reached (250)")
            pins[int(message["id"])] = iso(utcnow())
        else:
            pins.pop(int(message["id"]), None)
        world.message_event(message, "MESSAGE_UPDATE")
        data: dict[str, Any] = {
            "channel_id": str(channel.id),
            "last_pin_timestamp": max(pins.values()) if pins else None,
        }
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
            world.emit("CHANNEL_PINS_UPDATE", data, channel.guild_id, Intent.GUILDS)
        else:
            world.emit("CHANNEL_PINS_UPDATE", data, None, Intent.DIRECT_MESSAGES)


def _pinned(ctx: Ctx) -> list[tuple[str, dict[str, Any]]]:
    """(pinned_at, message), newest pin first."""
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
    pins = world.pins.get(channel.id, {})
    found = [
        (at, world.message_index[mid]) for mid, at in pins.items() if mid in world.message_index
    ]
    return sorted(found, key=lambda item: item[0], reverse=True)


@route("GET", "/channels/{channel_id}/messages/pins")
async def list_pins(ctx: Ctx) -> Any:
    limit = ctx.query_int("limit", 50, 1, 50)
    pinned = _pinned(ctx)
    before = ctx.query.get("before")
    if before:
        cutoff = parse_iso(before)
        pinned = [p for p in pinned if parse_iso(p[0]) < cutoff]
    items = [{"pinned_at": at, "message": message} for at, message in pinned[:limit]]
    return {"items": items, "has_more": len(pinned) > limit}


@route("GET", "/channels/{channel_id}/pins")
async def list_pins_legacy(ctx: Ctx) -> Any:
    return [message for _, message in _pinned(ctx)]


@route("PUT", "/channels/{channel_id}/messages/pins/{message_id}")
@route("PUT", "/channels/{channel_id}/pins/{message_id}")
async def pin(ctx: Ctx) -> Any:
    _set_pinned(ctx, True)
    return None


@route("DELETE", "/channels/{channel_id}/messages/pins/{message_id}")
@route("DELETE", "/channels/{channel_id}/pins/{message_id}")
async def unpin(ctx: Ctx) -> Any:
    _set_pinned(ctx, False)
    return None


# -- reactions ---------------------------------------------------------------------------------

REACTION = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}"


def _emoji(ctx: Ctx) -> dict[str, Any]:
    return parse_emoji(ctx.params["emoji_name"])


@route("PUT", REACTION + "/@me")
async def add_own_reaction(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
    message = _message(ctx, channel)
    emoji = _emoji(ctx)
    states = world.reactions.get(int(message["id"]), {})
    existing = states.get(emoji_key(emoji))
    if existing is None or not existing.users:
        if not _guild_perms_in(world, channel) & Perm.ADD_REACTIONS:
            raise missing_permissions()
        if len([s for s in states.values() if s.users]) >= 20:
            raise ApiError(400, 30010, "Maximum number of reactions reached (20)")
    world.add_reaction(message, emoji, world.bot_user_id)
    return None


@route("DELETE", REACTION + "/@me")
async def remove_own_reaction(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx)
    message = _message(ctx, channel)
    world.remove_reaction(message, _emoji(ctx), world.bot_user_id)
    return None


@route("DELETE", REACTION + "/{user_id}")
async def remove_user_reaction(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx)
    message = _message(ctx, channel)
    user_id = ctx.id("user_id")
    if (
        user_id != world.bot_user_id
        and channel.guild_id is not None
        and not _guild_perms_in(world, channel) & Perm.MANAGE_MESSAGES
    ):
        raise missing_permissions()
    world.remove_reaction(message, _emoji(ctx), user_id)
    return None


@route("GET", REACTION)
async def reaction_users(ctx: Ctx) -> Any:
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.READ_MESSAGE_HISTORY)
    message = _message(ctx, channel)
    state = world.reactions.get(int(message["id"]), {}).get(emoji_key(_emoji(ctx)))
    if state is None or not state.users:
        raise unknown("emoji")
    limit = ctx.query_int("limit", 25, 1, 100)
    after = int(ctx.query.get("after", 0))
    users = sorted(u for u in state.users if u > after)[:limit]
    return [world.users[u].payload() for u in users]


def _clear_reactions(ctx: Ctx, only: str | None) -> None:
    world = ctx.world
    channel = _channel(ctx, need=Perm.VIEW_CHANNEL | Perm.MANAGE_MESSAGES)
    message = _message(ctx, channel)
    states = world.reactions.get(int(message["id"]), {})
    removed = [k for k in states if only is None or k == only]
    data: dict[str, Any] = {"channel_id": str(channel.id), "message_id": message["id"]}
    if channel.guild_id is not None:
        data["guild_id"] = str(channel.guild_id)
    for key in removed:
        emoji = states.pop(key).emoji
        if only is not None:
            world.emit(
                "MESSAGE_REACTION_REMOVE_EMOJI",
                dict(data, emoji=emoji),
                channel.guild_id,
                Intent.GUILD_MESSAGE_REACTIONS,
            )
    if only is None:
        world.emit(
            "MESSAGE_REACTION_REMOVE_ALL", data, channel.guild_id, Intent.GUILD_MESSAGE_REACTIONS
        )
    world.render_reactions(message)


@route("DELETE", "/channels/{channel_id}/messages/{message_id}/reactions")
async def clear_reactions(ctx: Ctx) -> Any:
    _clear_reactions(ctx, None)
    return None


@route("DELETE", REACTION)
async def clear_emoji_reactions(ctx: Ctx) -> Any:
    _clear_reactions(ctx, emoji_key(_emoji(ctx)))
    return None


# -- guilds, members ---------------------------------------------------------------------------


@route("GET", "/guilds/{guild_id}")
async def get_guild(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    return guild.payload(with_counts=ctx.query.get("with_counts", "").lower() in ("true", "1"))


def _member(ctx: Ctx, guild: TwinGuild) -> TwinMember:
    member = guild.members.get(ctx.id("user_id"))
    if member is None:
        raise unknown("member")
    return member


@route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    return _member(ctx, guild).payload(ctx.world)


@route("GET", "/guilds/{guild_id}/members")
async def list_members(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    if not ctx.twin.privileged_intents & Intent.GUILD_MEMBERS:
        raise missing_access()
    limit = ctx.query_int("limit", 1, 1, 1000)
    after = int(ctx.query.get("after", 0))
    members = sorted(
        (m for m in guild.members.values() if m.user_id > after), key=lambda m: m.user_id
    )
    return [m.payload(ctx.world) for m in members[:limit]]


@route("GET", "/guilds/{guild_id}/members/search")
async def search_members(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    query = ctx.query.get("query", "").lower()
    limit = ctx.query_int("limit", 1, 1, 1000)
    found = [
        m
        for m in guild.members.values()
        if ctx.world.users[m.user_id].username.lower().startswith(query)
        or (m.nick or "").lower().startswith(query)
    ]
    return [m.payload(ctx.world) for m in found[:limit]]


def _apply_member_roles(ctx: Ctx, guild: TwinGuild, member: TwinMember, wanted: list[int]) -> None:
    world = ctx.world
    _require(world, guild, Perm.MANAGE_ROLES)
    current = set(member.roles)
    target = set(wanted)
    for role_id in target ^ current:
        role = guild.roles.get(role_id)
        if role is None:
            raise unknown("role")
        if role.managed:
            raise missing_permissions()
        _check_role_below_bot(world, guild, role)
    member.roles = [r for r in member.roles if r in target] + [
        r for r in dict.fromkeys(wanted) if r not in current
    ]


@route("PATCH", "/guilds/{guild_id}/members/{user_id}")
async def edit_member(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    member = _member(ctx, guild)
    body = ctx.json()
    if "nick" in body:
        if member.user_id == world.bot_user_id:
            _require(world, guild, Perm.CHANGE_NICKNAME)
        else:
            _require(world, guild, Perm.MANAGE_NICKNAMES)
            _check_member_below_bot(world, guild, member.user_id)
        nick = body["nick"] or None
        check(
            nick is None or len(nick) <= 32,
            "nick",
            "BASE_TYPE_MAX_LENGTH",
            "Must be 32 or fewer in length.",
        )
        member.nick = nick
    if "roles" in body and body["roles"] is not None:
        wanted = [int(r) for r in body["roles"] if int(r) != guild.everyone_role_id]
        managed = [r for r in member.roles if guild.roles.get(r) and guild.roles[r].managed]
        _apply_member_roles(ctx, guild, member, list(dict.fromkeys(managed + wanted)))
    if "communication_disabled_until" in body:
        _require(world, guild, Perm.MODERATE_MEMBERS)
        _check_member_below_bot(world, guild, member.user_id)
        if base_permissions(guild, member.user_id) == Perm.ALL:
            raise missing_permissions()
        until = body["communication_disabled_until"]
        member.communication_disabled_until = parse_iso(until) if until else None
    for flag, perm in (("mute", Perm.MUTE_MEMBERS), ("deaf", Perm.DEAFEN_MEMBERS)):
        if flag in body:
            _require(world, guild, perm)
            setattr(member, flag, bool(body[flag]))
    world.member_updated(guild, member)
    return member.payload(world)


@route("PATCH", "/guilds/{guild_id}/members/@me")
async def edit_my_member(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    member = guild.members[world.bot_user_id]
    body = ctx.json()
    if "nick" in body:
        _require(world, guild, Perm.CHANGE_NICKNAME)
        member.nick = body["nick"] or None
    world.member_updated(guild, member)
    return member.payload(world)


@route("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def add_member_role(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    member = _member(ctx, guild)
    role_id = ctx.id("role_id")
    if role_id not in guild.roles:
        raise unknown("role")
    if role_id in member.roles or role_id == guild.everyone_role_id:
        _require(ctx.world, guild, Perm.MANAGE_ROLES)
        return None
    _apply_member_roles(ctx, guild, member, [*member.roles, role_id])
    ctx.world.member_updated(guild, member)
    return None


@route("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}")
async def remove_member_role(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    member = _member(ctx, guild)
    role_id = ctx.id("role_id")
    if role_id not in guild.roles:
        raise unknown("role")
    if role_id not in member.roles:
        _require(ctx.world, guild, Perm.MANAGE_ROLES)
        return None
    _apply_member_roles(ctx, guild, member, [r for r in member.roles if r != role_id])
    ctx.world.member_updated(guild, member)
    return None


@route("DELETE", "/guilds/{guild_id}/members/{user_id}")
async def kick_member(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    member = _member(ctx, guild)
    _require(world, guild, Perm.KICK_MEMBERS)
    _check_member_below_bot(world, guild, member.user_id)
    world.remove_member(guild, member.user_id)
    return None


# -- roles -------------------------------------------------------------------------------------


def _role(ctx: Ctx, guild: TwinGuild) -> TwinRole:
    role = guild.roles.get(ctx.id("role_id"))
    if role is None:
        raise unknown("role")
    return role


@route("GET", "/guilds/{guild_id}/roles")
async def list_roles(ctx: Ctx) -> Any:
    return [r.payload() for r in _guild(ctx).roles_sorted()]


@route("GET", "/guilds/{guild_id}/roles/{role_id}")
async def get_role(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    return _role(ctx, guild).payload()


def _apply_role_fields(ctx: Ctx, guild: TwinGuild, role: TwinRole, body: dict[str, Any]) -> None:
    if "name" in body and body["name"] is not None:
        check(
            1 <= len(body["name"]) <= 100,
            "name",
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 100 in length.",
        )
        role.name = body["name"]
    if "permissions" in body and body["permissions"] is not None:
        perms = _perm_int(body["permissions"], "permissions")
        _check_grantable(ctx.world, guild, perms & ~role.permissions)
        role.permissions = perms
    if "color" in body and body["color"] is not None:
        role.color = int(body["color"])
    if body.get("colors"):
        role.color = int(body["colors"].get("primary_color") or 0)
    if "hoist" in body and body["hoist"] is not None:
        role.hoist = bool(body["hoist"])
    if "mentionable" in body and body["mentionable"] is not None:
        role.mentionable = bool(body["mentionable"])
    if "unicode_emoji" in body:
        role.unicode_emoji = body["unicode_emoji"]


@route("POST", "/guilds/{guild_id}/roles")
async def create_role(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_ROLES)
    if len(guild.roles) >= 250:
        raise ApiError(400, 30005, "Maximum number of guild roles reached (250)")
    body = ctx.json()
    role = TwinRole(world.new_id(), guild.id, "new role")
    _apply_role_fields(ctx, guild, role, body)
    world.create_role(guild, role, 1)
    return role.payload()


@route("PATCH", "/guilds/{guild_id}/roles/{role_id}")
async def edit_role(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_ROLES)
    role = _role(ctx, guild)
    _check_role_below_bot(world, guild, role)
    _apply_role_fields(ctx, guild, role, ctx.json())
    world.update_role(guild, role)
    return role.payload()


@route("DELETE", "/guilds/{guild_id}/roles/{role_id}")
async def delete_role(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_ROLES)
    role = _role(ctx, guild)
    if role.id == guild.everyone_role_id:
        raise ApiError(400, 50028, "Invalid Role")
    if role.managed:
        raise ApiError(400, 50028, "Invalid Role")
    _check_role_below_bot(world, guild, role)
    world.delete_role(guild, role)
    return None


@route("PATCH", "/guilds/{guild_id}/roles")
async def reorder_roles(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_ROLES)
    items = ctx.body or []
    top = guild.top_position(world.bot_user_id)
    moves = []
    for item in items:
        role = guild.roles.get(int(item["id"]))
        if role is None:
            raise unknown("role")
        position = int(item.get("position") or 0)
        if role.id == guild.everyone_role_id:
            continue
        if role.position >= top or position >= top:
            raise missing_permissions()
        moves.append((role, position))
    for role, position in sorted(moves, key=lambda m: m[1]):
        world.move_role(guild, role, position)
    return [r.payload() for r in guild.roles_sorted()]


# -- scheduled events --------------------------------------------------------------------------

EVENTS = "/guilds/{guild_id}/scheduled-events"


def _event(ctx: Ctx, guild: TwinGuild) -> dict[str, Any]:
    event = guild.scheduled_events.get(ctx.id("guild_scheduled_event_id"))
    if event is None:
        raise unknown("scheduled_event")
    return event


def _event_fields(
    ctx: Ctx, guild: TwinGuild, event: dict[str, Any], body: dict[str, Any], creating: bool
) -> None:
    for key in ("name", "description", "privacy_level", "entity_type", "recurrence_rule", "image"):
        if key in body:
            event[key] = body[key]
    if "channel_id" in body:
        event["channel_id"] = None if body["channel_id"] is None else str(body["channel_id"])
    if "entity_metadata" in body:
        event["entity_metadata"] = body["entity_metadata"]
    for key in ("scheduled_start_time", "scheduled_end_time"):
        if key in body:
            raw = body[key]
            try:
                event[key] = iso(parse_iso(raw)) if raw else None
            except (TypeError, ValueError):
                raise invalid_form(
                    {key: ("DATE_TIME_TYPE_PARSE", f"Could not parse {raw}.")}
                ) from None
    name = event.get("name") or ""
    check(
        1 <= len(name) <= 100,
        "name",
        "BASE_TYPE_BAD_LENGTH",
        "Must be between 1 and 100 in length.",
    )
    check(
        len(event.get("description") or "") <= 1000,
        "description",
        "BASE_TYPE_MAX_LENGTH",
        "Must be 1000 or fewer in length.",
    )
    start = parse_iso(event["scheduled_start_time"]) if event.get("scheduled_start_time") else None
    check(start is not None, "scheduled_start_time", "BASE_TYPE_REQUIRED", "This field is required")
    assert start is not None
    if creating or "scheduled_start_time" in body:
        check(
            start > utcnow() - dt.timedelta(seconds=1),
            "scheduled_start_time",
            "GUILD_SCHEDULED_EVENT_SCHEDULED_START_TIME_IN_PAST",
            "Cannot schedule event in the past.",
        )
    end = event.get("scheduled_end_time")
    if end is not None:
        check(
            parse_iso(end) > start,
            "scheduled_end_time",
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "End time must be after start time.",
        )
    kind = event.get("entity_type")
    check(kind in (1, 2, 3), "entity_type", "BASE_TYPE_CHOICES", "Value must be one of {1, 2, 3}.")
    if kind == 3:
        location = (event.get("entity_metadata") or {}).get("location")
        check(
            bool(location),
            "entity_metadata.location",
            "BASE_TYPE_REQUIRED",
            "This field is required",
        )
        check(end is not None, "scheduled_end_time", "BASE_TYPE_REQUIRED", "This field is required")
        check(
            event.get("channel_id") is None,
            "channel_id",
            "GUILD_SCHEDULED_EVENT_INVALID",
            "External events cannot have a channel",
        )
    else:
        channel_id = event.get("channel_id")
        channel = guild.channels.get(int(channel_id)) if channel_id else None
        check(
            channel is not None and channel.type in (2, 13),
            "channel_id",
            "CHANNEL_TYPE_INVALID",
            "Voice or stage channel required",
        )


@route("GET", EVENTS)
async def list_events(ctx: Ctx) -> Any:
    return list(_guild(ctx).scheduled_events.values())


@route("POST", EVENTS)
async def create_event(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    perms = _bot_perms(world, guild)
    if not perms & (Perm.MANAGE_EVENTS | Perm.CREATE_EVENTS):
        raise missing_permissions()
    body = ctx.json()
    event_id = world.new_id()
    event: dict[str, Any] = {
        "id": str(event_id),
        "guild_id": str(guild.id),
        "channel_id": None,
        "creator_id": str(world.bot_user_id),
        "name": "",
        "description": None,
        "scheduled_start_time": None,
        "scheduled_end_time": None,
        "privacy_level": 2,
        "status": 1,
        "entity_type": None,
        "entity_id": None,
        "entity_metadata": None,
        "creator": world.bot_user.payload(),
        "user_count": 0,
        "image": None,
        "recurrence_rule": None,
        "sku_ids": [],
    }
    _event_fields(ctx, guild, event, body, creating=True)
    if len(guild.scheduled_events) >= 100:
        raise ApiError(400, 30038, "Maximum number of uncompleted guild scheduled events reached")
    guild.scheduled_events[event_id] = event
    world.emit(
        "GUILD_SCHEDULED_EVENT_CREATE",
        copy.deepcopy(event),
        guild.id,
        Intent.GUILD_SCHEDULED_EVENTS,
    )
    return event


@route("GET", EVENTS + "/{guild_scheduled_event_id}")
async def get_event(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    return _event(ctx, guild)


VALID_STATUS = {1: {2, 4}, 2: {3}}


@route("PATCH", EVENTS + "/{guild_scheduled_event_id}")
async def edit_event(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_EVENTS)
    event = _event(ctx, guild)
    body = ctx.json()
    updated = copy.deepcopy(event)
    if "status" in body and body["status"] != event["status"]:
        check(
            body["status"] in VALID_STATUS.get(event["status"], set()),
            "status",
            "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
            "Invalid status transition",
        )
        updated["status"] = body["status"]
    if body.get("entity_type") == 3 and "channel_id" not in body:
        updated["channel_id"] = None
    _event_fields(ctx, guild, updated, body, creating=False)
    event.clear()
    event.update(updated)
    world.emit(
        "GUILD_SCHEDULED_EVENT_UPDATE",
        copy.deepcopy(event),
        guild.id,
        Intent.GUILD_SCHEDULED_EVENTS,
    )
    # completed (3) and cancelled (4) events stay retrievable, as on Discord (for a while)
    return event


@route("DELETE", EVENTS + "/{guild_scheduled_event_id}")
async def delete_event(ctx: Ctx) -> Any:
    world = ctx.world
    guild = _guild(ctx)
    _require(world, guild, Perm.MANAGE_EVENTS)
    event = _event(ctx, guild)
    del guild.scheduled_events[int(event["id"])]
    world.emit(
        "GUILD_SCHEDULED_EVENT_DELETE",
        copy.deepcopy(event),
        guild.id,
        Intent.GUILD_SCHEDULED_EVENTS,
    )
    return None


@route("GET", EVENTS + "/{guild_scheduled_event_id}/users")
async def event_users(ctx: Ctx) -> Any:
    guild = _guild(ctx)
    _event(ctx, guild)
    return []
