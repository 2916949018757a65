"""Configuration from the environment and ``.env`` (pydantic-settings).

Secrets have no usable default; the entry point checks them and explains what to do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    discord_token: SecretStr | None = Field(default=None, description="Bot token (required)")
    database_url: str = "sqlite+aiosqlite:///./chapterbot.db"
    dev_guild_id: int | None = None
    log_level: LogLevel = "INFO"
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: list[int] | None = None
    timer_max_attempts: int = Field(default=5, ge=1)
    timer_retry_base_seconds: float = Field(default=30.0, gt=0)
    timer_refresh_seconds: float = Field(default=300.0, gt=0)
    timer_late_after_seconds: float = Field(default=60.0, ge=0)
    # reminders skipped after downtime are told to organizers in one message this long after
    # the last skipped run
    meeting_skip_summary_seconds: float = Field(default=60.0, ge=0)
    effect_max_attempts: int = Field(default=8, ge=1)
    effect_retry_base_seconds: float = Field(default=5.0, gt=0)
    # Discord allows 50 requests/s per bot across all processes; leave room for the rest
    effect_rate_per_second: float = Field(default=40.0, gt=0, le=50)
    effect_burst: int = Field(default=10, ge=1)
    effect_concurrency: int = Field(default=8, ge=1)
    # failed Discord changes are gathered this long after the first into one organizer report
    effect_report_delay_seconds: float = Field(default=60.0, ge=0)
    gazetteer_dir: Path = Path(".cache/gazetteer")
    # a claim a dead process left behind is taken over after this long
    effect_lease_seconds: float = Field(default=120.0, gt=0)

    @field_validator(
        "dev_guild_id", "shard_count", "discord_api_base", "discord_gateway_url", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_any_case(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("shard_ids", mode="before")
    @classmethod
    def _parse_shard_ids(cls, value: object) -> object:
        if isinstance(value, int):  # "2" arrives JSON-decoded
            return [value]
        if isinstance(value, str):
            parts = [p for p in value.replace(" ", "").split(",") if p]
            return [int(p) for p in parts] or None
        return value

    @model_validator(mode="after")
    def _shards_fit(self) -> Settings:
        if self.shard_ids is not None:
            if self.shard_count is None:
                raise ValueError("SHARD_IDS needs SHARD_COUNT (the total number of shards)")
            bad = [i for i in self.shard_ids if not 0 <= i < self.shard_count]
            if bad:
                raise ValueError(f"SHARD_IDS {bad} must be between 0 and SHARD_COUNT - 1")
        return self

    @property
    def token(self) -> str | None:
        if self.discord_token is None:
            return None
        raw = self.discord_token.get_secret_value().strip()
        return raw or None
