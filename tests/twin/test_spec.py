"""The twin's spec validation: the two documented relaxations and nothing broader."""

from __future__ import annotations

from typing import Any

from twin.spec import OpenApiSpec, find_spec_path, load_spec


def _spec(body_schema: dict[str, Any]) -> OpenApiSpec:
    return OpenApiSpec(
        {
            "paths": {
                "/things": {
                    "post": {
                        "requestBody": {
                            "content": {"application/json": {"schema": body_schema}},
                            "required": True,
                        }
                    }
                }
            },
            "components": {"schemas": {"Id": {"type": "string"}}},
        }
    )


def test_one_of_still_needs_exactly_one_branch() -> None:
    spec = _spec(
        {
            "type": "object",
            "properties": {
                "v": {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 5}]}
            },
        }
    )
    assert spec.validate_body("POST", "/things", {"v": "a-long-one"}) == []  # one branch
    assert spec.validate_body("POST", "/things", {"v": "abc"})  # both branches: not oneOf
    assert spec.validate_body("POST", "/things", {"v": 3})  # no branch


def test_one_of_ambiguous_only_through_the_integer_relaxation_passes() -> None:
    spec = _spec(
        {
            "type": "object",
            "properties": {
                "nonce": {"oneOf": [{"type": "integer"}, {"$ref": "#/components/schemas/Id"}]}
            },
        }
    )
    assert spec.validate_body("POST", "/things", {"nonce": "123"}) == []
    assert spec.validate_body("POST", "/things", {"nonce": 123}) == []
    assert spec.validate_body("POST", "/things", {"nonce": 1.5})


def test_wrongly_typed_fields_are_reported_in_messages_and_commands() -> None:
    path = find_spec_path()
    assert path is not None
    spec = load_spec(str(path))
    message = "/channels/{channel_id}/messages"
    assert (
        spec.validate_body("POST", message, {"content": "hi", "nonce": "12", "flags": "64"}) == []
    )
    assert spec.validate_body("POST", message, {"content": 5})
    assert spec.validate_body("POST", message, {"content": "hi", "tts": "yes"})
    assert spec.validate_body("POST", message, {"content": "hi", "flags": "sixty-four"})
    assert spec.validate_body("POST", message, {"content": "hi", "embeds": [{"title": 5}]})
    commands = "/applications/{application_id}/commands"
    good = {"name": "about", "description": "What this bot is", "type": 1}
    assert spec.validate_body("PUT", commands, [good]) == []
    assert spec.validate_body("PUT", commands, [{**good, "name": 5}])
    assert spec.validate_body("PUT", commands, [{**good, "type": "chat"}])
    assert spec.validate_body("PUT", commands, [{**good, "dm_permission": "no"}])
    option = {"type": 3, "name": "city", "description": "A city", "required": "yes"}
    assert spec.validate_body("PUT", commands, [{**good, "options": [option]}])
    # the documented relaxations: an int snowflake, a string role permission
    assert spec.validate_body("POST", "/users/@me/channels", {"recipient_id": 12345}) == []
    assert spec.validate_body("POST", "/guilds/{guild_id}/roles", {"permissions": "8"}) == []
    assert spec.validate_body("POST", "/users/@me/channels", {"recipient_id": "abc"})
