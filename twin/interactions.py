"""Interactions: what a user's click/command/modal looks like to the bot, and the bot's answers.

``build_*`` functions turn a test's intent ("alice runs /chapter propose city:Chicago") into the
INTERACTION_CREATE payload Discord would send, using the *registered* command definitions and
component trees. The routes at the bottom are the interaction callback and the follow-up webhook.
"""

from __future__ import annotations

import asyncio
import copy
import secrets
from collections.abc import Callable
from typing import Any

from twin.errors import ApiError, TwinError, already_acknowledged, invalid_form, unknown
from twin.messages import (
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    apply_edit,
    find_component,
    new_message,
    validate_content,
)
from twin.permissions import Perm
from twin.router import Ctx, route
from twin.state import TwinChannel, TwinGuild, World

APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
AUTOCOMPLETE = 4
MODAL_SUBMIT = 5

ALLOWED_CALLBACKS = {
    1: {1},
    APPLICATION_COMMAND: {4, 5, 9},
    MESSAGE_COMPONENT: {4, 5, 6, 7, 9},
    AUTOCOMPLETE: {8},
    MODAL_SUBMIT: {4, 5, 6, 7},
}
SELECT_TYPES = {3, 5, 6, 7, 8}
POLL_INTERVAL = 0.005
DM_APP_PERMISSIONS = (
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
)


async def poll_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise TimeoutError(what)
        await asyncio.sleep(POLL_INTERVAL)


