"""Every setting of the portal, declared once: name, type, default and help.

Values come from ``PORTAL_<NAME>`` environment variables or from a mapping passed to
:func:`load_settings` (tests build apps from a dict). The README's settings table is generated
from :data:`DECLARATIONS` (``portal settings --markdown``) and a test keeps the two in step.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

from portal.errors import Invalid
from portal.i18n import N_

ENV_PREFIX = "PORTAL_"


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected a boolean (true/false), got {text!r}")


_PARSERS: dict[type, Callable[[str], Any]] = {str: str, int: int, bool: _parse_bool, float: float}


@dataclass(frozen=True)
class Setting:
    """One declared setting. ``default`` may be a callable taking the settings read so far."""

    name: str
    type: type
    default: Any
    help: str

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    def parse(self, raw: Any) -> Any:
        if isinstance(raw, self.type):
            return raw
        try:
            return _PARSERS[self.type](str(raw))
        except ValueError as exc:
            raise Invalid(N_("setting {env}: {exc}"), env=self.env, exc=exc, field=self.env) from exc

    def default_text(self) -> str:
        if callable(self.default):
            return self.default.__doc__ or "(derived)"
        return repr(self.default) if self.default != "" else '""'


def _var_dir(values: Mapping[str, Any]) -> str:
    """`var/` under the current directory"""
    return str(Path.cwd() / "var")


def _data_dir(values: Mapping[str, Any]) -> str:
    """`<var_dir>/data`"""
    return str(Path(values["var_dir"]) / "data")


def _restricted_dir(values: Mapping[str, Any]) -> str:
    """`<var_dir>/restricted`"""
    return str(Path(values["var_dir"]) / "restricted")


def _upload_dir(values: Mapping[str, Any]) -> str:
    """`<var_dir>/uploads`"""
    return str(Path(values["var_dir"]) / "uploads")


def _database_url(values: Mapping[str, Any]) -> str:
    """SQLite file `<var_dir>/portal.sqlite`"""
    return f"sqlite:///{Path(values['var_dir']) / 'portal.sqlite'}"


def _releases_git_hosts(values: Mapping[str, Any]) -> str:
    """`launch_git_hosts`"""
    return str(values["launch_git_hosts"])


PACKAGE_DIR = Path(__file__).resolve().parent


def _content_dir(checkout_path: str) -> str:
    # A built wheel carries the checkout's top-level content directories as package data under portal/_data/
    # (pyproject.toml: force-include); a source checkout (also an editable install) has them next to the package.
    shipped = PACKAGE_DIR / "_data" / checkout_path
    return str(shipped if shipped.is_dir() else PACKAGE_DIR.parent / checkout_path)


def _demo_records_dir(values: Mapping[str, Any]) -> str:
    """`portal/demo/records` in the package"""
    from portal.demo import RECORDS

    return str(RECORDS)


def _lessons_dir(values: Mapping[str, Any]) -> str:
    """`education/lessons` of the checkout; installed: its copy in the package (`portal/_data/`)"""
    return _content_dir("education/lessons")


def _envs_dir(values: Mapping[str, Any]) -> str:
    """`analysis_envs` of the checkout; installed: its copy in the package (`portal/_data/`)"""
    return _content_dir("analysis_envs")


def setting(default: Any, help: str) -> Any:
    """A field of :class:`Settings`: its ``default`` (a value, or a callable taking the settings resolved so far,
    whose docstring says what it derives) and its ``help`` (the README table's text)."""
    return field(metadata={"default": default, "help": help})


@dataclass(frozen=True)
class Settings:
    """Resolved settings, one typed attribute per declared setting (built by :func:`load_settings`).

    Declaration order matters: a derived default may read the settings declared before it.
    """

    var_dir: str = setting(_var_dir, "Directory for the embedded database and runtime state.")
    database_url: str = setting(_database_url, "SQLAlchemy URL of the catalogue database (SQLite or PostgreSQL).")
    secret_key: str = setting("dev-only-not-secret", "Flask secret key; set a real one in production.")
    base_url: str = setting("http://127.0.0.1:5000", "Public URL of the portal, used in links and exports.")
    host: str = setting("127.0.0.1", "Address the web server binds to.")
    port: int = setting(5000, "Port the web server listens on.")
    site_name: str = setting("Open Experiment Data Portal", "Name shown on pages and used as publisher.")
    log_format: str = setting("text", "Log lines as `text` or `json` (one object per line, with the request id).")
    log_level: str = setting("INFO", "Level of the portal's own log lines (DEBUG, INFO, WARNING, ERROR).")
    pid_provider: str = setting(
        "local",
        "PID/DOI provider: `local` mints DOIs under `doi_prefix` without registering them; `datacite` registers "
        "them with DataCite's REST API (`datacite_*` settings).",
    )
    doi_prefix: str = setting("10.5072", "DOI prefix for minted DOIs (10.5072 is DataCite's test prefix).")
    doi_namespace: str = setting("portal", "Namespace between prefix and number in minted DOIs (`prefix/namespace.N`).")
    datacite_url: str = setting(
        "https://api.test.datacite.org/",
        "DataCite REST API the `datacite` provider registers DOIs with (the default is DataCite's test system; "
        "production is https://api.datacite.org/). Its DOIs are minted under `doi_prefix`.",
    )
    datacite_username: str = setting("", "DataCite repository ID (e.g. `CERN.OPENDATA`) of the `datacite` provider.")
    datacite_password: str = setting("", "DataCite repository password of the `datacite` provider (never printed).")
    datacite_timeout: float = setting(20.0, "Seconds the `datacite` provider waits for DataCite before retrying later.")
    pid_retry_backoff: float = setting(
        60.0,
        "Seconds before the first retry of a DOI registration that failed (each later one waits twice as long, up "
        "to 6 hours); a `portal worker` retries it then (queue kind `pids.retry`).",
    )
    first_recid: int = setting(100000, "Smallest recid given to new records; imported records keep theirs.")
    index_dir: str = setting(
        "", "Directory searched for file-index files (`*_file_index.json|txt`) named by imported records."
    )
    api_expand_file_indices: bool = setting(
        True,
        "Expand `_file_indices` entries in `/api/records/<recid>` by default (as CERN Open Data does); "
        "`?file_indices=summary` or `?skip_files=1` ask for less.",
    )
    quota_jobs_per_user: int = setting(
        3, "Analysis jobs one user may have queued or running at once; one more is answered 429 (0: no limit)."
    )
    analysis_run_user: str = setting(
        "",
        "System user that analyses of software records run as, in their environment's interpreter, when the portal "
        "runs as root (e.g. `nobody`; it must be able to read the environment builds, `var_dir` and the data). "
        "Empty: the portal's own user.",
    )
    quota_launches_per_user: int = setting(
        2, "Launches one signed-in user may have starting (building or spawning) at once; 429 beyond (0: no limit)."
    )
    quota_launches_anonymous: int = setting(
        2,
        "Launches one anonymous client (IP address) may have starting at once; 429 beyond. "
        "-1: anonymous visitors may not launch at all (401: sign in); 0: no limit.",
    )
    api_max_page_size: int = setting(1000, "Largest `size` accepted by paginated APIs.")
    upload_store: str = setting(
        "local",
        "Where deposit uploads stream to before publication: `local` (`upload_dir`) or `xrootd` (`upload_xrootd_url`).",
    )
    upload_dir: str = setting(_upload_dir, "Directory of the `local` upload store (partial and committed uploads).")
    upload_xrootd_url: str = setting(
        "", "`root://host:port//path` the `xrootd` upload store writes under; empty: `xrootd_url` + `//uploads`."
    )
    deposit_owners_publish: bool = setting(
        False,
        "Owners publish their own drafts through the deposit API (personal uploads); off: only curators publish.",
    )
    deposit_queue_bytes: int = setting(
        1_000_000_000,
        "A publish through the deposit API of more bytes than this (or of more files than `ingest_queue_files`) "
        "runs as a `deposit.publish` queue job: 202 with the job, the version published when it ends; 0: by "
        "count only.",
    )
    quota_deposit_files: int = setting(
        0, "Files one record version may hold when deposited (413 beyond, naming this setting; 0: no limit)."
    )
    quota_deposit_bytes: int = setting(0, "Bytes one record version may hold when deposited (413 beyond; 0: no limit).")
    quota_upload_files_per_user: int = setting(
        0, "Files one user may have in unpublished uploads at once, over all drafts (413 beyond; 0: no limit)."
    )
    quota_upload_bytes_per_user: int = setting(
        0, "Bytes one user may have in unpublished uploads at once, over all drafts (413 beyond; 0: no limit)."
    )
    storage_backend: str = setting(
        "local", "Where file bytes are read from: `local` (the data directory) or `xrootd` (`xrootd_url`)."
    )
    data_dir: str = setting(_data_dir, "Directory holding the portal's data files (exported by XRootD).")
    restricted_dir: str = setting(
        _restricted_dir,
        "Directory holding the bytes of restricted and embargoed files, served only over authenticated HTTP; "
        "must lie outside `data_dir`, which XRootD exports publicly.",
    )
    xrootd_url: str = setting(
        "", "`root://host:port` of the XRootD server serving the data directory; empty: no XRootD."
    )
    xrootd_export: str = setting("data", "Path under which XRootD exports the data directory (`root://…//data/…`).")
    xrootd_port: int = setting(1094, "Port of the XRootD server `portal stack` starts.")
    accel_redirect_prefix: str = setting(
        "", "nginx internal location for downloads (`X-Accel-Redirect`); empty: the portal streams the bytes."
    )
    pack_max_files: int = setting(10000, "Most files one zip pack may hold.")
    search_backend: str = setting(
        "", "Full-text backend: `sqlite` (FTS5) or `postgres`; empty: the one matching the database."
    )
    admin_email: str = setting("opendata-admin@example.org", "Contact address shown by OAI-PMH Identify.")
    oai_page_size: int = setting(100, "Records per OAI-PMH list response (then a resumption token).")
    stats_enabled: bool = setting(True, "Record usage events (views, downloads, launches).")
    stats_flush_interval: float = setting(
        1.0, "Seconds between writes of buffered usage events (recording never waits for the database)."
    )
    stats_aggregate_interval: float = setting(
        300.0,
        "Seconds between aggregation runs of usage statistics, run by a `portal worker` (queue kind "
        "`stats.aggregate`; 0 disables).",
    )
    audit_interval: float = setting(
        86400.0,
        "Seconds between fixity audits of the stored files, run by a `portal worker` (queue kind `files.audit`; "
        "0 disables).",
    )
    launch_events_keep_days: float = setting(
        30.0,
        "Days the events of a finished launch are kept in `launch_events`; older ones are pruned by a "
        "`portal worker` (queue kind `launch.prune`, every `launch_events_prune_interval` s; 0 keeps them all).",
    )
    launch_events_prune_interval: float = setting(
        3600.0, "Seconds between prunings of old launch events (queue kind `launch.prune`; 0 disables)."
    )
    audit_rate: float = setting(
        50.0, "Read limit of fixity audits in MB/s, so they never starve downloads (0: unlimited)."
    )
    bag_max_bytes: int = setting(
        2_000_000_000,
        "Largest payload `/record/<recid>/export/bagit` packs (a larger bag is made with `portal records bag`).",
    )
    load_demo: bool = setting(
        True, "Load the demo catalogue (`demo_records_dir`) and the lessons when `portal stack` starts."
    )
    demo_records_dir: str = setting(
        _demo_records_dir, "Directory of the demo catalogue's record files (`*.yaml`) that `portal stack` loads."
    )
    lessons_dir: str = setting(
        _lessons_dir, "Directory of the lessons: one `<slug>/` each, with `lesson.yaml`, notebook, worksheet, guide."
    )
    envs_dir: str = setting(
        _envs_dir, "Directory of the analysis environments (repo2docker directories) that launches and lessons use."
    )
    processing_executor: str = setting(
        "local",
        "Where analyses run: `inline` (in the calling thread, debugging), `local` (an embedded Dask "
        "LocalCluster), `remote` (the Dask scheduler at `processing_scheduler`) or `gateway` (a cluster per user "
        "from the Dask Gateway at `gateway_url`).",
    )
    processing_scheduler: str = setting("", "Address of a Dask scheduler (`tcp://host:8786`) for `remote`.")
    gateway_url: str = setting(
        "", "Dask Gateway's public address (`http://host:port`) for the `gateway` executor: a cluster per user."
    )
    gateway_proxy_address: str = setting(
        "",
        "Dask Gateway's scheduler proxy (`gateway://host:port`) when it is not on `gateway_url`'s port; the "
        "portal and notebook sessions (`DASK_GATEWAY__PROXY_ADDRESS`) use it.",
    )
    gateway_password: str = setting(
        "",
        "Shared secret with which the portal signs in to the gateway as each person's hub user (sessions use "
        "their hub token instead); empty: generated into `var/gateway/` by `portal stack` and the tests.",
    )
    gateway_max_workers: int = setting(2, "Most Dask workers one user's gateway cluster may have (1 core each).")
    gateway_worker_memory: str = setting("2 G", "Memory of each gateway worker (a dask-gateway size, e.g. `2 G`).")
    gateway_idle_timeout: int = setting(600, "Seconds after which an idle user cluster is shut down by the gateway.")
    processing_workers: int = setting(2, "Worker processes of the embedded Dask LocalCluster.")
    job_queue: str = setting(
        "database",
        "Where background work (analyses) waits for `portal worker` processes: `database` (rows of the portal's "
        "database; claimed with FOR UPDATE SKIP LOCKED on PostgreSQL, one worker on SQLite).",
    )
    ingest_queue_files: int = setting(
        1000,
        "`portal ingest` of more files than this runs as an `ingest` queue job on a `portal worker` (progress, "
        "cancellation; the command prints the job id, `--wait` follows it); -1: always in the command itself.",
    )
    worker_concurrency: int = setting(2, "Jobs one `portal worker` process runs at once (threads).")
    worker_poll_interval: float = setting(1.0, "Seconds an idle worker waits before looking for queued jobs again.")
    worker_heartbeat_timeout: float = setting(
        30.0,
        "Seconds without a heartbeat after which a running job's worker counts as lost: the job is queued again "
        "(or failed with the reason, without attempts left).",
    )
    processing_chunk_events: int = setting(
        200000, "Events read and processed at once by an analysis (cut on cluster boundaries); bounds worker memory."
    )
    launch_enabled: bool = setting(
        True, "Start JupyterHub in `portal stack` and offer Launch (embedded hub: NOT FOR PRODUCTION)."
    )
    launch_builder: str = setting(
        "venv",
        "Environment builder: `podman` (OCI images from the repo2docker spec, with rootful podman; isolated), "
        "`venv` (a venv on the host: NOT isolated, the no-engine fallback) or `repo2docker` (repo2docker's own "
        "build against a Docker API, pushed to `launch_registry`; clusters).",
    )
    launch_spawner: str = setting(
        "local",
        "Embedded hub's spawner: `docker` (DockerSpawner on podman's Docker API: one container per server; needs "
        "the `podman` builder) or `local` (processes on the host: NOT isolated, the no-engine fallback).",
    )
    launch_images_dir: str = setting(
        "",
        "Where the podman builder keeps its image store and build records (empty: `<venv>/share/portal/images`, "
        "shared by every portal of the installation).",
    )
    launch_build_network: str = setting(
        "host",
        "podman's network for image builds: `host`, or `ns:<path>` (a network namespace that reaches Debian's "
        "mirror and the package index, e.g. `ns:/proc/1/ns/net` from an isolated namespace).",
    )
    launch_container_cpus: float = setting(2.0, "CPU limit of a session container (DockerSpawner); 0: none.")
    launch_container_memory: str = setting("4G", "Memory limit of a session container (DockerSpawner); empty: none.")
    launch_docker_url: str = setting(
        "",
        "Docker API the repo2docker builder (and an external DockerSpawner) talk to, e.g. "
        "`unix:///run/podman/podman.sock`; empty: the embedded podman service.",
    )
    launch_registry: str = setting(
        "", "Registry the repo2docker builder pushes images to (e.g. `registry.example.org/binder`); empty: no push."
    )
    launch_launcher: str = setting(
        "jupyterhub",
        "Session launcher: `jupyterhub` (named servers on the hub at `launch_hub_url`, or the embedded one).",
    )
    launch_hub_url: str = setting("", "URL of an external JupyterHub; empty starts the embedded one.")
    launch_hub_token: str = setting("", "API token of the portal's Hub service on an external JupyterHub.")
    launch_build_timeout: float = setting(
        1800.0,
        "Seconds a launch waits for its environment's build by a `portal worker`; then the launch fails saying so "
        "and the build goes on for later launches (0: no limit).",
    )
    launch_git_hosts: str = setting(
        "github.com,gitlab.com,gitlab.cern.ch",
        "Comma-separated git hosts that Binder-style launch URLs may clone from (https only).",
    )
    launch_allow_file_urls: bool = setting(False, "Allow file:// git repositories in launch URLs (tests only).")
    releases_git_hosts: str = setting(
        _releases_git_hosts,
        "Comma-separated git hosts that connected repositories (software from git releases) may be fetched from.",
    )
    releases_allow_http: bool = setting(
        False, "Let connected repositories be fetched over plain http:// (a loopback git server in tests only)."
    )
    releases_max_archive_bytes: int = setting(
        500 * 1024 * 1024, "Largest release archive a webhook delivery stores; a larger one is refused."
    )
    releases_unmatched_kept: int = setting(
        1000,
        "Webhook deliveries that matched no connected repository kept for admins (`/admin/deliveries`), newest "
        "first; older ones are deleted (anyone may post them).",
    )
    releases_unmatched_days: int = setting(
        30, "Days a webhook delivery that matched no connected repository is kept for admins, at most."
    )
    signin_local: bool = setting(
        True, "Offer sign-in with local accounts (user name or email and password) on `/signin`."
    )
    signup_open: bool = setting(
        True, "Let visitors create local accounts at `/signup` (off: only admins create them, `portal users create`)."
    )
    password_hash_time_cost: int = setting(
        3,
        "Passes of argon2id over memory per password hash (RFC 9106's low-memory profile). Keep the default; "
        "only the test suite lowers it, to 1.",
    )
    password_hash_memory_kib: int = setting(
        65536,
        "KiB of memory argon2id fills per password hash (64 MiB, RFC 9106). Keep the default; only the test "
        "suite lowers it (to 32 KiB). Hashes made with other costs still verify and are redone at the next sign-in.",
    )
    oidc_providers: str = setting(
        "",
        'OpenID Connect providers offered on `/signin`, as JSON: `{"<name>": {"preset": "cern|orcid|github", '
        '"client_id": …, "client_secret": …}}` or with `issuer` instead of a preset (any OIDC issuer); '
        "optional `title`, `scope`, `link_verified_email`. See docs/accounts.md.",
    )
    session_days: int = setting(14, "Days a browser sign-in lasts (the session cookie's lifetime).")
    trusted_proxies: int = setting(
        0,
        "Number of reverse proxies in front of the portal whose `X-Forwarded-For`/`X-Forwarded-Proto` are trusted "
        "(werkzeug's ProxyFix): client IPs, statistics, rate limits and HSTS then see the real client. 0: none.",
    )
    ratelimit_enabled: bool = setting(True, "Apply the rate limits below (429 problem+json with `Retry-After`).")
    ratelimit_storage_uri: str = setting(
        "memory://",
        "Where rate-limit counters live (Flask-Limiter storage URI): `memory://` (per process, embedded) or "
        "`redis://host:6379` shared by every web worker at scale.",
    )
    ratelimit_signin: str = setting(
        "20 per minute", "Failed sign-in attempts allowed per client (user, else IP); the next one gets 429."
    )
    ratelimit_tokens: str = setting("10 per minute", "Personal access tokens a client may create.")
    ratelimit_launches: str = setting(
        "30 per minute", "Session launches a client may start (shared by a classroom behind one NAT address)."
    )
    ratelimit_analyses: str = setting("10 per minute", "Analysis jobs a client may create (`POST /api/analyses`).")
    ratelimit_search: str = setting("120 per minute", "Search API requests a client may make (`GET /api/records`).")
    content_security_policy: str = setting(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
        "base-uri 'self'; frame-ancestors 'none'",
        "Content-Security-Policy sent with every response (no inline scripts or styles); empty sends none.",
    )
    launch_hub_client_id: str = setting(
        "",
        "OAuth2 client id of the hub at the portal's provider (`/oauth/authorize`); `portal stack` generates it "
        "into `<var_dir>/hub-oauth-client.json`. Empty: the provider is off.",
    )
    launch_hub_client_secret: str = setting(
        "", "OAuth2 client secret of the hub (generated with the client id by `portal stack`; never printed)."
    )
    launch_user_prefix: str = setting(
        "p-", "Prefix of the hub user (and system user) of a signed-in person: `<prefix><user id>`."
    )
    launch_anonymous: bool = setting(
        True, "Let anonymous visitors launch, each as a short-lived hub user `anon-<random>` culled when idle."
    )
    launch_idle_timeout: int = setting(
        3600,
        "Seconds of inactivity after which the embedded hub's idle culler stops servers and removes their hub "
        "users (anonymous ones with their system user and home); 0 disables culling.",
    )
    launch_system_users: bool = setting(
        True,
        "Embedded hub: run each hub user's servers as their own unprivileged system user, created on first "
        "launch (needs root; otherwise every server runs as the portal's user, with a warning).",
    )

    @property
    def values(self) -> dict[str, Any]:
        """Every setting by name (a copy)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def with_overrides(self, **overrides: Any) -> Settings:
        return load_settings({**self.values, **overrides}, environ={})

    def environ(self) -> dict[str, str]:
        """Every setting as its ``PORTAL_*`` variable: what a child process (a `portal worker`) is started with
        to have exactly these settings."""
        return {s.env: str(int(v)) if isinstance(v := getattr(self, s.name), bool) else str(v) for s in DECLARATIONS}


def _declarations() -> tuple[Setting, ...]:
    types = get_type_hints(Settings)
    return tuple(Setting(f.name, types[f.name], f.metadata["default"], f.metadata["help"]) for f in fields(Settings))


DECLARATIONS: tuple[Setting, ...] = _declarations()
_BY_NAME = {s.name: s for s in DECLARATIONS}


def load_settings(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every declared setting: explicit overrides, then ``PORTAL_*`` variables, then defaults.

    Raises :class:`Invalid` for an unknown override name or an unparsable value.
    """
    overrides = dict(overrides or {})
    environ = os.environ if environ is None else environ
    if "curator_token" in overrides or "PORTAL_CURATOR_TOKEN" in environ:
        # refused rather than ignored: a deployment relying on it would otherwise lose its writers silently
        raise Invalid(
            N_(
                "PORTAL_CURATOR_TOKEN is retired: create a curator account (`portal "
                "users create NAME --role curator`) and a token for it (`portal tokens "
                "create NAME --scope deposit:publish --scope curate`), then unset it"
            ),
            field="PORTAL_CURATOR_TOKEN",
        )
    unknown = set(overrides) - set(_BY_NAME)
    if unknown:
        raise Invalid(N_("unknown setting(s): {unknown}"), unknown=", ".join(sorted(unknown)))
    values: dict[str, Any] = {}
    for setting in DECLARATIONS:
        if setting.name in overrides:
            values[setting.name] = setting.parse(overrides[setting.name])
        elif setting.env in environ:
            values[setting.name] = setting.parse(environ[setting.env])
        elif callable(setting.default):
            values[setting.name] = setting.default(values)
        else:
            values[setting.name] = setting.default
    return Settings(**values)


def settings_table_markdown() -> str:
    """The README's settings table, generated from the declarations."""
    lines = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for s in DECLARATIONS:
        default = s.default_text().replace("|", "\\|")
        lines.append(f"| `{s.env}` | {s.type.__name__} | {default} | {s.help} |")
    return "\n".join(lines)


README_START = "<!-- settings-table:start -->"
README_END = "<!-- settings-table:end -->"


def replace_readme_table(readme: str) -> str:
    """``readme`` with the text between the settings-table markers replaced by the generated table."""
    head, rest = readme.split(README_START, 1)
    _old, tail = rest.split(README_END, 1)
    return f"{head}{README_START}\n{settings_table_markdown()}\n{README_END}{tail}"
