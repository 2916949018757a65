"""a grace month for chapters formal while meetings were not required

Meetings now record attendance, so the default criterion asks again for a meeting with recorded
attendance each month. A chapter that became formal under the relaxed default (no meetings
required) has had no way to record one: it gets a month from this upgrade before the meeting
criterion can put it at risk.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

import db.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GRACE = timedelta(days=31)


def upgrade() -> None:
    with op.batch_alter_table("chapter", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("meeting_grace_until", db.types.UTCDateTime(timezone=True), nullable=True)
        )
    chapter = sa.table(
        "chapter",
        sa.column("status", sa.String()),
        sa.column("active", sa.Boolean()),
        sa.column("meeting_grace_until", db.types.UTCDateTime(timezone=True)),
    )
    op.execute(
        chapter.update()
        .where(chapter.c.status == "formal", chapter.c.active.is_(True))
        .values(meeting_grace_until=datetime.now(UTC) + GRACE)
    )


def downgrade() -> None:
    with op.batch_alter_table("chapter", schema=None) as batch_op:
        batch_op.drop_column("meeting_grace_until")
