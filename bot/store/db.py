"""Database access: engine, migrations and the store functions the bot uses.

SQLAlchemy 2 async; the default URL is SQLite through aiosqlite, PostgreSQL works
by changing ``DATABASE_URL`` (only portable SQL is used).  Migrations live in
``bot/store/migrations/`` (Alembic) and are applied by :func:`migrate` at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from .models import (UNFINISHED, Job, JobFile, JobStatus, Rating, SurveyAnswer, SurveyRender, User, UserSession,
                     utcnow)

__all__ = ["Store", "Stats", "migrate"]

log = logging.getLogger(__name__)

def _alembic_dir() -> Path:
    """The Alembic migrations: $STYLEBOT_ALEMBIC_DIR, else ``bot/store/migrations``, found
    with importlib.resources (a source checkout and an installed wheel alike)."""
    import os
    from importlib.resources import files

    env = os.environ.get("STYLEBOT_ALEMBIC_DIR")
    folder = Path(env) if env else Path(str(files("bot.store") / "migrations"))
    if (folder / "env.py").is_file() and (folder / "versions").is_dir():
        return folder
    raise FileNotFoundError(f"Alembic migrations not found in {folder}: set STYLEBOT_ALEMBIC_DIR to a folder "
                            "with env.py and versions/ (bot/store/migrations in the source)")


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def alembic_config(url: str):
    """An Alembic ``Config`` for our migrations against ``url`` (for ``command.*``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(_alembic_dir()))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["skip_logging_config"] = True
    return cfg


def _upgrade_sync(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Apply all Alembic migrations to ``url`` (idempotent; creates the SQLite file).

    Runs in a thread because Alembic's async env starts its own event loop."""
    _ensure_sqlite_dir(url)
    await asyncio.to_thread(_upgrade_sync, url)


#: two-sided 97.5 % quantiles of Student's t for 1..29 degrees of freedom (then ~1.96)
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045)


@dataclass
class StatLine:
    """Ratings of one group: count, mean and sample standard deviation (scores 1-10)."""

    count: int
    mean: float | None
    sd: float | None = None

    @property
    def ci95(self) -> float | None:
        """Half-width of the 95 % confidence interval of the mean (Student's t); None below 2 ratings."""
        if self.count < 2 or self.sd is None:
            return None
        t = _T975[self.count - 2] if self.count - 1 <= len(_T975) else 1.96
        return t * self.sd / self.count ** 0.5


@dataclass
class Stats:
    """Survey numbers: ratings count and mean score (1-10)."""

    overall: StatLine
    per_method: dict[str, StatLine] = field(default_factory=dict)
    per_preset: dict[str, StatLine] = field(default_factory=dict)
    own: StatLine = field(default_factory=lambda: StatLine(0, None))
    #: /survey scores per (hidden) method, skips left out
    survey: dict[str, StatLine] = field(default_factory=dict)
    #: of those, the answers per method whose method was drawn among fewer than all of the
    #: pair's methods (the slower pictures were still being painted)
    survey_partial: dict[str, int] = field(default_factory=dict)


def _line(count: Any, mean: Any, mean_sq: Any = None) -> StatLine:
    n = int(count or 0)
    m = float(mean) if mean is not None else None
    sd = None
    if n >= 2 and m is not None and mean_sq is not None:
        sd = max(0.0, (float(mean_sq) - m * m) * n / (n - 1)) ** 0.5
    return StatLine(n, m, sd)


