"""Storage: the tables (:mod:`bot.store.models`), the database and its store functions
(:mod:`bot.store.db`, SQLAlchemy 2 async; SQLite by default, PostgreSQL for scale-out),
and the Alembic migrations (``bot/store/migrations/``, applied at start-up)."""
