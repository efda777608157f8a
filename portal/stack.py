"""The embedded stack behind `make run`: database, demo catalogue and the web server.

Later parts (XRootD, Dask, JupyterHub) join here, each started and stopped by this module.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.extras import missing
from portal.settings import Settings

if TYPE_CHECKING:
    from portal.services import Services


def load_demo_catalogue(settings: Settings) -> None:
    """Load the record files of `demo_records_dir` and the lessons of `lessons_dir` (idempotent)."""
    from portal.catalog.importers import IndexLocator, read_record_file
    from portal.education.lessons import lesson_record
    from portal.services import build_services

    svc = build_services(settings)
    locator = IndexLocator(settings.index_dir or None)
    for path in sorted(Path(settings.demo_records_dir).glob("*.y*ml")):
        results = svc.catalog.load(read_record_file(path, locator))
        click.echo(f"demo: {path.name}: " + ", ".join(f"{r.recid} {r.action}" for r in results))
    results = svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    click.echo("demo: lessons: " + ", ".join(f"{r.recid} {r.action}" for r in results))
    svc.close()


DEMO_DATA = {90001: ("cms-dimuon-demo", ("root", "parquet", "hdf5")), 90002: ("education", ("csv",))}


def start_xrootd(settings: Settings) -> tuple[Settings, object | None]:
    """Start XRootD over the data directory when the server is installed; settings then carry its URL."""
    from portal.storage.server import XRootDServer, xrootd_binary

    if settings.xrootd_url:
        return settings, None  # an external XRootD endpoint is configured
    if xrootd_binary() is None:
        click.secho(
            "XRootD server not installed: files are served over HTTP only. For root:// access run "
            "`sudo apt-get install xrootd-server xrootd-client` (or `make install` as root).",
            fg="yellow",
            err=True,
        )
        return settings, None
    data = Path(settings.data_dir).resolve()
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o755)
    server = XRootDServer(
        localroot=data.parent, export=data.name, state_dir=Path(settings.var_dir) / "xrootd", port=settings.xrootd_port
    ).start()
    click.secho(
        f"XRootD on {server.url}//{data.name}/ (read-only; note: xrootd has no bind-address option and "
        "listens on every interface)",
        fg="green",
    )
    return settings.with_overrides(xrootd_url=server.url, xrootd_export=data.name), server


def start_hub(settings: Settings) -> tuple[Settings, object | None]:
    """Start the embedded JupyterHub (NOT FOR PRODUCTION) when launches are on and no external hub is set."""
    if not settings.launch_enabled or settings.launch_hub_url:
        return settings, None
    absent = missing("launch")
    if absent:
        click.secho(
            f"the `launch` extra is not installed (missing: {', '.join(absent)}): no JupyterHub, launching is off. "
            "Install it with `pip install 'portal[launch]'` (`make install` does).",
            fg="yellow",
            err=True,
        )
        return settings.with_overrides(launch_enabled=False), None
    from portal.launch.hub import Hub

    hub = Hub(Path(settings.var_dir) / "jupyterhub").start()
    click.secho(
        f"JupyterHub on {hub.url} (embedded: DummyAuthenticator + SimpleLocalProcessSpawner, NOT FOR "
        "PRODUCTION; production uses helm/portal with KubeSpawner); launched notebooks ask for a login: "
        f"user `demo`, password {hub.password}",
        fg="green",
    )
    return settings.with_overrides(launch_hub_url=hub.url, launch_hub_token=hub.token), hub


def load_demo_data(settings: Settings) -> None:
    """Generate the demo files (small tier) and ingest them into the demo records that have none yet."""
    from portal.demo.generate import generate
    from portal.services import build_services

    svc = build_services(settings, migrate=False)
    try:
        for recid, (folder, formats) in DEMO_DATA.items():
            view = svc.catalog.get(recid)
            if view.files or view.indices:
                continue
            target = Path(settings.data_dir) / folder
            if not target.exists():
                click.echo(f"demo: generating {folder} ({', '.join(formats)}) …")
                generate("small", target, formats=formats)
            report = svc.ingester.ingest_path(svc.storage, folder)
            svc.catalog.ingest_files(recid, report.file_rows(folder), report.distribution())
            click.echo(f"demo: record {recid} has {len(report.files)} file(s)")
    finally:
        svc.close()


def use_multiprocess_metrics(settings: Settings) -> None:
    """Each gunicorn worker keeps its own counters; prometheus-client's multiprocess mode sums them on scrape.
    It picks its storage when first imported, so this runs before anything imports it in this process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    metrics_dir = Path(settings.var_dir) / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # a previous run's workers are not this run's
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def serve_web(settings: Settings, *, workers: int = 2, threads: int = 8) -> None:
    use_multiprocess_metrics(settings)
    from gunicorn.app.base import BaseApplication

    from portal.app import create_app

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 300)
            self.cfg.set("accesslog", "-")
            self.cfg.set("post_worker_init", _prepare_worker)
            self.cfg.set("child_exit", _metrics_worker_exit)

        def load(self):  # type: ignore[no-untyped-def]
            return create_app(settings)

    from portal.db.engine import Database
    from portal.db.migrate import upgrade

    db = Database(settings.database_url)
    upgrade(db.engine)  # once, here: workers migrating a fresh database together would race
    db.engine.dispose()
    click.echo(f"portal on http://{settings.host}:{settings.port}/")
    _App().run()