class Store:
    """All database operations of the bot; each call is one short transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        _ensure_sqlite_dir(url)
        self.engine = create_async_engine(url)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def close(self) -> None:
        await self.engine.dispose()

    # users and conversation state -------------------------------------------------
    async def get_session(self, user_id: int, chat_id: int | None = None, first_name: str | None = None) -> UserSession:
        """The user's conversation state, creating the user and the state on first contact."""
        async with self.sessions.begin() as db:
            state = await db.get(UserSession, user_id)
            if state is None:
                if await db.get(User, user_id) is None:
                    db.add(User(id=user_id, first_name=first_name))
                    await db.flush()
                state = UserSession(
                    user_id=user_id, chat_id=chat_id, state="idle", content_as_document=False,
                    default_method="adain", alpha=1.0, preserve_color=False, version=0,
                )
                db.add(state)
            elif chat_id is not None and state.chat_id != chat_id:
                state.chat_id = chat_id
            return state

    async def update_session(self, user_id: int, *, bump: bool = True, **values: Any) -> UserSession:
        """Set fields of the user's state; ``bump`` increments its ``version`` so
        keyboards sent before become stale."""
        async with self.sessions.begin() as db:
            state = await db.get(UserSession, user_id)
            if state is None:
                raise LookupError(f"no session for user {user_id}")
            for key, value in values.items():
                setattr(state, key, value)
            if bump:
                state.version = (state.version or 0) + 1
            return state

    # jobs ----------------------------------------------------------------------------
    async def create_job(self, **values: Any) -> Job:
        values.setdefault("options", {})
        values.setdefault("status", JobStatus.queued.value)
        values.setdefault("attempts", 0)
        values.setdefault("as_document", False)
        async with self.sessions.begin() as db:
            job = Job(**values)
            db.add(job)
            await db.flush()
            return job

    async def get_job(self, job_id: int) -> Job | None:
        async with self.sessions() as db:
            return await db.get(Job, job_id)

    async def update_job(self, job_id: int, **values: Any) -> None:
        async with self.sessions.begin() as db:
            await db.execute(update(Job).where(Job.id == job_id).values(**values))

    async def user_job_counts(self, user_id: int) -> tuple[int, int]:
        """(running, queued) jobs of one user."""
        async with self.sessions() as db:
            rows = await db.execute(
                select(Job.status, func.count()).where(Job.user_id == user_id, Job.status.in_(UNFINISHED)).group_by(Job.status)
            )
            counts = dict(rows.all())
        return counts.get("running", 0), counts.get("queued", 0)

    async def queued_total(self) -> int:
        async with self.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0)

    async def unfinished_total(self) -> int:
        """Jobs queued or running, all users."""
        async with self.sessions() as db:
            return int(await db.scalar(select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED))) or 0)

    async def queue_position(self, job_id: int) -> int:
        """1-based place in the queue counting the running job (0 when not queued)."""
        async with self.sessions() as db:
            job = await db.get(Job, job_id)
            if job is None or job.status != "queued":
                return 0
            ahead = await db.scalar(
                select(func.count()).select_from(Job).where(Job.status.in_(UNFINISHED), Job.id < job_id)
            )
            return int(ahead or 0) + 1

    async def next_queued(self) -> Job | None:
        async with self.sessions() as db:
            return await db.scalar(select(Job).where(Job.status == "queued").order_by(Job.id).limit(1))

    async def queued_jobs(self) -> list[Job]:
        async with self.sessions() as db:
            return list(await db.scalars(select(Job).where(Job.status == "queued").order_by(Job.id)))

    async def active_jobs(self, user_id: int) -> list[Job]:
        async with self.sessions() as db:
            return list(await db.scalars(
                select(Job).where(Job.user_id == user_id, Job.status.in_(UNFINISHED)).order_by(Job.id)
            ))

    async def has_rerun(self, job_id: int, action: str) -> bool:
        """Whether a job re-running ``job_id`` with ``action`` (stronger/weaker/colors) exists
        (so a double-clicked result button does not queue the same picture twice)."""
        async with self.sessions() as db:
            job = await db.get(Job, job_id)
            if job is None:
                return False
            options = await db.scalars(select(Job.options).where(Job.user_id == job.user_id, Job.id > job_id))
            return any((o or {}).get("rerun_of") == job_id and (o or {}).get("action") == action for o in options)

    async def mark_running(self, job_id: int) -> bool:
        """Move a queued job to ``running``; False when it is no longer queued (e.g.
        cancelled after the scheduler picked it), so it must not run."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(Job).where(Job.id == job_id, Job.status == "queued")
                .values(status="running", started_at=utcnow(), attempts=func.coalesce(Job.attempts, 0) + 1)
            )
            return result.rowcount == 1

    async def finish_job(self, job_id: int, status: str, *, seconds: float | None = None, error: str | None = None) -> bool:
        """Move an unfinished job to a final status; False when it had already finished
        (so a result is never delivered twice)."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED))
                .values(status=status, finished_at=utcnow(), seconds=seconds, error=error)
            )
            return result.rowcount == 1

    async def requeue_unfinished(self) -> int:
        """At start-up: jobs left ``running`` by a previous process go back to ``queued``.
        Returns the number of unfinished jobs now queued."""
        async with self.sessions.begin() as db:
            await db.execute(update(Job).where(Job.status == "running").values(status="queued", started_at=None))
            return int(await db.scalar(select(func.count()).select_from(Job).where(Job.status == "queued")) or 0)

    # scale-out mode: jobs painted by stylebot-worker processes ------------------------------
    async def put_job_file(self, job_id: int, kind: str, name: str, data: bytes) -> None:
        """Store an input (``content``/``style``) or the ``result`` of a job (replaced if present)."""
        async with self.sessions.begin() as db:
            await db.execute(delete(JobFile).where(JobFile.job_id == job_id, JobFile.kind == kind))
            db.add(JobFile(job_id=job_id, kind=kind, name=name, data=data))

    async def job_files(self, job_id: int, *kinds: str) -> dict[str, tuple[str, bytes]]:
        """``{kind: (name, bytes)}`` of a job's stored files (all kinds, or those named)."""
        async with self.sessions() as db:
            query = select(JobFile).where(JobFile.job_id == job_id)
            if kinds:
                query = query.where(JobFile.kind.in_(kinds))
            return {f.kind: (f.name, f.data) for f in await db.scalars(query)}

    async def delete_job_files(self, job_id: int) -> None:
        async with self.sessions.begin() as db:
            await db.execute(delete(JobFile).where(JobFile.job_id == job_id))

    async def jobs_to_dispatch(self) -> list[Job]:
        """Queued jobs not handed to the task engine yet, oldest first."""
        async with self.sessions() as db:
            return list(await db.scalars(
                select(Job).where(Job.status == "queued", Job.engine_job_id.is_(None)).order_by(Job.id)))

    async def dispatched_jobs(self) -> list[Job]:
        """Unfinished jobs the task engine has, oldest first (the bot watches them)."""
        async with self.sessions() as db:
            return list(await db.scalars(
                select(Job).where(Job.status.in_(UNFINISHED), Job.engine_job_id.is_not(None)).order_by(Job.id)))

    async def claim_job(self, job_id: int, worker: str) -> Job | None:
        """A worker starts (or, after a worker died, restarts) a job: ``running``, attempts + 1,
        old progress cleared. None when the job is finished, cancelled or gone: do not paint."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(Job).where(Job.id == job_id, Job.status.in_(UNFINISHED), Job.outcome.is_(None))
                .values(status="running", started_at=utcnow(), attempts=func.coalesce(Job.attempts, 0) + 1,
                        worker=worker[:128], progress_step=None, progress_total=None, progress_stage=None)
            )
            if result.rowcount != 1:
                return None
            return await db.get(Job, job_id)

    async def set_progress(self, job_id: int, step: int, total: int, stage: str = "") -> None:
        async with self.sessions.begin() as db:
            await db.execute(update(Job).where(Job.id == job_id, Job.outcome.is_(None))
                             .values(progress_step=step, progress_total=total, progress_stage=stage[:32]))

    async def set_outcome(self, job_id: int, outcome: str, info: dict[str, Any], seconds: float | None = None) -> bool:
        """The worker's outcome (``done``/``failed``/``cancelled``); the first one wins."""
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(Job).where(Job.id == job_id, Job.outcome.is_(None))
                .values(outcome=outcome, outcome_info=info, seconds=seconds)
            )
            return result.rowcount == 1

    async def put_survey_render(self, render_id: str, data: bytes | None, error: str | None = None) -> None:
        async with self.sessions.begin() as db:
            await db.execute(delete(SurveyRender).where(SurveyRender.id == render_id))
            db.add(SurveyRender(id=render_id, data=data, error=error))

    async def take_survey_render(self, render_id: str) -> SurveyRender | None:
        """The worker's answer for a survey picture, removed from the table (None: not yet)."""
        async with self.sessions.begin() as db:
            row = await db.get(SurveyRender, render_id)
            if row is not None:
                await db.delete(row)
            return row

    async def recent_seconds(self, method: str, limit: int = 5) -> list[tuple[float, dict]]:
        """(seconds, options) of the latest finished jobs of ``method`` (for time estimates)."""
        async with self.sessions() as db:
            rows = await db.execute(
                select(Job.seconds, Job.options).where(Job.method == method, Job.status == "done", Job.seconds.is_not(None))
                .order_by(Job.id.desc()).limit(limit)
            )
            return [(float(s), o or {}) for s, o in rows.all()]

    # ratings and survey ---------------------------------------------------------------
    async def rate(self, job_id: int, user_id: int, score: int) -> bool:
        """Store a 1-10 score; re-rating updates the existing row.  True if it was new."""
        if not 1 <= score <= 10:
            raise ValueError("score must be between 1 and 10")
        for _ in range(2):
            try:
                async with self.sessions.begin() as db:
                    rating = await db.scalar(select(Rating).where(Rating.job_id == job_id, Rating.user_id == user_id))
                    if rating is not None:
                        rating.score = score
                        return False
                    db.add(Rating(job_id=job_id, user_id=user_id, score=score))
                    return True
            except IntegrityError:  # a concurrent first rating: retry as an update
                continue
        return False

    async def stats(self, user_id: int | None = None) -> Stats:
        async with self.sessions() as db:
            sq = func.avg(Rating.score * Rating.score)
            overall = (await db.execute(select(func.count(Rating.id), func.avg(Rating.score), sq))).one()
            per_method = await db.execute(
                select(Job.method, func.count(Rating.id), func.avg(Rating.score), sq)
                .join(Job, Job.id == Rating.job_id).group_by(Job.method).order_by(Job.method)
            )
            per_preset = await db.execute(
                select(Job.style_name, func.count(Rating.id), func.avg(Rating.score), sq)
                .join(Job, Job.id == Rating.job_id).where(Job.style_name != "own")
                .group_by(Job.style_name).order_by(Job.style_name)
            )
            survey_score = SurveyAnswer.score
            survey = await db.execute(
                select(SurveyAnswer.method, func.count(SurveyAnswer.id), func.avg(survey_score),
                       func.avg(survey_score * survey_score))
                .where(SurveyAnswer.score.is_not(None)).group_by(SurveyAnswer.method).order_by(SurveyAnswer.method)
            )
            survey = survey.all()
            partial = await db.execute(
                select(SurveyAnswer.method, func.count(SurveyAnswer.id))
                .where(SurveyAnswer.score.is_not(None), SurveyAnswer.partial_draw.is_(True))
                .group_by(SurveyAnswer.method)
            )
            own = (0, None)
            if user_id is not None:
                own = (await db.execute(
                    select(func.count(Rating.id), func.avg(Rating.score)).where(Rating.user_id == user_id)
                )).one()
        return Stats(
            overall=_line(*overall),
            per_method={m: _line(c, a, q) for m, c, a, q in per_method.all()},
            per_preset={p: _line(c, a, q) for p, c, a, q in per_preset.all()},
            own=_line(*own),
            survey={m: _line(c, a, q) for m, c, a, q in survey},
            survey_partial={m: int(c) for m, c in partial.all()},
        )

    # /survey ------------------------------------------------------------------------------
    async def survey_answers(self, user_id: int) -> dict[str, SurveyAnswer]:
        """A user's survey rows by pair id (answered, skipped, or shown and waiting)."""
        async with self.sessions() as db:
            rows = await db.scalars(select(SurveyAnswer).where(SurveyAnswer.user_id == user_id))
            return {row.pair: row for row in rows}

    async def survey_show(self, user_id: int, pair: str, method: str, allowed: list[str] | None = None,
                          partial: bool = False) -> SurveyAnswer:
        """The user's row for ``pair``: the existing one (its method stays what was drawn
        first, unless it is unanswered and no longer in ``allowed``: then ``method``), else a
        new unanswered one with ``method``. ``allowed``: the methods ``method`` was drawn
        among; ``partial``: some of the pair's methods had no picture yet (both are stored
        with a new draw, so /stats and the export can tell such answers apart)."""
        drawn_from = ",".join(sorted(allowed)) if allowed is not None else None
        for _ in range(2):
            try:
                async with self.sessions.begin() as db:
                    row = await db.scalar(select(SurveyAnswer).where(SurveyAnswer.user_id == user_id,
                                                                      SurveyAnswer.pair == pair))
                    if row is None:
                        row = SurveyAnswer(user_id=user_id, pair=pair, method=method, score=None, skipped=False,
                                           drawn_from=drawn_from, partial_draw=bool(partial))
                        db.add(row)
                    elif (allowed is not None and row.method not in allowed and row.score is None
                          and not row.skipped):
                        row.method, row.drawn_from, row.partial_draw = method, drawn_from, bool(partial)
                    return row
            except IntegrityError:  # shown twice at once (a double tap): read the other one
                continue
        raise RuntimeError(f"could not store the survey row of user {user_id}, pair {pair}")

    async def survey_answer(self, user_id: int, pair: str, score: int | None) -> bool:
        """Record a 1-10 ``score`` (None: skipped) for a shown, unanswered pair.
        False if the pair was not shown to the user or is already answered (a second tap)."""
        if score is not None and not 1 <= score <= 10:
            raise ValueError("score must be between 1 and 10")
        async with self.sessions.begin() as db:
            result = await db.execute(
                update(SurveyAnswer)
                .where(SurveyAnswer.user_id == user_id, SurveyAnswer.pair == pair,
                       SurveyAnswer.score.is_(None), SurveyAnswer.skipped.is_(False))
                .values(score=score, skipped=score is None, answered_at=utcnow())
            )
            return result.rowcount == 1

    async def survey_rows(self) -> list[dict[str, Any]]:
        """Every answered survey row, oldest first (for export)."""
        async with self.sessions() as db:
            rows = await db.scalars(select(SurveyAnswer).where(
                (SurveyAnswer.score.is_not(None)) | SurveyAnswer.skipped.is_(True)).order_by(SurveyAnswer.id))
            return [{"answer_id": r.id, "user_id": r.user_id, "pair": r.pair, "method": r.method, "score": r.score,
                     "skipped": r.skipped, "answered_at": r.answered_at.isoformat() if r.answered_at else None,
                     "drawn_from": r.drawn_from, "partial_draw": bool(r.partial_draw)}
                    for r in rows]

    async def jobs_since(self, since) -> list[tuple[Any, str, str]]:
        """(created_at, method, status) of the jobs created after ``since`` (for the dashboard)."""
        async with self.sessions() as db:
            rows = await db.execute(select(Job.created_at, Job.method, Job.status).where(Job.created_at >= since))
            return [tuple(r) for r in rows.all()]

    async def status_counts(self) -> dict[str, int]:
        """How many jobs are in each status, all time."""
        async with self.sessions() as db:
            rows = await db.execute(select(Job.status, func.count(Job.id)).group_by(Job.status))
            return {status: int(n) for status, n in rows.all()}

    async def language_of(self, user_id: int) -> str | None:
        """The language a user chose in /settings (None: not chosen, or unknown user)."""
        async with self.sessions() as db:
            return await db.scalar(select(UserSession.language).where(UserSession.user_id == user_id))

    async def ratings_rows(self) -> list[dict[str, Any]]:
        """Every rating with its job's method, style and options, oldest first (for export)."""
        async with self.sessions() as db:
            rows = await db.execute(
                select(Rating, Job).join(Job, Job.id == Rating.job_id).order_by(Rating.id)
            )
            out = []
            for rating, job in rows.all():
                options = job.options or {}
                out.append({
                    "rating_id": rating.id, "job_id": job.id, "user_id": rating.user_id, "score": rating.score,
                    "method": job.method, "style": job.style_name, "alpha": options.get("alpha", 1.0),
                    "preserve_color": bool(options.get("preserve_color", False)),
                    "media": options.get("media", "photo"), "max_side": options.get("max_side"),
                    "seconds": job.seconds, "rated_at": rating.updated_at.isoformat() if rating.updated_at else None,
                })
            return out

    # privacy ------------------------------------------------------------------------------
    async def forget(self, user_id: int) -> list[str]:
        """Delete everything stored about a user (ratings, jobs, state, user row).
        Returns the file paths that belonged to them, for the caller to remove."""
        async with self.sessions.begin() as db:
            paths: list[str] = []
            state = await db.get(UserSession, user_id)
            if state is not None:
                paths += [p for p in (state.content_path, state.style_path) if p]
            rows = await db.execute(select(Job.content_path, Job.style_path).where(Job.user_id == user_id))
            for content, style in rows.all():
                paths += [p for p in (content, style) if p]
            await db.execute(delete(Rating).where(Rating.user_id == user_id))
            await db.execute(delete(SurveyAnswer).where(SurveyAnswer.user_id == user_id))
            job_ids = select(Job.id).where(Job.user_id == user_id).scalar_subquery()
            await db.execute(delete(Rating).where(Rating.job_id.in_(job_ids)))
            await db.execute(delete(Job).where(Job.user_id == user_id))
            await db.execute(delete(UserSession).where(UserSession.user_id == user_id))
            await db.execute(delete(User).where(User.id == user_id))
        return paths

    async def has_user(self, user_id: int) -> bool:
        async with self.sessions() as db:
            return await db.get(User, user_id) is not None
