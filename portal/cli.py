"""`portal …` commands: database, records, settings, serving and the embedded stack.

Startup is kept light (`portal --help` imports click and the settings, nothing else): each command imports
what it needs when it runs, and the commands of optional parts (`portal analysis`) load on first use.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from portal.catalog.access import PUBLIC
from portal.errors import Invalid, NotFound, PortalError, Unavailable
from portal.extras import require
from portal.i18n import N_
from portal.settings import load_settings, settings_table_markdown

if TYPE_CHECKING:
    from portal.files.guard import Placed
    from portal.services import Services


def _services() -> Services:
    from portal.services import build_services

    return build_services(load_settings())


def _fail(err: PortalError) -> NoReturn:
    click.secho(f"error: {err.message}", fg="red", err=True)
    sys.exit(1)


# name -> (module, attribute, extra it needs or "" for the core, short help): commands imported only when run, so
# that their imports (awkward, hist, Dask for `analysis`; requests and rich for `get`) do not slow every other
# command down. The short help shows in
# `portal --help` without importing them (tests/unit/test_startup_imports.py keeps it equal to the real one).
LAZY_COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "analysis": (
        "portal.processing.cli",
        "analysis",
        "processing",
        "Run analyses (built-in or your own `module:Class`) over catalogued datasets.",
    ),
    "citations": (
        "portal.citations.cli",
        "citations",
        "",
        "Citations of records: import them from Scholix link files.",
    ),
    "pids": (
        "portal.pids.cli",
        "pids",
        "",
        "DOI registrations with DataCite: list those not done, retry them.",
    ),
    "worker": (
        "portal.jobqueue.cli",
        "worker",
        "",
        "Run queued background jobs (analyses, launches, builds, webhooks, DOIs, ingests, statistics, audits).",
    ),
    "get": (
        "portal.client.cli",
        "get",
        "",
        "Download a record's files in parallel, resumed where an earlier run stopped, each checksum verified.",
    ),
}


class PortalGroup(click.Group):
    """The `portal` group: loads the commands of :data:`LAZY_COMMANDS` on first use (a missing extra is named),
    and prints any domain error a command lets through as one line, exit status 1 (no traceback)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY_COMMANDS:
            return super().get_command(ctx, cmd_name)
        module, attribute, extra, _help = LAZY_COMMANDS[cmd_name]
        if extra:
            require(extra, f"`portal {cmd_name}`")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names))  # as click.Group.format_commands
        rows = []
        for name in names:
            if name in LAZY_COMMANDS:
                stand_in = click.Command(name, help=LAZY_COMMANDS[name][3])  # shortened as the real one would be
                rows.append((name, stand_in.get_short_help_str(limit)))
                continue
            command = super().get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PortalError as err:
            _fail(err)


@click.group(cls=PortalGroup)
@click.version_option(package_name="portal")
def main() -> None:
    """Open-data portal for experiment data."""


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply alembic migrations up to the newest schema."""
    svc = _services()
    click.echo(f"database at {svc.settings.database_url} is up to date")


@main.group()
def records() -> None:
    """Load and inspect records."""


@records.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--index-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory holding the *_file_index.json|txt files the records name.",
)
def records_load(paths: tuple[Path, ...], index_dir: Path | None) -> None:
    """Load record files (our YAML/JSON, or CERN Open Data record JSON). Each file loads whole or not at all."""
    from portal.catalog.importers import IndexLocator, read_record_file

    svc = _services()
    locator = IndexLocator(index_dir or svc.settings.index_dir or None)
    files = sorted(
        p
        for path in paths
        for p in ([path] if path.is_file() else [*path.rglob("*.json"), *path.rglob("*.y*ml")])
        if not p.name.endswith(("_file_index.json",))
    )
    failed = 0
    counts = {"created": 0, "updated": 0, "unchanged": 0}
    for path in files:
        try:
            inputs = read_record_file(path, locator)
            results = svc.catalog.load(inputs)
        except PortalError as err:
            failed += 1
            click.secho(f"refused {err.message}", fg="red", err=True)
            continue
        for res in results:
            counts[res.action] += 1
            for warning in res.warnings:
                click.secho(f"warning: {warning}", fg="yellow", err=True)
            # bytes follow the access rights (an update may have opened or closed them)
            if res.action == "updated" or svc.access.rights(res.recid)[1] != PUBLIC:
                _report_placed(svc.placement.place(res.recid))
        click.echo(
            f"{path}: {len(results)} record(s) "
            + ", ".join(f"{sum(r.action == a for r in results)} {a}" for a in counts)
        )
    click.echo(
        f"loaded {len(files) - failed} of {len(files)} file(s): " + ", ".join(f"{n} {a}" for a, n in counts.items())
    )
    if failed:
        sys.exit(1)


@records.command("show")
@click.argument("recid", type=int)
def records_show(recid: int) -> None:
    """Print a record's JSON (file indices summarised)."""
    from portal.catalog.serialize import stream_record_json

    svc = _services()
    try:
        view = svc.catalog.get(recid, include_drafts=True)
    except PortalError as err:
        _fail(err)
    text = "".join(stream_record_json(view, svc.settings.base_url, indices="summary", entries=lambda k: []))
    click.echo(json.dumps(json.loads(text), indent=2))


