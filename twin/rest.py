"""The REST pipeline: parse → record → authenticate → injected faults → rate limit → validate
against the OpenAPI spec → handler → Discord-shaped JSON response."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from twin import interactions as _interactions  # noqa: F401  (registers routes)
from twin import router
from twin import routes as _routes  # noqa: F401  (registers routes)
from twin.errors import ApiError, not_found, unauthorized
from twin.ratelimit import Decision, too_many_requests_headers
from twin.records import RequestRecord, SpecViolation, UploadedFile
from twin.router import Ctx

if TYPE_CHECKING:
    from twin.server import Twin

API_PREFIX = "/api/v10"


@dataclass
class Fault:
    """An injected failure: the next ``count`` requests matching method + path regex fail."""

    method: str
    path_regex: str
    status: int
    count: int
    code: int
    message: str | None
    retry_after: float
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.count > 0
            and self.method in ("*", method)
            and re.search(self.path_regex, path) is not None
        )


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with ``Content-Type: application/json`` exactly (no charset), as discord.py needs."""
    all_headers = {"Content-Type": "application/json"}
    if headers:
        all_headers.update(headers)
    if status == 204 or body is None:
        all_headers.pop("Content-Type")
        return web.Response(status=204, headers=all_headers)
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


async def _parse_body(request: web.Request) -> tuple[Any, list[UploadedFile], str | None]:
    """(json body or payload_json, files, error message)."""
    ctype = request.headers.get("Content-Type", "")
    if ctype.startswith("multipart/form-data"):
        body: Any = None
        files: list[UploadedFile] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            name = part.name or ""
            data = await part.read(decode=False)
            if name == "payload_json":
                try:
                    body = json.loads(bytes(data).decode("utf-8"))
                except ValueError:
                    return None, files, "payload_json is not valid JSON"
            elif part.filename is not None:
                files.append(
                    UploadedFile(
                        field=name,
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type", "application/octet-stream"),
                        data=bytes(data),
                    )
                )
        return body, files, None
    raw = await request.read()
    if not raw:
        return None, [], None
    try:
        return json.loads(raw), [], None
    except ValueError:
        return None, [], "The request body contains invalid JSON."


class RestApi:
    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.faults: list[Fault] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        twin = self.twin
        full_path = request.path
        method = request.method.upper()
        if not full_path.startswith(API_PREFIX + "/"):
            return json_response(404, not_found().body())
        path = full_path[len(API_PREFIX) :]
        found = router.match(method, path)
        template = found[0].template if found else None
        if twin.spec is not None:
            spec_match = twin.spec.match(path, method)
            spec_template = spec_match[0] if spec_match else None
            if spec_template is not None and spec_template != template:
                # e.g. /messages/pins is its own route, not /messages/{message_id}="pins"
                found, template = None, spec_template
        query = dict(request.query)
        body, files, parse_error = await _parse_body(request)
        record = RequestRecord(
            method=method,
            path=path,
            route_template=template,
            query=query,
            body=body,
            at=time.monotonic() - twin.started_at,
            files=files,
            implemented=found is not None,
        )
        twin.requests.append(record)
        headers: dict[str, str] = {}
        try:
            if parse_error is not None:
                raise ApiError(400, 50109, parse_error)
            needs_auth = found is None or found[0].auth
            if needs_auth and request.headers.get("Authorization") != f"Bot {twin.token}":
                raise unauthorized()
            fault = next((f for f in self.faults if f.matches(method, path)), None)
            if fault is not None:
                fault.count -= 1
                fault.hits += 1
                if fault.status == 429:
                    decision = Decision(False, retry_after=fault.retry_after)
                    return self._finish(
                        record, 429, self._429_body(decision), too_many_requests_headers(decision)
                    )
                raise ApiError(fault.status, fault.code, fault.message or _reason(fault.status))
            if found is not None:
                route, params = found
                decision = twin.rate_limits.check(
                    twin.token,
                    f"{method} {route.template}",
                    params,
                    global_limited=route.global_limited,
                )
                if not decision.allowed:
                    return self._finish(
                        record, 429, self._429_body(decision), too_many_requests_headers(decision)
                    )
                headers = decision.headers
            if twin.spec is not None and twin.validate and template is not None:
                self._validate(record, template)
            if found is None:
                twin.unimplemented.append(record)
                raise not_found()
            route, params = found
            ctx = Ctx(twin, method, path, params, query, body, files)
            result = await route.handler(ctx)
            status, payload = self._status(method, route.template, result)
            return self._finish(record, status, payload, headers)
        except ApiError as exc:
            return self._finish(record, exc.status, exc.body(), headers)

    @staticmethod
    def _429_body(decision: Decision) -> dict[str, Any]:
        return {
            "message": "You are being rate limited.",
            "retry_after": round(decision.retry_after, 3),
            "global": decision.is_global,
        }

    def _status(self, method: str, template: str, result: Any) -> tuple[int, Any]:
        if isinstance(result, tuple):
            return result[0], result[1]
        if result is None:
            return 204, None
        return 200, result

    def _finish(
        self, record: RequestRecord, status: int, body: Any, headers: dict[str, str]
    ) -> web.Response:
        record.status = 204 if body is None and status < 300 else status
        record.response = body
        return json_response(record.status, body, headers)

    def _validate(self, record: RequestRecord, template: str) -> None:
        spec = self.twin.spec
        assert spec is not None
        problems = spec.validate_body(record.method, template, record.body)
        problems += spec.validate_query(record.method, template, record.query)
        for message in problems:
            self.twin.spec_violations.append(
                SpecViolation(record.method, record.path, template, message, record.body)
            )


def _reason(status: int) -> str:
    reasons = {
        400: "400: Bad Request",
        401: "401: Unauthorized",
        403: "403: Forbidden",
        404: "404: Not Found",
        500: "500: Internal Server Error",
        502: "502: Bad Gateway",
        503: "503: Service Unavailable",
        504: "504: Gateway Timeout",
    }
    return reasons.get(status, f"{status}")
