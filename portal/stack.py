"""The embedded stack behind `make run`: database, demo catalogue, the web server and one `portal worker`.

Later parts (XRootD, Dask, JupyterHub) join here, each started and stopped by this module.
"""

from __future__ import annotations

import functools
import json
import os
import re
import secrets
import shutil
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from portal.extras import missing
from portal.settings import Settings

if TYPE_CHECKING:
    from portal.review.collections import CollectionService
    from portal.services import Services


def load_demo_catalogue(settings: Settings) -> None:
    """Load the record files of `demo_records_dir` and the lessons of `lessons_dir` (idempotent)."""
    from portal.catalog.importers import IndexLocator, read_record_file
    from portal.education.lessons import lesson_record
    from portal.services import build_services

    svc = build_services(settings)
    locator = IndexLocator(settings.index_dir or None)
    experiments: set[str] = set()
    for path in sorted(Path(settings.demo_records_dir).glob("*.y*ml")):
        items = list(read_record_file(path, locator))
        experiments.update(str(e) for item in items for e in item.metadata.get("experiment") or [])
        results = svc.catalog.load(items)
        click.echo(f"demo: {path.name}: " + ", ".join(f"{r.recid} {r.action}" for r in results))
    results = svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    click.echo("demo: lessons: " + ", ".join(f"{r.recid} {r.action}" for r in results))
    made = seed_collections(svc.collections, experiments)
    click.echo("demo: collections: " + (", ".join(made) or "none new"))
    svc.close()


def seed_collections(collections: CollectionService, experiments: set[str]) -> list[str]:
    """A curated collection per experiment of the demo catalogue, and "Education" (idempotent: existing slugs
    are left as they are). Their curators are the users of the `curators-<slug>` group, empty until an admin adds
    members or names curators (`portal collections add-curator`)."""
    from portal.identity.principal import COMMAND_LINE

    have = {c.slug for c in collections.all()}
    wanted = [
        (
            re.sub(r"[^a-z0-9-]+", "-", e.lower()).strip("-")[:64],
            e,
            f"Records of the {e} experiment, reviewed by its curators.",
        )
        for e in sorted(experiments)
    ]
    wanted.append(("education", "Education", "Lessons, worksheets and teaching samples, reviewed before publication."))
    made = []
    for slug, title, description in wanted:
        if slug not in have:
            collections.create(
                COMMAND_LINE, slug, title, description=description, curator_group=f"curators-{slug}"[:64]
            )
            made.append(slug)
    return made


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


DEFAULT_SECRET_KEY = "dev-only-not-secret"


