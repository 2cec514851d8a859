"""automatic replies: the address each automatic message of ours went to

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:12:04.118327
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("auto_reply_to", sa.String(length=320), nullable=True))
        batch_op.create_index(
            "ix_messages_auto_reply_to", ["auto_reply_to", "created_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messages_auto_reply_to")
        batch_op.drop_column("auto_reply_to")
