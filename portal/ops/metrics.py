"""Prometheus metrics (prometheus-client). The counters live in the process's default registry; under
gunicorn with several workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``portal serve`` does) and `/metrics`
aggregates every worker's values. Gauges that describe shared state (jobs by state, queue depth) are read
from the database when scraped, so every replica reports the same numbers."""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

REQUESTS = Counter(
    "portal_http_requests", "HTTP requests answered, by route, method and status", ["route", "method", "status"]
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer an HTTP request (to the first byte of streamed bodies), by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DOWNLOADS = Counter("portal_downloads", "File downloads started (200 and 206 answers)")
DOWNLOAD_BYTES = Counter("portal_download_bytes", "Bytes of file downloads started (their Content-Length)")
LAUNCHES = Counter("portal_launches", "Environment launches started from the portal, by kind", ["kind"])
XROOTD_ERRORS = Counter(
    "portal_xrootd_errors", "XRootD requests that failed (not counting 'not found'), by errno", ["errno"]
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class JobStates(Collector):
    """Analysis jobs by state, and the job queue's jobs by state and depth (jobs waiting for a worker, of every
    kind), read from the database on scrape."""

    def __init__(self, counts: dict[str, int], queue: dict[str, int] | None = None) -> None:
        self.counts = counts
        self.queue = queue or {}

    def collect(self) -> Iterable[Metric]:
        states = GaugeMetricFamily("portal_analysis_jobs", "Analysis jobs by state", labels=["state"])
        known = ("queued", "running", "done", "failed", "cancelled")
        for state in (*known, *sorted(set(self.counts) - set(known))):
            states.add_metric([state], self.counts.get(state, 0))
        yield states
        queue = GaugeMetricFamily("portal_queue_jobs", "Jobs of the job queue by state", labels=["state"])
        for state in ("queued", "running", "succeeded", "failed", "cancelled"):
            queue.add_metric([state], self.queue.get(state, 0))
        yield queue
        yield GaugeMetricFamily(
            "portal_queue_depth", "Jobs waiting for a worker (of every kind)", value=self.queue.get("queued", 0)
        )


#: the kinds of fixity findings, each exported as its own series (0 when a run found none of that kind)
FIXITY_KINDS = ("mismatch", "missing", "unexpected", "unreadable")


class FixityState(Collector):
    """The latest fixity audit (``<var_dir>/audits/latest.json``, as :meth:`FixityAuditor.latest` reads it),
    exported on scrape: every replica reports the same run, however many processes serve `/metrics`, and a run
    by `portal files audit` from cron shows as soon as it has written its report. Without any run yet the last
    run's time is 0, so an alert on its age fires for a portal that has never been audited."""

    def __init__(self, report: dict[str, object] | None) -> None:
        self.report = report or {}

    def collect(self) -> Iterable[Metric]:
        report = self.report
        yield GaugeMetricFamily(
            "portal_fixity_last_run_timestamp_seconds",
            "When the latest fixity audit finished (Unix time; 0: never)",
            value=_unix(report.get("finished")),
        )
        if not report:
            return
        yield GaugeMetricFamily(
            "portal_fixity_last_run_duration_seconds",
            "How long the latest fixity audit took",
            value=max(0.0, _unix(report.get("finished")) - _unix(report.get("started"))),
        )
        scope = "record" if report.get("recid") is not None else "full"
        yield GaugeMetricFamily(
            "portal_fixity_last_run_full",
            "1 when the latest audit covered every file (0: one record)",
            value=int(scope == "full"),
        )
        yield GaugeMetricFamily(
            "portal_fixity_files_checked",
            "Files the latest fixity audit read",
            value=_number(report.get("files_checked")),
        )
        yield GaugeMetricFamily(
            "portal_fixity_bytes_read", "Bytes the latest fixity audit read", value=_number(report.get("bytes_read"))
        )
        findings = GaugeMetricFamily(
            "portal_fixity_findings", "Problems the latest fixity audit found, by kind", labels=["kind"]
        )
        kinds = [f.get("kind") for f in report.get("findings") or [] if isinstance(f, dict)]  # type: ignore[attr-defined]
        for kind in (*FIXITY_KINDS, *sorted({str(k) for k in kinds} - set(FIXITY_KINDS))):
            findings.add_metric([kind], sum(k == kind for k in kinds))
        yield findings


def _unix(stamp: object) -> float:
    """Seconds since the epoch of a report's ISO time (``…Z``); 0 for a missing or unreadable one."""
    from datetime import datetime

    if not isinstance(stamp, str):
        return 0.0
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def exposition(
    job_counts: dict[str, int],
    queue_counts: dict[str, int] | None = None,
    fixity: dict[str, object] | None = None,
) -> bytes:
    """The text exposition of this process's (or, in multiprocess mode, every worker's) metrics plus the
    shared-state gauges (analysis jobs; ``fixity``: the latest audit report, None when none has run)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        own = generate_latest(registry)
    else:
        own = generate_latest(REGISTRY)
    shared = CollectorRegistry()
    shared.register(JobStates(job_counts, queue_counts))
    shared.register(FixityState(fixity))
    return own + generate_latest(shared)