@records.command("new-version")
@click.argument("recid", type=int)
@click.option("--owner", default=None, help="User name of the draft's owner (who may then edit it).")
def records_new_version(recid: int, owner: str | None) -> None:
    """Start a new version (a draft copy of the latest) of the record's concept."""
    try:
        svc = _services()
        owner_id = svc.users.by_username(owner).id if owner else None
        view = svc.catalog.new_version(recid, owner_id=owner_id)
    except PortalError as err:
        _fail(err)
    click.echo(f"draft {view.recid} created as version {view.version_index} of concept {view.concept_recid}")


@records.command("publish")
@click.argument("recid", type=int)
def records_publish(recid: int) -> None:
    """Publish a draft version: it gets its DOI and becomes the latest version."""
    try:
        view = _services().catalog.publish(recid)
    except PortalError as err:
        _fail(err)
    click.echo(f"published {view.recid} with DOI {view.doi} (concept DOI {view.concept_doi})")


@records.command("remove")
@click.argument("recid", type=int)
@click.option("--reason", required=True, help="Why it is removed; the tombstone page and API answer show it.")
def records_remove(recid: int, reason: str) -> None:
    """Remove a published version, leaving a tombstone: its page and API answer 410 with the citation and the
    reason, its files are no longer served, search drops it, OAI-PMH lists it as deleted, its DOI still resolves
    (to the tombstone). The stored bytes stay where they are. Recorded in the audit log."""
    from portal.identity.principal import COMMAND_LINE

    svc = _services()
    try:
        citation = svc.preservation.remove(recid, reason, COMMAND_LINE)
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    click.echo(f"removed {recid}; its tombstone cites: {citation}")


@records.command("bag")
@click.argument("recid", type=int)
@click.argument("out", type=click.Path(path_type=Path))
def records_bag(recid: int, out: Path) -> None:
    """Write a BagIt bag of published version RECID as the new directory OUT: its files as payload, SHA-256 and
    SHA-512 manifests, bag-info with the DOI, title, version and creators, the record JSON and DataCite XML as
    tag files. Check it with `bagit.py --validate OUT`."""
    svc = _services()
    try:
        bag = svc.preservation.bag(recid, out)
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    click.echo(
        f"bag of {bag.recid} (DOI {bag.doi or '-'}) in {bag.path}: {bag.payload_files} file(s), "
        f"{bag.payload_bytes:,} bytes" + (f"; {bag.remote_files} remote file(s) listed" if bag.remote_files else "")
    )


@main.group()
def files() -> None:
    """The stored files."""


@files.command("audit")
@click.option("--recid", type=int, default=None, help="Only the files of this record version.")
@click.option(
    "--rate",
    type=float,
    default=None,
    help="Read limit in MB/s (default: PORTAL_AUDIT_RATE; 0: unlimited).",
)
@click.option(
    "--schedule",
    is_flag=True,
    help="Keep running: a full audit every PORTAL_AUDIT_INTERVAL seconds (for a process of its own; "
    "findings go to the alerts log and /metrics, not to the exit status).",
)
@click.option("--runs", type=click.IntRange(min=1), default=None, help="With --schedule: stop after this many runs.")
def files_audit(recid: int | None, rate: float | None, schedule: bool, runs: int | None) -> None:
    """Re-read the stored files and compare sizes and checksums with the catalogue: mismatches, missing files
    and (for a full audit) unexpected files are printed and logged as alerts; the report is written to
    <var_dir>/audits/latest.json. Exit status 1 when anything is wrong."""
    if schedule:
        _audit_on_schedule(rate, runs)
        return
    svc = _services()
    mb = svc.settings.audit_rate if rate is None else rate
    try:
        report = svc.preservation.audit_files(recid=recid, rate=mb * 1e6 or None)
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    for f in report.findings:
        named = ", ".join(f"{r}/{k}" for r, k in f.files)
        click.secho(f"{f.kind:10} {f.path}" + (f" [{named}]" if named else "") + f": {f.detail}", fg="red")
    click.echo(
        f"audited {report.files_checked} file(s), {report.bytes_read:,} bytes read"
        + (f", {report.skipped_remote} held elsewhere (skipped)" if report.skipped_remote else "")
        + f": {len(report.findings)} problem(s)"
    )
    if not report.ok:
        sys.exit(1)


