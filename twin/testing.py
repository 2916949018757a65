"""Helpers for end-to-end tests: run a discord.py client against a started ``Twin``.

The twin does not import discord.py or the bot; ``client`` is duck-typed (``login``, ``connect``,
``wait_until_ready``, ``close``). Point discord.py at the twin first, e.g. with
``bot.endpoints.use_endpoints(twin.api_base, twin.gateway_url)``, and reset it afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from twin.server import Twin


@contextlib.asynccontextmanager
async def connected_client(twin: Twin, client: Any, *, timeout: float = 5.0) -> AsyncIterator[Any]:  # noqa: ASYNC109
    """Log ``client`` in, connect it, wait for READY (and member chunks) and ``on_ready``;
    close it on exit. Build the client with ``guild_ready_timeout=0.1`` (discord.py waits that
    long after the last GUILD_CREATE before ``on_ready``; its default is 2 s)."""
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
