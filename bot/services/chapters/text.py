"""Cleaning what members type: chapter names, free text, role names."""

from __future__ import annotations

import re
import unicodedata

from bot.errors import InvalidInput
from bot.services import sanitize
from bot.services.places import normalize
from bot.services.sanitize import normalized_name

NAME_MAX_CHARS = 80
AGREEMENT_MAX_CHARS = 1000
REASON_MAX_CHARS = 500
ROLE_MAX_CHARS = 40
#: Roles offered by autocomplete; any other short role name is accepted too.
KNOWN_ROLES = ("facilitator", "note-taker", "outreach", "treasurer")
#: The empowering jobs that /chapter roles rotate hands round.
ROTATING_ROLES = ("facilitator", "note-taker")
_ROLE_ALIASES = {"notetaker": "note-taker", "note": "note-taker", "facilitation": "facilitator"}
_ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9-]*$")
_MENTION = re.compile(r"<(?:@[!&]?|#|/[^:>]*:)\d+>")
_SPACES = re.compile(r"\s+")


def clean_name(text: str, *, what: str = "Chapter names", limit: int = NAME_MAX_CHARS) -> str:
    """A name safe for a Discord role or message: no mentions, no @everyone/@here, no control
    characters, single spaces. Raises InvalidInput if too long or empty."""
    name = normalized_name(text)
    if len(name) > limit:
        raise InvalidInput(
            f"{what} can be at most {limit} characters (yours has {len(name)}). Try a shorter one."
        )
    name = _MENTION.sub("", name).replace("@", "")
    name = _SPACES.sub(" ", name).strip(" -")
    if not name:
        raise InvalidInput(f"{what} need some letters or digits. Try something like “Chicago”.")
    return name


def clean_text(text: str, *, what: str, limit: int) -> str:
    """Free text (agreements, reasons): trimmed and length-checked; mentions are neutralized at
    render time with allowed_mentions, so the text itself is kept as written."""
    value = sanitize.clean_text(unicodedata.normalize("NFKC", text)).strip()
    if not value:
        raise InvalidInput(f"The {what} can't be empty. Write a short sentence.")
    if len(value) > limit:
        raise InvalidInput(
            f"The {what} can be at most {limit} characters (yours has {len(value)}). "
            "Shorten it or split it in two."
        )
    return value


def name_key(name: str) -> str:
    """The key two chapter names clash on (case, accents and punctuation ignored)."""
    return normalize(name)[:NAME_MAX_CHARS] or name.lower()[:NAME_MAX_CHARS]


def normalize_role(text: str) -> str:
    """``"Note taker"`` → ``"note-taker"``. Raises InvalidInput for names that can't be roles."""
    key = _SPACES.sub("-", text.strip().lower().replace("_", " ")).strip("-")
    key = _ROLE_ALIASES.get(key, key)
    if not key or len(key) > ROLE_MAX_CHARS or not _ROLE_PATTERN.match(key):
        raise InvalidInput(
            f"Role names are short words like {', '.join(KNOWN_ROLES)} "
            f"(letters, digits and hyphens, at most {ROLE_MAX_CHARS} characters)."
        )
    return key


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
