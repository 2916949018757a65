"""The twin's world: users, guilds (roles, channels, members, scheduled events), messages.

Internal state uses ``int`` ids and small dataclasses; ``payload()`` methods render Discord's JSON
(snowflakes as strings). Mutations that Discord would announce call ``World.emit`` so connected
bots receive the matching gateway events.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.errors import TwinError
from twin.permissions import Perm, base_permissions, channel_permissions
from twin.snowflake import SnowflakeGenerator, iso, utcnow

if TYPE_CHECKING:
    from twin.interactions import TwinInteraction

#: event name, data, guild id (None: not a guild event), intent bit (None: always sent)
EmitFn = Callable[[str, dict[str, Any], "int | None", "int | None"], None]


class Intent:
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT


class ChannelType:
    GUILD_TEXT = 0
    DM = 1
    GUILD_VOICE = 2
    GROUP_DM = 3
    GUILD_CATEGORY = 4
    GUILD_ANNOUNCEMENT = 5
    PUBLIC_THREAD = 11
    PRIVATE_THREAD = 12
    GUILD_STAGE_VOICE = 13
    GUILD_FORUM = 15
    GUILD_MEDIA = 16


GUILD_CHANNEL_TYPES = {0, 2, 4, 5, 13, 15, 16}
TEXT_LIKE = {0, 5, 15, 16}


@dataclass
class TwinUser:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    dms_closed: bool = False
    locale: str = "en-US"

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "collectibles": None,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data


@dataclass
class TwinRole:
    id: int
    guild_id: int
    name: str
    permissions: int = 0
    position: int = 0
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    tags: dict[str, Any] | None = None
    icon: str | None = None
    unicode_emoji: str | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "description": None,
            "color": self.color,
            "colors": {
                "primary_color": self.color,
                "secondary_color": None,
                "tertiary_color": None,
            },
            "hoist": self.hoist,
            "icon": self.icon,
            "unicode_emoji": self.unicode_emoji,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.tags is not None:
            data["tags"] = dict(self.tags)
        return data


@dataclass
class Overwrite:
    id: int
    type: int  #: 0 role, 1 member
    allow: int = 0
    deny: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "type": self.type,
            "allow": str(self.allow),
            "deny": str(self.deny),
        }


@dataclass
class TwinChannel:
    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    topic: str | None = None
    nsfw: bool = False
    rate_limit_per_user: int = 0
    bitrate: int = 64000
    user_limit: int = 0
    overwrites: dict[int, Overwrite] = field(default_factory=dict)
    recipient_ids: list[int] = field(default_factory=list)
    last_message_id: int | None = None
    #: a thread's members (the bot, its creator, and whoever it added)
    thread_member_ids: list[int] = field(default_factory=list)

    def payload(self, world: World) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "type": self.type,
            "flags": 0,
        }
        if self.type in (ChannelType.DM, ChannelType.GROUP_DM):
            data["last_message_id"] = _opt_str(self.last_message_id)
            data["recipients"] = [world.users[u].payload() for u in self.recipient_ids]
            if self.type == ChannelType.GROUP_DM:
                data["name"] = self.name
            return data
        data.update(
            {
                "guild_id": str(self.guild_id),
                "name": self.name,
                "position": self.position,
                "permission_overwrites": [ow.payload() for ow in self.overwrites.values()],
                "parent_id": _opt_str(self.parent_id),
                "nsfw": self.nsfw,
            }
        )
        if self.type in (ChannelType.PUBLIC_THREAD, ChannelType.PRIVATE_THREAD):
            data["owner_id"] = str(world.bot_user_id)
            data["member_count"] = len(self.thread_member_ids)
            data["message_count"] = len(world.messages.get(self.id, []))
            data["thread_metadata"] = {
                "archived": False,
                "auto_archive_duration": 10080,
                "archive_timestamp": "2026-01-01T00:00:00+00:00",
                "locked": False,
                "invitable": False,
            }
        if self.type in TEXT_LIKE:
            data["topic"] = self.topic
            data["last_message_id"] = _opt_str(self.last_message_id)
            data["rate_limit_per_user"] = self.rate_limit_per_user
        if self.type in (ChannelType.GUILD_FORUM, ChannelType.GUILD_MEDIA):
            data.update(
                {
                    "available_tags": [],
                    "default_reaction_emoji": None,
                    "default_sort_order": None,
                    "default_forum_layout": 0,
                    "default_thread_rate_limit_per_user": 0,
                }
            )
        if self.type in (ChannelType.GUILD_VOICE, ChannelType.GUILD_STAGE_VOICE):
            data.update(
                {
                    "bitrate": self.bitrate,
                    "user_limit": self.user_limit,
                    "rtc_region": None,
                    "last_message_id": _opt_str(self.last_message_id),
                    "rate_limit_per_user": self.rate_limit_per_user,
                }
            )
        return data


@dataclass
class TwinMember:
    user_id: int
    guild_id: int
    roles: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: dt.datetime = field(default_factory=utcnow)
    pending: bool = False
    communication_disabled_until: dt.datetime | None = None
    deaf: bool = False
    mute: bool = False

    def payload(self, world: World, *, with_user: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(r) for r in self.roles],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": self.deaf,
            "mute": self.mute,
            "flags": 0,
            "pending": self.pending,
            "communication_disabled_until": (
                iso(self.communication_disabled_until)
                if self.communication_disabled_until
                else None
            ),
            "avatar_decoration_data": None,
            "collectibles": None,
        }
        if with_user:
            data["user"] = world.users[self.user_id].payload()
        return data


class TwinGuild:
    """A guild in the twin. World-building methods dispatch gateway events to a connected bot."""

    def __init__(self, world: World, guild_id: int, name: str, owner_id: int) -> None:
        self._world = world
        self.id = guild_id
        self.name = name
        self.owner_id = owner_id
        self.everyone_role_id = guild_id
        self.bot_role_id = 0
        self.system_channel_id: int | None = None
        self.roles: dict[int, TwinRole] = {}
        self.channels: dict[int, TwinChannel] = {}
        self.members: dict[int, TwinMember] = {}
        #: scheduled events as Discord payload dicts (string ids), by int id
        self.scheduled_events: dict[int, dict[str, Any]] = {}
        self.preferred_locale = "en-US"
        self.features: list[str] = []

    def __repr__(self) -> str:
        return f"<TwinGuild id={self.id} name={self.name!r}>"

    # -- world building ------------------------------------------------------------------------

    def add_text_channel(
        self, name: str, parent_id: int | None = None, *, topic: str | None = None
    ) -> int:
        return self.add_channel(name, ChannelType.GUILD_TEXT, parent_id=parent_id, topic=topic)

    def add_voice_channel(self, name: str, parent_id: int | None = None) -> int:
        return self.add_channel(name, ChannelType.GUILD_VOICE, parent_id=parent_id)

    def add_category(self, name: str) -> int:
        return self.add_channel(name, ChannelType.GUILD_CATEGORY)

    def add_channel(
        self,
        name: str,
        type: int = ChannelType.GUILD_TEXT,
        *,
        parent_id: int | None = None,
        topic: str | None = None,
        overwrites: Iterable[Overwrite] = (),
    ) -> int:
        channel = TwinChannel(
            id=self._world.new_id(),
            type=type,
            name=name,
            guild_id=self.id,
            position=len([c for c in self.channels.values() if c.type == type]),
            parent_id=parent_id,
            topic=topic,
            overwrites={ow.id: ow for ow in overwrites},
        )
        self._world.add_channel(self, channel)
        return channel.id

    def add_role(
        self,
        name: str,
        permissions: int = 0,
        position: int | None = None,
        *,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> int:
        """A new role, at ``position`` (default 1, just above @everyone; a big number = top)."""
        role = TwinRole(
            id=self._world.new_id(),
            guild_id=self.id,
            name=name,
            permissions=permissions,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        self._world.create_role(self, role, 1 if position is None else position)
        return role.id

    def set_overwrite(
        self,
        channel_id: int,
        target_id: int,
        *,
        allow: int = 0,
        deny: int = 0,
        member: bool = False,
    ) -> None:
        channel = self.channels[channel_id]
        channel.overwrites[target_id] = Overwrite(target_id, 1 if member else 0, allow, deny)
        self._world.emit("CHANNEL_UPDATE", channel.payload(self._world), self.id, Intent.GUILDS)

    # -- lookups -------------------------------------------------------------------------------

    def role_named(self, name: str) -> TwinRole | None:
        return next((r for r in self.roles.values() if r.name == name), None)

    def channel_named(self, name: str) -> TwinChannel | None:
        return next((c for c in self.channels.values() if c.name == name), None)

    def top_position(self, user_id: int) -> int:
        """Position of the member's highest role (0 = only @everyone)."""
        member = self.members.get(user_id)
        if member is None:
            return -1
        return max((self.roles[r].position for r in member.roles if r in self.roles), default=0)

    def permissions_of(self, user_id: int) -> int:
        return base_permissions(self, user_id)

    def channel_permissions_of(self, user_id: int, channel_id: int) -> int:
        return channel_permissions(self, user_id, self.channels[channel_id])

    def roles_sorted(self) -> list[TwinRole]:
        return sorted(self.roles.values(), key=lambda r: (r.position, r.id))

    # -- payloads ------------------------------------------------------------------------------

    def payload(self, *, with_counts: bool = False) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "icon_hash": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "region": "deprecated",
            "afk_channel_id": None,
            "afk_timeout": 300,
            "widget_enabled": False,
            "widget_channel_id": None,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [r.payload() for r in self.roles_sorted()],
            "emojis": [],
            "stickers": [],
            "features": list(self.features),
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": _opt_str(self.system_channel_id),
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_presences": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": self.preferred_locale,
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "nsfw": False,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }
        if with_counts:
            data["approximate_member_count"] = len(self.members)
            data["approximate_presence_count"] = 0
        return data

    def gateway_payload(self, *, include_members: bool, large_threshold: int) -> dict[str, Any]:
        world = self._world
        data = self.payload()
        large = len(self.members) >= large_threshold
        if include_members and not large:
            members = list(self.members.values())
        else:
            members = [m for m in self.members.values() if m.user_id == world.bot_user_id]
        bot_member = self.members.get(world.bot_user_id)
        data.update(
            {
                "joined_at": iso(bot_member.joined_at if bot_member else utcnow()),
                "large": large,
                "unavailable": False,
                "member_count": len(self.members),
                "voice_states": [],
                "members": [m.payload(world) for m in members],
                "channels": [c.payload(world) for c in self.channels.values()],
                "threads": [],
                "presences": [],
                "stage_instances": [],
                "guild_scheduled_events": [
                    copy.deepcopy(e) for e in self.scheduled_events.values()
                ],
                "soundboard_sounds": [],
                "lazy": True,
                "application_command_counts": {},
                "embedded_activities": [],
                "version": 0,
            }
        )
        return data


