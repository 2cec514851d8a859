"""messaging media: the fetch queue, and why a file could not be fetched

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "message_media",
        sa.Column("id", _BIG_ID, nullable=False),
        sa.Column("message_id", _BIG_ID, nullable=False),
        sa.Column("inbox_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.Text(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("attachment_id", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["attachments.id"],
            name=op.f("fk_message_media_attachment_id_attachments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"],
            ["inboxes.id"],
            name=op.f("fk_message_media_inbox_id_inboxes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_message_media_message_id_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_media")),
        sa.UniqueConstraint(
            "message_id", "position", name=op.f("uq_message_media_message_id_position")
        ),
    )
    with op.batch_alter_table("message_media", schema=None) as batch_op:
        batch_op.create_index("ix_message_media_due", ["done_at", "next_attempt_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_message_media_message_id"), ["message_id"], unique=False
        )
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("media_error")
    with op.batch_alter_table("message_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_media_message_id"))
        batch_op.drop_index("ix_message_media_due")
    op.drop_table("message_media")
