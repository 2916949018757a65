"""chapter_settings.meeting_months NULL means the bot's default

The default asked for a meeting with recorded attendance every month, but the bot records no
attendance yet, so no chapter could become formal. The default is now "not required" until
attendance is recorded (``bot.services.chapter_settings.MEETING_ATTENDANCE_RECORDED``). Guilds
that saved any criterion had the old default (1) written into their row; it becomes NULL, the
default, so they follow it now and again when meetings are recorded. (A guild that chose 1 on
purpose can't be told apart; it could not be met anyway.)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("chapter_settings", schema=None) as batch_op:
        batch_op.alter_column("meeting_months", existing_type=sa.Integer(), nullable=True)
    op.execute("UPDATE chapter_settings SET meeting_months = NULL WHERE meeting_months = 1")


def downgrade() -> None:
    op.execute("UPDATE chapter_settings SET meeting_months = 1 WHERE meeting_months IS NULL")
    with op.batch_alter_table("chapter_settings", schema=None) as batch_op:
        batch_op.alter_column("meeting_months", existing_type=sa.Integer(), nullable=False)