@dataclass
class StoredAttachment:
    id: int
    filename: str
    content_type: str
    data: bytes


@dataclass
class ReactionState:
    emoji: dict[str, Any]
    users: list[int] = field(default_factory=list)


class World:
    """All the twin's data and the mutations that Discord announces over the gateway."""

    def __init__(self, *, bot_name: str = "chapterbot") -> None:
        self.new_id = SnowflakeGenerator()
        self.emit: EmitFn = lambda event, data, guild_id, intent: None
        self.base_url = "http://127.0.0.1"
        self.application_id = self.new_id()
        self.bot_user_id = self.application_id
        self.users: dict[int, TwinUser] = {}
        self.users[self.bot_user_id] = TwinUser(self.bot_user_id, bot_name, bot=True)
        self.app_owner_id = self.create_user("app-owner")
        self.guilds: dict[int, TwinGuild] = {}
        self.channels: dict[int, TwinChannel] = {}
        self.dm_channels: dict[int, int] = {}  #: user id -> DM channel id
        self.messages: dict[int, list[dict[str, Any]]] = {}  #: channel id -> messages
        self.message_index: dict[
            int, dict[str, Any]
        ] = {}  #: message id -> message (incl. ephemeral)
        self.reactions: dict[int, dict[str, ReactionState]] = {}
        self.attachments: dict[int, StoredAttachment] = {}
        self.nonces: dict[tuple[int, int, str], tuple[int, float]] = {}
        #: (count, seconds): opening more new DM channels than this answers 403 code 40003
        self.dm_open_limit: tuple[int, float] | None = None
        self.dm_opened_at: list[float] = []
        self.global_commands: dict[int, dict[str, Any]] = {}
        self.guild_commands: dict[int, dict[int, dict[str, Any]]] = {}
        self.interactions: dict[int, TwinInteraction] = {}
        self.interactions_by_token: dict[str, TwinInteraction] = {}
        self.deleted_message_ids: list[int] = []
        self.pins: dict[int, dict[int, str]] = {}  #: channel id -> message id -> pinned_at

    # -- users ---------------------------------------------------------------------------------

    @property
    def bot_user(self) -> TwinUser:
        return self.users[self.bot_user_id]

    def create_user(
        self, username: str, *, bot: bool = False, global_name: str | None = None
    ) -> int:
        user = TwinUser(self.new_id(), username, bot=bot, global_name=global_name)
        self.users[user.id] = user
        return user.id

    def user(self, user_id: int) -> TwinUser:
        try:
            return self.users[user_id]
        except KeyError:
            raise TwinError(f"no such user {user_id}") from None

    # -- guilds --------------------------------------------------------------------------------

    def guild(self, guild_id: int) -> TwinGuild:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise TwinError(f"no such guild {guild_id}") from None

    def create_guild(
        self,
        name: str,
        owner_id: int | None = None,
        *,
        guild_id: int | None = None,
        bot_permissions: int = Perm.BOT_DEFAULT,
    ) -> TwinGuild:
        if owner_id is None:
            owner_id = self.create_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = TwinGuild(self, guild_id if guild_id is not None else self.new_id(), name, owner_id)
        guild.roles[guild.id] = TwinRole(
            guild.id, guild.id, "@everyone", permissions=Perm.EVERYONE_DEFAULT, position=0
        )
        bot_role = TwinRole(
            self.new_id(),
            guild.id,
            self.bot_user.username,
            permissions=bot_permissions,
            position=1,
            managed=True,
            tags={"bot_id": str(self.bot_user_id)},
        )
        guild.roles[bot_role.id] = bot_role
        guild.bot_role_id = bot_role.id
        general = TwinChannel(
            self.new_id(), ChannelType.GUILD_TEXT, "general", guild_id=guild.id, position=0
        )
        guild.channels[general.id] = general
        self.channels[general.id] = general
        self.messages[general.id] = []
        guild.system_channel_id = general.id
        guild.members[owner_id] = TwinMember(owner_id, guild.id)
        guild.members[self.bot_user_id] = TwinMember(
            self.bot_user_id, guild.id, roles=[bot_role.id]
        )
        self.guilds[guild.id] = guild
        self.emit("GUILD_CREATE", {"__guild__": guild.id}, guild.id, Intent.GUILDS)
        return guild

    def add_channel(self, guild: TwinGuild, channel: TwinChannel) -> None:
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        self.messages.setdefault(channel.id, [])
        self.emit("CHANNEL_CREATE", channel.payload(self), guild.id, Intent.GUILDS)

    def add_thread(self, guild: TwinGuild, thread: TwinChannel) -> None:
        """Threads are not among the guild's channels (as on Discord); the bot is told by
        THREAD_CREATE."""
        self.channels[thread.id] = thread
        self.messages.setdefault(thread.id, [])
        self.emit("THREAD_CREATE", thread.payload(self), guild.id, Intent.GUILDS)

    def update_channel(self, channel: TwinChannel) -> None:
        self.emit("CHANNEL_UPDATE", channel.payload(self), channel.guild_id, Intent.GUILDS)

    def delete_channel(self, channel: TwinChannel) -> None:
        guild = self.guilds[channel.guild_id] if channel.guild_id else None
        if guild is not None:
            del guild.channels[channel.id]
            self.emit("CHANNEL_DELETE", channel.payload(self), guild.id, Intent.GUILDS)
            for child in guild.channels.values():
                if child.parent_id == channel.id:
                    child.parent_id = None
                    self.update_channel(child)
        self.channels.pop(channel.id, None)

    def channel(self, channel_id: int) -> TwinChannel:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise TwinError(f"no such channel {channel_id}") from None

    # -- roles ---------------------------------------------------------------------------------

    def _renumber(self, guild: TwinGuild, ordered: list[TwinRole]) -> list[TwinRole]:
        changed = []
        for index, role in enumerate(ordered, start=1):
            if role.position != index:
                role.position = index
                changed.append(role)
        return changed

    def place_role(self, guild: TwinGuild, role: TwinRole, position: int) -> list[TwinRole]:
        """Move ``role`` to ``position`` (1 = lowest above @everyone); returns roles that moved."""
        others = [r for r in guild.roles_sorted() if r.id not in (guild.everyone_role_id, role.id)]
        index = max(0, min(position - 1, len(others)))
        ordered = [*others[:index], role, *others[index:]]
        return self._renumber(guild, ordered)

    def create_role(self, guild: TwinGuild, role: TwinRole, position: int = 1) -> None:
        guild.roles[role.id] = role
        moved = self.place_role(guild, role, position)
        self.emit(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild.id), "role": role.payload()},
            guild.id,
            Intent.GUILDS,
        )
        for other in moved:
            if other.id != role.id:
                self.update_role(guild, other)

    def update_role(self, guild: TwinGuild, role: TwinRole) -> None:
        self.emit(
            "GUILD_ROLE_UPDATE",
            {"guild_id": str(guild.id), "role": role.payload()},
            guild.id,
            Intent.GUILDS,
        )

    def move_role(self, guild: TwinGuild, role: TwinRole, position: int) -> None:
        for other in self.place_role(guild, role, position):
            self.update_role(guild, other)

    def delete_role(self, guild: TwinGuild, role: TwinRole) -> None:
        del guild.roles[role.id]
        for member in guild.members.values():
            if role.id in member.roles:
                member.roles.remove(role.id)
        self.emit(
            "GUILD_ROLE_DELETE",
            {"guild_id": str(guild.id), "role_id": str(role.id)},
            guild.id,
            Intent.GUILDS,
        )
        for other in self._renumber(
            guild, [r for r in guild.roles_sorted() if r.id != guild.everyone_role_id]
        ):
            self.update_role(guild, other)

    # -- members -------------------------------------------------------------------------------

    def add_member(self, guild: TwinGuild, user_id: int, roles: Iterable[int] = ()) -> TwinMember:
        self.user(user_id)
        if user_id in guild.members:
            raise TwinError(f"user {user_id} is already a member of guild {guild.id}")
        for role_id in roles:
            if role_id not in guild.roles:
                raise TwinError(f"no role {role_id} in guild {guild.id}")
        member = TwinMember(user_id, guild.id, roles=list(dict.fromkeys(roles)))
        guild.members[user_id] = member
        data = member.payload(self)
        data["guild_id"] = str(guild.id)
        self.emit("GUILD_MEMBER_ADD", data, guild.id, Intent.GUILD_MEMBERS)
        return member

    def remove_member(self, guild: TwinGuild, user_id: int) -> None:
        if guild.members.pop(user_id, None) is None:
            raise TwinError(f"user {user_id} is not a member of guild {guild.id}")
        self.emit(
            "GUILD_MEMBER_REMOVE",
            {"guild_id": str(guild.id), "user": self.users[user_id].payload()},
            guild.id,
            Intent.GUILD_MEMBERS,
        )

    def member_updated(self, guild: TwinGuild, member: TwinMember) -> None:
        data = member.payload(self)
        data["guild_id"] = str(guild.id)
        # the bot hears about its own member updates without the GUILD_MEMBERS intent
        intent = None if member.user_id == self.bot_user_id else Intent.GUILD_MEMBERS
        self.emit("GUILD_MEMBER_UPDATE", data, guild.id, intent)

    def member(self, guild: TwinGuild, user_id: int) -> TwinMember:
        try:
            return guild.members[user_id]
        except KeyError:
            raise TwinError(f"user {user_id} is not a member of guild {guild.id}") from None

    # -- DMs -----------------------------------------------------------------------------------

    def dm_channel(self, user_id: int) -> TwinChannel:
        channel_id = self.dm_channels.get(user_id)
        if channel_id is None:
            channel = TwinChannel(self.new_id(), ChannelType.DM, None, recipient_ids=[user_id])
            self.channels[channel.id] = channel
            self.messages[channel.id] = []
            self.dm_channels[user_id] = channel.id
            return channel
        return self.channels[channel_id]

    # -- messages ------------------------------------------------------------------------------

    def guild_of(self, channel: TwinChannel) -> TwinGuild | None:
        return self.guilds.get(channel.guild_id) if channel.guild_id else None

    def message_event(self, message: dict[str, Any], event: str = "MESSAGE_CREATE") -> None:
        channel = self.channels.get(int(message["channel_id"]))
        if channel is None:
            return
        guild = self.guild_of(channel)
        data = copy.deepcopy(message)
        if guild is not None:
            data["guild_id"] = str(guild.id)
            author_id = int(message["author"]["id"])
            member = guild.members.get(author_id)
            if member is not None and not message.get("webhook_id"):
                data["member"] = member.payload(self, with_user=False)
            for mention in data.get("mentions", []):
                mentioned = guild.members.get(int(mention["id"]))
                if mentioned is not None:
                    mention["member"] = mentioned.payload(self, with_user=False)
            self.emit(event, data, guild.id, Intent.GUILD_MESSAGES)
        else:
            self.emit(event, data, None, Intent.DIRECT_MESSAGES)

    def store_message(self, message: dict[str, Any], *, ephemeral: bool = False) -> None:
        self.message_index[int(message["id"])] = message
        if ephemeral:
            return
        channel_id = int(message["channel_id"])
        self.messages.setdefault(channel_id, []).append(message)
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel.last_message_id = int(message["id"])
        self.message_event(message)

    def delete_message(self, message: dict[str, Any]) -> None:
        message_id = int(message["id"])
        channel_id = int(message["channel_id"])
        self.message_index.pop(message_id, None)
        self.deleted_message_ids.append(message_id)
        stored = self.messages.get(channel_id, [])
        if any(m is message for m in stored):
            stored.remove(message)
            channel = self.channels.get(channel_id)
            guild = self.guild_of(channel) if channel else None
            data: dict[str, Any] = {"id": str(message_id), "channel_id": str(channel_id)}
            if guild is not None:
                data["guild_id"] = str(guild.id)
                self.emit("MESSAGE_DELETE", data, guild.id, Intent.GUILD_MESSAGES)
            else:
                self.emit("MESSAGE_DELETE", data, None, Intent.DIRECT_MESSAGES)

    def is_ephemeral(self, message: dict[str, Any]) -> bool:
        return bool(message.get("flags", 0) & 64)

    def render_reactions(self, message: dict[str, Any]) -> None:
        states = self.reactions.get(int(message["id"]), {})
        rendered = []
        for state in states.values():
            if not state.users:
                continue
            rendered.append(
                {
                    "emoji": dict(state.emoji),
                    "count": len(state.users),
                    "count_details": {"burst": 0, "normal": len(state.users)},
                    "burst_colors": [],
                    "me_burst": False,
                    "burst_me": False,
                    "me": self.bot_user_id in state.users,
                    "burst_count": 0,
                }
            )
        if rendered:
            message["reactions"] = rendered
        else:
            message.pop("reactions", None)

    def add_reaction(self, message: dict[str, Any], emoji: dict[str, Any], user_id: int) -> bool:
        key = emoji_key(emoji)
        states = self.reactions.setdefault(int(message["id"]), {})
        state = states.setdefault(key, ReactionState(emoji=emoji))
        if user_id in state.users:
            return False
        state.users.append(user_id)
        self.render_reactions(message)
        self._reaction_event("MESSAGE_REACTION_ADD", message, emoji, user_id)
        return True

    def remove_reaction(self, message: dict[str, Any], emoji: dict[str, Any], user_id: int) -> bool:
        key = emoji_key(emoji)
        state = self.reactions.get(int(message["id"]), {}).get(key)
        if state is None or user_id not in state.users:
            return False
        state.users.remove(user_id)
        self.render_reactions(message)
        self._reaction_event("MESSAGE_REACTION_REMOVE", message, state.emoji, user_id)
        return True

    def _reaction_event(
        self, event: str, message: dict[str, Any], emoji: dict[str, Any], user_id: int
    ) -> None:
        channel = self.channels.get(int(message["channel_id"]))
        if channel is None:
            return
        guild = self.guild_of(channel)
        data: dict[str, Any] = {
            "user_id": str(user_id),
            "type": 0,
            "channel_id": str(channel.id),
            "message_id": message["id"],
            "emoji": dict(emoji),
            "burst": False,
        }
        if event == "MESSAGE_REACTION_ADD":
            data["message_author_id"] = message["author"]["id"]
            data["burst_colors"] = []
        if guild is not None:
            data["guild_id"] = str(guild.id)
            member = guild.members.get(user_id)
            if member is not None and event == "MESSAGE_REACTION_ADD":
                data["member"] = member.payload(self)
            self.emit(event, data, guild.id, Intent.GUILD_MESSAGE_REACTIONS)
        else:
            self.emit(event, data, None, Intent.DIRECT_MESSAGE_REACTIONS)

    def find_message(self, message_id: int) -> dict[str, Any]:
        try:
            return self.message_index[message_id]
        except KeyError:
            raise TwinError(f"no such message {message_id}") from None

    # -- attachments ---------------------------------------------------------------------------

    def store_attachment(
        self, channel_id: int, filename: str, content_type: str, data: bytes
    ) -> dict[str, Any]:
        att = StoredAttachment(self.new_id(), filename, content_type, data)
        self.attachments[att.id] = att
        url = f"{self.base_url}/attachments/{channel_id}/{att.id}/{filename}"
        payload: dict[str, Any] = {
            "id": str(att.id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
        }
        size = _image_size(data)
        if size is not None:
            payload["width"], payload["height"] = size
        return payload


def emoji_key(emoji: dict[str, Any]) -> str:
    return str(emoji["id"]) if emoji.get("id") else str(emoji.get("name"))


def parse_emoji(text: str) -> dict[str, Any]:
    """``✅`` or ``name:123`` / ``a:name:123`` (as in reaction URLs) → a partial emoji dict."""
    parts = text.split(":")
    if len(parts) >= 2 and parts[-1].isdigit():
        emoji: dict[str, Any] = {"id": parts[-1], "name": parts[-2]}
        if len(parts) == 3 and parts[0] == "a":
            emoji["animated"] = True
        return emoji
    return {"id": None, "name": text}


def _opt_str(value: int | None) -> str | None:
    return None if value is None else str(value)


def _image_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return None
