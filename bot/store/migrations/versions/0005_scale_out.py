"""scale-out: jobs' engine job, worker, progress and outcome columns; job_files for inputs and
results; survey_renders for /survey pictures painted by workers

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""
from __future__ import annotations

import sqlalchemy as sa

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

def _columns() -> list[sa.Column]:
    return [
        sa.Column("engine_job_id", sa.BigInteger(), nullable=True),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("progress_step", sa.Integer(), nullable=True),
        sa.Column("progress_total", sa.Integer(), nullable=True),
        sa.Column("progress_stage", sa.String(32), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("outcome_info", sa.JSON(), nullable=True),
    ]


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for column in _columns():
            batch.add_column(column)
    op.create_table(
        "job_files",
        sa.Column("job_id", sa.Integer(), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "survey_renders",
        sa.Column("id", sa.String(96), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("survey_renders")
    op.drop_table("job_files")
    with op.batch_alter_table("jobs") as batch:
        for column in reversed(_columns()):
            batch.drop_column(column.name)
