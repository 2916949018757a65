"""Discord's JSON error bodies, and the error tests get when they misuse the twin."""

from __future__ import annotations

from typing import Any


class TwinError(Exception):
    """Raised to the *test* (not the bot) for impossible user actions, e.g. an unknown command."""


class ApiError(Exception):
    """An HTTP error the twin answers with Discord's ``{"code": N, "message": "..."}`` body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


_UNKNOWN = {
    "application": (10002, "Unknown Application"),
    "channel": (10003, "Unknown Channel"),
    "guild": (10004, "Unknown Guild"),
    "member": (10007, "Unknown Member"),
    "message": (10008, "Unknown Message"),
    "overwrite": (10009, "Unknown Overwrite"),
    "role": (10011, "Unknown Role"),
    "user": (10013, "Unknown User"),
    "emoji": (10014, "Unknown Emoji"),
    "webhook": (10015, "Unknown Webhook"),
    "interaction": (10062, "Unknown interaction"),
    "command": (10063, "Unknown application command"),
    "scheduled_event": (10070, "Unknown Guild Scheduled Event"),
}


def unknown(kind: str) -> ApiError:
    code, message = _UNKNOWN[kind]
    return ApiError(404, code, message)


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def missing_access() -> ApiError:
    return ApiError(403, 50001, "Missing Access")


def cannot_dm() -> ApiError:
    return ApiError(403, 50007, "Cannot send messages to this user")


def already_acknowledged() -> ApiError:
    return ApiError(400, 40060, "Interaction has already been acknowledged.")


def unauthorized() -> ApiError:
    return ApiError(401, 0, "401: Unauthorized")


def not_found() -> ApiError:
    return ApiError(404, 0, "404: Not Found")


def field_errors(fields: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """``{"a.0.b": (CODE, message)}`` → Discord's nested ``errors`` object."""
    out: dict[str, Any] = {}
    for dotted, (code, message) in fields.items():
        node = out
        for part in dotted.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return out


def invalid_form(fields: dict[str, tuple[str, str]]) -> ApiError:
    return ApiError(400, 50035, "Invalid Form Body", field_errors(fields))


def check(condition: bool, field: str, code: str, message: str) -> None:
    """Raise 50035 Invalid Form Body for ``field`` unless ``condition`` holds."""
    if not condition:
        raise invalid_form({field: (code, message)})
