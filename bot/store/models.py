"""Database tables (SQLAlchemy 2 declarative, portable SQL: SQLite and PostgreSQL).

Telegram ids are 64-bit, hence :class:`~sqlalchemy.BigInteger`.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    LargeBinary,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "User", "UserSession", "Job", "JobStatus", "Rating", "SurveyAnswer", "JobFile", "SurveyRender", "utcnow"]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class JobStatus(str, enum.Enum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


UNFINISHED = (JobStatus.queued.value, JobStatus.running.value)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UserSession(Base):
    """Conversation state and preferences of one user.

    ``state``: ``idle`` | ``awaiting_style`` (content received, style not chosen yet) |
    ``awaiting_own_style`` (waiting for a style photo) | ``awaiting_method``.
    ``content_path`` is the content image of the user's latest photo; it is kept
    until replaced so the result buttons can re-run without re-sending it.
    """

    __tablename__ = "sessions"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(32), default="idle")
    content_path: Mapped[str | None] = mapped_column(Text)
    content_as_document: Mapped[bool] = mapped_column(Boolean, default=False)
    #: ``photo`` | ``video`` | ``animation`` (a GIF) | ``video_note`` (a round clip)
    content_media: Mapped[str] = mapped_column(String(16), default="photo", server_default="photo")
    style_name: Mapped[str | None] = mapped_column(String(64))
    style_path: Mapped[str | None] = mapped_column(Text)
    #: ``en`` | ``ru`` chosen in /settings; None: the language of the user's Telegram app
    language: Mapped[str | None] = mapped_column(String(8), nullable=True)
    default_method: Mapped[str] = mapped_column(String(16), default="adain")
    alpha: Mapped[float] = mapped_column(Float, default=1.0)
    #: brush size (styletransfer.scale: 1 = medium, 0.67 fine, 1.5 bold)
    stroke: Mapped[float] = mapped_column(Float, default=1.0)
    #: texture laid over the photo before the style (styletransfer.texture; None: none)
    texture: Mapped[str | None] = mapped_column(String(16), nullable=True)
    preserve_color: Mapped[bool] = mapped_column(Boolean, default=False)
    output_size: Mapped[int | None] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class Job(Base):
    """One stylization request.  ``style_name`` is a preset name or ``"own"``."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    content_path: Mapped[str] = mapped_column(Text)
    style_path: Mapped[str | None] = mapped_column(Text)
    style_name: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.queued.value, index=True)
    as_document: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    seconds: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    status_message_id: Mapped[int | None] = mapped_column(BigInteger)
    result_message_id: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # scale-out mode (PostgreSQL + stylebot-worker processes on Procrastinate): the engine's job,
    # the worker painting it, its progress and outcome as the worker reports them; the bot
    # records the outcome (``status``) and delivers it exactly once
    engine_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    worker: Mapped[str | None] = mapped_column(String(128), nullable=True)
    progress_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    progress_stage: Mapped[str | None] = mapped_column(String(32), nullable=True)
    #: ``done`` | ``failed`` | ``cancelled``, written by the worker (None: not finished)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)
    #: the outcome's details: ``ran`` (Done) or ``message``/``user_error`` (Failed)
    outcome_info: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class JobFile(Base):
    """Inputs and the result of a job in the database, for workers that do not share the
    bot's disk (scale-out mode): ``kind`` is ``content``, ``style`` or ``result``."""

    __tablename__ = "job_files"

    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class Rating(Base):
    """A user's 1-10 score of a result; one row per (job, user), re-rating updates it."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("job_id", "user_id", name="uq_ratings_job_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(Integer, ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class SurveyAnswer(Base):
    """One user's answer to one /survey pair: the method drawn for them (hidden from them),
    and their 1-10 score, or ``skipped``. The row is written when the pair is first shown
    (``score`` None, ``skipped`` False: not answered yet), so a user who stops and resumes
    sees the same picture again; one row per (user, pair)."""

    __tablename__ = "survey_answers"
    __table_args__ = (UniqueConstraint("user_id", "pair", name="uq_survey_answers_user_pair"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: the pair's id in the survey (``01-tubingen-starry_night``, or the operator's own)
    pair: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(16))
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    skipped: Mapped[bool] = mapped_column(Boolean, default=False)
    shown_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    #: the methods ``method`` was drawn among ("adain,johnson"); a pair is shown as soon as one
    #: method has painted it, so right after start-up a draw may lack the slow ones
    drawn_from: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: True when some method that paints the pair had no picture yet at the draw
    partial_draw: Mapped[bool] = mapped_column(Boolean, default=False)


class SurveyRender(Base):
    """A /survey picture painted by a stylebot-worker (scale-out mode): the bot defers the
    render with its inputs and reads the result (``data``) or the error back from here."""

    __tablename__ = "survey_renders"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)
    data: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
