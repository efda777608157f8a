"""Builds the services from settings: the only module that names concrete backends."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from portal.browse.service import BrowseService
from portal.catalog.service import CatalogService
from portal.citations.service import CitationService
from portal.db.engine import Database
from portal.db.migrate import upgrade
from portal.deposit.service import DepositService
from portal.education.lessons import Lessons
from portal.environments.builders import Builder
from portal.errors import Invalid
from portal.exports.oai import OAIProvider, index_sets
from portal.exports.rendered import RenderedCitations
from portal.exports.service import ExportService
from portal.extras import available
from portal.files.access import FileAccess
from portal.files.guard import AccessGuard, Placement, check_outside
from portal.files.ingest import Ingester
from portal.files.preview import Previewer
from portal.formats.collection import Formats
from portal.i18n import N_
from portal.identity.audit import AuditLog
from portal.identity.oauth import HubClient, HubOAuthProvider
from portal.identity.principal import ANONYMOUS
from portal.identity.providers import LocalProvider, RedirectProvider, parse_oidc_providers
from portal.identity.signin import SignIn
from portal.identity.tokens import TokenService
from portal.identity.users import UserService, password_hasher
from portal.jobqueue import models as _queue_models  # noqa: F401  (maps the queue's table on Base)
from portal.jobqueue.base import JobQueue
from portal.launch.manager import LaunchManager
from portal.launch.sessions import LaunchSessions
from portal.pids.base import PIDProvider
from portal.pids.registrations import Registrations
from portal.preservation.service import PreservationService
from portal.registry import (
    BUILDERS,
    EXECUTORS,
    FORMATS,
    IDENTITY_PROVIDERS,
    LAUNCHERS,
    PIDS,
    QUEUES,
    SEARCH,
    STORAGE,
    UPLOAD_STORES,
)
from portal.releases.service import ReleaseService, ReleaseSettings
from portal.review.collections import CollectionService
from portal.review.requests import ReviewService
from portal.search.backends.base import TextBackend
from portal.search.service import SearchService
from portal.settings import Settings
from portal.stats.service import StatsService
from portal.storage.base import Storage
from portal.storage.local import LocalStorage

#: formats are offered content in this order, and a dataset holding the same events in several formats is
#: processed in the first of them; formats registered by other packages follow, by name
FORMAT_PREFERENCE = ("root", "parquet", "hdf5", "csv")

if TYPE_CHECKING:  # the processing extra may be absent: its modules are imported only when it is there
    from portal.processing.executors import ExecutorPool
    from portal.processing.isolated import SoftwareAnalyses
    from portal.processing.jobs import JobService


def build_storage(settings: Settings) -> Storage:
    return STORAGE.create(settings.storage_backend, settings)


def build_search_backend(settings: Settings, db: Database) -> TextBackend:
    """The search backend named by PORTAL_SEARCH_BACKEND; empty: the one registered for the database's dialect
    (each backend class declares the dialect it serves; doubles are never chosen this way)."""
    name = settings.search_backend
    if not name:
        serving = [
            n
            for n in SEARCH.names()
            if getattr(cls := SEARCH.load(n), "dialect", None) == db.dialect
            and not getattr(cls, "development_only", False)
        ]
        if len(serving) != 1:
            found = f"{len(serving)} search backends ({', '.join(serving)}) are" if serving else "no search backend is"
            raise Invalid(
                N_("{found} registered for a {db_dialect} database; choose one of: {names}"),
                found=found,
                db_dialect=db.dialect,
                names=", ".join(SEARCH.names()),
                field="PORTAL_SEARCH_BACKEND",
            )
        name = serving[0]
    return SEARCH.create(name, settings, db=db)


def build_formats(settings: Settings) -> Formats:
    """Every format registered in the ``portal.formats`` entry-point group (all are active)."""

    def rank(name: str) -> tuple[int, str]:
        return (FORMAT_PREFERENCE.index(name) if name in FORMAT_PREFERENCE else len(FORMAT_PREFERENCE), name)

    return Formats(FORMATS.create(name, settings) for name in sorted(FORMATS.names(), key=rank))


def build_signin(settings: Settings, users: UserService, audit: AuditLog) -> SignIn:
    """Local passwords when `signin_local` is on, and each provider of `oidc_providers` (its `type`, default
    `oidc`, names the registered implementation)."""
    local: LocalProvider | None = None
    if settings.signin_local:
        local = IDENTITY_PROVIDERS.create("local", settings, users=users)  # type: ignore[assignment]
    redirect: dict[str, RedirectProvider] = {}
    for name, config in parse_oidc_providers(settings.oidc_providers).items():
        kind = str(config.get("type", "oidc"))
        options = {k: v for k, v in config.items() if k != "type"}
        redirect[name] = IDENTITY_PROVIDERS.create(kind, settings, key=name, config=options)  # type: ignore[assignment]
    return SignIn(users, audit, local=local, redirect=redirect, signup_open=settings.signup_open)


def build_lessons(settings: Settings) -> Lessons:
    """The lessons of `lessons_dir`, with the environments of `envs_dir` they run in."""
    return Lessons(Path(settings.lessons_dir), Path(settings.envs_dir))


@dataclass
class Services:
    settings: Settings
    db: Database
    pids: PIDProvider
    catalog: CatalogService
    stats: StatsService
    storage: Storage
    formats: Formats
    files: FileAccess
    ingester: Ingester
    previewer: Previewer
    exports: ExportService
    oai: OAIProvider
    search: SearchService
    lessons: Lessons
    users: UserService
    tokens: TokenService
    audit: AuditLog
    signin: SignIn
    browse: BrowseService
    preservation: PreservationService
    access: AccessGuard
    placement: Placement
    sessions: LaunchSessions
    releases: ReleaseService
    deposit: DepositService
    citations: CitationService
    collections: CollectionService
    review: ReviewService
    queue: JobQueue | None = None
    #: builds :attr:`analyses` on first use: the analysis engine imports awkward and hist (0.5-1 s), which no
    #: command but `portal analysis` and `portal worker` needs (every other CLI call, `records load` included, and
    #: every test that runs one as a subprocess, would pay them)
    analyses_factory: Callable[[], JobService | None] = lambda: None
    launches: LaunchManager | None = None
    hub_oauth: HubOAuthProvider | None = None  # the portal as the hub's OAuth2 provider (None: no client set)
    registrations: Registrations | None = None  # DOIs to register remotely (None: the provider registers nothing)

    #: called first by :meth:`close` (a worker started on these services stops there)
    closers: list[Callable[[], None]] = field(default_factory=list)
    _analyses: list[JobService | None] = field(default_factory=list, repr=False)  # [] until built
    _analyses_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def analyses(self) -> JobService | None:
        """The analysis job service, or None without the `processing` extra; built once, on first use."""
        if not self._analyses:
            with self._analyses_lock:
                if not self._analyses:
                    self._analyses.append(self.analyses_factory())
        return self._analyses[0]

    def close(self) -> None:
        for closer in reversed(self.closers):
            closer()
        self.closers.clear()
        self.sessions.close()
        if self._analyses and self._analyses[0] is not None:  # closed only if built: closing builds nothing
            self._analyses[0].close()
        self.stats.close()
        self.search.close()
        self.db.dispose()


def build_services(settings: Settings, *, migrate: bool = True) -> Services:
    db = Database(settings.database_url)
    queue = QUEUES.create(settings.job_queue, settings, db=db)  # first: the services below queue their work
    if migrate:
        upgrade(db.engine)
    pids = PIDS.create(settings.pid_provider, settings)
    audit = AuditLog(db)
    catalog = CatalogService(
        db,
        pids,
        first_recid=settings.first_recid,
        base_url=settings.base_url,
        publisher=settings.site_name,
        audit=audit,
    )
    citations = CitationService(db, catalog)
    stats = StatsService(db, flush_interval=settings.stats_flush_interval, enabled=settings.stats_enabled)
    storage = build_storage(settings)
    formats = build_formats(settings)
    check_outside(settings.restricted_dir, settings.data_dir)
    # Restricted bytes live outside the exported data directory, read over authenticated HTTP only.
    restricted = LocalStorage(settings.restricted_dir)
    files = FileAccess(catalog, storage, pack_max_files=settings.pack_max_files, restricted=restricted)
    access = AccessGuard(db, catalog.resolve)
    # the "most cited" sort orders by citation counts as the popularity sorts order by usage counts
    search = SearchService(
        db,
        build_search_backend(settings, db),
        popularity=lambda kind: citations.count_query() if kind == "cite" else stats.popularity_query(kind),
    )
    catalog.observers.extend([index_sets, search.index])
    exports = ExportService(catalog, settings.base_url, cited_by=citations.related, rendered=RenderedCitations(db))
    registrations = None
    if pids.remote:
        registrations = Registrations(
            db,
            pids,
            exports,
            base_url=settings.base_url,
            queue=queue,  # failed registrations are retried by workers (kind pids.retry)
            backoff_base=timedelta(seconds=settings.pid_retry_backoff),
        )
        catalog.observers.append(registrations.track)
    oai = OAIProvider(
        catalog,
        exports,
        base_url=settings.base_url,
        repository_name=settings.site_name,
        admin_email=settings.admin_email,
        page_size=settings.oai_page_size,
        hidden=lambda: access.hidden_recids(ANONYMOUS),
    )
    users = UserService(
        db, audit, hasher=password_hasher(settings.password_hash_time_cost, settings.password_hash_memory_kib)
    )
    lessons = build_lessons(settings)
    previewer = Previewer(files, formats)
    launches = build_launches(settings, db, catalog, storage, lessons, queue=queue)
    ingester = Ingester(formats)
    if launches is not None:
        catalog.observers.append(launches.pin_published)
    deposit = build_deposit(settings, db, catalog, storage, ingester, queue=queue)
    collections = CollectionService(db, audit)
    return Services(
        settings=settings,
        db=db,
        pids=pids,
        catalog=catalog,
        stats=stats,
        storage=storage,
        formats=formats,
        files=files,
        ingester=ingester,
        previewer=previewer,
        exports=exports,
        oai=oai,
        search=search,
        lessons=lessons,
        users=users,
        tokens=TokenService(db, audit),
        audit=audit,
        signin=build_signin(settings, users, audit),
        browse=BrowseService(
            catalog,
            search,
            exports,
            previewer,
            launches,
            launch_enabled=settings.launch_enabled,
            citations=citations,
        ),
        preservation=PreservationService(
            db,
            catalog,
            exports,
            storage,
            audit,
            reports_dir=Path(settings.var_dir) / "audits",
            organisation=settings.site_name,
        ),
        access=access,
        placement=Placement(db, access, storage, restricted),
        releases=build_releases(settings, db, catalog, audit, storage, queue=queue),
        queue=queue,
        analyses_factory=functools.partial(
            build_analyses, settings, db, catalog, formats, locate_uri=files.readable_uri, queue=queue, storage=storage
        ),
        sessions=LaunchSessions(
            db, per_user=settings.quota_launches_per_user, anonymous=settings.quota_launches_anonymous
        ),
        launches=launches,
        hub_oauth=build_hub_oauth(settings, db),
        deposit=deposit,
        collections=collections,
        review=ReviewService(db, deposit, collections, audit),
        registrations=registrations,
        citations=citations,
    )


def build_deposit(
    settings: Settings,
    db: Database,
    catalog: CatalogService,
    storage: Storage,
    ingester: Ingester,
    *,
    queue: JobQueue | None = None,
) -> DepositService:
    """Deposits through the API, their bytes in the upload store ``upload_store`` names."""
    return DepositService(
        db,
        catalog,
        UPLOAD_STORES.create(settings.upload_store, settings),
        storage,
        ingester,
        owners_publish=settings.deposit_owners_publish,
        max_files=settings.quota_deposit_files,
        max_bytes=settings.quota_deposit_bytes,
        max_user_bytes=settings.quota_upload_bytes_per_user,
        max_user_files=settings.quota_upload_files_per_user,
        base_url=settings.base_url,
        queue=queue,
        queue_files=settings.ingest_queue_files,
        queue_bytes=settings.deposit_queue_bytes,
    )


def build_releases(
    settings: Settings,
    db: Database,
    catalog: CatalogService,
    audit: AuditLog,
    storage: Storage,
    *,
    queue: JobQueue | None = None,
) -> ReleaseService:
    """Software from git releases. Archives are written into the data directory, the one the local storage
    serves (the upload store, when it lands, is where they belong)."""
    data_dir = Path(settings.data_dir)

    def file_uri(path: str) -> str:
        return storage.root_url(path) or f"file://{data_dir.resolve() / path}"

    return ReleaseService(
        db,
        catalog,
        audit,
        ReleaseSettings(
            site_key=settings.secret_key,
            git_hosts=[h.strip() for h in settings.releases_git_hosts.split(",") if h.strip()],
            allow_http=settings.releases_allow_http,
            max_archive_bytes=settings.releases_max_archive_bytes,
            data_dir=data_dir,
            work_dir=Path(settings.var_dir) / "releases-work",
            owners_publish=settings.deposit_owners_publish,
            unmatched_kept=settings.releases_unmatched_kept,
            unmatched_days=settings.releases_unmatched_days,
        ),
        file_uri=file_uri,
        queue=queue,  # deliveries are processed by workers (kind release.delivery)
    )


def build_hub_oauth(settings: Settings, db: Database) -> HubOAuthProvider | None:
    """The OAuth2 provider the hub signs people in with, when its client is registered (`portal stack` does)."""
    if not (settings.launch_hub_client_id and settings.launch_hub_client_secret and settings.launch_hub_url):
        return None
    client = HubClient(
        settings.launch_hub_client_id,
        settings.launch_hub_client_secret,
        settings.launch_hub_url.rstrip("/") + "/hub/oauth_callback",
    )
    return HubOAuthProvider(db, client, settings.secret_key)


def build_builder(settings: Settings) -> Builder:
    """The environment builder ``launch_builder`` names (also used alone by `portal env build`)."""
    return BUILDERS.create(settings.launch_builder, settings)


def executor_names(settings: Settings) -> list[str]:
    """The executors a job may ask for, sorted: every registered one except the development doubles, and the
    configured default (which may be a double). An unknown default is refused naming its setting."""
    EXECUTORS.load(settings.processing_executor)
    offered = {name for name in EXECUTORS.names() if not getattr(EXECUTORS.load(name), "development_only", False)}
    return sorted(offered | {settings.processing_executor})


def build_executors(settings: Settings) -> ExecutorPool:
    """The executors of :func:`executor_names`, each built from settings when a job first uses it."""
    from portal.processing.executors import ExecutorPool

    names = executor_names(settings)
    return ExecutorPool(
        {name: functools.partial(EXECUTORS.create, name, settings) for name in names},
        per_user=frozenset(name for name in names if getattr(EXECUTORS.load(name), "per_user", False)),
    )


def build_analyses(
    settings: Settings,
    db: Database,
    catalog: CatalogService,
    formats: Formats,
    *,
    locate_uri: Callable[[str], str] | None = None,
    queue: JobQueue | None = None,
    storage: Storage | None = None,
) -> JobService | None:
    """The analysis job service, or None without the `processing` extra (its routes and commands then say so)."""
    if not available("processing"):
        return None
    from portal.processing.jobs import JobService

    return JobService(
        db,
        catalog,
        build_executors(settings),
        formats=formats,
        default_executor=settings.processing_executor,
        chunk_events=settings.processing_chunk_events,
        first_recid=settings.first_recid,
        locate_uri=locate_uri,
        quota_per_user=settings.quota_jobs_per_user,
        queue=queue,
        storage=storage,
        software=build_software_analyses(settings, db, catalog, storage),
        user_prefix=settings.launch_user_prefix,
    )


def build_software_analyses(
    settings: Settings, db: Database, catalog: CatalogService, storage: Storage | None
) -> SoftwareAnalyses:
    """Analyses of software records, run in their environments: built by the launch builder, except that the
    host `venv` builder is replaced by its isolated variant (an analysis must not see the portal's packages);
    no builder without the `launch` extra (repo2docker reads the specs), then they are offered but cannot run."""
    from portal.environments.builders import IsolatedVenvBuilder, builds_dir
    from portal.processing.isolated import SoftwareAnalyses

    builder: Builder | None = None
    if available("launch"):
        builder = (
            IsolatedVenvBuilder(builds_dir(settings)) if settings.launch_builder == "venv" else build_builder(settings)
        )

    def read_uri(uri: str) -> bytes:
        path = storage.path_of_url(uri) if storage is not None else None
        if storage is not None and path is not None:
            with storage.open(path) as fh:
                return fh.read()
        local = uri.removeprefix("file://")
        if local.startswith("/"):
            return Path(local).read_bytes()
        raise Invalid(N_("cannot read {uri}: it is not in the portal's storage"), uri=uri, field="software")

    return SoftwareAnalyses(
        db,
        catalog,
        builder,
        read_uri=read_uri,
        work_dir=Path(settings.var_dir) / "analyses",
        envs_root=Path(settings.envs_dir),
        run_user=settings.analysis_run_user,
    )


def build_launches(
    settings: Settings,
    db: Database,
    catalog: CatalogService,
    storage: Storage,
    lessons: Lessons,
    *,
    queue: JobQueue | None = None,
) -> LaunchManager | None:
    """The launch manager, or None without the `launch` extra (repo2docker reads the environments; JupyterHub runs
    them): launch routes then say which extra to install and record pages offer no Launch button."""
    if not available("launch"):
        return None
    hosts = [h.strip() for h in settings.launch_git_hosts.split(",") if h.strip()]
    return LaunchManager(
        db,
        catalog,
        storage,
        build_builder(settings),
        LAUNCHERS.create(settings.launch_launcher, settings),
        work_dir=Path(settings.var_dir) / "environments",
        git_hosts=hosts,
        allow_file_urls=settings.launch_allow_file_urls,
        envs_root=Path(settings.envs_dir),
        lessons=lessons,
        data_dir=Path(settings.data_dir),
        portal_url=settings.base_url,
        queue=queue,  # launches and environment builds run on workers (kinds launch, env.build)
        build_timeout=settings.launch_build_timeout,
    )
