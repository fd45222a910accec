"""Jobs: one queue interface (:mod:`bot.jobs.queue`), two engines that implement it
(:mod:`bot.jobs.local`: SQLite and one embedded inference process, the default;
:mod:`bot.jobs.procrastinate`: PostgreSQL and ``stylebot-worker`` processes), and what
both run (:mod:`bot.jobs.inference`, the only caller of the torch code), the /survey
pictures (:mod:`bot.jobs.survey`), time estimates and metrics.

Nothing here imports the Telegram side: outcomes go out through the ``delivery`` object
the queue is given (:class:`bot.jobs.queue.Delivery`).
"""


def __getattr__(name: str) -> object:  # the names of the former module bot.jobs (deprecated)
    from .._compat import moved_attribute

    return moved_attribute(__name__, name)
