"""reminders skipped after downtime are summarised to organizers once

Each skipped reminder run used to post its own organizer message; a catch-up after downtime
flooded the organizer channel. The ledger now records when a skipped row was summarised, so one
message per guild lists them and none is told twice.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("reminder_delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("summarised_at", db.types.UTCDateTime(timezone=True), nullable=True)
        )
    # rows skipped before this upgrade were already told, one message each
    op.execute("UPDATE reminder_delivery SET summarised_at = created_at")


def downgrade() -> None:
    with op.batch_alter_table("reminder_delivery", schema=None) as batch_op:
        batch_op.drop_column("summarised_at")