def _metrics_worker_exit(server, worker) -> None:  # type: ignore[no-untyped-def]
    """gunicorn hook: a dead worker's live gauges leave the multiprocess metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _prepare_worker(worker) -> None:  # type: ignore[no-untyped-def]
    """gunicorn hook: build this worker's search snapshot and warm it in the background, off any request."""
    from portal.app import services_of

    def prepare() -> None:
        try:
            services_of(worker.wsgi).search.prepare()
        except Exception as exc:  # the first search builds it instead
            worker.log.warning("search snapshot not prepared at start: %s", exc)

    threading.Thread(target=prepare, name="search-prepare", daemon=True).start()


def start_stats_aggregator(settings: Settings) -> threading.Event:
    """Aggregate usage statistics every `stats_aggregate_interval` seconds in this (the master) process."""
    from portal.services import build_services

    stop = threading.Event()
    if settings.stats_aggregate_interval <= 0:
        return stop

    def loop() -> None:
        svc = build_services(settings, migrate=False)
        while not stop.wait(settings.stats_aggregate_interval):
            try:
                svc.stats.aggregate()
            except Exception as exc:  # a failed run is retried on the next tick
                click.secho(f"stats aggregation failed: {exc}", fg="yellow", err=True)
        svc.close()

    threading.Thread(target=loop, name="stats-aggregator", daemon=True).start()
    return stop


def ensure_first_admin(svc: Services) -> str | None:
    """Create an admin account when no enabled one exists, and print its user name and generated password once,
    on the console only (not to any log file; the audit log records the creation, never the password).
    Returns the new user name, or None when there was an admin already."""
    import secrets

    from portal.errors import Conflict
    from portal.identity.principal import COMMAND_LINE

    if svc.users.has_admin():
        return None
    password = secrets.token_urlsafe(12)
    for n in range(1, 100):
        username = "admin" if n == 1 else f"admin{n}"
        try:
            svc.users.create(COMMAND_LINE, username, name="Administrator", password=password, roles=["admin"])
            break
        except Conflict:  # an `admin` account exists but is not an (enabled) admin: leave it alone
            continue
    else:
        return None
    click.secho(
        f"first admin account created: user name {username!r}, password {password!r}\n"
        "  (shown once, here only: sign in at /signin and keep it somewhere safe)",
        fg="green",
        bold=True,
    )
    return username


def start_fixity_audits(settings: Settings) -> threading.Event:
    """Audit the stored files every `audit_interval` seconds at `audit_rate` MB/s, in this (the master)
    process; reports go to `<var_dir>/audits/`, findings to the `portal.preservation.alerts` log. A simple
    thread until the job queue (issue 17) runs it."""
    from portal.preservation.fixity import PeriodicAudit
    from portal.services import build_services

    stop = threading.Event()
    if settings.audit_interval <= 0:
        return stop

    def loop() -> None:
        svc = build_services(settings, migrate=False)
        periodic = PeriodicAudit(
            svc.preservation.fixity, settings.audit_interval, rate=settings.audit_rate * 1e6 or None
        ).start()
        stop.wait()
        periodic.stop()
        svc.close()

    threading.Thread(target=loop, name="fixity-audits", daemon=True).start()
    return stop


def run_stack(settings: Settings, *, load_demo: bool | None = None) -> None:
    use_multiprocess_metrics(settings)
    from portal.services import build_services

    svc = build_services(settings)  # migrations, once, before workers start
    if svc.search.missing():
        click.echo(f"search: indexed {svc.search.reindex()} record version(s)")
    ensure_first_admin(svc)
    svc.close()
    settings, xrootd = start_xrootd(settings)
    settings, hub = start_hub(settings)
    try:
        if settings.load_demo if load_demo is None else load_demo:
            load_demo_catalogue(settings)
            load_demo_data(settings)
        stop_stats = start_stats_aggregator(settings)
        stop_audits = start_fixity_audits(settings)
        try:
            serve_web(settings)
        finally:
            stop_stats.set()
            stop_audits.set()
    finally:
        if hub is not None:
            hub.stop()  # type: ignore[attr-defined]
        if xrootd is not None:
            xrootd.stop()  # type: ignore[attr-defined]
