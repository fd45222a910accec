"""Prometheus metrics of one bot (prometheus-client, a registry of its own), served at
``/metrics`` on the bot's HTTP server: queue depth, jobs by method and outcome, job
seconds, live inference workers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["Metrics", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.queue = Gauge("stylebot_queue_jobs", "Jobs waiting for an inference worker", registry=self.registry)
        self.workers = Gauge("stylebot_live_workers", "Inference workers alive", registry=self.registry)
        self.jobs = Counter("stylebot_jobs", "Finished jobs", ["method", "media", "outcome"], registry=self.registry)
        self.seconds = Histogram("stylebot_job_seconds", "Painting time of finished jobs", ["method", "media"],
                                 buckets=(0.5, 1, 2, 5, 10, 20, 40, 60, 120, 300, 600, 1800),
                                 registry=self.registry)

    def finished(self, method: str, media: str, outcome: str, seconds: float | None = None) -> None:
        self.jobs.labels(method, media, outcome).inc()
        if seconds is not None:
            self.seconds.labels(method, media).observe(seconds)

    async def render(self, store, worker) -> bytes:
        """The exposition text, with the queue and the workers read now."""
        self.queue.set(await store.queued_total())
        live = getattr(worker, "live", None)  # scale-out: workers with a recent heartbeat
        self.workers.set(live if live is not None else 1 if worker is not None and worker.is_alive() else 0)
        return generate_latest(self.registry)
