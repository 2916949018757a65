"""Route table: handlers registered against Discord's OpenAPI path templates."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from twin.errors import ApiError, not_found
from twin.records import UploadedFile

if TYPE_CHECKING:
    from twin.server import Twin
    from twin.state import World


@dataclass
class Ctx:
    """What a handler sees of one request."""

    twin: Twin
    method: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[UploadedFile] = field(default_factory=list)

    @property
    def world(self) -> World:
        return self.twin.world

    def id(self, name: str) -> int:
        value = self.params[name]
        if not value.isdigit():
            raise not_found()
        return int(value)

    def json(self) -> dict[str, Any]:
        if self.body is None:
            return {}
        if not isinstance(self.body, dict):
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    "_errors": [
                        {
                            "code": "DICT_TYPE_CONVERT",
                            "message": "Only dictionaries may be used in a DictType",
                        }
                    ]
                },
            )
        return self.body

    def query_int(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.query.get(name)
        if raw is None:
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ApiError(
                400,
                50035,
                "Invalid Form Body",
                {
                    name: {
                        "_errors": [
                            {"code": "NUMBER_TYPE_COERCE", "message": f'Value "{raw}" is not int.'}
                        ]
                    }
                },
            ) from None
        return max(low, min(high, value))


#: A handler returns a JSON body (status from the spec's success code), None (204), or
#: ``(status, body)``.
Handler = Callable[[Ctx], Awaitable[Any]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: bool
    global_limited: bool
    regex: re.Pattern[str]
    literal_segments: int


ROUTES: list[Route] = []


def route(
    method: str, template: str, *, auth: bool = True, global_limited: bool = True
) -> Callable[[Handler], Handler]:
    def decorate(fn: Handler) -> Handler:
        parts = re.split(r"(\{[^}]+\})", template)
        regex = "".join(
            f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts
        )
        literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
        ROUTES.append(
            Route(method, template, fn, auth, global_limited, re.compile(f"^{regex}$"), literal)
        )
        return fn

    return decorate


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    best: tuple[Route, dict[str, str]] | None = None
    for r in ROUTES:
        if r.method != method:
            continue
        m = r.regex.match(path)
        if m and (best is None or r.literal_segments > best[0].literal_segments):
            best = (r, m.groupdict())
    return best