def _audit_on_schedule(rate: float | None, runs: int | None) -> None:
    import time

    from portal.preservation.schedule import scheduled_audit

    settings = load_settings({} if rate is None else {"audit_rate": rate})
    if settings.audit_interval <= 0:
        _fail(Invalid(N_("PORTAL_AUDIT_INTERVAL is 0 (audits disabled); set it to the seconds between audits")))
    done = 0
    while runs is None or done < runs:
        started = time.monotonic()
        try:
            report = scheduled_audit(settings)
            click.echo(
                f"{report['finished']}: audited {report['files_checked']} file(s): "
                f"{len(report['findings'])} problem(s)",
                nl=True,
            )
        except PortalError as err:  # a failed run is reported; the schedule goes on
            click.secho(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}: audit failed: {err.message}", fg="red")
        done += 1
        if runs is None or done < runs:
            time.sleep(max(0.0, settings.audit_interval - (time.monotonic() - started)))


@main.group()
def data() -> None:
    """Demo and sample data."""


@data.command("generate")
@click.option("--tier", type=click.Choice(["tiny", "small", "bench"]), default="small", show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option(
    "--formats", default="root,parquet,hdf5,csv", show_default=True, help="Comma-separated: root, parquet, hdf5, csv."
)
@click.option(
    "--compression",
    type=click.Choice(["zlib", "lz4", "zstd", "lzma", "none"]),
    default="zlib",
    show_default=True,
    help="ROOT compression codec.",
)
@click.option("--seed", type=int, default=None, help="Random seed (default: the project's fixed seed).")
def data_generate(tier: str, out: Path, formats: str, compression: str, seed: int | None) -> None:
    """Write deterministic NanoAOD-like events (ROOT, Parquet, HDF5) and the CSV education sample."""
    from portal.demo.generate import DEFAULT_SEED, generate

    try:
        paths = generate(
            tier,
            out,
            formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
            compression=compression,
            seed=DEFAULT_SEED if seed is None else seed,
            progress=lambda p: click.echo(f"wrote {p}"),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    click.echo(f"{len(paths)} file(s) in {out}")


@main.group()
def education() -> None:
    """Lessons and sample packs."""


@education.command("list")
def education_list() -> None:
    """List the lessons of PORTAL_LESSONS_DIR: slug, level, duration, environment and title."""
    from portal.services import build_lessons

    settings = load_settings()
    lessons = build_lessons(settings).all()
    click.echo(f"{len(lessons)} lesson(s) in {settings.lessons_dir}")
    for lesson in lessons:
        spec = lesson.spec
        click.echo(
            f"{lesson.slug:20} {spec['level']:12} {spec['duration_minutes']:>4} min  {spec['environment']:14} "
            f"{spec['title']}"
        )


@education.command("load")
def education_load() -> None:
    """Load (or update) the Lesson records defined in <lessons_dir>/*/lesson.yaml (setting PORTAL_LESSONS_DIR)."""
    from portal.education.lessons import lesson_record

    svc = _services()
    try:
        results = svc.catalog.load([lesson_record(lesson) for lesson in svc.lessons.all()])
    except PortalError as err:
        _fail(err)
    click.echo(", ".join(f"{r.recid} {r.action}" for r in results))
    svc.close()


@main.group("env")
def env_group() -> None:
    """Analysis environments (analysis_envs/, repo2docker specifications)."""


@env_group.command("list")
def env_list() -> None:
    """List the environments of PORTAL_ENVS_DIR: name, buildpack, built or not, and the files repo2docker reads."""
    from portal.launch.manager import BrokenEnvironment

    svc = _services()
    try:
        if svc.launches is None:
            require("launch", "reading environments")
            return
        envs = svc.launches.environments()
    finally:
        svc.close()
    click.echo(f"{len(envs)} environment(s) in {svc.settings.envs_dir}")
    for env in envs:
        if isinstance(env, BrokenEnvironment):
            click.secho(f"{env.name:16} error: {env.error}", fg="red")
            continue
        state = "built" if env.built else "not built"
        click.echo(f"{env.name:16} {env.buildpack:24} {state:10} {', '.join(env.spec_files)}")
        built = svc.launches.builder.cached(env.key) if env.built else None
        if built is not None and built.image:
            size = built.record.get("size")
            mb = f"{int(str(size)) / 1e6:.0f} MB" if size else "size unknown"
            click.echo(f"{'':16} image {built.image} ({mb}), build log {built.path / 'build.log'}")


@env_group.command("prune")
def env_prune() -> None:
    """Remove the podman builder's images that no analysis environment and no pinned record version uses."""
    from portal.environments.podman_builder import PodmanBuilder
    from portal.launch.manager import Environment

    svc = _services()
    try:
        if svc.launches is None:
            require("launch", "pruning environments")
            return
        builder = svc.launches.builder
        if not isinstance(builder, PodmanBuilder):
            _fail(
                Invalid(
                    N_("prune removes the podman builder's images: set PORTAL_LAUNCH_BUILDER=podman"), field="builder"
                )
            )
        keep = {e.key for e in svc.launches.environments() if isinstance(e, Environment)}
        keep |= {key for key, _spec in svc.launches.pins().values()}
        removed = builder.prune(keep)
    finally:
        svc.close()
    click.echo(f"removed {len(removed)} image(s); kept {len(keep)} build(s) in use")
    for key in removed:
        click.echo(f"  {key}")


@env_group.command("verify")
@click.argument("name_or_recid")
def env_verify(name_or_recid: str) -> None:
    """Rebuild an environment (an analysis_envs/ name, or a record id: the spec it was published with) from
    scratch and compare its installed packages (pip freeze) with those of its pinned image; exit 1 on drift."""
    import tempfile

    from portal.environments.builders import BuildFailed
    from portal.environments.podman_builder import PodmanBuilder
    from portal.environments.spec import materialise, read_spec
    from portal.launch.sources import local_env

    svc = _services()
    try:
        if svc.launches is None:
            require("launch", "verifying environments")
            return
        builder = svc.launches.builder
        if not isinstance(builder, PodmanBuilder):
            _fail(Invalid(N_("verify rebuilds images: set PORTAL_LAUNCH_BUILDER=podman"), field="builder"))
        with tempfile.TemporaryDirectory() as tmp:
            if name_or_recid.isdigit():
                key, spec = svc.launches.pins().get(int(name_or_recid), ("", None))
                if spec is None:
                    _fail(
                        Invalid(
                            N_("record {name_or_recid} has no pinned environment spec"),
                            name_or_recid=name_or_recid,
                            field="recid",
                        )
                    )
                repo = materialise(spec, Path(tmp) / "spec")
            else:
                repo = local_env(name_or_recid, Path(svc.settings.envs_dir)).repo_dir
                key = builder.key(read_spec(repo))
            pinned = builder.cached(key)
            if pinned is None:
                _fail(
                    Invalid(N_("build {key} is not in the image cache: nothing to compare with"), key=key, field="key")
                )
            click.echo(f"rebuilding {name_or_recid} (pinned build {key}, image {pinned.record.get('image_id')})")
            now = builder.rebuild_packages(repo, Path(tmp) / "work")
    except (PortalError, BuildFailed) as err:
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(1)
    finally:
        svc.close()
    drift = package_drift([str(p) for p in pinned.record.get("packages") or []], now)  # type: ignore[attr-defined]
    if not drift:
        click.echo(f"no drift: the rebuild installs the same {len(now)} packages as the pinned image")
        return
    click.secho(f"DRIFT: {len(drift)} package(s) differ from the pinned image", fg="red")
    for line in drift:
        click.echo(f"  {line}")
    sys.exit(1)


def package_drift(pinned: list[str], now: list[str]) -> list[str]:
    """What differs between two ``pip freeze`` lists, one line per package: ``name: pinned -> now``."""

    def by_name(lines: list[str]) -> dict[str, str]:
        return {line.split("==")[0].lower(): line.partition("==")[2] or line for line in lines}

    before, after = by_name(pinned), by_name(now)
    return [
        f"{name}: {before.get(name, 'absent')} -> {after.get(name, 'absent')}"
        for name in sorted(before.keys() | after.keys())
        if before.get(name) != after.get(name)
    ]


@env_group.command("build")
@click.argument("name_or_path")
def env_build(name_or_path: str) -> None:
    """Build (or find in the cache) an environment: an analysis_envs/ name or a directory with repo2docker files."""
    from portal.environments.builders import BuildFailed, build_to_end
    from portal.launch.sources import local_env
    from portal.services import build_builder

    require("launch", "building environments")
    path = Path(name_or_path)
    try:
        settings = load_settings()
        name = name_or_path.removeprefix("analysis_envs/")
        repo = path if path.is_dir() else local_env(name, Path(settings.envs_dir)).repo_dir
        builder = build_builder(settings)
        built = build_to_end(builder, repo, on_event=lambda e: click.echo(f"[{e.phase}] {e.message}"))
    except PortalError as err:
        _fail(err)
    except BuildFailed as err:
        click.secho(f"error: {err}", fg="red", err=True)
        sys.exit(1)
    click.echo(f"built {built.key} ({built.builder}) at {built.path}")


@env_group.command("prefetch")
@click.option(
    "--images/--no-images",
    default=True,
    help="Also download everything the podman builder's images install (their venvs are separate).",
)
def env_prefetch(images: bool) -> None:
    """Download what analysis_envs/ needs beyond the portal's own packages, so builds run offline."""
    from portal.environments.wheelhouse import DEFAULT_WHEELHOUSE, prefetch

    try:
        fetched = prefetch(Path(load_settings().envs_dir))
    except PortalError as err:
        _fail(err)
    click.echo(f"wheelhouse {DEFAULT_WHEELHOUSE}: " + (", ".join(fetched) if fetched else "nothing to fetch"))
    if images:
        from portal.environments.base_image import PYTHON_RELEASE, server_requirements
        from portal.environments.wheelhouse import prefetch_images

        try:
            wanted = prefetch_images(Path(load_settings().envs_dir), server_requirements(), PYTHON_RELEASE)
        except PortalError as err:
            _fail(err)
        click.echo(f"wheelhouse {DEFAULT_WHEELHOUSE}: everything image builds install ({len(wanted)} requirements)")


@main.group()
def releases() -> None:
    """Software from git releases: webhook deliveries."""


@releases.command("process")
@click.argument("delivery_id", type=int)
def releases_process(delivery_id: int) -> None:
    """Process a recorded webhook delivery (again): what a job queue runs, and how an operator retries one.
    Exits 1 unless the delivery created its version."""
    svc = _services()
    try:
        delivery = svc.releases.process(delivery_id)
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    line = f"delivery {delivery.id}: {delivery.outcome}" + (f" record {delivery.recid}" if delivery.recid else "")
    click.echo(line + (f": {delivery.reason}" if delivery.reason else ""))
    if delivery.outcome != "created":
        sys.exit(1)


@main.group()
def search() -> None:
    """The search index."""


@search.command("reindex")
def search_reindex() -> None:
    """Rebuild the search index from the catalogue."""
    svc = _services()
    click.echo(f"indexed {svc.search.reindex()} record version(s)")
    svc.close()


@main.group()
def stats() -> None:
    """Usage statistics."""


@stats.command("aggregate")
def stats_aggregate() -> None:
    """Count buffered usage events into hourly, per-version and per-concept statistics."""
    svc = _services()
    hours = svc.stats.aggregate()
    click.echo(f"counted {hours} hour(s) of usage events")
    svc.close()


@main.group()
def access() -> None:
    """Access rights: where restricted and embargoed files are kept, and lifting ended embargoes."""


def _report_placed(placed: Placed) -> None:
    side = "restricted directory (HTTP with sign-in only)" if placed.restricted else "public data directory"
    if placed.moved:
        click.echo(f"record {placed.recid}: moved {placed.moved} file(s) to the {side}")


@access.command("place")
@click.argument("recids", nargs=-1, type=int)
def access_place(recids: tuple[int, ...]) -> None:
    """Move the files of RECIDS (default: every record declaring access rights) to the side their access
    rights call for now: restricted and embargoed files out of the public XRootD export, others back in."""
    svc = _services()
    placed = [svc.placement.place(r) for r in recids] if recids else svc.placement.place_all()
    for p in placed:
        _report_placed(p)
    click.echo(f"{sum(p.moved for p in placed)} file(s) moved, {len(placed)} record(s) checked")
    svc.close()


@access.command("lift-embargoes")
def access_lift_embargoes() -> None:
    """Put the files of records whose embargo has ended back under the public export (idempotent; run it daily,
    e.g. from cron or a systemd timer). HTTP downloads open on the embargo's day without it."""
    svc = _services()
    placed = svc.placement.place_all()
    lifted = [p for p in placed if not p.restricted and p.moved]
    for p in lifted:
        _report_placed(p)
    click.echo(f"{len(lifted)} embargo(es) lifted, {sum(p.moved for p in lifted)} file(s) moved")
    svc.close()


@main.group()
def tokens() -> None:
    """Personal access tokens for the API (shown once, stored hashed, scoped, expiring, revocable)."""


@tokens.command("create")
@click.argument("username")
@click.option("--name", "token_name", default="command line", show_default=True, help="What the token is for.")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    help="A scope (repeatable): deposit:write, deposit:publish, analyses:run, launch, curate, admin.",
)
@click.option("--expires-days", type=int, default=90, show_default=True, help="Days until it expires; 0: never.")
def tokens_create(username: str, token_name: str, scopes: tuple[str, ...], expires_days: int) -> None:
    """Create a token for USERNAME and print it (the only time it is shown)."""
    from portal.identity.principal import COMMAND_LINE

    svc = _services()
    user = svc.users.by_username(username)
    info, secret = svc.tokens.create(COMMAND_LINE, user.id, token_name, scopes, expires_in_days=expires_days or None)
    expires = f"expires {info.expires_at:%Y-%m-%d}" if info.expires_at else "never expires"
    click.echo(f"token {info.id} for {username} ({', '.join(info.scopes)}; {expires}); shown once:", err=True)
    click.echo(secret)


@tokens.command("list")
@click.argument("username")
def tokens_list(username: str) -> None:
    """List USERNAME's tokens (never their secrets)."""
    svc = _services()
    user = svc.users.by_username(username)
    now = svc.tokens.now()
    for t in svc.tokens.list(user.id):
        state = "revoked" if t.revoked_at else "active" if t.active(now) else "expired"
        used = f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "never"
        expires = f"{t.expires_at:%Y-%m-%d}" if t.expires_at else "never"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.name}\t{','.join(t.scopes)}\t{state}\texpires {expires}\tlast used {used}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke token TOKEN_ID at once: its next request is refused."""
    from portal.identity.principal import COMMAND_LINE

    info = _services().tokens.revoke(COMMAND_LINE, token_id)
    click.echo(f"token {info.id} ({info.name}) revoked")


@main.group()
def uploads() -> None:
    """Deposit uploads in the upload store (partial and committed bytes of drafts)."""


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _duration(text: str) -> float:
    """`90s`, `30m`, `12h`, `7d` (a bare number: seconds)."""
    text = text.strip().lower()
    unit = _UNITS.get(text[-1:], 0)
    number = text[:-1] if unit else text
    try:
        value = float(number)
    except ValueError:
        raise click.BadParameter("a duration such as 90s, 30m, 12h or 7d", param_hint="--older-than") from None
    if value < 0:
        raise click.BadParameter("a duration is not negative", param_hint="--older-than")
    return value * (unit or 1)


@uploads.command("clean")
@click.option(
    "--older-than",
    default="1d",
    show_default=True,
    help="Remove pending uploads untouched for this long (90s, 30m, 12h, 7d), and store bytes no upload names.",
)
def uploads_clean(older_than: str) -> None:
    """Garbage-collect abandoned uploads: their rows and their partial bytes."""
    report = _services().deposit.clean(older_than_seconds=_duration(older_than))
    click.echo(f"removed {report.rows} abandoned upload(s) and {report.orphans} orphan(s): {report.bytes} bytes freed")


@main.command("settings")
@click.option("--markdown", is_flag=True, help="Print the README's settings table.")
@click.option(
    "--update-readme",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Rewrite the settings table between the markers of this README.",
)
def settings_cmd(markdown: bool, update_readme: Path | None) -> None:
    """Show the resolved settings (or the declaration table)."""
    if update_readme:
        from portal.settings import replace_readme_table

        update_readme.write_text(replace_readme_table(update_readme.read_text(encoding="utf-8")), encoding="utf-8")
        click.echo(f"settings table of {update_readme} updated")
        return
    if markdown:
        click.echo(settings_table_markdown())
        return
    for name, value in load_settings().values.items():
        # secrets (keys, tokens, client secrets) are never printed: only whether one is set
        hidden = value and any(word in name for word in ("secret", "token", "password"))
        click.echo(f"{name} = {'<set, hidden>' if hidden else repr(value)}")


@main.command("serve")
@click.option("--host", default=None, help="Address to bind (default: PORTAL_HOST, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=None, help="Port to listen on (default: PORTAL_PORT, 5000)."
)
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True, help="gunicorn worker processes")
@click.option("--threads", type=click.IntRange(min=1), default=8, show_default=True, help="threads per worker")
@click.option(
    "--reuse-port",
    is_flag=True,
    help="Bind with SO_REUSEPORT, so that several `portal serve` processes share the port.",
)
def serve(host: str | None, port: int | None, workers: int, threads: int, reuse_port: bool) -> None:
    """Serve the portal with gunicorn on --host:--port (PORTAL_HOST:PORTAL_PORT by default).

    Without PORTAL_BASE_URL, the links the portal writes follow --host and --port.
    """
    import os

    from portal.stack import serve_web

    overrides: dict[str, Any] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    settings = load_settings(overrides)
    if overrides and "PORTAL_BASE_URL" not in os.environ:
        shown = "127.0.0.1" if settings.host in ("", "0.0.0.0", "::") else settings.host
        shown = f"[{shown}]" if ":" in shown else shown
        settings = load_settings({**overrides, "base_url": f"http://{shown}:{settings.port}"})
    serve_web(settings, workers=workers, threads=threads, reuse_port=reuse_port)


@main.command("stack")
@click.option("--demo/--no-demo", default=None, help="Load the demo catalogue first (default: PORTAL_LOAD_DEMO).")
@click.option(
    "--distributed",
    is_flag=True,
    help="Run what the Helm chart runs, as separate processes: a PostgreSQL server, 2 web processes on one port, "
    "2 workers, the Dask Gateway, XRootD and the hub.",
)
def stack(demo: bool | None, distributed: bool) -> None:
    """Start the embedded stack used by `make run`: migrate, load the demo catalogue, serve, run one worker."""
    if distributed:
        from portal.distributed import run_distributed

        run_distributed(load_settings(), load_demo=demo)
        return
    from portal.stack import run_stack

    run_stack(load_settings(), load_demo=demo)


@main.command("ingest")
@click.argument("recid", type=int)
@click.argument("path", default="", metavar="PATH_OR_URL")
@click.option(
    "--write-index",
    "index_key",
    metavar="KEY",
    help="Write KEY_file_index.json/.txt next to the data and list the files through that index.",
)
@click.option(
    "--queue/--no-queue",
    "queued",
    default=None,
    help="Run as an `ingest` job on a `portal worker` (default: when there are more files than "
    "PORTAL_INGEST_QUEUE_FILES); --no-queue: here, whatever the size.",
)
@click.option("--wait", is_flag=True, help="With a queued ingest: follow its progress to its end (exit 1 if it fails).")
@click.option("--cancel", is_flag=True, help="Cancel the record's queued or running ingest instead (PATH not used).")
def ingest_cmd(recid: int, path: str, index_key: str | None, queued: bool | None, wait: bool, cancel: bool) -> None:
    """Ingest the files under PATH_OR_URL into record RECID: a path of the portal's storage (data directory
    or XRootD), an absolute local path, or a root:// URL (walked on that XRootD server).

    Sizes and adler32 checksums are computed in one streaming pass; formats come from the content; ROOT,
    HDF5, Parquet and CSV files are inspected. Damaged files are reported and left out; the command then
    exits with status 1. The record gets the good files and an updated `distribution` in one transaction.
    A large ingest is queued for a `portal worker`: the command prints the job's id and ends (or follows it
    with --wait); a cancelled or failed one stores nothing.
    """
    from portal.files import ingest_jobs

    svc = _services()
    if cancel:
        if svc.queue is None or svc.queue.cancel(ingest_jobs.ref_of(recid)) is None:
            _fail(NotFound(N_("no ingest of record {recid} is queued or running"), recid=recid))
        click.echo(f"ingest of record {recid}: cancel requested")
        return
    try:
        total = ingest_jobs.count_files(svc, path)
        limit = svc.settings.ingest_queue_files
        if queued is None:
            queued = svc.queue is not None and 0 <= limit < total
        if queued:
            if svc.queue is None:
                _fail(Unavailable(N_("no job queue is configured (PORTAL_JOB_QUEUE)")))
            job_id = ingest_jobs.enqueue(svc.queue, recid, path, index_key, total=total)
            click.echo(f"ingest of {total} file(s) into record {recid} queued as job {job_id}")
            if wait:
                sys.exit(_follow_ingest(svc, job_id))
            return
        outcome = _ingest_here(svc, recid, path, index_key, total)
    except PortalError as err:
        _fail(err)
    for rel, reason in outcome.errors:
        click.secho(f"bad file {rel}: {reason}", fg="red", err=True)
    if outcome.view is not None:
        d = outcome.view.metadata["distribution"]
        click.echo(
            f"record {recid}: {d['number_files']} file(s), {d['size']:,} bytes, "
            f"{d.get('number_events', 0):,} events, formats {', '.join(d['formats'])}"
        )
    if outcome.placed is not None:
        _report_placed(outcome.placed)
    if outcome.errors:
        click.secho(f"{len(outcome.errors)} file(s) could not be ingested", fg="red", err=True)
        sys.exit(1)


def _ingest_here(svc: Services, recid: int, path: str, index_key: str | None, total: int) -> Any:
    """An ingest in this process, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from portal.files.ingest_jobs import run_ingest

    with Progress(
        TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"), transient=True
    ) as bar:
        task = bar.add_task("", total=total)
        return run_ingest(
            svc, recid, path, index_key, progress=lambda rel, n: bar.update(task, completed=n, description=rel)
        )