class TwinInteraction:
    """One interaction sent to the bot, and everything the bot did to answer it."""

    def __init__(
        self,
        world: World,
        *,
        type: int,
        payload: dict[str, Any],
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        source_message: dict[str, Any] | None = None,
    ) -> None:
        self._world = world
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type = type
        self.payload = payload
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.user_id = user_id
        self.source_message = source_message
        self.created_at = asyncio.get_running_loop().time()
        self.acknowledged = False
        #: the callback body the bot POSTed: ``{"type": N, "data": {...}}``
        self.response_body: dict[str, Any] | None = None
        self.response_type: int | None = None
        self.responded_after: float | None = None
        #: the original response message as it is now (after edits); None if none/deleted
        self.original: dict[str, Any] | None = None
        self.original_deleted = False
        self.followups: list[dict[str, Any]] = []
        self.modal: dict[str, Any] | None = None
        self.choices: list[dict[str, Any]] | None = None
        #: callbacks refused because they arrived after the 3 s deadline
        self.late_callbacks = 0
        self._followups_returned = 0

    def __repr__(self) -> str:
        return (
            f"<TwinInteraction id={self.id} type={self.type} response_type={self.response_type}"
            f" followups={len(self.followups)}>"
        )

    @property
    def ephemeral(self) -> bool:
        return bool(self.original and self.original.get("flags", 0) & FLAG_EPHEMERAL)

    async def response(self, timeout: float = 3.0) -> dict[str, Any]:  # noqa: ASYNC109
        """The callback body (``{"type", "data"}``); TimeoutError if unanswered in ``timeout``."""
        try:
            await poll_until(lambda: self.response_body is not None, timeout, "")
        except TimeoutError:
            note = (
                f" (the bot answered too late {self.late_callbacks} time(s): refused with 10062)"
                if self.late_callbacks
                else ""
            )
            raise TimeoutError(
                f"interaction {self.id} was not answered within {timeout} s{note}"
            ) from None
        assert self.response_body is not None
        return self.response_body

    async def wait_followup(self, timeout: float = 3.0, index: int | None = None) -> dict[str, Any]:  # noqa: ASYNC109
        """The follow-up at ``index`` (default: the next one not yet returned by this method)."""
        wanted = self._followups_returned if index is None else index
        await poll_until(
            lambda: len(self.followups) > wanted,
            timeout,
            f"interaction {self.id}: no follow-up #{wanted} within {timeout} s",
        )
        if index is None:
            self._followups_returned += 1
        return self.followups[wanted]

    async def wait_original(
        self,
        timeout: float = 3.0,  # noqa: ASYNC109
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> dict[str, Any]:
        """The original response once it exists and is no longer "thinking" (or ``predicate``)."""

        def ready() -> bool:
            msg = self.original
            if msg is None:
                return False
            if predicate is not None:
                return predicate(msg)
            return not msg.get("flags", 0) & FLAG_LOADING

        await poll_until(ready, timeout, f"interaction {self.id}: original response not ready")
        assert self.original is not None
        return self.original


# -- building interactions ---------------------------------------------------------------------


def _base_payload(
    world: World,
    ix_type: int,
    guild: TwinGuild | None,
    channel: TwinChannel,
    user_id: int,
    data: dict[str, Any],
) -> dict[str, Any]:
    user = world.user(user_id)
    payload: dict[str, Any] = {
        "id": str(world.new_id()),
        "application_id": str(world.application_id),
        "type": ix_type,
        "data": data,
        "token": "twin-ix-" + secrets.token_urlsafe(24),
        "version": 1,
        "locale": user.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "channel_id": str(channel.id),
    }
    channel_payload = channel.payload(world)
    if guild is not None:
        if user_id not in guild.members:
            raise TwinError(f"user {user_id} is not a member of guild {guild.id}")
        user_perms = guild.channel_permissions_of(user_id, channel.id)
        if not user_perms & Perm.VIEW_CHANNEL:
            raise TwinError(f"user {user_id} cannot see channel {channel.id}")
        member = guild.members[user_id].payload(world)
        member["permissions"] = str(user_perms)
        channel_payload["permissions"] = str(user_perms)
        payload.update(
            {
                "guild_id": str(guild.id),
                "guild": {
                    "id": str(guild.id),
                    "locale": guild.preferred_locale,
                    "features": list(guild.features),
                },
                "guild_locale": guild.preferred_locale,
                "member": member,
                "app_permissions": str(guild.channel_permissions_of(world.bot_user_id, channel.id)),
                "authorizing_integration_owners": {"0": str(guild.id)},
                "context": 0,
            }
        )
    else:
        payload.update(
            {
                "user": user.payload(),
                "app_permissions": str(DM_APP_PERMISSIONS),
                "authorizing_integration_owners": {"0": "0"},
                "context": 1,
            }
        )
    payload["channel"] = channel_payload
    return payload


def _where(
    world: World, guild_id: int | None, channel_id: int | None, user_id: int
) -> tuple[TwinGuild | None, TwinChannel]:
    if guild_id is None:
        channel = world.dm_channel(user_id) if channel_id is None else world.channel(channel_id)
        return None, channel
    guild = world.guild(guild_id)
    if channel_id is None:
        if guild.system_channel_id is None:
            raise TwinError("give a channel_id")
        channel_id = guild.system_channel_id
    channel = world.channel(channel_id)
    if channel.guild_id != guild.id:
        raise TwinError(f"channel {channel_id} is not in guild {guild_id}")
    return guild, channel


def find_command(
    world: World, guild_id: int | None, name: str, command_type: int = 1
) -> dict[str, Any]:
    candidates: list[dict[str, Any]] = []
    if guild_id is not None:
        candidates.extend(world.guild_commands.get(guild_id, {}).values())
    candidates.extend(world.global_commands.values())
    for command in candidates:
        if command["name"] == name and command.get("type", 1) == command_type:
            return command
    registered = sorted({c["name"] for c in candidates})
    raise TwinError(
        f"no registered command {name!r} (type {command_type}) for guild {guild_id}; "
        f"registered: {registered}"
    )


class _Resolved:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def add(self, kind: str, key: str, value: dict[str, Any]) -> None:
        self.data.setdefault(kind, {})[key] = value

    def add_user(
        self, world: World, guild: TwinGuild | None, channel: TwinChannel, uid: int
    ) -> None:
        user = world.user(uid)
        self.add("users", str(uid), user.payload())
        if guild is not None and uid in guild.members:
            member = guild.members[uid].payload(world, with_user=False)
            member["permissions"] = str(guild.channel_permissions_of(uid, channel.id))
            self.add("members", str(uid), member)

    def add_role(self, guild: TwinGuild | None, rid: int) -> None:
        if guild is None or rid not in guild.roles:
            raise TwinError(f"no role {rid} in this guild")
        self.add("roles", str(rid), guild.roles[rid].payload())

    def add_channel(
        self,
        world: World,
        guild: TwinGuild | None,
        user_id: int,
        cid: int,
        channel_types: list[int] | None,
    ) -> None:
        channel = world.channels.get(cid)
        if channel is None or guild is None or channel.guild_id != guild.id:
            raise TwinError(f"no channel {cid} in this guild")
        if channel_types and channel.type not in channel_types:
            raise TwinError(f"channel {cid} has type {channel.type}, option allows {channel_types}")
        self.add(
            "channels",
            str(cid),
            {
                "id": str(cid),
                "name": channel.name,
                "type": channel.type,
                "permissions": str(guild.channel_permissions_of(user_id, cid)),
                "parent_id": None if channel.parent_id is None else str(channel.parent_id),
                "guild_id": str(guild.id),
                "flags": 0,
            },
        )


def _option_value(
    world: World,
    guild: TwinGuild | None,
    channel: TwinChannel,
    user_id: int,
    spec: dict[str, Any],
    value: Any,
    resolved: _Resolved,
) -> Any:
    kind = spec["type"]
    name = spec["name"]

    def bad(why: str) -> TwinError:
        return TwinError(f"option {name!r}: {why}")

    if kind == 3:
        if not isinstance(value, str):
            raise bad(f"expected a string, got {value!r}")
        if "min_length" in spec and len(value) < spec["min_length"]:
            raise bad(f"shorter than min_length {spec['min_length']}")
        if "max_length" in spec and len(value) > spec["max_length"]:
            raise bad(f"longer than max_length {spec['max_length']}")
    elif kind in (4, 10):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad(f"expected a number, got {value!r}")
        if kind == 4 and not float(value).is_integer():
            raise bad(f"expected an integer, got {value!r}")
        value = int(value) if kind == 4 else float(value)
        if spec.get("min_value") is not None and value < spec["min_value"]:
            raise bad(f"below min_value {spec['min_value']}")
        if spec.get("max_value") is not None and value > spec["max_value"]:
            raise bad(f"above max_value {spec['max_value']}")
    elif kind == 5:
        if not isinstance(value, bool):
            raise bad(f"expected a bool, got {value!r}")
    elif kind == 6:
        resolved.add_user(world, guild, channel, int(value))
        value = str(int(value))
    elif kind == 7:
        resolved.add_channel(world, guild, user_id, int(value), spec.get("channel_types"))
        value = str(int(value))
    elif kind == 8:
        resolved.add_role(guild, int(value))
        value = str(int(value))
    elif kind == 9:
        ident = int(value)
        if ident in world.users:
            resolved.add_user(world, guild, channel, ident)
        else:
            resolved.add_role(guild, ident)
        value = str(ident)
    elif kind == 11:
        if not isinstance(value, tuple) or len(value) not in (2, 3):
            raise bad("attachments are given as (filename, bytes) or (filename, bytes, type)")
        filename, data = value[0], value[1]
        content_type = value[2] if len(value) == 3 else "application/octet-stream"
        att = world.store_attachment(channel.id, filename, content_type, data)
        resolved.add("attachments", att["id"], att)
        value = att["id"]
    choices = spec.get("choices")
    if choices and kind in (3, 4, 10) and value not in [c["value"] for c in choices]:
        raise bad(f"{value!r} is not one of the choices {[c['value'] for c in choices]}")
    return value


def build_command_interaction(
    world: World,
    guild_id: int | None,
    channel_id: int | None,
    user_id: int,
    name: str,
    *,
    subcommand: str | None,
    group: str | None,
    options: dict[str, Any],
    focused: str | None = None,
    check_permissions: bool = True,
) -> TwinInteraction:
    guild, channel = _where(world, guild_id, channel_id, user_id)
    command = find_command(world, guild.id if guild else None, name)
    contexts = command.get("contexts")
    context = 0 if guild else 1
    if contexts is not None and context not in contexts:
        raise TwinError(f"command {name!r} is not available in context {context}")
    if guild is None and command.get("guild_id"):
        raise TwinError(f"guild command {name!r} cannot be used in DMs")
    needed = command.get("default_member_permissions")
    if check_permissions and guild is not None and needed is not None:
        perms = guild.permissions_of(user_id)
        bits = int(needed)
        if not (perms == Perm.ALL if bits == 0 else perms & bits == bits):
            raise TwinError(
                f"user {user_id} lacks default_member_permissions {needed} for /{name}; "
                "pass check_permissions=False to simulate an admin's override"
            )
    defs: list[dict[str, Any]] = command.get("options") or []
    path: list[dict[str, Any]] = []
    if group is not None:
        group_def = next((o for o in defs if o["type"] == 2 and o["name"] == group), None)
        if group_def is None:
            raise TwinError(f"/{name} has no subcommand group {group!r}")
        path.append({"name": group, "type": 2})
        defs = group_def.get("options") or []
    if subcommand is not None:
        sub_def = next((o for o in defs if o["type"] == 1 and o["name"] == subcommand), None)
        if sub_def is None:
            subs = [o["name"] for o in defs if o["type"] == 1]
            raise TwinError(f"/{name} has no subcommand {subcommand!r}; it has {subs}")
        path.append({"name": subcommand, "type": 1})
        defs = sub_def.get("options") or []
    elif any(o["type"] in (1, 2) for o in defs):
        raise TwinError(f"/{name} needs a subcommand (and maybe a group)")
    known = {o["name"]: o for o in defs}
    for key in options:
        if key not in known:
            raise TwinError(f"/{name}: unknown option {key!r}; options are {list(known)}")
    resolved = _Resolved()
    values: list[dict[str, Any]] = []
    for spec in defs:
        if spec["name"] == focused:
            values.append(
                {
                    "name": spec["name"],
                    "type": spec["type"],
                    "value": str(options.get(spec["name"], "")),
                    "focused": True,
                }
            )
            continue
        if spec["name"] not in options:
            if spec.get("required") and focused is None:
                raise TwinError(f"/{name}: required option {spec['name']!r} missing")
            continue
        value = _option_value(world, guild, channel, user_id, spec, options[spec["name"]], resolved)
        values.append({"name": spec["name"], "type": spec["type"], "value": value})
    if focused is not None and focused not in known:
        raise TwinError(f"/{name}: focused option {focused!r} is not an option")
    tree: list[dict[str, Any]] = values
    for level in reversed(path):
        tree = [dict(level, options=tree)]
    data: dict[str, Any] = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": tree,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved.data:
        data["resolved"] = resolved.data
    ix_type = AUTOCOMPLETE if focused is not None else APPLICATION_COMMAND
    payload = _base_payload(world, ix_type, guild, channel, user_id, data)
    return _register(world, ix_type, payload, guild, channel, user_id, None)


def build_context_menu_interaction(
    world: World,
    guild_id: int | None,
    channel_id: int | None,
    user_id: int,
    name: str,
    *,
    target_user_id: int | None,
    target_message_id: int | None,
) -> TwinInteraction:
    """A user (type 2) or message (type 3) context-menu command on a target."""
    if (target_user_id is None) == (target_message_id is None):
        raise TwinError("give exactly one of target_user_id / target_message_id")
    guild, channel = _where(world, guild_id, channel_id, user_id)
    kind = 2 if target_user_id is not None else 3
    command = find_command(world, guild.id if guild else None, name, kind)
    resolved = _Resolved()
    if target_user_id is not None:
        resolved.add_user(world, guild, channel, target_user_id)
        target = str(target_user_id)
    else:
        assert target_message_id is not None
        message = world.find_message(target_message_id)
        resolved.add("messages", message["id"], copy.deepcopy(message))
        target = message["id"]
    data: dict[str, Any] = {
        "id": command["id"],
        "name": command["name"],
        "type": kind,
        "target_id": target,
        "resolved": resolved.data,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    payload = _base_payload(world, APPLICATION_COMMAND, guild, channel, user_id, data)
    return _register(world, APPLICATION_COMMAND, payload, guild, channel, user_id, None)


def _register(
    world: World,
    ix_type: int,
    payload: dict[str, Any],
    guild: TwinGuild | None,
    channel: TwinChannel,
    user_id: int,
    source: dict[str, Any] | None,
) -> TwinInteraction:
    ix = TwinInteraction(
        world,
        type=ix_type,
        payload=payload,
        guild_id=guild.id if guild else None,
        channel_id=channel.id,
        user_id=user_id,
        source_message=source,
    )
    world.interactions[ix.id] = ix
    world.interactions_by_token[ix.token] = ix
    return ix


def _owner_interaction(world: World, message: dict[str, Any]) -> TwinInteraction | None:
    meta = message.get("interaction_metadata")
    if not meta:
        return None
    return world.interactions.get(int(meta["id"]))


def build_component_interaction(
    world: World,
    message_id: int,
    custom_id: str,
    user_id: int,
    values: list[Any] | None,
) -> TwinInteraction:
    message = world.find_message(message_id)
    component = find_component(message.get("components") or [], custom_id)
    if component is None:
        raise TwinError(f"message {message_id} has no component with custom_id {custom_id!r}")
    if component.get("disabled"):
        raise TwinError(f"component {custom_id!r} is disabled")
    channel = world.channel(int(message["channel_id"]))
    guild = world.guild_of(channel)
    if world.is_ephemeral(message):
        owner = _owner_interaction(world, message)
        if owner is not None and owner.user_id != user_id:
            raise TwinError("only the user who got an ephemeral message can click on it")
    if guild is None and channel.recipient_ids and user_id not in channel.recipient_ids:
        raise TwinError(f"user {user_id} cannot see DM channel {channel.id}")
    ctype = component["type"]
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
    if ctype == 2:
        if values is not None:
            raise TwinError(f"{custom_id!r} is a button; do not pass values")
        if component.get("style") in (5, 6):
            raise TwinError(f"{custom_id!r} is a link/premium button and sends no interaction")
    elif ctype in SELECT_TYPES:
        if values is None:
            raise TwinError(f"{custom_id!r} is a select menu; pass values=[...]")
        low = component.get("min_values", 1)
        high = component.get("max_values", 1)
        if not low <= len(values) <= high:
            raise TwinError(f"select {custom_id!r} takes {low}..{high} values, got {len(values)}")
        resolved = _Resolved()
        if ctype == 3:
            allowed = [o["value"] for o in component.get("options") or []]
            for v in values:
                if v not in allowed:
                    raise TwinError(f"{v!r} is not an option of select {custom_id!r}: {allowed}")
            data["values"] = list(values)
        else:
            out = []
            for v in values:
                ident = int(v)
                if ctype == 5 or (ctype == 7 and ident in world.users):
                    resolved.add_user(world, guild, channel, ident)
                elif ctype in (6, 7):
                    resolved.add_role(guild, ident)
                else:
                    resolved.add_channel(
                        world, guild, user_id, ident, component.get("channel_types")
                    )
                out.append(str(ident))
            data["values"] = out
            data["resolved"] = resolved.data
    else:
        raise TwinError(f"component {custom_id!r} (type {ctype}) is not interactive")
    payload = _base_payload(world, MESSAGE_COMPONENT, guild, channel, user_id, data)
    payload["message"] = copy.deepcopy(message)
    return _register(world, MESSAGE_COMPONENT, payload, guild, channel, user_id, message)


def _submitted(
    world: World,
    channel: TwinChannel,
    comp: dict[str, Any],
    values: dict[str, Any],
    used: set[str],
    resolved: _Resolved,
) -> dict[str, Any]:
    ctype = comp["type"]
    custom_id = comp.get("custom_id")
    out: dict[str, Any] = {"type": ctype}
    if comp.get("id") is not None:
        out["id"] = comp["id"]
    if custom_id is None:
        return out
    out["custom_id"] = custom_id
    given = custom_id in values
    if given:
        used.add(custom_id)
    value = values.get(custom_id)
    if ctype == 4:
        text = value if given else (comp.get("value") or "")
        if not isinstance(text, str):
            raise TwinError(f"text input {custom_id!r} takes a string")
        if comp.get("required", True) and not text:
            raise TwinError(f"text input {custom_id!r} is required")
        if text and len(text) < comp.get("min_length", 0):
            raise TwinError(f"text input {custom_id!r} is shorter than {comp['min_length']}")
        if len(text) > comp.get("max_length", 4000):
            raise TwinError(f"text input {custom_id!r} is longer than {comp.get('max_length')}")
        out["value"] = text
    elif ctype in SELECT_TYPES or ctype == 22:
        out["values"] = [str(v) for v in (value or [])]
        if comp.get("required", True) and not out["values"] and comp.get("min_values", 1) > 0:
            raise TwinError(f"{custom_id!r} is required")
    elif ctype == 19:
        ids = []
        for item in value or []:
            att = world.store_attachment(channel.id, item[0], "application/octet-stream", item[1])
            resolved.add("attachments", att["id"], att)
            ids.append(att["id"])
        out["values"] = ids
    elif ctype == 21:
        out["value"] = value
    elif ctype == 23:
        out["value"] = bool(value)
    return out


def build_modal_submit(
    world: World, parent: TwinInteraction, user_id: int, values: dict[str, Any]
) -> TwinInteraction:
    modal = parent.modal
    if modal is None:
        raise TwinError(f"interaction {parent.id} was not answered with a modal")
    channel = world.channel(parent.channel_id)
    guild = world.guild_of(channel)
    used: set[str] = set()
    resolved = _Resolved()
    components: list[dict[str, Any]] = []
    for comp in modal.get("components") or []:
        if comp["type"] == 1:
            row: dict[str, Any] = {
                "type": 1,
                "components": [
                    _submitted(world, channel, c, values, used, resolved)
                    for c in comp.get("components") or []
                ],
            }
            if comp.get("id") is not None:
                row["id"] = comp["id"]
            components.append(row)
        elif comp["type"] == 18:
            label: dict[str, Any] = {
                "type": 18,
                "component": _submitted(world, channel, comp["component"], values, used, resolved),
            }
            if comp.get("id") is not None:
                label["id"] = comp["id"]
            components.append(label)
        elif comp["type"] == 10:
            components.append({"type": 10, **({"id": comp["id"]} if "id" in comp else {})})
    unknown_keys = set(values) - used
    if unknown_keys:
        raise TwinError(f"modal {modal.get('custom_id')!r} has no fields {sorted(unknown_keys)}")
    data: dict[str, Any] = {"custom_id": modal["custom_id"], "components": components}
    if resolved.data:
        data["resolved"] = resolved.data
    payload = _base_payload(world, MODAL_SUBMIT, guild, channel, user_id, data)
    source = parent.source_message
    if source is not None:
        payload["message"] = copy.deepcopy(source)
    return _register(world, MODAL_SUBMIT, payload, guild, channel, user_id, source)


# -- the bot's answers -------------------------------------------------------------------------


def _metadata(world: World, ix: TwinInteraction) -> dict[str, Any]:
    user = world.users[ix.user_id].payload()
    meta: dict[str, Any] = {
        "id": str(ix.id),
        "type": ix.type,
        "user": user,
        "authorizing_integration_owners": ix.payload.get("authorizing_integration_owners", {}),
    }
    extra: dict[str, Any] = {
        "application_id": str(world.application_id),
        "interaction_metadata": meta,
    }
    if ix.type == APPLICATION_COMMAND:
        meta["name"] = ix.payload["data"]["name"]
        meta["command_type"] = ix.payload["data"].get("type", 1)
        extra["interaction"] = {
            "id": str(ix.id),
            "type": ix.type,
            "name": meta["name"],
            "user": user,
        }
    elif ix.source_message is not None:
        meta["interacted_message_id"] = ix.source_message["id"]
    return extra


def _interaction_message(
    ctx: Ctx, ix: TwinInteraction, body: dict[str, Any], *, followup: bool = False
) -> dict[str, Any]:
    world = ctx.world
    channel = world.channel(ix.channel_id)
    message_type = 20 if ix.type == APPLICATION_COMMAND and not followup else 19
    if followup:
        message_type = 0
    return new_message(
        world,
        channel,
        world.bot_user_id,
        body,
        ctx.files,
        message_type=message_type,
        webhook_id=world.application_id,
        extra=_metadata(world, ix),
    )


def _publish_edit(world: World, message: dict[str, Any]) -> None:
    if not world.is_ephemeral(message) and int(message["id"]) in world.message_index:
        world.message_event(message, "MESSAGE_UPDATE")


@route(
    "POST",
    "/interactions/{interaction_id}/{interaction_token}/callback",
    auth=False,
    global_limited=False,
)
async def interaction_callback(ctx: Ctx) -> Any:
    world = ctx.world
    ix = world.interactions.get(ctx.id("interaction_id"))
    if ix is None or ix.token != ctx.params["interaction_token"]:
        raise unknown("interaction")
    if ix.acknowledged:
        raise already_acknowledged()
    elapsed = asyncio.get_running_loop().time() - ix.created_at
    if elapsed > ctx.twin.interaction_timeout:
        ix.late_callbacks += 1
        raise unknown("interaction")
    body = ctx.json()
    kind = body.get("type")
    if kind not in ALLOWED_CALLBACKS.get(ix.type, set()) or (
        kind in (6, 7) and ix.source_message is None
    ):
        raise invalid_form(
            {
                "type": (
                    "INTERACTION_RESPONSE_TYPE_INVALID",
                    f"Response type {kind} is not valid for this interaction",
                )
            }
        )
    data = body.get("data") or {}
    info: dict[str, Any] = {
        "id": str(ix.id),
        "type": ix.type,
        "response_message_loading": False,
        "response_message_ephemeral": False,
    }
    resource: dict[str, Any] = {"type": kind}
    if kind == 4:
        validate_content(data, ctx.files, creating=True)
        message = _interaction_message(ctx, ix, data)
        ephemeral = world.is_ephemeral(message)
        world.store_message(message, ephemeral=ephemeral)
        ix.original = message
        resource["message"] = message
        info.update(response_message_id=message["id"], response_message_ephemeral=ephemeral)
    elif kind == 5:
        flags = FLAG_LOADING | (int(data.get("flags") or 0) & FLAG_EPHEMERAL)
        message = _interaction_message(ctx, ix, {"content": "", "flags": flags})
        message["flags"] = flags
        ephemeral = bool(flags & FLAG_EPHEMERAL)
        world.store_message(message, ephemeral=ephemeral)
        ix.original = message
        resource["message"] = message
        info.update(
            response_message_id=message["id"],
            response_message_loading=True,
            response_message_ephemeral=ephemeral,
        )
    elif kind in (6, 7):
        source = ix.source_message
        assert source is not None
        if kind == 7:
            validate_content(data, ctx.files, creating=False)
            apply_edit(world, source, data, ctx.files)
            _publish_edit(world, source)
            resource["message"] = source
        ix.original = source
        info.update(response_message_id=source["id"])
    elif kind == 8:
        choices = data.get("choices") or []
        if len(choices) > 25:
            raise invalid_form(
                {"data.choices": ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")}
            )
        ix.choices = choices
    elif kind == 9:
        if not data.get("custom_id") or not data.get("title") or not data.get("components"):
            raise invalid_form({"data": ("BASE_TYPE_REQUIRED", "This field is required")})
        ix.modal = copy.deepcopy(data)
    ix.acknowledged = True
    ix.response_body = copy.deepcopy(body)
    ix.response_type = kind
    ix.responded_after = elapsed
    return {"interaction": info, "resource": resource}


def _webhook_interaction(ctx: Ctx) -> TwinInteraction:
    world = ctx.world
    if ctx.params["webhook_id"] != str(world.application_id):
        raise unknown("webhook")
    ix = world.interactions_by_token.get(ctx.params["webhook_token"])
    if ix is None or not ix.acknowledged:
        raise unknown("webhook")
    if asyncio.get_running_loop().time() - ix.created_at > ctx.twin.followup_ttl:
        raise ApiError(401, 50027, "Invalid Webhook Token")
    return ix


def _webhook_target(ctx: Ctx, ix: TwinInteraction, message_id: str) -> dict[str, Any]:
    if message_id == "@original":
        if ix.original is None:
            raise unknown("message")
        return ix.original
    for msg in [ix.original, *ix.followups]:
        if msg is not None and msg["id"] == message_id:
            return msg
    raise unknown("message")


@route("POST", "/webhooks/{webhook_id}/{webhook_token}", auth=False, global_limited=False)
async def execute_webhook(ctx: Ctx) -> Any:
    world = ctx.world
    ix = _webhook_interaction(ctx)
    body = ctx.json()
    validate_content(body, ctx.files, creating=True)
    original = ix.original
    if original is not None and original.get("flags", 0) & FLAG_LOADING:
        # the first follow-up after a deferral replaces the "thinking…" message
        apply_edit(world, original, body, ctx.files)
        message = original
        _publish_edit(world, message)
    else:
        message = _interaction_message(ctx, ix, body, followup=True)
        world.store_message(message, ephemeral=world.is_ephemeral(message))
    ix.followups.append(message)
    if ctx.query.get("wait", "").lower() in ("true", "1"):
        return message
    return None


async def _edit_webhook_message(ctx: Ctx, message_id: str) -> Any:
    ix = _webhook_interaction(ctx)
    message = _webhook_target(ctx, ix, message_id)
    body = ctx.json()
    validate_content(body, ctx.files, creating=False)
    apply_edit(ctx.world, message, body, ctx.files)
    _publish_edit(ctx.world, message)
    return message


async def _delete_webhook_message(ctx: Ctx, message_id: str) -> Any:
    ix = _webhook_interaction(ctx)
    message = _webhook_target(ctx, ix, message_id)
    ctx.world.delete_message(message)
    if message is ix.original:
        ix.original = None
        ix.original_deleted = True
    return None


ORIGINAL = "/webhooks/{webhook_id}/{webhook_token}/messages/@original"
BY_ID = "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"


@route("GET", ORIGINAL, auth=False, global_limited=False)
async def get_original(ctx: Ctx) -> Any:
    return _webhook_target(ctx, _webhook_interaction(ctx), "@original")


@route("PATCH", ORIGINAL, auth=False, global_limited=False)
async def edit_original(ctx: Ctx) -> Any:
    return await _edit_webhook_message(ctx, "@original")


@route("DELETE", ORIGINAL, auth=False, global_limited=False)
async def delete_original(ctx: Ctx) -> Any:
    return await _delete_webhook_message(ctx, "@original")


@route("GET", BY_ID, auth=False, global_limited=False)
async def get_followup(ctx: Ctx) -> Any:
    return _webhook_target(ctx, _webhook_interaction(ctx), ctx.params["message_id"])


@route("PATCH", BY_ID, auth=False, global_limited=False)
async def edit_followup(ctx: Ctx) -> Any:
    return await _edit_webhook_message(ctx, ctx.params["message_id"])


@route("DELETE", BY_ID, auth=False, global_limited=False)
async def delete_followup(ctx: Ctx) -> Any:
    return await _delete_webhook_message(ctx, ctx.params["message_id"])
