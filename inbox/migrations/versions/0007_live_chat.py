"""live chat: website visitors and their hashed widget tokens

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_visitors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=64), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("verified_user_id", sa.String(length=200), nullable=True),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("follow_up_email", sa.String(length=320), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inboxes.id"],
            name=op.f("fk_chat_visitors_inbox_id_inboxes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_visitors")),
        sa.UniqueConstraint("public_id", name=op.f("uq_chat_visitors_public_id")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_chat_visitors_token_hash")),
    )
    op.create_index(op.f("ix_chat_visitors_inbox_id"), "chat_visitors", ["inbox_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_visitors_inbox_id"), table_name="chat_visitors")
    op.drop_table("chat_visitors")
