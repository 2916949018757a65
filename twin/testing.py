"""Helpers for end-to-end tests: a ``twin`` pytest fixture and running a discord.py client.

In a conftest::

    from twin.testing import twin_fixture  # noqa: F401  (registers the ``twin`` fixture)

The twin does not import discord.py or the bot; clients are duck-typed (``login``, ``connect``,
``wait_until_ready``, ``close``). Point discord.py at the twin first, e.g. with
``bot.endpoints.use_endpoints(twin.api_base, twin.gateway_url)``, and reset it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest

from twin.server import Twin

C = TypeVar("C")


@pytest.fixture(name="twin")
async def twin_fixture() -> AsyncIterator[Twin]:
    """A started twin; after the test, fails it if the bot sent anything Discord's OpenAPI spec
    rejects or called a route the twin does not implement."""
    t = Twin()
    await t.start()
    try:
        yield t
    finally:
        await t.stop()
    t.assert_no_spec_violations()
    t.assert_no_unimplemented_calls()


async def _identify_at_once(shard_id: int | None, *, initial: bool = False) -> None:
    return None


def fast_reidentify(client: C) -> C:
    """discord.py sleeps 5 s in ``before_identify_hook`` before every IDENTIFY but the first
    (re-identify after an invalid session, the 2nd+ shard of an AutoShardedClient). A test
    need not wait; this replaces the hook on ``client``."""
    client.before_identify_hook = _identify_at_once  # type: ignore[attr-defined]
    return client


@contextlib.asynccontextmanager
async def connected_client(
    twin: Twin,
    client: Any,
    *,
    timeout: float = 5.0,  # noqa: ASYNC109
) -> AsyncIterator[Any]:
    """Log ``client`` in, connect it, wait for READY (and member chunks) and ``on_ready``;
    close it on exit. Build the client with ``guild_ready_timeout=0.05``: discord.py waits that
    long after the last GUILD_CREATE before ``on_ready`` (default 2 s)."""
    await client.login(twin.token)
    task = asyncio.create_task(client.connect(), name="twin-client-connect")
    try:
        await twin.wait_until_connected(timeout)
        ready = asyncio.ensure_future(client.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, task}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            ready.cancel()
            task.result()  # re-raise why connecting failed
            raise RuntimeError("client.connect() returned before the client was ready")
        if ready not in done:
            ready.cancel()
            raise TimeoutError(f"client not ready within {timeout} s")
        yield client
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, timeout)
