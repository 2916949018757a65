"""The one worker that applies durable Discord effects (``bot.services.effects``).

It wakes when a transaction that wrote effects commits, at start-up and after each new gateway
session, and at each row's ``next_attempt_at`` through one keyed durable timer (``effects_due``),
so there is no second scheduler. It paces its own requests with a token bucket below Discord's
global limit (discord.py only reacts to 429s), sends messages with a deterministic ``nonce`` and
``enforce_nonce`` and marks them applied only with the message id Discord returned.

What each Discord answer means here:

* 2xx → applied (a message keeps its id);
* 5xx, 429 after discord.py's own retries, network errors → retried with backoff (a 429 or 40003
  also pauses every request for a while and does not use up an attempt);
* 403 50007 on a DM → the member does not accept our DMs: recorded, never retried, and the
  effect's fallback (e.g. a channel message) is written in the same transaction;
* unknown member or role on a role change → nothing to do (they left; the role is gone);
* any other 4xx → failed with the reason, and organizers are told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import aiohttp
import discord
from discord.http import Route

from bot.clock import Clock
from bot.limits import CONTENT_MAX, MORE, clip, join_lines
from bot.role_checks import cannot_manage, refused
from bot.services.effects import (
    EffectKind,
    EffectRecord,
    EffectRequest,
    EffectService,
    EffectStatus,
    Outcome,
    attachments_of,
    channel_post,
    direct_message,
)
from bot.services.timers import TimerRecord, TimerService

if TYPE_CHECKING:
    from bot.client import ChapterBot

log = logging.getLogger(__name__)

DUE_TIMER_EVENT = "effects_due"
DUE_TIMER_KEY = "effects:next-due"
REPORT_TIMER_EVENT = "effects_report"
#: failures of one reason shown by what they were about to do before "…and N more"
REPORT_EXAMPLES = 3
#: one reason's part of a summary, so several reasons fit in one message
REPORT_GROUP_MAX = 600


def report_timer_key(guild_id: int) -> str:
    return f"effects:report:{guild_id}"


def failure_summary(records: Sequence[EffectRecord]) -> str:
    """One message for organizers about failed effects: one failure as it is, many as counts by
    reason with a few examples each, within Discord's content limit."""

    def describe(record: EffectRecord) -> str:
        return str(record.payload.get("describe") or f"apply a {record.kind.value} change")

    def reason(record: EffectRecord) -> tuple[str, str]:
        return (record.last_error or "unknown error", str(record.payload.get("hint") or ""))

    if len(records) == 1:
        [record] = records
        text, hint = reason(record)
        return clip(f"I couldn't {describe(record)}: {text} {hint}".strip())
    groups: dict[tuple[str, str], list[EffectRecord]] = {}
    for record in records:
        groups.setdefault(reason(record), []).append(record)
    blocks = []
    for (text, hint), members in sorted(groups.items(), key=lambda g: -len(g[1])):
        examples = [describe(r) for r in members[:REPORT_EXAMPLES]]
        if len(members) > REPORT_EXAMPLES:
            examples.append(MORE.format(n=len(members) - REPORT_EXAMPLES))
        block = f"**{len(members)} ×** {text} {hint}".strip() + "\n  e.g. " + "; ".join(examples)
        blocks.append(clip(block, REPORT_GROUP_MAX))
    header = f"I couldn't make {len(records)} Discord changes:"
    body = join_lines(blocks, CONTENT_MAX - len(header) - 1, more="…and {n} more reasons")
    return f"{header}\n{body}"


CANNOT_DM = 50007
DM_TOO_FAST = 40003
UNKNOWN_CHANNEL = 10003
UNKNOWN_MEMBER = 10007
UNKNOWN_ROLE = 10011
UNKNOWN_USER = 10013
#: how long everything waits after Discord said "opening DMs too fast" (it gives no time)
DM_TOO_FAST_PAUSE = 60.0


