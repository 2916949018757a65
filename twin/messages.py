"""Build and edit message payloads from what a bot sends, with Discord's own limits enforced."""

from __future__ import annotations

import copy
import datetime as dt
import re
from typing import Any

from twin.errors import ApiError, invalid_form
from twin.permissions import Perm
from twin.records import UploadedFile
from twin.snowflake import iso, utcnow
from twin.state import TwinChannel, World

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
MESSAGE_FIELDS = ("content", "embeds", "components", "attachments", "poll", "sticker_ids", "files")
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_COMPONENTS_V2 = 1 << 15


def validate_content(body: dict[str, Any], files: list[UploadedFile], *, creating: bool) -> None:
    """Discord's checks on content, embeds and components (50035 / 50006)."""
    errors: dict[str, tuple[str, str]] = {}
    content = body.get("content")
    if isinstance(content, str) and len(content) > 2000:
        errors["content"] = ("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
    embeds = body.get("embeds") or []
    if isinstance(embeds, list):
        if len(embeds) > 10:
            errors["embeds"] = ("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        total = 0
        for i, embed in enumerate(embeds):
            if not isinstance(embed, dict):
                continue
            total += _embed_errors(embed, f"embeds.{i}", errors)
        if total > 6000:
            errors["embeds"] = ("BASE_TYPE_MAX_LENGTH", "Embed size exceeds maximum size of 6000")
    components = body.get("components") or []
    flags = body.get("flags") or 0
    if isinstance(components, list) and not (int(flags) & FLAG_COMPONENTS_V2):
        if len(components) > 5:
            errors["components"] = ("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        seen: set[str] = set()
        for i, row in enumerate(components):
            if isinstance(row, dict):
                _row_errors(row, f"components.{i}", errors, seen)
    if errors:
        raise invalid_form(errors)
    if creating and not any(body.get(k) for k in MESSAGE_FIELDS) and not files:
        raise ApiError(400, 50006, "Cannot send an empty message")


def _embed_errors(embed: dict[str, Any], where: str, errors: dict[str, tuple[str, str]]) -> int:
    limits = {"title": 256, "description": 4096}
    total = 0
    for key, limit in limits.items():
        value = embed.get(key)
        if isinstance(value, str):
            total += len(value)
            if len(value) > limit:
                errors[f"{where}.{key}"] = (
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
    fields = embed.get("fields") or []
    if len(fields) > 25:
        errors[f"{where}.fields"] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for j, fld in enumerate(fields):
        for key, limit in (("name", 256), ("value", 1024)):
            value = fld.get(key)
            if not isinstance(value, str) or not value:
                errors[f"{where}.fields.{j}.{key}"] = (
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                )
                continue
            total += len(value)
            if len(value) > limit:
                errors[f"{where}.fields.{j}.{key}"] = (
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
    for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
        value = (embed.get(key) or {}).get(sub)
        if isinstance(value, str):
            total += len(value)
            if len(value) > limit:
                errors[f"{where}.{key}.{sub}"] = (
                    "BASE_TYPE_MAX_LENGTH",
                    f"Must be {limit} or fewer in length.",
                )
    return total


def _row_errors(
    row: dict[str, Any], where: str, errors: dict[str, tuple[str, str]], seen: set[str]
) -> None:
    children = row.get("components") or []
    if row.get("type") != 1:
        return
    if not children or len(children) > 5:
        errors[f"{where}.components"] = (
            "BASE_TYPE_BAD_LENGTH",
            "Must be between 1 and 5 in length.",
        )
    selects = [c for c in children if c.get("type") in (3, 5, 6, 7, 8)]
    if selects and len(children) > 1:
        errors[f"{where}.components"] = (
            "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
            "The specified component exceeds the maximum width",
        )
    for k, child in enumerate(children):
        custom_id = child.get("custom_id")
        if custom_id is not None:
            if len(custom_id) > 100:
                errors[f"{where}.components.{k}.custom_id"] = (
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.",
                )
            if custom_id in seen:
                errors[f"{where}.components.{k}.custom_id"] = (
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)
        if child.get("type") == 3 and len(child.get("options") or []) > 25:
            errors[f"{where}.components.{k}.options"] = (
                "BASE_TYPE_MAX_LENGTH",
                "Must be 25 or fewer in length.",
            )


def build_attachments(
    world: World,
    channel_id: int,
    body: dict[str, Any],
    files: list[UploadedFile],
    existing: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]] | None:
    """Attachments after this request, or None if the request leaves them as they are."""
    if not files and "attachments" not in body:
        return None
    by_index: dict[int, UploadedFile] = {}
    for f in files:
        m = re.match(r"^files\[(\d+)\]$", f.field) or re.match(r"^file(\d*)$", f.field)
        index = int(m.group(1) or 0) if m else len(by_index)
        by_index[index] = f
    out: list[dict[str, Any]] = []
    requested = body.get("attachments")
    used: set[int] = set()
    old = {a["id"]: a for a in existing or []}
    if isinstance(requested, list):
        for item in requested:
            ident = str(item.get("id"))
            if ident in old:
                kept = dict(old[ident])
                out.append(kept)
                continue
            if ident.isdigit() and int(ident) in by_index:
                f = by_index[int(ident)]
                used.add(int(ident))
                att = world.store_attachment(
                    channel_id, item.get("filename") or f.filename, f.content_type, f.data
                )
                if item.get("description"):
                    att["description"] = item["description"]
                out.append(att)
    elif existing:
        out.extend(dict(a) for a in existing)
    for index in sorted(by_index):
        if index not in used:
            f = by_index[index]
            out.append(world.store_attachment(channel_id, f.filename, f.content_type, f.data))
    return out


def mentions(
    world: World,
    channel: TwinChannel,
    author_id: int,
    content: str,
    allowed: dict[str, Any] | None,
) -> tuple[list[dict[str, Any]], list[str], bool]:
    """(mentions, mention_roles, mention_everyone) as Discord would compute them."""
    parse = ["users", "roles", "everyone"] if allowed is None else list(allowed.get("parse") or [])
    allowed_users = {str(u) for u in (allowed or {}).get("users") or []}
    allowed_roles = {str(r) for r in (allowed or {}).get("roles") or []}
    guild = world.guild_of(channel)
    users = []
    for uid in dict.fromkeys(USER_MENTION.findall(content)):
        if ("users" in parse or uid in allowed_users) and int(uid) in world.users:
            users.append(world.users[int(uid)].payload())
    roles = []
    if guild is not None:
        for rid in dict.fromkeys(ROLE_MENTION.findall(content)):
            if ("roles" in parse or rid in allowed_roles) and int(rid) in guild.roles:
                roles.append(rid)
    everyone = False
    if ("@everyone" in content or "@here" in content) and "everyone" in parse:
        if guild is None:
            everyone = False
        else:
            perms = guild.channel_permissions_of(author_id, channel.id)
            everyone = bool(perms & Perm.MENTION_EVERYONE)
    return users, roles, everyone


def normalize_embeds(embeds: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for embed in embeds or []:
        e = copy.deepcopy(embed)
        e.setdefault("type", "rich")
        if "color" in e and e["color"] is None:
            del e["color"]
        out.append(e)
    return out


def normalize_poll(poll: dict[str, Any] | None) -> dict[str, Any] | None:
    if not poll:
        return None
    duration = int(poll.get("duration") or 24)
    answers = []
    for i, answer in enumerate(poll.get("answers") or [], start=1):
        answers.append({"answer_id": i, "poll_media": answer.get("poll_media", {})})
    return {
        "question": poll.get("question", {}),
        "answers": answers,
        "expiry": iso(utcnow() + dt.timedelta(hours=duration)),
        "allow_multiselect": bool(poll.get("allow_multiselect")),
        "layout_type": poll.get("layout_type") or 1,
        "results": {"is_finalized": False, "answer_counts": []},
    }


def new_message(
    world: World,
    channel: TwinChannel,
    author_id: int,
    body: dict[str, Any],
    files: list[UploadedFile],
    *,
    message_type: int = 0,
    webhook_id: int | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A complete Discord message object for ``body`` (a message-create request body)."""
    content = body.get("content") or ""
    if not isinstance(content, str):
        content = str(content)
    flags = int(body.get("flags") or 0) & (
        FLAG_EPHEMERAL
        | FLAG_SUPPRESS_EMBEDS
        | FLAG_SUPPRESS_NOTIFICATIONS
        | FLAG_COMPONENTS_V2
        | FLAG_LOADING
    )
    users, roles, everyone = mentions(
        world, channel, author_id, content, body.get("allowed_mentions")
    )
    message_id = world.new_id()
    message: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel.id),
        "type": message_type,
        "content": content,
        "author": world.users[author_id].payload(),
        "attachments": build_attachments(world, channel.id, body, files) or [],
        "embeds": normalize_embeds(body.get("embeds")),
        "mentions": users,
        "mention_roles": roles,
        "mention_everyone": everyone,
        "pinned": False,
        "tts": bool(body.get("tts")),
        "timestamp": iso(utcnow()),
        "edited_timestamp": None,
        "flags": flags,
        "components": copy.deepcopy(body.get("components") or []),
    }
    if body.get("nonce") is not None:
        message["nonce"] = body["nonce"]
    poll = normalize_poll(body.get("poll"))
    if poll is not None:
        message["poll"] = poll
    if webhook_id is not None:
        message["webhook_id"] = str(webhook_id)
    ref = body.get("message_reference")
    if ref and ref.get("message_id"):
        referenced = world.message_index.get(int(ref["message_id"]))
        message["message_reference"] = {
            "type": 0,
            "message_id": str(ref["message_id"]),
            "channel_id": str(ref.get("channel_id") or channel.id),
        }
        if channel.guild_id:
            message["message_reference"]["guild_id"] = str(channel.guild_id)
        message["referenced_message"] = copy.deepcopy(referenced) if referenced else None
        if message_type == 0:
            message["type"] = 19
    if extra:
        message.update(extra)
    return message


def apply_edit(
    world: World,
    message: dict[str, Any],
    body: dict[str, Any],
    files: list[UploadedFile],
) -> None:
    """Apply a message-edit body (only the fields present change)."""
    channel = world.channels.get(int(message["channel_id"]))
    if "content" in body:
        message["content"] = body["content"] or ""
        if channel is not None:
            users, roles, everyone = mentions(
                world,
                channel,
                int(message["author"]["id"]),
                message["content"],
                body.get("allowed_mentions"),
            )
            message.update(mentions=users, mention_roles=roles, mention_everyone=everyone)
    if "embeds" in body:
        message["embeds"] = normalize_embeds(body["embeds"])
    if "components" in body:
        message["components"] = copy.deepcopy(body["components"] or [])
    if "flags" in body and body["flags"] is not None:
        keep = int(message.get("flags", 0)) & (FLAG_EPHEMERAL | FLAG_COMPONENTS_V2)
        message["flags"] = keep | (int(body["flags"]) & FLAG_SUPPRESS_EMBEDS)
    attachments = build_attachments(
        world, int(message["channel_id"]), body, files, message.get("attachments")
    )
    if attachments is not None:
        message["attachments"] = attachments
    if body.get("poll"):
        message["poll"] = normalize_poll(body["poll"])
    message["flags"] = int(message.get("flags", 0)) & ~FLAG_LOADING
    message["edited_timestamp"] = iso(utcnow())


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    """Depth-first search through rows, containers, sections and labels."""
    for comp in components:
        if comp.get("custom_id") == custom_id:
            return comp
        for key in ("components", "accessory", "component"):
            child = comp.get(key)
            if isinstance(child, list):
                found = find_component(child, custom_id)
            elif isinstance(child, dict):
                found = find_component([child], custom_id)
            else:
                found = None
            if found is not None:
                return found
    return None
