"""What the twin recorded: requests, spec violations, gateway traffic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class UploadedFile:
    field: str
    filename: str
    content_type: str
    data: bytes


@dataclass
class RequestRecord:
    method: str
    path: str  #: without the ``/api/v10`` prefix, e.g. ``/channels/123/messages``
    route_template: str | None  #: the OpenAPI path template, or None if Discord has no such route
    query: dict[str, str]
    body: Any  #: parsed JSON (or ``payload_json`` of a multipart request); None if empty
    status: int = 0
    at: float = 0.0  #: seconds since the twin started
    files: list[UploadedFile] = field(default_factory=list)
    implemented: bool = True  #: False when the twin answered 404 because it lacks the route
    response: Any = None  #: the JSON body the twin answered with

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}>"


@dataclass
class SpecViolation:
    method: str
    path: str
    route_template: str | None
    message: str
    body: Any

    def __str__(self) -> str:
        return f"{self.method} {self.path} ({self.route_template}): {self.message}"