def private_file(path: Path, make: str) -> str:
    """The content of ``path``, written first with ``make`` when absent; the file is the portal's alone (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(make)
    path.chmod(0o600)
    return path.read_text().strip()


def ensure_secrets(settings: Settings) -> Settings:
    """A real secret key (``<var_dir>/secret_key``) when none is set, and the hub's OAuth2 client at the portal
    (``<var_dir>/hub-oauth-client.json``) when none is set; both generated once, 0600, never printed."""
    var = Path(settings.var_dir)
    overrides: dict[str, str] = {}
    if settings.secret_key == DEFAULT_SECRET_KEY:
        overrides["secret_key"] = private_file(var / "secret_key", secrets.token_urlsafe(48))
    if not settings.launch_hub_client_id:
        made = json.dumps({"client_id": "jupyterhub-" + secrets.token_hex(4), "client_secret": secrets.token_hex(32)})
        client = json.loads(private_file(var / "hub-oauth-client.json", made))
        overrides |= {"launch_hub_client_id": client["client_id"], "launch_hub_client_secret": client["client_secret"]}
    return settings.with_overrides(**overrides) if overrides else settings


def protect_var_dir(settings: Settings) -> list[Path]:
    """What session users must not read is the portal's alone: ``var_dir`` is 0711 (they pass through it to the
    built environments, the open data and their own home, but cannot list it), its SQLite database, secret key
    and hub client file 0600, the hub's state 0700. Returns the paths it tightened."""
    var = Path(settings.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    tightened = []
    for path, mode in [
        (var, 0o711),
        (var / "secret_key", 0o600),
        (var / "hub-oauth-client.json", 0o600),
        (var / "jupyterhub", 0o700),
    ]:
        if path.exists():
            path.chmod(mode)
            tightened.append(path)
    if settings.database_url.startswith("sqlite:///"):
        database = Path(settings.database_url.removeprefix("sqlite:///"))
        for path in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm", "-journal"))):
            if path.exists():
                path.chmod(stat.S_IRUSR | stat.S_IWUSR)
                tightened.append(path)
    return tightened


def container_spawner(settings: Settings) -> dict[str, Any] | None:
    """The embedded hub's DockerSpawner options, with podman's Docker API started for it, when
    ``launch_spawner`` is `docker`; None (and a loud warning) for host processes."""
    if settings.launch_spawner != "docker":
        click.secho(
            "sessions run as processes on this machine (PORTAL_LAUNCH_SPAWNER=local): they are NOT ISOLATED from "
            "it; use PORTAL_LAUNCH_BUILDER=podman and PORTAL_LAUNCH_SPAWNER=docker where podman runs",
            fg="yellow",
            err=True,
        )
        return None
    from portal.environments.engine import DEFAULT_IMAGES_DIR, DockerAPI, Podman

    if settings.launch_builder != "podman":
        click.secho("PORTAL_LAUNCH_SPAWNER=docker runs images: set PORTAL_LAUNCH_BUILDER=podman", fg="yellow", err=True)
    images = Path(settings.launch_images_dir) if settings.launch_images_dir else DEFAULT_IMAGES_DIR
    podman = Podman(images)
    podman.check()
    api = DockerAPI(podman, Path(settings.var_dir) / "podman" / "podman.sock").start()
    return {
        "spawner": "docker",
        "docker_url": api.url,
        "docker_api": api,
        "mount_roots": (settings.data_dir,),
        "cpu_limit": settings.launch_container_cpus,
        "mem_limit": settings.launch_container_memory,
    }


def start_hub(settings: Settings) -> tuple[Settings, object | None]:
    """Start the embedded JupyterHub when launches are on and no external hub is set: people sign in to it through
    the portal (its OAuth2 provider); as root, each hub user's servers run as their own system user."""
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
    import sys

    from portal.launch.hub import Hub, closed_to_others
    from portal.launch.jupyterhub import sessions_dir

    system_users = settings.launch_system_users and os.geteuid() == 0
    if settings.launch_system_users and not system_users:
        click.secho(
            "not running as root: every notebook server runs as the portal's own user and can read its files "
            "(NOT FOR SHARED USE); run as root for one system user per person, or use helm/portal",
            fg="yellow",
            err=True,
        )
    blocked = closed_to_others(Path(sys.executable).resolve()) if system_users else None
    if blocked is not None:
        click.secho(
            f"session users cannot reach the portal's Python ({Path(sys.executable).resolve()}): {blocked} is "
            "closed to other users; launches will fail. Install the portal where every user may run it "
            "(e.g. /opt or /usr/local), or set PORTAL_LAUNCH_SYSTEM_USERS=false",
            fg="yellow",
            err=True,
        )
    containers = container_spawner(settings)
    hub = Hub(
        Path(settings.var_dir) / "jupyterhub",
        portal_url=settings.base_url,
        client_id=settings.launch_hub_client_id,
        client_secret=settings.launch_hub_client_secret,
        system_users=system_users and containers is None,
        homes=sessions_dir(settings),
        idle_timeout=settings.launch_idle_timeout,
        **(containers or {}),
    ).start()
    click.secho(
        f"JupyterHub on {hub.url} (embedded; production uses helm/portal with KubeSpawner): people sign in "
        "through the portal" + ("; each person's servers run as their own system user" if system_users else ""),
        fg="green",
    )
    return settings.with_overrides(launch_hub_url=hub.url, launch_hub_token=hub.token), hub


def load_demo_data(settings: Settings) -> None:
    """Generate the demo files (small tier; the demo software's archive and its environment's spec) and ingest them
    into the demo records that have none yet."""
    from portal.demo.generate import generate
    from portal.demo.software import DEMO_FILES
    from portal.services import build_services

    writers: dict[int, tuple[str, Callable[[Path], object]]] = {
        recid: (folder, functools.partial(generate, "small", formats=formats))
        for recid, (folder, formats) in DEMO_DATA.items()
    }
    writers.update(DEMO_FILES)  # the software record providing an analysis, and its environment record
    svc = build_services(settings, migrate=False)
    try:
        for recid, (folder, write) in writers.items():
            view = svc.catalog.get(recid)
            if view.files or view.indices:
                continue
            target = Path(settings.data_dir) / folder
            if not target.exists():
                click.echo(f"demo: generating {folder} …")
                write(target)
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


def serve_web(settings: Settings, *, workers: int = 2, threads: int = 8, reuse_port: bool = False) -> None:
    use_multiprocess_metrics(settings)
    from gunicorn.app.base import BaseApplication

    from portal.app import create_app

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{settings.host}:{settings.port}")
            self.cfg.set("workers", workers)
            self.cfg.set("reuse_port", reuse_port)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 300)
            self.cfg.set("accesslog", "-")
            self.cfg.set("logger_class", "portal.stack.RedactingLogger")
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


