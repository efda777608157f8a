"""Running an analysis a software record provides in that record's environment, not in the portal's process.

For a job naming ``name@recid``: the environment record the software record ``requires`` is resolved to a
repo2docker spec (its own spec files, or the ``analysis_envs/<name>`` it names), built or reused from the builder's
cache (or, for a re-run, the build key and spec pinned by the original run: rebuilt from that spec when not cached,
saying so); the software's package is unpacked beside it (cached by its files' digest); the single-file analysis API
(:mod:`.analysis_api`, as ``portal_analysis``) is shipped onto the PYTHONPATH; and the environment's interpreter
runs the analysis as a separate process (in a container of the built image with the podman builder, the files
mounted read-only), writing the exact integer bins and cut flow as JSON that the portal reads back.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Select, and_, bindparam, exists, select, text
from sqlalchemy.orm import aliased

from portal.catalog.results import RecordView
from portal.catalog.service import CatalogService
from portal.db.engine import Database
from portal.db.models import PACKAGE_FILE_SQL, File, Record
from portal.environments.builders import Builder, BuildEvent, BuiltEnvironment, build_to_end
from portal.environments.spec import SPEC_FILES, materialise, read_spec, snapshot
from portal.errors import Invalid, NotFound, PortalError
from portal.i18n import N_
from portal.processing import analysis_api, software
from portal.processing.software import Package, SoftwareAnalysis

log = logging.getLogger(__name__)

#: the name the analysis API has inside an environment
API_MODULE = "portal_analysis"
ENV_REF_PREFIX = "analysis_envs/"
#: record versions per query when finding the software records that offer analyses
OFFER_BATCH = 500


class AnalysisFailed(PortalError):
    """The analysis' process failed: its package did not import, it refused its parameters, a file could not be
    read, or its code raised; the message names which and the cause."""

    status = 422


@dataclass(frozen=True)
class Prepared:
    """A built environment ready to run a software analysis: the build, how it was obtained (a line for people:
    ``reused``, ``built``, ``rebuilt from the pinned spec``), and its provenance."""

    built: BuiltEnvironment
    how: str
    provenance: dict[str, Any]


class SoftwareAnalyses:
    """The analyses of the catalogue's software records (found by reading their files, cached per record
    version and files digest) and their runs in the records' environments."""

    def __init__(
        self,
        db: Database,
        catalog: CatalogService,
        builder: Builder | None,
        *,
        read_uri: Callable[[str], bytes],
        work_dir: Path,
        envs_root: Path,
        run_user: str = "",
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.builder = builder  # None: software analyses are listed but cannot run here (no builder configured)
        self.read_uri = read_uri
        self.work_dir = Path(work_dir)
        self.envs_root = Path(envs_root)
        self.run_user = run_user  # a system user the analysis runs as, when the portal runs as root ("": itself)
        self._cache: dict[tuple[int, str], tuple[list[SoftwareAnalysis], Package | None]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ discovering
    def offered(self) -> list[SoftwareAnalysis]:
        """The analyses of the latest published version of every software record that has files."""
        with self.db.reader() as s:
            recids = sorted(s.scalars(PACKAGE_RECIDS))
            rows: list[Any] = []
            for start in range(0, len(recids), OFFER_BATCH):  # bounded IN lists (SQLite's variable limit)
                rows += s.execute(OFFERING_VERSIONS, {"recids": recids[start : start + OFFER_BATCH]}).all()
        out: list[SoftwareAnalysis] = []
        for recid, files_hash in rows:
            try:
                out += self._of(recid, files_hash)[0]
            except PortalError:
                continue  # logged by _of; one bad record must not break every dataset page
        return out

    def of_record(self, recid: int) -> tuple[list[SoftwareAnalysis], Package]:
        """The analyses software record version ``recid`` provides, and its package. NotFound for an unknown
        record, Invalid for one that is no software or whose files declare no analysis."""
        view = self.catalog.get(recid)
        if (view.metadata.get("type") or {}).get("primary") != "Software":
            raise Invalid(N_("record {recid} is not a software record"), recid=recid, field="analysis")
        with self.db.reader() as s:
            row = s.get(Record, view.recid)
            files_hash = row.files_hash if row is not None else ""
        found, package = self._of(view.recid, files_hash)
        if package is None or not found:
            raise Invalid(
                N_("software record {recid} declares no analyses (no portal.analyses entry point in its files)"),
                recid=recid,
                field="analysis",
            )
        return found, package

    def find(self, spec: str) -> SoftwareAnalysis | None:
        """The software analysis a job's ``name@recid`` names (None: the name is not of that form); NotFound or
        Invalid as :meth:`of_record`."""
        parsed = software.parse_spec(spec)
        if parsed is None:
            return None
        name, recid = parsed
        found, _ = self.of_record(recid)
        return software.find(found, name, recid)

    def _of(self, recid: int, files_hash: str) -> tuple[list[SoftwareAnalysis], Package | None]:
        key = (recid, files_hash)
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit
        view = self.catalog.get(recid)
        rows = [r for r in view.files if r.get("uri")]
        result: tuple[list[SoftwareAnalysis], Package | None] = ([], None)
        # only records that can hold a package are read, and none larger than a package may be
        packaged = any(software.may_hold_package(str(r.get("key") or "")) for r in rows)
        size = sum(int(r.get("size") or 0) for r in rows)
        if packaged and size <= software.MAX_PACKAGE_BYTES:
            try:
                package = software.read_package(rows, self.read_uri)
                result = (software.analyses_of(view, package, self._environment_recid(view)), package)
            except Exception as exc:  # noqa: BLE001 - a broken package must not break every dataset page
                log.warning("software record %s: analyses not read: %s", recid, exc)
        with self._lock:
            self._cache[key] = result
        return result

    def _environment_recid(self, view: RecordView) -> int | None:
        for rel in view.metadata.get("relations") or []:
            if rel.get("type") == "requires" and str(rel.get("recid", "")).isdigit():
                try:
                    found = self.catalog.get(int(rel["recid"]))
                except NotFound:
                    continue
                if (found.metadata.get("type") or {}).get("primary") == "Environment":
                    return found.recid
        return None

    # ------------------------------------------------------------------------------------------ environments
    def spec_dir(self, environment_recid: int) -> Path:
        """A directory holding the repo2docker spec of environment record ``environment_recid``: its own spec
        files (requirements.txt, runtime.txt, environment.yml …) when it carries them, else the
        ``analysis_envs/<name>`` it names. Invalid when it has neither."""
        view = self.catalog.get(environment_recid)
        rows = [r for r in view.files if r.get("key") in SPEC_FILES and r.get("uri")]
        if rows:
            bodies = {row["key"]: self.read_uri(row["uri"]) for row in rows}
            digest = hashlib.sha256(
                b"".join(k.encode() + b"\0" + hashlib.sha256(b).digest() for k, b in sorted(bodies.items()))
            )
            # one folder per record and content: concurrent jobs share it, never half-written (renamed whole)
            folder = self.work_dir / "env-specs" / f"{environment_recid}-{digest.hexdigest()[:16]}"
            if not folder.is_dir():
                partial = Path(tempfile.mkdtemp(prefix=".spec-", dir=self._mkdir(folder.parent)))
                for key, body in bodies.items():
                    (partial / key).write_bytes(body)
                try:
                    os.rename(partial, folder)
                except OSError:  # another job wrote the same folder first
                    shutil.rmtree(partial, ignore_errors=True)
            return folder
        import re

        text = json.dumps(view.metadata)
        for match in re.finditer(r"analysis_envs/([a-z0-9][a-z0-9_-]*)", text):
            if (self.envs_root / match.group(1)).is_dir():
                return self.envs_root / match.group(1)
        raise Invalid(
            N_(
                "environment record {recid} has no repo2docker spec files (requirements.txt, environment.yml …) "
                "and names no analysis_envs/ directory"
            ),
            recid=environment_recid,
            field="environment",
        )

    def prepare(
        self, analysis: SoftwareAnalysis, pinned: dict[str, Any] | None = None, log: Callable[[str], None] | None = None
    ) -> Prepared:
        """The built environment ``analysis`` runs in: the pinned build (``pinned``: a previous run's
        ``environment_build`` provenance) when given, else its software record's environment record's, built or
        reused from the cache."""
        if self.builder is None:
            raise Invalid(N_("no environment builder is configured to run software analyses"), field="analysis")
        say = log or (lambda _line: None)

        def event(e: BuildEvent) -> None:
            say(e.message)

        env_recid = pinned.get("recid") if pinned else analysis.environment_recid
        if env_recid is None:
            raise Invalid(
                N_("software record {recid} requires no environment record to run its analyses in"),
                recid=analysis.recid,
                field="analysis",
            )
        if pinned and pinned.get("spec"):
            hit = self.builder.cached(str(pinned.get("key")))
            if hit is not None:
                how = f"reused the pinned build {hit.key}"
                built = hit
                spec_snapshot = pinned["spec"]
            else:
                repo = materialise(
                    pinned["spec"], Path(tempfile.mkdtemp(prefix="pinned-", dir=self._mkdir(self.work_dir)))
                )
                say(f"the pinned build {pinned.get('key')} is not cached here; rebuilding the pinned spec")
                try:
                    spec_snapshot = snapshot(read_spec(repo))
                    with self._build_lock(str(pinned.get("key"))):
                        built = build_to_end(self.builder, repo, on_event=event)
                finally:
                    shutil.rmtree(repo, ignore_errors=True)
                same = (
                    ""
                    if built.key == pinned.get("key")
                    else f" (as build {built.key} with the {built.builder} builder)"
                )
                how = f"rebuilt the pinned spec {str(pinned['spec'].get('spec_hash', ''))[:12]}{same}"
        else:
            repo = self.spec_dir(int(env_recid))
            spec = read_spec(repo)
            spec_snapshot = snapshot(spec)
            key = self.builder.key(spec)
            cached = self.builder.cached(key) is not None
            with self._build_lock(key):
                built = build_to_end(self.builder, repo, on_event=event)
            how = f"reused build {built.key}" if cached else f"built {built.key}"
        say(how)
        env_view = self.catalog.get(int(env_recid))
        provenance = {
            "recid": env_view.recid,
            "doi": env_view.doi,
            "title": env_view.metadata.get("title"),
            "builder": built.builder,
            "key": built.key,
            "image": built.image or None,
            "image_digest": _digest(str(built.record.get("image_id") or "")),
            "spec": spec_snapshot,
            "how": how,
        }
        return Prepared(built, how, provenance)

    # ------------------------------------------------------------------------------------------ running
    def run(
        self,
        analysis: SoftwareAnalysis,
        prepared: Prepared,
        files: list[str],
        *,
        parameters: dict[str, Any],
        chunk_events: int,
        skip_bad_files: bool,
        on_progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run ``analysis`` over ``files`` in the prepared environment and return what the runner wrote (bins,
        cut flow, identity, the interpreter's environment). AnalysisFailed names the stage and the cause."""
        _, package = self.of_record(analysis.recid)
        site = software.install(package, [analysis.entry], self.work_dir / "software" / package.sha256[:32])
        run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=self._mkdir(self.work_dir / "runs")))
        try:
            api = run_dir / "api"
            api.mkdir()
            shutil.copyfile(analysis_api.__file__, api / f"{API_MODULE}.py")
            output = run_dir / "out" / "result.json"
            output.parent.mkdir()
            built = prepared.built
            container = bool(built.image) and built.python is None
            paths = {"api": api, "site": site, "out": output.parent}
            if container:
                paths = {"api": Path("/opt/portal/api"), "site": Path("/opt/portal/software"), "out": Path("/out")}
            request = {
                "entry": analysis.entry,
                "parameters": parameters,
                "files": files,
                "chunk_events": chunk_events,
                "skip_bad_files": skip_bad_files,
                "output": str(paths["out"] / "result.json"),
            }
            (run_dir / "out" / "request.json").write_text(json.dumps(request))
            code = f"import sys, {API_MODULE}; sys.exit({API_MODULE}.main(sys.argv[1:]))"
            env = {
                "PATH": "/usr/bin:/bin",
                "PYTHONPATH": f"{paths['api']}:{paths['site']}",
                "PYTHONNOUSERSITE": "1",
                "HOME": str(paths["out"]),
                "LANG": "C.UTF-8",
            }
            popen_env = env
            if container:
                argv, popen_env = self._podman_argv(built, files, api, site, output.parent, env, code)
            else:
                if built.python is None:
                    raise Invalid(N_("the {builder} builder makes nothing this portal can run"), builder=built.builder)
                argv = [str(built.python), "-c", code, str(paths["out"] / "request.json")]
            user = {} if container else self._user(run_dir)
            try:
                proc = subprocess.Popen(
                    argv,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                    env=popen_env,
                    cwd=run_dir,
                    **user,
                )
            except PermissionError as exc:
                raise AnalysisFailed(
                    N_("the analysis process could not start as {user}: {exc}; that user must be able to run {python}"),
                    user=self.run_user or "the portal's user",
                    exc=exc,
                    python=argv[0],
                ) from exc
            with proc:
                assert proc.stdout is not None
                tail: list[str] = []
                try:
                    for line in proc.stdout:
                        line = line.rstrip()
                        if line.startswith("{") and on_progress is not None:
                            try:
                                data = json.loads(line)
                            except ValueError:
                                data = None
                            if isinstance(data, dict):
                                on_progress(data)  # may raise Cancelled: the process is killed below
                                continue
                        tail = [*tail[-30:], line]
                    rc = proc.wait(timeout=timeout)
                except BaseException:
                    proc.kill()
                    raise
            if not output.is_file():
                raise AnalysisFailed(
                    N_("the analysis process ended (exit {rc}) without a result: {tail}"),
                    rc=rc,
                    tail="\n".join(tail[-8:]) or "no output",
                )
            body = json.loads(output.read_text())
            if "error" in body:
                err = body["error"]
                raise AnalysisFailed(
                    N_("{stage} failed in the analysis environment ({where}): {type}: {message}"),
                    stage=err.get("stage"),
                    where=err.get("where"),
                    type=err.get("type"),
                    message=err.get("message"),
                )
            return dict(body)
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    def _podman_argv(
        self,
        built: BuiltEnvironment,
        files: list[str],
        api: Path,
        site: Path,
        out: Path,
        env: dict[str, str],
        code: str,
    ) -> tuple[list[str], dict[str, str]]:
        """``podman run`` of the built image: no network unless a file is read over root://, the dataset's local
        files (their folders) and the software mounted read-only, the output folder the only writable place, every
        capability dropped. It runs as the portal's own user id, which is what can read the mounted files (the
        image's jovyan could not read a 0700 folder of the portal's), but without any privilege of root's."""
        podman = getattr(self.builder, "podman", None)
        if podman is None:
            raise Invalid(N_("the {builder} builder makes nothing this portal can run"), builder=built.builder)
        remote = any("://" in f and not f.startswith("file://") for f in files)
        argv = [
            *podman.argv,
            "run",
            "--rm",
            "--network",
            "host" if remote else "none",
            "--user",
            f"{os.getuid()}:{os.getgid()}",
            "--cap-drop",
            "all",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
        ]
        for folder in sorted(
            {str(Path(f.removeprefix("file://")).parent) for f in files if "://" not in f or f.startswith("file://")}
        ):
            argv += ["-v", f"{folder}:{folder}:ro"]
        argv += ["-v", f"{api}:/opt/portal/api:ro", "-v", f"{site}:/opt/portal/software:ro", "-v", f"{out}:/out:rw"]
        for k, v in env.items():
            if k != "PATH":
                argv += ["-e", f"{k}={v}"]
        # the -e options carry the analysis' environment; podman itself runs with its own (its containers.conf)
        return [*argv, "--entrypoint", "python", built.image, "-c", code, "/out/request.json"], podman.env

    def _user(self, run_dir: Path) -> dict[str, Any]:
        """Popen's ``user``/``group`` to run the analysis unprivileged: ``run_user`` when the portal is root."""
        if not self.run_user or os.geteuid() != 0:
            return {}
        import pwd

        entry = pwd.getpwnam(self.run_user)
        for root, dirs, names in os.walk(run_dir):
            for item in [root, *(os.path.join(root, n) for n in dirs + names)]:
                os.chown(item, entry.pw_uid, entry.pw_gid, follow_symlinks=False)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    @contextlib.contextmanager
    def _build_lock(self, key: str) -> Iterator[None]:
        """One build of ``key`` at a time on this machine (the builder's partial directory is per key): a second
        job waits, then finds the first one's build in the cache."""
        path = self._mkdir(self.work_dir / "locks") / f"{key}.lock"
        with path.open("w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @staticmethod
    def _mkdir(path: Path) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        return path


def _digest(image_id: str) -> str | None:
    """An image's digest as ``sha256:…`` (podman gives the bare hex of its config's sha256)."""
    if not image_id:
        return None
    return image_id if ":" in image_id else f"sha256:{image_id}"


def _package_recids() -> Select[int]:
    """The record versions with a direct file that may hold a package, read from the partial index
    ix_files_package alone (a few rows whatever the size of the catalogue)."""
    return select(File.recid).where(text(PACKAGE_FILE_SQL)).distinct()  # spelled as the index's predicate


def _offering_versions() -> Select[int, str]:
    """(recid, files_hash) of those of the versions bound as ``recids`` that are the latest published version of a
    software record. The versions are bound as values, not joined as a subquery: joined, PostgreSQL misjudges how
    few rows the partial index holds and reads every software record (a sequential scan, 180 ms at 200,000)."""
    newer = aliased(Record)
    return (
        select(Record.recid, Record.files_hash)
        .where(
            Record.recid.in_(bindparam("recids", expanding=True)),
            Record.type_primary == "Software",
            Record.status == "published",
            ~exists().where(
                and_(
                    newer.concept_recid == Record.concept_recid,
                    newer.type_primary == "Software",
                    newer.status == "published",
                    newer.version_index > Record.version_index,
                )
            ),
        )
        .order_by(Record.recid)
    )


PACKAGE_RECIDS, OFFERING_VERSIONS = _package_recids(), _offering_versions()  # built once: on every dataset page
