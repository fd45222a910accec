"""Test suite for stylebot (a package so that ``python -m tests.demo`` and
``python -m tests.fake_telegram`` work from the repository root)."""