def _follow_ingest(svc: Services, job_id: int) -> int:
    """Print a queued ingest's progress until it ends; its exit status (0: every file ingested)."""
    import time

    assert svc.queue is not None
    shown: object = None
    while True:
        entry = svc.queue.get(job_id)
        if entry is None:
            click.secho(f"job {job_id} is gone", fg="red", err=True)
            return 1
        progress = entry.progress or {}
        line = f"job {job_id}: {entry.state}, {progress.get('done', 0)} of {progress.get('total', '?')} file(s)"
        if line != shown:
            click.echo(line, err=True)
            shown = line
        if entry.state in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.5)
    for rel, reason in progress.get("errors") or []:
        click.secho(f"bad file {rel}: {reason}", fg="red", err=True)
    if entry.state != "succeeded":
        click.secho(f"ingest {entry.state}: {entry.error or ''}; nothing was stored", fg="red", err=True)
        return 1
    d = progress.get("distribution") or {}
    click.echo(f"record {entry.payload['recid']}: {d.get('number_files', 0)} file(s), {d.get('size', 0):,} bytes")
    return 1 if progress.get("errors") else 0


@main.group()
def users() -> None:
    """Accounts: create local users, list them, set their roles, disable them."""


@users.command("create")
@click.argument("username")
@click.option("--name", default="", help="Full name (default: the user name).")
@click.option("--email", default=None, help="Email address (unique).")
@click.option("--orcid", default=None, help="ORCID iD, 0000-0002-1825-0097.")
@click.option("roles", "--role", multiple=True, help="admin or curator (repeat for both); every user is a user.")
@click.option(
    "--generate-password",
    is_flag=True,
    help="Generate a password and print it once (otherwise you are asked for one).",
)
@click.option("--no-password", is_flag=True, help="No password: the person signs in through an OIDC provider.")
def users_create(
    username: str,
    name: str,
    email: str | None,
    orcid: str | None,
    roles: tuple[str, ...],
    generate_password: bool,
    no_password: bool,
) -> None:
    """Create the local account USERNAME (the password is stored as an argon2id hash)."""
    import secrets

    from portal.identity.principal import COMMAND_LINE

    password: str | None = None
    if generate_password:
        password = secrets.token_urlsafe(12)
    elif not no_password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    svc = _services()
    try:
        user = svc.users.create(
            COMMAND_LINE, username, name=name, email=email, password=password, roles=roles, orcid=orcid
        )
    finally:
        svc.close()
    click.echo(f"created user {user.username} (id {user.id}; roles: {', '.join(['user', *user.roles])})")
    if generate_password:
        click.echo(f"password: {password}  (shown once; not stored in clear anywhere)")


