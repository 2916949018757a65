"""Validate request bodies against Discord's OpenAPI description (loaded once per process).

Relaxations, because the published spec is a stricter preview than Discord itself:

* where the spec says ``integer``, an int-parseable string passes (discord.py sends a role's
  ``permissions`` as a string);
* where the spec says snowflake (``SnowflakeType``), an integer passes (discord.py sends
  ``recipient_id`` as an int);
* ``oneOf`` still needs exactly one branch, but a value that matches several only thanks to the
  relaxations passes (a digit-only string ``nonce`` matches the integer branch too): with several
  matches the branches are checked again without the integer relaxation.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import jsonschema.validators  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError, best_match  # type: ignore[import-untyped]
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

SPEC_URI = "urn:discord-openapi"
_INT_RE = re.compile(r"^-?[0-9]+$")


BUNDLED_SPEC = Path(__file__).resolve().parent / "spec" / "openapi.json"


def find_spec_path() -> Path | None:
    """``$TWIN_OPENAPI_SPEC``, else the copy this package carries (``twin/spec/openapi.json``)."""
    env = os.environ.get("TWIN_OPENAPI_SPEC")
    if env:
        return Path(env)
    return BUNDLED_SPEC if BUNDLED_SPEC.is_file() else None


def _is_relaxed_integer(checker: Any, instance: Any) -> bool:
    if isinstance(instance, bool):
        return False
    if isinstance(instance, int):
        return True
    if isinstance(instance, float):
        return instance.is_integer()
    return isinstance(instance, str) and bool(_INT_RE.match(instance))


def _strictly_valid(validator: Any, subschema: Any, instance: Any) -> bool:
    """``instance`` matches ``subschema`` without the integer relaxation ($refs still resolve)."""
    resolver = validator._resolver.in_subresource(DRAFT202012.create_resource(subschema))
    strict = jsonschema.Draft202012Validator(subschema, _resolver=resolver)
    return bool(strict.is_valid(instance))


def _one_of_relaxed(
    validator: Any, one_of: list[Any], instance: Any, schema: Any
) -> Iterator[ValidationError]:
    errors: list[ValidationError] = []
    matched: list[Any] = []
    for index, subschema in enumerate(one_of):
        errs = list(validator.descend(instance, subschema, schema_path=index))
        if errs:
            errors.extend(errs)
        else:
            matched.append(subschema)
    if not matched:
        yield ValidationError(
            f"{instance!r} is not valid under any of the given schemas", context=errors
        )
        return
    if len(matched) > 1:
        strict = [sub for sub in matched if _strictly_valid(validator, sub, instance)]
        if len(strict) > 1:
            yield ValidationError(f"{instance!r} is valid under each of {strict!r}")


_RelaxedValidator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    validators={"oneOf": _one_of_relaxed},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", _is_relaxed_integer
    ),
)


def _template_regex(template: str) -> re.Pattern[str]:
    parts = re.split(r"(\{[^}]+\})", template)
    regex = "".join(f"(?P<{p[1:-1]}>[^/]+)" if p.startswith("{") else re.escape(p) for p in parts)
    return re.compile(f"^{regex}$")


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


class OpenApiSpec:
    """An index of Discord's OpenAPI document: route templates and compiled body validators."""

    def __init__(self, document: dict[str, Any]) -> None:
        doc = copy.deepcopy(document)
        doc["components"]["schemas"]["SnowflakeType"] = {
            "anyOf": [
                {"type": "string", "pattern": "^(0|[1-9][0-9]*)$"},
                {"type": "integer", "minimum": 0},
            ]
        }
        self.document = doc
        resource = Resource.from_contents(doc, default_specification=DRAFT202012)
        self._registry: Registry[Any] = Registry().with_resource(SPEC_URI, resource)
        self._paths: list[tuple[str, re.Pattern[str], int]] = []
        for template in doc["paths"]:
            literal = sum(1 for seg in template.split("/") if seg and not seg.startswith("{"))
            self._paths.append((template, _template_regex(template), literal))
        # most literal segments first, so /users/@me wins over /users/{user_id}
        self._paths.sort(key=lambda item: -item[2])
        self._validators: dict[tuple[str, str], Any] = {}

    def match(self, path: str, method: str | None = None) -> tuple[str, dict[str, str]] | None:
        """The most specific template for ``path`` (preferring ones that have ``method``)."""
        fallback = None
        for template, regex, _ in self._paths:
            m = regex.match(path)
            if m:
                if method is None or self.operation(method, template) is not None:
                    return template, m.groupdict()
                fallback = fallback or (template, m.groupdict())
        return fallback

    def operation(self, method: str, template: str) -> dict[str, Any] | None:
        item = self.document["paths"].get(template)
        if item is None:
            return None
        op = item.get(method.lower())
        return op if isinstance(op, dict) else None

    def _validator(self, method: str, template: str) -> Any:
        key = (method.lower(), template)
        if key not in self._validators:
            op = self.operation(method, template)
            validator = None
            if op is not None and "requestBody" in op:
                content = op["requestBody"].get("content", {})
                media = "application/json" if "application/json" in content else next(iter(content))
                ref = "#/" + _pointer("paths", template, method.lower(), "requestBody", "content")
                ref += "/" + _pointer(media, "schema")
                validator = _RelaxedValidator({"$ref": SPEC_URI + ref}, registry=self._registry)
            self._validators[key] = validator
        return self._validators[key]

    def validate_body(self, method: str, template: str, body: Any) -> list[str]:
        """Problems with ``body`` for this operation ([] if fine or if nothing is specified)."""
        op = self.operation(method, template)
        if op is None:
            return []
        request_body = op.get("requestBody")
        if request_body is None:
            return []
        if body is None:
            return ["request body is required"] if request_body.get("required") else []
        validator = self._validator(method, template)
        problems = []
        for error in validator.iter_errors(body):
            detail = best_match(error.context) if error.context else None
            where = "/".join(str(p) for p in error.absolute_path) or "(body)"
            msg = f"{where}: {error.message}"
            if detail is not None:
                inner = "/".join(str(p) for p in detail.absolute_path) or "(body)"
                msg += f" — closest: {inner}: {detail.message}"
            problems.append(msg)
            if len(problems) >= 10:
                break
        return problems

    def validate_query(self, method: str, template: str, query: dict[str, str]) -> list[str]:
        """Light checks: known parameter names, integers and booleans parse."""
        op = self.operation(method, template)
        if op is None:
            return []
        params = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
        problems = []
        for name, value in query.items():
            param = params.get(name)
            if param is None:
                problems.append(f"query parameter {name!r} is not in the spec")
                continue
            schema = param.get("schema", {})
            if "$ref" in schema:
                schema = self._resolve(schema["$ref"])
            kinds = schema.get("type", [])
            kinds = [kinds] if isinstance(kinds, str) else kinds
            if "integer" in kinds and not _INT_RE.match(value):
                problems.append(f"query parameter {name}={value!r} is not an integer")
            if "boolean" in kinds and value.lower() not in {"true", "false", "1", "0"}:
                problems.append(f"query parameter {name}={value!r} is not a boolean")
        return problems

    def _resolve(self, ref: str) -> dict[str, Any]:
        node: Any = self.document
        for part in ref.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node if isinstance(node, dict) else {}


@functools.lru_cache(maxsize=4)
def load_spec(path: str) -> OpenApiSpec:
    """Parse and index the spec once per process and path."""
    with open(path, encoding="utf-8") as fh:
        return OpenApiSpec(json.load(fh))
