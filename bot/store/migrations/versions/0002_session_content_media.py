"""sessions.content_media: what the user's latest content is (photo, video, animation, video_note)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("content_media", sa.String(16), nullable=False, server_default="photo"))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("content_media")