@users.command("list")
def users_list() -> None:
    """List the accounts: user name, name, email, roles, state, last sign-in."""
    from rich.console import Console
    from rich.table import Table

    svc = _services()
    try:
        page, total = svc.users.list(size=10_000)
    finally:
        svc.close()
    table = Table("user", "name", "email", "ORCID", "roles", "state", "last sign-in", title=f"{total} user(s)")
    for u in page:
        table.add_row(
            u.username,
            u.name,
            u.email or "",
            u.orcid or "",
            ", ".join(["user", *u.roles]),
            "disabled" if u.disabled else "active",
            u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never",
        )
    Console(width=160).print(table)


@users.command("set-role")
@click.argument("username")
@click.argument("roles", nargs=-1)
def users_set_role(username: str, roles: tuple[str, ...]) -> None:
    """Set USERNAME's roles to ROLES (admin, curator; none: a plain user)."""
    from portal.identity.principal import COMMAND_LINE

    svc = _services()
    try:
        user = svc.users.set_roles(COMMAND_LINE, svc.users.by_username(username).id, roles)
    finally:
        svc.close()
    click.echo(f"{user.username}: roles {', '.join(['user', *user.roles])}")


@users.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable the account again instead.")
def users_disable(username: str, enable: bool) -> None:
    """Disable USERNAME: their sessions end and their tokens stop working at once (--enable undoes it)."""
    from portal.identity.principal import COMMAND_LINE

    svc = _services()
    try:
        user = svc.users.set_disabled(COMMAND_LINE, svc.users.by_username(username).id, not enable)
    finally:
        svc.close()
    click.echo(f"{user.username}: {'disabled' if user.disabled else 'enabled'}")


