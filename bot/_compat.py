"""The bot's module paths before its layout in sub-packages (December 2026), deprecated.

``import bot.db``, ``from bot.jobs import InferenceWorker``, ``python -m bot.engine_worker``
and the like keep working for one release through :mod:`styletransfer._compat`, with a
:class:`DeprecationWarning` naming the new place. Nothing in the bot uses them.
"""

from __future__ import annotations

from styletransfer._compat import moved_attribute, register

__all__ = ["MOVED", "MOVED_NAMES", "install", "moved_attribute"]

#: old module -> (new module, {old attribute: new attribute or "module:attribute"})
MOVED: dict[str, tuple[str, dict[str, str]]] = {
    "bot.db": ("bot.store.db", {}),
    "bot.models": ("bot.store.models", {}),
    "bot.worker": ("bot.jobs.inference", {"worker_main": "bot.jobs.local:worker_main"}),
    "bot.scheduler": ("bot.jobs.local", {"Scheduler": "LocalQueue"}),
    "bot.engine": ("bot.jobs.procrastinate", {}),
    "bot.engine_worker": ("bot.jobs.procrastinate", {}),
    "bot.dispatch": ("bot.jobs.procrastinate", {"EngineScheduler": "ProcrastinateQueue",
                                                "EngineWorkers": "WorkerPool"}),
    "bot.estimates": ("bot.jobs.estimates", {}),
    "bot.metrics": ("bot.jobs.metrics", {}),
    "bot.delivery": ("bot.telegram.delivery", {"style_title": "bot.texts:style_title"}),
    "bot.conversation": ("bot.telegram.conversation", {}),
    "bot.keyboards": ("bot.telegram.keyboards", {}),
    "bot.handlers": ("bot.telegram.handlers", {}),
    "bot.charts": ("bot.web.charts", {}),
}

#: names that moved out of a module that still exists: (module, name) -> "new.module:name"
MOVED_NAMES: dict[tuple[str, str], str] = {
    **{("bot.jobs", name): f"bot.jobs.queue:{name}"
       for name in ("JobSpec", "Progress", "Done", "Failed", "Cancelled", "Ready", "Outcome")},
    ("bot.jobs", "InferenceWorker"): "bot.jobs.local:InferenceWorker",
    **{("bot.survey", name): f"bot.jobs.survey:{name}"
       for name in ("SurveyImages", "render_key", "compose", "LAYOUT_VERSION", "PAINT_ORDER")},
}


def install() -> None:
    """Make the old names importable (once)."""
    register(MOVED, MOVED_NAMES)
