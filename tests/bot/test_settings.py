"""Configuration: a missing token is one clear line and exit 2; the token never leaks."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.logging_setup import RedactSecrets
from bot.settings import Settings

REPO = Path(__file__).resolve().parents[2]
SECRET = "MTIzNDU2Nzg5MDEyMzQ1Njc4.Gabcde.super-secret-token-value"


def run_bot(env_extra: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,  # no .env there
        env={**env, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("token", [None, "", "   "])
def test_missing_or_blank_token_exits_2_with_one_line(token: str | None, tmp_path: Path) -> None:
    result = run_bot({} if token is None else {"DISCORD_TOKEN": token}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "DISCORD_TOKEN" in lines[0] and ".env" in lines[0]
    assert "Traceback" not in result.stderr


def test_invalid_setting_is_reported_without_traceback(tmp_path: Path) -> None:
    result = run_bot({"DISCORD_TOKEN": SECRET, "SHARD_COUNT": "zero"}, tmp_path)
    assert result.returncode == 2
    assert "SHARD_COUNT" in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stderr


def test_shard_ids_need_a_count_and_must_fit(tmp_path: Path) -> None:
    result = run_bot({"DISCORD_TOKEN": SECRET, "SHARD_IDS": "0,1"}, tmp_path)
    assert result.returncode == 2 and "SHARD_IDS needs SHARD_COUNT" in result.stderr
    result = run_bot({"DISCORD_TOKEN": SECRET, "SHARD_IDS": "2", "SHARD_COUNT": "2"}, tmp_path)
    assert result.returncode == 2 and "between 0 and SHARD_COUNT - 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_token_not_in_repr_or_str(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", SECRET)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.token == SECRET
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert SECRET not in settings.model_dump_json()


def test_blank_optional_settings_are_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEV_GUILD_ID", "")
    monkeypatch.setenv("SHARD_IDS", "0, 2")
    monkeypatch.setenv("SHARD_COUNT", "4")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.dev_guild_id is None
    assert settings.shard_ids == [0, 2]
    assert settings.database_url.startswith("sqlite+aiosqlite")


def test_log_records_never_contain_the_token(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.redaction")
    logger.addFilter(RedactSecrets([SECRET]))
    try:
        with caplog.at_level(logging.DEBUG, logger="test.redaction"):
            logger.debug("connecting with %s", SECRET)
            try:
                raise RuntimeError(f"bad header Authorization: Bot {SECRET}")
            except RuntimeError:
                logger.exception("request failed")
    finally:
        logger.filters.clear()
    text = caplog.text
    assert SECRET not in text
    assert "[token redacted]" in text
    assert "request failed" in text


def test_log_level_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert Settings(_env_file=None).log_level == "DEBUG"  # type: ignore[call-arg]


def test_unreachable_discord_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {
        "DISCORD_TOKEN": SECRET,
        "DISCORD_API_BASE": "http://127.0.0.1:9/api/v10",  # discard port: connection refused
        "DISCORD_GATEWAY_URL": "ws://127.0.0.1:9/",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
    }
    result = run_bot(env, tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and SECRET not in result.stderr
    assert "cannot reach Discord at http://127.0.0.1:9/api/v10" in result.stderr.splitlines()[-1]


async def test_a_stop_signal_during_the_migration_finishes_it_and_never_connects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM/SIGINT used to be handled only once the bot was built: during the migration
    SIGTERM killed the process half-way through it (exit 143)."""
    import signal

    import bot.__main__ as entry
    from db.migrate import upgrade_to_head

    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    migrated: list[str] = []

    async def migrate_while_signalled(database_url: str) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)  # the signal arrives while migrating
        await upgrade_to_head(database_url)
        migrated.append(database_url)

    def connect_not_expected(*args: object, **kwargs: object) -> None:
        raise AssertionError("the bot was built after a stop signal")

    monkeypatch.setattr(entry, "upgrade_to_head", migrate_while_signalled)
    monkeypatch.setattr(entry, "create_engine", connect_not_expected)
    seen: list[int] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    try:
        settings = Settings(_env_file=None, discord_token=SECRET, database_url=url)  # type: ignore[call-arg]
        await asyncio.wait_for(entry.run(settings, SECRET), 10)
    finally:
        asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGTERM, previous)
    assert migrated == [url] and seen == []


def test_env_example_lists_every_setting_and_parses() -> None:
    """`.env.example` is the settings reference people copy: every field is there, and its
    values are valid once a token is filled in."""
    from bot.settings import Settings
    from tests.paths import REPO_ROOT

    example = (REPO_ROOT / ".env.example").read_text(encoding="utf-8")
    names = {
        line.split("=", 1)[0]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert {field.upper() for field in Settings.model_fields} <= names
    values = {
        line.split("=", 1)[0].lower(): line.split("=", 1)[1]
        for line in example.splitlines()
        if "=" in line and not line.startswith("#") and line.split("=", 1)[1]
    }
    values["discord_token"] = "x" * 20
    Settings(_env_file=None, **values)  # type: ignore[call-arg]
