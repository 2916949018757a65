"""discord_effect.reported_at: when a failed effect was told to organizers

Failures are reported in one summary per guild, a short while after the first one, and each
exactly once: the summary is written in the same transaction that sets ``reported_at``. Rows
that failed before this migration were reported one by one already.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("discord_effect", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reported_at", db.types.UTCDateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE discord_effect SET reported_at = finished_at WHERE status = 'failed'")


def downgrade() -> None:
    with op.batch_alter_table("discord_effect", schema=None) as batch_op:
        batch_op.drop_column("reported_at")
