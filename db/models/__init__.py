"""All models, imported here so ``Base.metadata`` is complete for Alembic and tests."""

from db.base import Base
from db.models.core import CommandSyncState, GuildConfig, Timer, TimerStatus

__all__ = ["Base", "CommandSyncState", "GuildConfig", "Timer", "TimerStatus"]
