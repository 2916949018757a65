"""Gateway v10 over a websocket: HELLO, IDENTIFY/READY, heartbeats, RESUME, chunking, sharding.

Frames are JSON text frames (discord.py asks for ``zlib-stream`` but only inflates binary frames).
Each session keeps every dispatch it was sent (with its sequence number) so a RESUME can replay
what the client missed while disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from twin.state import Intent, World

if TYPE_CHECKING:
    from twin.server import Twin

log = logging.getLogger("twin.gateway")


class Op:
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11
    REQUEST_SOUNDBOARD_SOUNDS = 31


_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE"}


@dataclass
class Connection:
    ws: web.WebSocketResponse
    queue: asyncio.Queue[str | None] = field(default_factory=asyncio.Queue)
    session: Session | None = None


@dataclass
class Session:
    session_id: str
    shard: tuple[int, int] | None
    intents: int
    large_threshold: int
    seq: int = 0
    buffer: deque[tuple[int, str]] = field(default_factory=lambda: deque(maxlen=50_000))
    conn: Connection | None = None
    alive: bool = True  #: False once invalidated; a RESUME of it gets INVALID_SESSION
    pending_chunks: set[int] = field(default_factory=set)  #: large guilds not yet chunked
    guild_ids: set[int] = field(default_factory=set)

    def handles_guild(self, guild_id: int | None) -> bool:
        if self.shard is None:
            return True
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


class Gateway:
    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.world: World = twin.world
        self.sessions: list[Session] = []
        self.connections: list[Connection] = []
        self.heartbeat_interval_ms = 41250
        self.ack_heartbeats = True
        self.identifies = 0
        self.resumes = 0
        #: every payload the twin received from clients (tokens removed)
        self.received: list[dict[str, Any]] = []

    # -- sending -------------------------------------------------------------------------------

    def live_sessions(self) -> list[Session]:
        return [s for s in self.sessions if s.alive]

    def _send(self, conn: Connection, payload: dict[str, Any]) -> None:
        conn.queue.put_nowait(json.dumps(payload, separators=(",", ":")))

    def _dispatch_to(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        text = json.dumps({"op": 0, "t": event, "s": session.seq, "d": data}, separators=(",", ":"))
        session.buffer.append((session.seq, text))
        if session.conn is not None:
            session.conn.queue.put_nowait(text)

    def emit(
        self, event: str, data: dict[str, Any], guild_id: int | None, intent: int | None
    ) -> None:
        """Dispatch an event to every live session that should receive it."""
        for session in self.live_sessions():
            if not session.handles_guild(guild_id):
                continue
            if intent is not None and not session.intents & intent:
                continue
            if event == "GUILD_CREATE" and "__guild__" in data:
                guild = self.world.guilds[data["__guild__"]]
                session.guild_ids.add(guild.id)
                joined = self._guild_create(session, guild.id)
                # a guild joined later has no "unavailable" key (discord.py: on_guild_join)
                joined.pop("unavailable", None)
                self._dispatch_to(session, event, joined)
                continue
            payload = data
            if event in _MESSAGE_EVENTS and guild_id is not None:
                payload = self._gate_content(session, data)
            self._dispatch_to(session, event, payload)

    def _gate_content(self, session: Session, data: dict[str, Any]) -> dict[str, Any]:
        """Without MESSAGE_CONTENT, guild messages arrive empty unless by/mentioning the bot."""
        if session.intents & Intent.MESSAGE_CONTENT:
            return data
        bot_id = str(self.world.bot_user_id)
        if data.get("author", {}).get("id") == bot_id:
            return data
        if any(m.get("id") == bot_id for m in data.get("mentions", [])):
            return data
        gated = dict(data)
        for key in ("content",):
            if key in gated:
                gated[key] = ""
        for key in ("embeds", "attachments", "components"):
            if key in gated:
                gated[key] = []
        gated.pop("poll", None)
        return gated

    def _guild_create(self, session: Session, guild_id: int) -> dict[str, Any]:
        guild = self.world.guilds[guild_id]
        include = bool(session.intents & Intent.GUILD_MEMBERS)
        data = guild.gateway_payload(
            include_members=include, large_threshold=session.large_threshold
        )
        if data["large"] and include:
            session.pending_chunks.add(guild_id)
        return data

    # -- control from tests --------------------------------------------------------------------

    async def drop(self, *, resumable: bool = True, code: int = 4000) -> None:
        for session in self.live_sessions():
            conn = session.conn
            if not resumable:
                session.alive = False
            if conn is not None:
                session.conn = None
                conn.session = None
                await self._close(conn, code)

    async def send_reconnect(self) -> None:
        for session in self.live_sessions():
            if session.conn is not None:
                self._send(session.conn, {"op": Op.RECONNECT, "d": None})
        await self.flush()

    async def invalidate(self, *, resumable: bool = False) -> None:
        for session in self.live_sessions():
            if not resumable:
                session.alive = False
            if session.conn is not None:
                self._send(session.conn, {"op": Op.INVALID_SESSION, "d": resumable})
        await self.flush()

    async def flush(self, timeout: float = 2.0) -> None:  # noqa: ASYNC109
        """Wait until queued frames have been written to the sockets."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if all(c.queue.empty() for c in self.connections):
                await asyncio.sleep(0)
                return
            await asyncio.sleep(0.002)

    async def close_all(self) -> None:
        for conn in list(self.connections):
            await self._close(conn, 1001)

    async def _close(self, conn: Connection, code: int) -> None:
        conn.queue.put_nowait(None)
        with contextlib.suppress(Exception):
            await conn.ws.close(code=code)

    def connected(self, shards: int | None = None) -> bool:
        """A bot identified (every shard, if sharded) and requested the members it needs."""
        ready = [s for s in self.live_sessions() if s.conn is not None]
        if not ready or any(s.pending_chunks for s in ready):
            return False
        sharded = [s for s in ready if s.shard is not None]
        if not sharded:
            return shards in (None, 1)
        expected = shards or sharded[0].shard[1]  # type: ignore[index]
        return len({s.shard[0] for s in sharded if s.shard}) >= expected

    # -- the websocket handler -----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(autoping=True, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = Connection(ws)
        self.connections.append(conn)
        writer = asyncio.create_task(self._writer(conn))
        self._send(
            conn,
            {
                "op": Op.HELLO,
                "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": ["twin"]},
                "s": None,
                "t": None,
            },
        )
        try:
            if request.query.get("encoding", "json") != "json":
                await self._close(conn, 4002)
                return ws
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_text(conn, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    await self._close(conn, 4002)
                elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    break
        finally:
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                if ws.close_code in (1000, 1001):
                    # a clean close by the client ends the session, as on Discord
                    session.alive = False
            conn.queue.put_nowait(None)
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
            self.connections.remove(conn)
        return ws

    async def _writer(self, conn: Connection) -> None:
        while True:
            text = await conn.queue.get()
            if text is None or conn.ws.closed:
                return
            try:
                await conn.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return

    async def _on_text(self, conn: Connection, text: str) -> None:
        try:
            payload = json.loads(text)
            op = payload["op"]
        except (ValueError, KeyError, TypeError):
            await self._close(conn, 4002)
            return
        data = payload.get("d")
        recorded = dict(payload)
        if isinstance(data, dict) and "token" in data:
            recorded["d"] = {k: v for k, v in data.items() if k != "token"}
        self.received.append(recorded)
        if op == Op.HEARTBEAT:
            if self.ack_heartbeats:
                self._send(conn, {"op": Op.HEARTBEAT_ACK, "d": None})
            return
        if op == Op.IDENTIFY:
            await self._identify(conn, data or {})
            return
        if op == Op.RESUME:
            await self._resume(conn, data or {})
            return
        if conn.session is None:
            await self._close(conn, 4003)  # not authenticated
            return
        if op == Op.REQUEST_GUILD_MEMBERS:
            self._request_members(conn.session, data or {})
        elif op in (Op.PRESENCE_UPDATE, Op.VOICE_STATE_UPDATE, Op.REQUEST_SOUNDBOARD_SOUNDS):
            return
        else:
            await self._close(conn, 4001)  # unknown opcode

    async def _identify(self, conn: Connection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await self._close(conn, 4005)  # already authenticated
            return
        if data.get("token", "").removeprefix("Bot ") != self.twin.token:
            await self._close(conn, 4004)  # authentication failed
            return
        intents = data.get("intents")
        if not isinstance(intents, int):
            await self._close(conn, 4013)  # invalid intents
            return
        if intents & Intent.PRIVILEGED & ~self.twin.privileged_intents:
            await self._close(conn, 4014)  # disallowed intents
            return
        shard = data.get("shard")
        shard_t: tuple[int, int] | None = None
        if shard is not None:
            if not isinstance(shard, list) or len(shard) != 2 or not 0 <= shard[0] < shard[1]:
                await self._close(conn, 4010)  # invalid shard
                return
            shard_t = (int(shard[0]), int(shard[1]))
        # a new IDENTIFY replaces older sessions for the same shard
        for old in self.sessions:
            if old.alive and old.shard == shard_t:
                old.alive = False
        self.sessions = [s for s in self.sessions if s.alive]
        session = Session(
            session_id=secrets.token_hex(16),
            shard=shard_t,
            intents=intents,
            large_threshold=int(data.get("large_threshold") or 50),
            conn=conn,
        )
        conn.session = session
        self.sessions.append(session)
        self.identifies += 1
        guilds = [g for g in self.world.guilds.values() if session.handles_guild(g.id)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.world.bot_user.payload()
            | {"verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.twin.gateway_url,
            "application": {
                "id": str(self.world.application_id),
                "flags": self.twin.application_flags,
            },
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "auth": {},
            "_trace": ["twin"],
        }
        if shard_t is not None:
            ready["shard"] = list(shard_t)
        self._dispatch_to(session, "READY", ready)
        for guild in guilds:
            session.guild_ids.add(guild.id)
            self._dispatch_to(session, "GUILD_CREATE", self._guild_create(session, guild.id))

    async def _resume(self, conn: Connection, data: dict[str, Any]) -> None:
        session = next((s for s in self.sessions if s.session_id == data.get("session_id")), None)
        token_ok = str(data.get("token", "")).removeprefix("Bot ") == self.twin.token
        if not token_ok:
            await self._close(conn, 4004)
            return
        if session is None or not session.alive:
            self._send(conn, {"op": Op.INVALID_SESSION, "d": False})
            return
        if session.conn is not None and session.conn is not conn:
            old = session.conn
            old.session = None
            await self._close(old, 4000)
        seq = data.get("seq") or 0
        session.conn = conn
        conn.session = session
        self.resumes += 1
        for s, text in session.buffer:
            if s > seq:
                conn.queue.put_nowait(text)
        self._dispatch_to(session, "RESUMED", {"_trace": ["twin"]})

    def _request_members(self, session: Session, data: dict[str, Any]) -> None:
        raw_ids = data.get("guild_id")
        guild_ids: list[Any] = raw_ids if isinstance(raw_ids, list) else [raw_ids]
        for raw in guild_ids:
            guild = self.world.guilds.get(int(str(raw))) if str(raw).isdigit() else None
            if guild is None:
                continue
            members = list(guild.members.values())
            not_found: list[str] = []
            user_ids = data.get("user_ids")
            query = data.get("query")
            limit = int(data.get("limit") or 0)
            if user_ids is not None:
                wanted = [int(u) for u in (user_ids if isinstance(user_ids, list) else [user_ids])]
                members = [guild.members[u] for u in wanted if u in guild.members]
                not_found = [str(u) for u in wanted if u not in guild.members]
            elif query:
                q = str(query).lower()
                members = [
                    m
                    for m in members
                    if self.world.users[m.user_id].username.lower().startswith(q)
                    or (m.nick or "").lower().startswith(q)
                ]
                members = members[: min(limit or 100, 100)]
            elif limit:
                members = members[:limit]
            chunks = [members[i : i + 1000] for i in range(0, len(members), 1000)] or [[]]
            for index, chunk in enumerate(chunks):
                payload: dict[str, Any] = {
                    "guild_id": str(guild.id),
                    "members": [m.payload(self.world) for m in chunk],
                    "chunk_index": index,
                    "chunk_count": len(chunks),
                }
                if index == 0 and not_found:
                    payload["not_found"] = not_found
                if data.get("presences"):
                    payload["presences"] = []
                if data.get("nonce") is not None:
                    payload["nonce"] = data["nonce"]
                self._dispatch_to(session, "GUILD_MEMBERS_CHUNK", payload)
            session.pending_chunks.discard(guild.id)
