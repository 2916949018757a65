"""Logging configured once, with credentials scrubbed from every record at every level.

Credentials are the bot token (known up front) and the tokens Discord hands out at run time:
an interaction token (a 15-minute credential to answer and post follow-ups as the bot) arrives
in every INTERACTION_CREATE payload, which discord.py logs whole at DEBUG, and sits in the URL
of every callback and follow-up (``/interactions/{id}/{token}/…``, ``/webhooks/{id}/{token}…``)
that discord.py's HTTP logging prints.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

_REDACTED = "[token redacted]"
#: ``'token': '…'`` in a logged payload (a dict's repr or JSON)
_TOKEN_FIELD = re.compile(r"""(['"](?:token|access_token)['"]\s*:\s*['"])[^'"]*""")
#: the token segment of interaction callback and webhook URLs
_TOKEN_IN_PATH = re.compile(r"(/(?:interactions|webhooks)/\d+/)[^/\s'\"?#]+")


def redact(text: str, secrets: list[str]) -> str:
    """``text`` without the known ``secrets`` and without interaction or webhook tokens."""
    for secret in secrets:
        text = text.replace(secret, _REDACTED)
    text = _TOKEN_FIELD.sub(rf"\g<1>{_REDACTED}", text)
    return _TOKEN_IN_PATH.sub(rf"\g<1>{_REDACTED}", text)


class RedactSecrets(logging.Filter):
    """Replaces credentials anywhere in a record's rendered message, traceback or stack."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message, self._secrets), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._secrets)
        return True


def configure_logging(level: str, secrets: list[str], stream: TextIO | None = None) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
