"""docker-compose.yml (scale-out) is valid YAML and wires what the README promises:
PostgreSQL with a healthcheck that the bot and workers wait for, the bot with WORKERS=0,
workers running `stylebot-worker` with their own healthcheck, one DATABASE_URL for all."""

from __future__ import annotations

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def test_compose_services_share_the_database_and_have_healthchecks():
    spec = yaml.safe_load(COMPOSE.read_text())
    services = spec["services"]
    assert set(services) == {"db", "bot", "worker"}
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    urls = {services[name]["environment"]["DATABASE_URL"] for name in ("bot", "worker")}
    assert len(urls) == 1 and next(iter(urls)).startswith("postgresql+asyncpg://stylebot:stylebot@db:5432/")
    for name in ("bot", "worker"):
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["bot"]["environment"]["WORKERS"] == "0"
    assert services["worker"]["command"] == ["stylebot-worker"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "stylebot-worker", "--check"]
    assert services["worker"]["deploy"]["replicas"] >= 2