class TokenBucket:
    """Paces requests to ``rate`` per second with bursts of ``burst`` (on real time: this is
    about Discord's limits, not about when things are due)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("a token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._monotonic = monotonic
        self._sleep = sleep
        self._tokens = burst
        self._updated = monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.acquired = 0

    def pause(self, seconds: float) -> None:
        """Nothing goes out for ``seconds`` (Discord asked us to slow down)."""
        self._paused_until = max(self._paused_until, self._monotonic() + seconds)
        self._tokens = 0.0

    async def acquire(self) -> None:
        async with self._lock:  # first come, first served
            while True:
                now = self._monotonic()
                if now < self._paused_until:
                    await self._sleep(self._paused_until - now)
                    continue
                self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    self.acquired += 1
                    return
                await self._sleep((1 - self._tokens) / self.rate)


class EffectWorker:
    def __init__(
        self,
        bot: ChapterBot,
        effects: EffectService,
        timers: TimerService,
        clock: Clock,
        *,
        rate_per_second: float = 40.0,
        burst: float = 10.0,
        concurrency: int = 8,
        batch_size: int = 20,
        lease: timedelta = timedelta(minutes=2),
        report_delay: timedelta = timedelta(minutes=1),
    ) -> None:
        self.bot = bot
        self.effects = effects
        self.timers = timers
        self.clock = clock
        self.bucket = TokenBucket(rate_per_second, burst)
        self.batch_size = batch_size
        self.lease = lease
        #: failures are gathered this long after the first one into one report per guild
        self.report_delay = report_delay
        self._slots = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._armed_for: datetime | None = None
        self._idle = asyncio.Event()
        self._progress = asyncio.Event()
        self.applied = 0
        #: how long every request waits after Discord said "opening DMs too fast" (no time given)
        self.slow_down_seconds = DM_TOO_FAST_PAUSE
        effects.add_listener(self.kick)

    # -- running ---------------------------------------------------------------------------------

    def kick(self) -> None:
        """Effects were written (or became due): look for work now."""
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self.bot.add_listener(self._on_due_timer, f"on_{DUE_TIMER_EVENT}_timer_complete")
            self.bot.add_listener(self._on_report_timer, f"on_{REPORT_TIMER_EVENT}_timer_complete")
            self._task = asyncio.create_task(self._run(), name="effects-worker")
            self.kick()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _on_due_timer(self, timer: TimerRecord) -> None:
        self._armed_for = None
        self.kick()

    async def wait_idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Until nothing claimable is left (tests and benchmarks)."""
        self.kick()
        await asyncio.wait_for(self._idle.wait(), timeout)

    async def wait_settled(
        self,
        subjects: list[str],
        timeout: float = 3.0,  # noqa: ASYNC109
    ) -> dict[str, EffectStatus | None]:
        """Wait up to ``timeout`` s until the newest effect on each subject is applied, failed,
        or waiting for a retry (Discord already said no once); each one's status then (None:
        nothing was ever written for it). Lets an answer say "done" when Discord is quick and
        "on its way" when it is not, without making anyone wait for a backoff."""
        deadline = asyncio.get_running_loop().time() + timeout
        statuses: dict[str, EffectStatus | None] = {}
        while True:
            progress = self._progress
            known = True
            for subject in subjects:
                latest = await self.effects.latest(subject)
                statuses[subject] = latest.status if latest else None
                if latest is not None and latest.status == EffectStatus.PENDING:
                    known = known and latest.last_error is not None and latest.locked_until is None
            left = deadline - asyncio.get_running_loop().time()
            if known or left <= 0:
                return statuses
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(progress.wait(), min(left, 0.25))

    async def _run(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.drain()
                await self._arm_next()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the effects worker failed; trying again shortly")
                await asyncio.sleep(1.0)
                self._wake.set()
                continue
            if not self._wake.is_set():
                self._idle.set()

    async def drain(self) -> int:
        """Apply every claimable effect, a batch at a time; how many were settled."""
        settled = 0
        while True:
            batch = await self.effects.claim_batch(self.batch_size, self.lease)
            if not batch:
                return settled
            await asyncio.gather(*(self._apply_claimed(record) for record in batch))
            settled += len(batch)

    async def _arm_next(self) -> None:
        """Wake at the next retry (or a dead worker's lease end) through the durable timer."""
        when = await self.effects.next_wake()
        if when is None or when == self._armed_for:
            return
        if when <= self.clock.now():
            # claimable now but not by us (another process holds it): look again in a moment
            when = self.clock.now() + timedelta(seconds=1)
        self._armed_for = when
        await self.timers.replace_timer(when, DUE_TIMER_EVENT, {}, key=DUE_TIMER_KEY)

    async def _apply_claimed(self, record: EffectRecord) -> None:
        async with self._slots:
            try:
                outcome = await self.apply(record)
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.effects.release(record))
                raise
            except Exception as exc:
                log.exception("effect %s (%s) raised", record.id, record.kind)
                outcome = await self.effects.mark_retry(record, f"{type(exc).__name__}: {exc}")
        self._progress.set()  # wake whoever waits for this effect, then start a new round
        self._progress = asyncio.Event()
        if outcome.status == EffectStatus.APPLIED:
            self.applied += 1
        elif outcome.status == EffectStatus.FAILED:
            if outcome.report:
                await self._report(outcome.record)
            self.bot.dispatch("effect_failed", outcome.record)

    # -- applying one effect -----------------------------------------------------------------------

    async def apply(self, record: EffectRecord) -> Outcome:
        try:
            return await self._apply(record)
        except discord.HTTPException as error:
            return await self._http_error(record, error)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            return await self.effects.mark_retry(record, f"network: {type(error).__name__}")

    async def _apply(self, record: EffectRecord) -> Outcome:
        payload = record.payload
        http = self.bot.http
        reason = payload.get("reason")
        if record.kind in (EffectKind.ROLE_GRANT, EffectKind.ROLE_REMOVE):
            assert record.guild_id is not None
            problem = self._cannot_change_role(record)
            if problem is not None:  # the cache says Discord would refuse: don't ask
                return await self.effects.mark_failed(record, problem)
            await self.bucket.acquire()
            change = http.add_role if record.kind == EffectKind.ROLE_GRANT else http.remove_role
            try:
                await change(record.guild_id, payload["user_id"], payload["role_id"], reason=reason)
            except discord.NotFound as error:
                if error.code in (UNKNOWN_MEMBER, UNKNOWN_USER):
                    return await self._settled(record, note="the member is no longer in the server")
                if error.code == UNKNOWN_ROLE and record.kind == EffectKind.ROLE_REMOVE:
                    return await self._settled(record, note="the role no longer exists")
                raise
            return await self._settled(record)
        if record.kind == EffectKind.CHANNEL_OVERWRITE:
            await self.bucket.acquire()
            if payload.get("remove"):
                try:
                    await http.delete_channel_permissions(
                        payload["channel_id"], payload["target_id"], reason=reason
                    )
                except discord.NotFound:
                    return await self._settled(record, note="nothing to remove")
            else:
                await http.edit_channel_permissions(
                    payload["channel_id"],
                    payload["target_id"],
                    str(payload["allow"]),
                    str(payload["deny"]),
                    payload["type"],
                    reason=reason,
                )
            return await self._settled(record)
        if record.kind == EffectKind.CHANNEL_POST:
            message = await self._send(record, int(payload["channel_id"]))
            return await self._settled(record, result_id=int(message["id"]))
        if record.kind == EffectKind.DM:
            return await self._direct_message(record)
        if record.kind == EffectKind.PRIVATE_THREAD:
            return await self._private_thread(record)
        return await self.effects.mark_failed(record, f"unknown effect kind {record.kind!r}")

    def _cannot_change_role(self, record: EffectRecord) -> str | None:
        guild = self.bot.get_guild(record.guild_id or 0)
        role = guild.get_role(int(record.payload["role_id"])) if guild else None
        if guild is None or role is None:
            return None  # not in the cache: let Discord say
        return cannot_manage(guild, role)

    async def _settled(
        self, record: EffectRecord, *, result_id: int | None = None, note: str | None = None
    ) -> Outcome:
        held = await self.effects.mark_applied(record, result_id=result_id, note=note)
        if not held:
            log.warning("effect %s was applied after its lease ran out", record.id)
        return Outcome(record, EffectStatus.APPLIED)

    async def _send(self, record: EffectRecord, channel_id: int) -> Any:
        body = dict(record.payload["message"])
        body["nonce"] = record.nonce
        body["enforce_nonce"] = True
        await self.bucket.acquire()
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=channel_id)
        files = attachments_of(record.payload)
        if not files:
            return await self.bot.http.request(route, json=body)
        body["attachments"] = [{"id": i, "filename": f.filename} for i, f in enumerate(files)]
        form: list[dict[str, Any]] = [{"name": "payload_json", "value": json.dumps(body)}]
        form += [
            {
                "name": f"files[{i}]",
                "value": f.data,
                "filename": f.filename,
                "content_type": f.content_type,
            }
            for i, f in enumerate(files)
        ]
        return await self.bot.http.request(route, form=form)

    async def _private_thread(self, record: EffectRecord) -> Outcome:
        """Open the thread, add its members, post the message. A retry after a partial failure
        opens a new thread (the first stays empty or unseen)."""
        payload = record.payload
        await self.bucket.acquire()
        thread = await self.bot.http.start_thread_without_message(
            int(payload["channel_id"]),
            name=str(payload["name"]),
            auto_archive_duration=10080,
            type=12,
            invitable=False,
        )
        thread_id = int(thread["id"])
        for user_id in payload["user_ids"]:
            await self.bot.http.add_user_to_thread(thread_id, int(user_id))
        message = await self._send(record, thread_id)
        return await self._settled(record, result_id=int(message["id"]))

    async def _direct_message(self, record: EffectRecord) -> Outcome:
        user_id = int(record.payload["user_id"])
        state = await self.effects.dm_state(user_id)
        if state.closed:
            return await self.effects.dms_closed(
                record, state.closed_reason or "the member does not accept direct messages"
            )
        channel_id = state.channel_id
        for fresh in (False, True):
            if channel_id is None or fresh:
                await self.bucket.acquire()
                opened = await self.bot.http.start_private_message(user_id)
                channel_id = int(opened["id"])
                await self.effects.remember_dm_channel(user_id, channel_id)
            try:
                message = await self._send(record, channel_id)
            except discord.NotFound as error:
                if error.code == UNKNOWN_CHANNEL and not fresh:
                    continue  # the stored DM channel is gone: open a new one once
                raise
            if state.closed_reason is not None:
                await self.effects.dms_open(user_id)
            return await self._settled(record, result_id=int(message["id"]))
        raise AssertionError("unreachable")

    async def _http_error(self, record: EffectRecord, error: discord.HTTPException) -> Outcome:
        code = f" (code {error.code})" if error.code else ""
        text = f"Discord answered {error.status}{code}: {error.text[:200]}".strip()
        if record.kind == EffectKind.DM and error.code == CANNOT_DM:
            return await self.effects.dms_closed(record, f"403 {CANNOT_DM}: {error.text[:150]}")
        if error.code == DM_TOO_FAST:
            self.bucket.pause(self.slow_down_seconds)
            return await self.effects.mark_retry(
                record,
                text,
                at_least=timedelta(seconds=self.slow_down_seconds),
                count_attempt=False,
            )
        if error.status == 429:
            retry_after = float(getattr(error, "retry_after", 0) or 5.0)
            self.bucket.pause(retry_after)
            return await self.effects.mark_retry(
                record, text, at_least=timedelta(seconds=retry_after), count_attempt=False
            )
        if error.status >= 500:
            return await self.effects.mark_retry(record, text)
        if isinstance(error, discord.Forbidden) and record.kind in (
            EffectKind.ROLE_GRANT,
            EffectKind.ROLE_REMOVE,
        ):
            guild = self.bot.get_guild(record.guild_id or 0)
            role = guild.get_role(int(record.payload["role_id"])) if guild else None
            if guild is not None and role is not None:
                text = refused(guild, role, error)
        return await self.effects.mark_failed(record, text)

    # -- telling organizers --------------------------------------------------------------------

    async def _report(self, record: EffectRecord) -> None:
        """A failure is told to organizers in the guild's next summary: the first failure arms a
        keyed durable timer, and whatever failed until it fires goes into one message."""
        if record.guild_id is None:
            log.warning("effect %s failed: %s", record.id, record.last_error)
            return
        key = report_timer_key(record.guild_id)
        armed = await self.timers.get_by_key(key)
        now = self.clock.now()
        if armed is not None and armed.status == "pending" and armed.run_at > now:
            return  # the summary already on its way will include this one
        await self.timers.replace_timer(
            now + self.report_delay, REPORT_TIMER_EVENT, {"guild_id": record.guild_id}, key=key
        )

    async def _on_report_timer(self, timer: TimerRecord) -> None:
        guild_id = int(timer.payload["guild_id"])
        settings = await self.bot.services.guilds.get(guild_id)
        guild = self.bot.get_guild(guild_id)
        owner_id = guild.owner_id if guild is not None else None

        def build(records: list[EffectRecord]) -> EffectRequest | None:
            text = failure_summary(records)
            key = f"report:effects:{guild_id}:{records[0].id}"
            if settings.organizer_channel_id is not None:
                return channel_post(
                    settings.organizer_channel_id,
                    guild_id=guild_id,
                    content=text,
                    purpose="report",
                    dedupe_key=key,
                )
            if owner_id is None:  # as notify_organizers does: else the owner, by DM
                log.warning("nobody to tell in guild %s: %s", guild_id, text)
                return None
            return direct_message(owner_id, purpose="report", dedupe_key=key, content=text)

        while await self.effects.report_failures(guild_id, build):
            pass  # more than one batch failed: one message per batch
