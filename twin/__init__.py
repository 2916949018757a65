"""A local Discord (gateway v10 + REST v10) on loopback, for end-to-end tests of a discord.py bot.

Quick tour::

    from twin import Twin

    twin = Twin()                      # validates against twin/spec/openapi.json
    await twin.start()                 # 127.0.0.1, random port
    guild = twin.create_guild("Test Guild")
    alice = twin.create_user("alice")
    await twin.member_join(guild.id, alice)
    # point discord.py at twin.api_base / twin.gateway_url, log in with twin.token, connect
    await twin.wait_until_connected()
    ix = await twin.slash(guild.id, guild.system_channel_id, alice, "chapter",
                          subcommand="propose", options={"city": "Chicago"})
    reply = await ix.response()
    twin.assert_no_spec_violations()
    await twin.stop()

The twin imports nothing from the bot (``bot``, ``cogs``, ``db``).
"""

from twin.errors import ApiError, TwinError
from twin.interactions import TwinInteraction
from twin.permissions import Perm
from twin.records import RequestRecord, SpecViolation, UploadedFile
from twin.rest import Fault
from twin.server import Twin
from twin.state import (
    ChannelType,
    Intent,
    Overwrite,
    TwinChannel,
    TwinGuild,
    TwinMember,
    TwinRole,
    TwinUser,
)

__all__ = [
    "ApiError",
    "ChannelType",
    "Fault",
    "Intent",
    "Overwrite",
    "Perm",
    "RequestRecord",
    "SpecViolation",
    "Twin",
    "TwinChannel",
    "TwinError",
    "TwinGuild",
    "TwinInteraction",
    "TwinMember",
    "TwinRole",
    "TwinUser",
    "UploadedFile",
]
