"""Discord-style rate limits: a global limit per bot token plus per-route buckets.

Buckets are fixed windows: the first request opens a window of ``per`` seconds allowing ``limit``
requests. A bucket is keyed by route (``"POST /channels/{channel_id}/messages"``) and the route's
major parameters (channel, guild, webhook + token), as on Discord.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field

MAJOR_PARAMETERS = ("channel_id", "guild_id", "webhook_id", "webhook_token", "interaction_id")

DEFAULT_ROUTE_LIMITS: dict[str, tuple[int, float]] = {
    "POST /channels/{channel_id}/messages": (5, 5.0),
    "PUT /channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me": (1, 0.25),
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/@me": (1, 0.25),
    "DELETE /channels/{channel_id}/messages/{message_id}/reactions/{emoji_name}/{user_id}": (
        1,
        0.25,
    ),
}


@dataclass
class _Window:
    limit: int
    per: float
    started: float
    count: int = 0

    def reset_at(self) -> float:
        return self.started + self.per


@dataclass
class Decision:
    allowed: bool
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float = 0.0
    is_global: bool = False
    scope: str = "user"


class RateLimiter:
    """Configure freely from tests: ``enabled``, ``global_limit``, ``set_route(...)``."""

    def __init__(self) -> None:
        self.enabled = True
        self.global_limit = 50
        self.global_window = 1.0
        self.default_route_limit: tuple[int, float] = (50, 1.0)
        self.route_limits: dict[str, tuple[int, float]] = dict(DEFAULT_ROUTE_LIMITS)
        self._global: dict[str, _Window] = {}
        self._buckets: dict[str, _Window] = {}

    def set_route(self, route: str, limit: int, per: float) -> None:
        """``route`` is ``"METHOD /template"``, e.g. ``"POST /channels/{channel_id}/messages"``."""
        self.route_limits[route] = (limit, per)
        self._buckets = {k: v for k, v in self._buckets.items() if not k.startswith(route + "|")}

    def reset(self) -> None:
        self._global.clear()
        self._buckets.clear()

    @staticmethod
    def _window(store: dict[str, _Window], key: str, limit: int, per: float, now: float) -> _Window:
        window = store.get(key)
        if window is None or now >= window.reset_at() or window.limit != limit:
            window = _Window(limit, per, now)
            store[key] = window
        return window

    def check(
        self, token: str, route: str, params: dict[str, str], *, global_limited: bool
    ) -> Decision:
        if not self.enabled:
            return Decision(True)
        now = time.monotonic()
        limit, per = self.route_limits.get(route, self.default_route_limit)
        major = ":".join(params.get(p, "") for p in MAJOR_PARAMETERS)
        bucket_hash = hashlib.sha1(route.encode()).hexdigest()[:32]
        bucket = self._window(self._buckets, f"{route}|{major}", limit, per, now)
        if global_limited:
            glob = self._window(self._global, token, self.global_limit, self.global_window, now)
            if glob.count >= glob.limit:
                retry = max(0.001, glob.reset_at() - now)
                return Decision(
                    False,
                    {"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global"},
                    retry_after=retry,
                    is_global=True,
                    scope="global",
                )
        if bucket.count >= bucket.limit:
            retry = max(0.001, bucket.reset_at() - now)
            headers = self._headers(bucket, bucket_hash, now)
            headers["X-RateLimit-Scope"] = "user"
            return Decision(False, headers, retry_after=retry)
        bucket.count += 1
        if global_limited:
            self._global[token].count += 1
        return Decision(True, self._headers(bucket, bucket_hash, now))

    @staticmethod
    def _headers(bucket: _Window, bucket_hash: str, now: float) -> dict[str, str]:
        reset_after = max(0.0, bucket.reset_at() - now)
        return {
            "X-RateLimit-Limit": str(bucket.limit),
            "X-RateLimit-Remaining": str(max(0, bucket.limit - bucket.count)),
            "X-RateLimit-Reset": f"{time.time() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket_hash,
        }


def too_many_requests_headers(decision: Decision) -> dict[str, str]:
    headers = dict(decision.headers)
    headers["Retry-After"] = str(max(1, math.ceil(decision.retry_after)))
    headers["Via"] = "1.1 google"
    headers.setdefault("X-RateLimit-Scope", decision.scope)
    return headers