@main.group()
def collections() -> None:
    """Collections records are published into; curated ones review the drafts submitted to them."""


@collections.command("create")
@click.argument("slug")
@click.option("--title", required=True, help="What the collection is called on pages.")
@click.option("--description", default="", help="One or two sentences on what belongs in it.")
@click.option("--uncurated", is_flag=True, help="Publish into it without review (the site's rule applies).")
@click.option("--group", "curator_group", default=None, help="A group whose members curate it.")
def collections_create(slug: str, title: str, description: str, uncurated: bool, curator_group: str | None) -> None:
    """Create the collection SLUG (lower-case letters, digits, '-')."""
    from portal.identity.principal import COMMAND_LINE

    svc = _services()
    try:
        made = svc.collections.create(
            COMMAND_LINE, slug, title, description=description, curated=not uncurated, curator_group=curator_group
        )
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    click.echo(f"created collection {made.slug} ({'curated' if made.curated else 'uncurated'})")


@collections.command("list")
def collections_list() -> None:
    """List the collections, their curators and curator group."""
    svc = _services()
    try:
        found = svc.collections.all()
    finally:
        svc.close()
    for c in found:
        group = f" group {c.curator_group}" if c.curator_group else ""
        who = ", ".join(c.curators) or "-"
        click.echo(f"{c.slug}\t{'curated' if c.curated else 'uncurated'}\t{c.title}\tcurators: {who}{group}")


@collections.command("add-curator")
@click.argument("slug")
@click.argument("username")
def collections_add_curator(slug: str, username: str) -> None:
    """Make USERNAME a curator of the collection SLUG."""
    from portal.identity.principal import COMMAND_LINE

    svc = _services()
    try:
        found = svc.collections.add_curator(COMMAND_LINE, slug, username)
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    click.echo(f"{found.slug}: curators {', '.join(found.curators)}")