#: query parameters whose values are credentials (Zenodo's clients send their token as ``?access_token=``)
SECRET_QUERY = re.compile(r"((?:^|[?&])(?:access_token|token)=)[^&\s]*", re.IGNORECASE)


def redact_query(text: str) -> str:
    """``text`` (a request line or query string) with credential values replaced by ``[redacted]``."""
    return SECRET_QUERY.sub(r"\1[redacted]", text)


def _redacting_logger_class() -> type:
    from gunicorn.glogging import Logger

    class _Redacting(Logger):  # type: ignore[misc]
        """gunicorn's access log without credentials: secrets never reach logs."""

        def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
            atoms = super().atoms(resp, req, environ, request_time)
            for key in ("r", "q"):
                if isinstance(atoms.get(key), str):
                    atoms[key] = redact_query(atoms[key])
            return atoms

    return _Redacting


def __getattr__(name: str) -> type:
    # gunicorn imports its logger class by dotted name; built lazily so importing this module stays light
    if name == "RedactingLogger":
        return _redacting_logger_class()
    raise AttributeError(name)


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


def start_worker_process(settings: Settings, *, concurrency: int | None = None) -> subprocess.Popen[bytes]:
    """A `portal worker` process with these settings: the web processes only enqueue, the worker runs the jobs."""
    command = [sys.executable, "-m", "portal", "worker"]
    if concurrency is not None:
        command += ["--concurrency", str(concurrency)]
    return subprocess.Popen(command, env={**os.environ, **settings.environ()})


def stop_process(process: subprocess.Popen[bytes], grace: float = 40.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds (a worker lets its jobs finish or releases them first)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run_stack(settings: Settings, *, load_demo: bool | None = None) -> None:
    use_multiprocess_metrics(settings)
    from portal.services import build_services

    settings = ensure_secrets(settings)
    svc = build_services(settings)  # migrations, once, before workers start
    if svc.search.missing():
        click.echo(f"search: indexed {svc.search.reindex()} record version(s)")
    ensure_first_admin(svc)
    svc.close()
    protect_var_dir(settings)
    settings, xrootd = start_xrootd(settings)
    hub = None
    try:
        settings, hub = start_hub(settings)  # inside: a hub that fails to start must not leave XRootD behind
        if settings.load_demo if load_demo is None else load_demo:
            load_demo_catalogue(settings)
            load_demo_data(settings)
        # the worker also runs the periodic jobs: statistics aggregation and fixity audits
        worker = start_worker_process(settings)
        try:
            serve_web(settings)
        finally:
            stop_process(worker)
    finally:
        if hub is not None:
            hub.stop()  # type: ignore[attr-defined]
        if xrootd is not None:
            xrootd.stop()  # type: ignore[attr-defined]
