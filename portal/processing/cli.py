"""`portal analysis …` commands: list the built-in analyses, run one over a dataset, show and publish jobs."""

from __future__ import annotations

import json
import sys

import click

from portal.errors import PortalError


def _fail(err: PortalError) -> None:
    click.secho(f"error: {err.message}", fg="red", err=True)
    sys.exit(1)


class ExecutorChoice(click.Choice[str]):
    """The executors a job may ask for, looked up in the registry when the option is used, not when `portal`
    starts (reading the registry costs entry-point scans and imports that `portal --help` should not pay)."""

    def __init__(self) -> None:
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        from portal.services import executor_names
        from portal.settings import load_settings

        return tuple(executor_names(load_settings()))

    @choices.setter
    def choices(self, _: object) -> None:
        pass  # click.Choice.__init__ stores its argument; the names come from the registry instead


@click.group("analysis")
def analysis() -> None:
    """Run analyses (built-in or your own `module:Class`) over catalogued datasets."""


@analysis.command("list")
@click.option("--software", is_flag=True, help="Also the analyses software records of the catalogue provide.")
def analysis_list(software: bool) -> None:
    """The built-in analyses and the branches each one reads (with --software, those of software records too,
    run as NAME@RECID in the record's environment)."""
    from portal.processing.analyses import BUILTINS

    for name, cls in BUILTINS.items():
        click.echo(f"{name:10} {cls.title}\n{'':10} columns: {', '.join(cls.columns)}")
    if not software:
        return
    from portal.services import build_services
    from portal.settings import load_settings

    svc = build_services(load_settings())
    try:
        offered = svc.analyses.software.offered() if svc.analyses and svc.analyses.software else []
        for a in offered:
            click.echo(f"{a.spec} {a.title} (from {a.label})\n{'':10} columns: {', '.join(a.columns)}")
    finally:
        svc.close()


@analysis.command("run")
@click.argument("name")
@click.option("--dataset", "recid", type=int, required=True, help="Record id of the dataset.")
@click.option(
    "--executor",
    type=ExecutorChoice(),
    default=None,
    help="inline | local (Dask LocalCluster) | remote (PORTAL_PROCESSING_SCHEDULER); default: setting.",
)
@click.option("--scheduler", default=None, help="Dask scheduler address for --executor remote.")
@click.option("--skip-bad-files", is_flag=True, help="Leave unreadable files out and list them in the result.")
@click.option("--param", "params", multiple=True, metavar="KEY=JSON", help="Analysis parameter (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the finished job as JSON.")
def analysis_run(
    name: str,
    recid: int,
    executor: str | None,
    scheduler: str | None,
    skip_bad_files: bool,
    params: tuple[str, ...],
    as_json: bool,
) -> None:
    """Run analysis NAME over the files of record RECID, showing progress; prints the cut flow."""
    from rich.progress import BarColumn, Progress, TextColumn

    from portal.services import build_services
    from portal.settings import load_settings

    parameters = {}
    for p in params:
        key, _, raw = p.partition("=")
        try:
            parameters[key] = json.loads(raw)
        except json.JSONDecodeError:
            parameters[key] = raw
    overrides = {"processing_scheduler": scheduler} if scheduler else {}
    svc = build_services(load_settings().with_overrides(**overrides) if overrides else load_settings())
    jobs = svc.analyses
    assert jobs is not None
    try:
        # run here, in this command, not by a worker: the job is stored but not queued
        job = jobs.create(
            name, recid, executor=executor, skip_bad_files=skip_bad_files, parameters=parameters, enqueue=False
        )
        with Progress(
            TextColumn("[bold]job " + str(job.id)),
            BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} events {task.description}"),
            transient=True,
        ) as bar:
            task = bar.add_task("", total=0)
            job = jobs.run(
                job.id,
                on_progress=lambda p: bar.update(
                    task,
                    completed=p["events_done"],
                    total=p["events_total"],
                    description=f"{p['events_per_second']:,.0f} ev/s, files {p['files_done']}/{p['files_total']}",
                ),
            )
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
    if as_json:
        click.echo(json.dumps(job.to_json(), indent=1))
    if job.state == "failed":
        click.secho(f"job {job.id} failed: {job.error}", fg="red", err=True)
        sys.exit(1)
    if not as_json and job.result is not None and job.provenance is not None:
        timings = job.provenance["timings"]
        click.echo(
            f"job {job.id} done: {job.progress['events_done']:,} events in {timings['wall_s']} s "
            f"({timings['events_per_s']:,.0f} events/s)"
        )
        for cut, n in job.result["cutflow"].items():
            click.echo(f"  {cut:30} {n:>12,}")
        for uri, why in job.result["skipped_files"].items():
            click.secho(f"  skipped {uri}: {why}", fg="yellow")


@analysis.command("show")
@click.argument("job_id", type=int)
def analysis_show(job_id: int) -> None:
    """A job as JSON (state, progress, result, provenance)."""
    from portal.services import build_services
    from portal.settings import load_settings

    svc = build_services(load_settings())
    try:
        assert svc.analyses is not None
        click.echo(json.dumps(svc.analyses.get(job_id).to_json(), indent=1))
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()


@analysis.command("publish")
@click.argument("job_id", type=int)
@click.option("--software", "software_recid", type=int, default=None, help="Record id of the analysis software.")
@click.option("--title", default=None)
def analysis_publish(job_id: int, software_recid: int | None, title: str | None) -> None:
    """Publish a finished job's result as a Derived dataset record (isDerivedFrom / isCompiledBy)."""
    from portal.services import build_services
    from portal.settings import load_settings

    svc = build_services(load_settings())
    try:
        assert svc.analyses is not None
        out = svc.analyses.publish(job_id, title=title, software_recid=software_recid)
        click.echo(f"published job {job_id} as record {out.recid}")
    except PortalError as err:
        _fail(err)
    finally:
        svc.close()
