"""Logging configured once, with the bot token scrubbed from every record."""

from __future__ import annotations

import logging
import sys

_REDACTED = "[token redacted]"


class RedactSecrets(logging.Filter):
    """Replaces secrets anywhere in a record's rendered message or traceback."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self._secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for secret in self._secrets:
            message = message.replace(secret, _REDACTED)
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, _REDACTED)
        record.msg, record.args = message, None
        return True


def configure_logging(level: str, secrets: list[str]) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-8s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
    )
    handler.addFilter(RedactSecrets(secrets))
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
