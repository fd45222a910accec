"""survey_answers.drawn_from: the methods a /survey pair's hidden method was drawn among
(a pair is shown as soon as one method has painted it, so early draws may have had fewer)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("survey_answers") as batch:
        batch.add_column(sa.Column("drawn_from", sa.String(64), nullable=True))
        batch.add_column(sa.Column("partial_draw", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("survey_answers") as batch:
        batch.drop_column("partial_draw")
        batch.drop_column("drawn_from")
